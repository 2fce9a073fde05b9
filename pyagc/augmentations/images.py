r"""Stochastic image augmentations for contrastive clustering, applied to a whole batch at once.

The augmentation family of *Contrastive Clustering* (Li et al., AAAI 2021,
https://arxiv.org/abs/2009.09687, after SimCLR): random resized crop, optional horizontal flip,
colour jitter (brightness, contrast, saturation, hue) and random grayscale. Unlike
``torchvision.transforms.v2``, which draws **one** set of parameters per call (so a batch tensor
would get the same crop for every image), every image of the batch here gets its own parameters,
and the whole batch is transformed with a few tensor operations on the batch's device
(one ``grid_sample`` for the crops), which keeps the augmentation cheap on a GPU.

The per-image parameters are drawn from ``generator`` when given, else from the global torch RNG
(seeded by ``torch.manual_seed`` / Lightning's ``seed_everything``), always on the CPU and then moved
to the batch's device, so the same seed gives the same views on CPU and GPU (up to the
floating-point differences of the interpolation kernels).

Transforms (for image :math:`i`, with :math:`u \sim \mathcal U` drawn independently per image):

* **random resized crop**: an area fraction :math:`s \sim \mathcal U(\texttt{crop\_scale})` and aspect
  ratio :math:`r`, :math:`\log r \sim \mathcal U(\log\texttt{crop\_ratio})`; the crop has relative width
  :math:`\min(1, \sqrt{sr})` and height :math:`\min(1, \sqrt{s/r})` at a uniform position inside the image
  and is resized (bilinear) back to the input size (torchvision re-draws crops that do not fit; here
  they are clipped to the image);
* **horizontal flip** with probability 0.5 (``horizontal_flip=True``; off by default: a mirrored digit
  is another symbol);
* **colour jitter** with probability ``jitter_p``, in the fixed order brightness, contrast, saturation,
  hue, with the factors of ``torchvision.transforms.ColorJitter``; single-channel images get brightness
  and contrast only (as ``ColorJitter`` does for grayscale input), so digits' views differ in stroke
  intensity as well as in framing;
* **grayscale** with probability ``grayscale_p`` (3-channel images only): ITU-R 601 luma in all channels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ImageAugmentation", "rgb_to_hsv", "hsv_to_rgb"]

_LUMA = (0.299, 0.587, 0.114)


def _range(value: Sequence[float], name: str, low: float, high: float) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max), got {value!r}.") from None
    if not (low <= a <= b <= high):
        raise ValueError(f"{name} must satisfy {low} <= min <= max <= {high}, got ({a}, {b}).")
    return a, b


def _probability(p: float, name: str) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p}.")
    return p


def _grayscale(x: Tensor) -> Tensor:
    """Luma ``(N, 1, H, W)`` of RGB images ``(N, 3, H, W)``."""
    r, g, b = x.unbind(1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


def rgb_to_hsv(x: Tensor) -> Tensor:
    """RGB images ``(N, 3, H, W)`` in [0, 1] -> HSV with hue in [0, 1)."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    chroma = maxc - minc
    s = chroma / torch.where(maxc == 0, torch.ones_like(maxc), maxc)
    safe = torch.where(chroma == 0, torch.ones_like(chroma), chroma)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    is_r, is_g = maxc == r, (maxc == g) & (maxc != r)
    h = torch.where(is_r, bc - gc, torch.where(is_g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(chroma == 0, torch.zeros_like(h), h)
    h = torch.remainder(h / 6.0, 1.0)
    return torch.stack([h, s, maxc], 1)


def hsv_to_rgb(x: Tensor) -> Tensor:
    """HSV images ``(N, 3, H, W)`` (hue in [0, 1)) -> RGB."""
    h, s, v = x.unbind(1)
    h6 = h * 6.0
    i = torch.floor(h6)
    f = h6 - i
    i = torch.remainder(i, 6).long()
    p, q, t = v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))
    candidates = torch.stack(
        [
            torch.stack([v, q, p, p, t, v], 1),  # red for sector 0..5
            torch.stack([t, v, v, q, p, p], 1),  # green
            torch.stack([p, p, t, v, v, q], 1),  # blue
        ],
        1,
    )  # (N, 3, 6, H, W)
    index = i.unsqueeze(1).unsqueeze(2).expand(-1, 3, 1, -1, -1)
    return candidates.gather(2, index).squeeze(2)


