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


def test_resnet_resizes_and_replicates_grayscale_on_its_own():
    # 28 px grayscale in, a 3-channel 64 px stem inside: the same as resizing and replicating by hand
    torch.manual_seed(0)
    gray = ResNetEncoder(
        "resnet18", in_channels=1, latent_dim=8, input_size=64, replicate_channels=True, decoder=True, output_size=28
    ).eval()
    rgb = ResNetEncoder("resnet18", in_channels=3, latent_dim=8).eval()
    rgb.load_state_dict({k: v for k, v in gray.state_dict().items() if not k.startswith("decoder")})
    x = torch.rand(4, 1, 28, 28)
    by_hand = torch.nn.functional.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    with torch.no_grad():
        z = gray.encode(x)
        torch.testing.assert_close(z, rgb.encode(by_hand))
        assert gray.decode(z).shape == (4, 1, 28, 28)  # the decoder reconstructs the original images
    assert "input_size=64" in repr(gray)


def test_resnet_channels_last_gives_the_same_embeddings():
    torch.manual_seed(0)
    plain = ResNetEncoder("resnet18", in_channels=1, latent_dim=8, small_stem=True).eval()
    nhwc = ResNetEncoder("resnet18", in_channels=1, latent_dim=8, small_stem=True).eval()
    nhwc.load_state_dict(plain.state_dict())
    assert nhwc.channels_last is None  # automatic: decided by ClusteringModule from the training device
    nhwc.use_channels_last()
    assert nhwc.channels_last is True
    assert nhwc.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(nhwc.encode(x), plain.encode(x), rtol=1e-4, atol=1e-5)


def test_resnet_input_options_are_checked():
    with pytest.raises(ValueError, match="replicate_channels"):
        ResNetEncoder("resnet18", in_channels=3, replicate_channels=True)
    with pytest.raises(ValueError, match="input_size"):
        ResNetEncoder("resnet18", in_channels=1, input_size=4)


@pytest.mark.parametrize("device, expected", [("cpu", None), ("cuda", True)])
def test_clustering_module_turns_on_channels_last_for_gpu_training(device, expected):
    from types import SimpleNamespace

    from pyagc.clusters import KMeansClusterHead
    from pyagc.models import ClusteringModule

    enc = ResNetEncoder("resnet18", in_channels=1, latent_dim=4, small_stem=True)
    model = ClusteringModule(enc, KMeansClusterHead(2, 4), pretrain_epochs=0, epochs=1)
    model._trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))
    model.setup("fit")  # Lightning calls it before moving the model and wrapping it for DDP
    assert enc.channels_last is expected
    assert enc.backbone.layer1[0].conv1.weight.is_contiguous(memory_format=torch.channels_last) == bool(expected)
