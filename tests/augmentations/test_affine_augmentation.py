import math

import pytest
import torch

from pyagc.augmentations import RandomAffine


def test_zero_ranges_are_the_identity():
    x = torch.rand(4, 1, 12, 12)
    out = RandomAffine(degrees=0, translate=(0, 0), shear=0)(x)
    assert torch.allclose(out, x, atol=1e-5)


def _draws(seed: int, n: int) -> torch.Tensor:
    return torch.rand(n, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_a_pixel_lands_where_the_drawn_rotation_shear_and_shift_send_it():
    size = 33
    aug = RandomAffine(degrees=30, translate=(0.1, 0.1), shear=(-10, 10), generator=torch.Generator().manual_seed(4))
    img = torch.zeros(1, 1, size, size)
    row, col = 12, 20
    img[0, 0, row, col] = 1.0
    out = aug(img)[0, 0]
    u = _draws(4, 1)[0]  # the same draws, by hand: p' = R(theta) S(phi) p + t about the image centre
    theta = math.radians(30 * (2 * u[0].item() - 1))
    phi = math.radians(-10 + 20 * u[1].item())
    t = (0.1 * size * (2 * u[2].item() - 1), 0.1 * size * (2 * u[3].item() - 1))
    px, py = col + 0.5 - size / 2, row + 0.5 - size / 2
    sx, sy = px - math.tan(phi) * py, py
    qx = math.cos(theta) * sx - math.sin(theta) * sy + t[0]
    qy = math.sin(theta) * sx + math.cos(theta) * sy + t[1]
    expected = (qy + size / 2 - 0.5, qx + size / 2 - 0.5)  # (row, col)
    centre = (out.nonzero().float() * out[out > 0].unsqueeze(1)).sum(0) / out.sum()
    assert torch.allclose(centre, torch.tensor(expected, dtype=torch.float32), atol=0.05)


def test_every_image_gets_its_own_parameters_and_flat_images_work():
    x = torch.zeros(6, 1, 16, 16)
    x[:, :, 5:11, 7:9] = 1.0
    out = RandomAffine(generator=torch.Generator().manual_seed(0))(x)
    assert not any(torch.allclose(out[0], out[i]) for i in range(1, 6))
    flat = RandomAffine(image_shape=(16, 16), generator=torch.Generator().manual_seed(0))(x.reshape(6, -1))
    assert flat.shape == (6, 256) and torch.allclose(flat, out.reshape(6, -1), atol=1e-6)


def test_fill_makes_the_view_commute_with_standardisation():
    x = torch.rand(5, 1, 20, 20)
    mean, std = 0.3, 0.7
    raw = RandomAffine(generator=torch.Generator().manual_seed(1))(x)
    scaled = RandomAffine(fill=-mean / std, generator=torch.Generator().manual_seed(1))((x - mean) / std)
    assert torch.allclose(scaled, (raw - mean) / std, atol=1e-5)


def test_bad_input_is_rejected_clearly():
    with pytest.raises(ValueError, match="translate"):
        RandomAffine(translate=(0.1,))
    with pytest.raises(ValueError, match="shear"):
        RandomAffine(shear=(10, -10))
    with pytest.raises(ValueError, match="image_shape"):
        RandomAffine(image_shape=(1, 28, 28))(torch.rand(3, 100))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        RandomAffine()(torch.rand(3, 784))
    with pytest.raises(TypeError, match="float"):
        RandomAffine()(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
