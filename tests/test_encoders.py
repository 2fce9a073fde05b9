import pytest
import torch

from pyagc.encoders import GCN, ConvAutoencoder, MLPAutoencoder, ResNetEncoder


@pytest.mark.parametrize(
    "encoder, x",
    [
        (MLPAutoencoder(784), torch.rand(3, 1, 28, 28)),
        (ConvAutoencoder(1, 28), torch.rand(3, 1, 28, 28)),
        (ConvAutoencoder(1, 16, channels=(32, 64)), torch.rand(3, 1, 16, 16)),
        (ConvAutoencoder(3, 32), torch.rand(3, 3, 32, 32)),
        (ResNetEncoder("resnet18", 1, 16, small_stem=True, decoder=True, output_size=28), torch.rand(3, 1, 28, 28)),
    ],
)
def test_autoencoders_reconstruct_input_shape(encoder, x):
    z = encoder.encode(x)
    assert z.shape == (3, encoder.latent_dim)
    assert encoder.decode(z).numel() == x.numel()


def test_feature_mismatch_message():
    with pytest.raises(ValueError, match="expects 64 input features but got 10"):
        MLPAutoencoder(64)(torch.rand(2, 10))
    with pytest.raises(ValueError, match="in_channels"):
        ConvAutoencoder(1, 28)(torch.rand(2, 3, 28, 28))


def test_resnet_weights_only_from_local_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights_path"):
        ResNetEncoder("resnet18", weights_path=str(tmp_path / "nope.pth"))
    import torchvision

    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    enc = ResNetEncoder("resnet18", in_channels=1, latent_dim=None, weights_path=str(path))
    assert enc.latent_dim == 512 and enc(torch.rand(2, 1, 64, 64)).shape == (2, 512)


def test_gcn_needs_edges():
    g = GCN(4, 8, 3)
    with pytest.raises(ValueError, match="edge_index"):
        g(torch.rand(5, 4))
    out = g(torch.rand(5, 4), torch.tensor([[0, 1, 2], [1, 2, 3]]))
    assert out.shape == (5, 3)