class ImageAugmentation(nn.Module):
    r"""A random view of every image of a batch ``(N, C, H, W)`` (float, values in [0, 1]).

    Args:
        crop_scale: range of the crop's area fraction (paper/torchvision: (0.08, 1); (0.2, 1) is the
            common CIFAR choice; milder, e.g. (0.5, 1), for 16-28 px digits).
        crop_ratio: range of the crop's aspect ratio.
        horizontal_flip: flip each image with probability 0.5 (off for digits and text).
        brightness: jitter strength :math:`b`: factors drawn from :math:`\mathcal U(\max(0, 1-b), 1+b)`
            (paper: 0.4).
        contrast: jitter strength, as ``brightness`` (paper: 0.4).
        saturation: jitter strength, as ``brightness`` (paper: 0.4).
        hue: hue shift drawn from :math:`\mathcal U(-h, h)`, :math:`h \le 0.5` (paper: 0.1).
        jitter_p: probability of applying the colour jitter to an image (paper: 0.8).
        grayscale_p: probability of converting an image to grayscale (paper: 0.2).
        generator: optional :class:`torch.Generator` (CPU) for the parameters; default the global RNG.

    Brightness and contrast jitter apply to 1- and 3-channel images, saturation, hue and grayscale to
    3-channel images only; other channel counts get crops and flips. The jitter clips to [0, 1], so a
    1- or 3-channel batch outside [0, 1] (e.g. standardised images) is refused with a ``ValueError`` unless
    ``jitter_p = grayscale_p = 0``.
    The module has no state and is active in train and eval mode alike: it is called exactly when a view
    is wanted.
    """

    def __init__(
        self,
        crop_scale: Sequence[float] = (0.2, 1.0),
        crop_ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0),
        horizontal_flip: bool = False,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        hue: float = 0.1,
        jitter_p: float = 0.8,
        grayscale_p: float = 0.2,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.crop_scale = _range(crop_scale, "crop_scale", 1e-6, 1.0)
        self.crop_ratio = _range(crop_ratio, "crop_ratio", 1e-6, math.inf)
        self.horizontal_flip = bool(horizontal_flip)
        for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            if float(value) < 0:
                raise ValueError(f"{name} must be >= 0, got {value}.")
        if not 0.0 <= float(hue) <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {hue}.")
        self.brightness, self.contrast, self.saturation, self.hue = (
            float(brightness),
            float(contrast),
            float(saturation),
            float(hue),
        )
        self.jitter_p = _probability(jitter_p, "jitter_p")
        self.grayscale_p = _probability(grayscale_p, "grayscale_p")
        self.generator = generator

    def _rand(self, *shape: int) -> Tensor:
        return torch.rand(*shape, generator=self.generator)

    def _factor(self, strength: float, n: int) -> Tensor:
        low, high = max(0.0, 1.0 - strength), 1.0 + strength
        return low + (high - low) * self._rand(n)

    def crop_and_flip(self, x: Tensor) -> Tensor:
        """Random resized crops (and flips) of every image, resized back to ``(H, W)``."""
        n = x.shape[0]
        u = self._rand(n, 5)
        lo, hi = self.crop_scale
        area = lo + (hi - lo) * u[:, 0]
        log_lo, log_hi = math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1])
        ratio = torch.exp(log_lo + (log_hi - log_lo) * u[:, 1])
        width = torch.sqrt(area * ratio).clamp(max=1.0)  # fractions of the image's width / height
        height = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = width / 2 + (1 - width) * u[:, 2]  # crop centre in [0, 1]
        cy = height / 2 + (1 - height) * u[:, 3]
        sign = torch.where(u[:, 4] < 0.5, -1.0, 1.0) if self.horizontal_flip else torch.ones(n)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = width * sign
        theta[:, 0, 2] = 2 * cx - 1
        theta[:, 1, 1] = height
        theta[:, 1, 2] = 2 * cy - 1
        theta = theta.to(device=x.device, dtype=x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def color_jitter(self, x: Tensor) -> Tensor:
        """Colour jitter (with probability ``jitter_p``) of 1- or 3-channel images and grayscale
        (``grayscale_p``) of RGB images; single-channel images get brightness and contrast only.
        """
        n = x.shape[0]
        shape = (n, 1, 1, 1)
        rgb = x.shape[1] == 3
        apply = (self._rand(n) < self.jitter_p).to(x.device).view(shape)
        b = self._factor(self.brightness, n).to(x).view(shape)
        c = self._factor(self.contrast, n).to(x).view(shape)
        y = (x * b).clamp(0, 1)
        if not rgb:
            mean = y.mean(dim=(1, 2, 3), keepdim=True)
            return torch.where(apply, (c * y + (1 - c) * mean).clamp(0, 1), x)
        s = self._factor(self.saturation, n).to(x).view(shape)
        h = (self.hue * (2 * self._rand(n) - 1)).to(x).view(n, 1, 1)
        gray_p = (self._rand(n) < self.grayscale_p).to(x.device).view(shape)
        mean = _grayscale(y).mean(dim=(1, 2, 3), keepdim=True)
        y = (c * y + (1 - c) * mean).clamp(0, 1)
        y = (s * y + (1 - s) * _grayscale(y)).clamp(0, 1)
        if self.hue > 0:
            hsv = rgb_to_hsv(y)
            hsv = torch.stack([torch.remainder(hsv[:, 0] + h, 1.0), hsv[:, 1], hsv[:, 2]], 1)
            y = hsv_to_rgb(hsv)
        y = torch.where(apply, y, x)
        return torch.where(gray_p, _grayscale(y).expand_as(y), y)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(
                f"ImageAugmentation expects image batches of shape (N, C, H, W), got {tuple(x.shape)}. For flat "
                "feature vectors use pyagc.augmentations.TabularAugmentation; for images stored flat, load them "
                "without flatten."
            )
        if not x.is_floating_point():
            raise TypeError(
                f"ImageAugmentation expects float images in [0, 1], got dtype {x.dtype}; convert with x.float() / 255."
            )
        dtype = x.dtype
        y = self.crop_and_flip(x.float())
        if y.shape[1] in (1, 3):
            if self.jitter_p > 0 or self.grayscale_p > 0:
                lo, hi = torch.aminmax(x)
                if float(lo) < -1e-6 or float(hi) > 1.0 + 1e-6:
                    raise ValueError(
                        f"ImageAugmentation's colour jitter works on intensities in [0, 1] (it clips to that range), "
                        f"but the batch has values in [{float(lo):.3g}, {float(hi):.3g}]: scale the images to [0, 1] "
                        "(data.scaling=unit or minmax) or switch the jitter off (jitter_p=0, grayscale_p=0)."
                    )
            y = self.color_jitter(y)
        return y.to(dtype)

    def extra_repr(self) -> str:
        return (
            f"crop_scale={self.crop_scale}, crop_ratio={tuple(round(r, 4) for r in self.crop_ratio)}, "
            f"horizontal_flip={self.horizontal_flip}, jitter=({self.brightness}, {self.contrast}, "
            f"{self.saturation}, {self.hue}) p={self.jitter_p}, grayscale_p={self.grayscale_p}"
        )
