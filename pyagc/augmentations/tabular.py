r"""Stochastic augmentations of feature vectors (tabular data) for contrastive clustering.

* **Gaussian noise**: :math:`\tilde{\mathbf x} = \mathbf x + \boldsymbol\epsilon`,
  :math:`\epsilon_{ij} \sim \mathcal N(0, \sigma^2)` (``std`` in the data's units, e.g. 0.1 for features
  scaled to [0, 1]);
* **feature masking**: each entry :math:`x_{ij}` is zeroed independently with probability :math:`p`
  (every sample gets its own mask; no rescaling). Unlike the graph
  :class:`~pyagc.augmentations.FeatureMasking`, which zeroes whole feature columns for every node.

:class:`TabularAugmentation` applies masking and then noise. Random numbers come from ``generator``
(a CPU :class:`torch.Generator`) when given, else from the global torch RNG; they are drawn on the
CPU and moved to the input's device, so the same seed gives the same views on CPU and GPU. The
modules have no state and are active in train and eval mode alike.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["GaussianNoise", "RandomFeatureMasking", "TabularAugmentation"]


def _check_batch(x: Tensor, name: str) -> None:
    if x.dim() < 2:
        raise ValueError(f"{name} expects a batch of shape (N, F) (or (N, ...)), got {tuple(x.shape)}.")
    if not x.is_floating_point():
        raise TypeError(f"{name} expects floating-point features, got dtype {x.dtype}; convert with x.float().")


class GaussianNoise(nn.Module):
    r"""Add :math:`\mathcal N(0, \texttt{std}^2)` noise to every entry of a batch."""

    def __init__(self, std: float = 0.1, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if float(std) < 0:
            raise ValueError(f"the noise std must be >= 0, got {std}.")
        self.std = float(std)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        _check_batch(x, "GaussianNoise")
        if self.std == 0:
            return x
        noise = torch.randn(x.shape, generator=self.generator, dtype=torch.float32)
        return (x.float() + self.std * noise.to(x.device)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"std={self.std}"


class RandomFeatureMasking(nn.Module):
    """Zero each entry of a batch independently with probability ``p``."""

    def __init__(self, p: float = 0.2, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= float(p) < 1.0:
            raise ValueError(f"the masking probability p must be in [0, 1), got {p}.")
        self.p = float(p)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        _check_batch(x, "RandomFeatureMasking")
        if self.p == 0:
            return x
        keep = torch.rand(x.shape, generator=self.generator) >= self.p
        return x * keep.to(device=x.device, dtype=x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class TabularAugmentation(nn.Module):
    r"""A random view of a batch of feature vectors: :class:`RandomFeatureMasking` then :class:`GaussianNoise`.

    Args:
        noise_std: standard deviation of the additive Gaussian noise (0: none).
        mask_p: probability of zeroing each entry (0: none).
        generator: optional CPU :class:`torch.Generator`; default the global torch RNG.
    """

    def __init__(self, noise_std: float = 0.1, mask_p: float = 0.2, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.masking = RandomFeatureMasking(mask_p, generator)
        self.noise = GaussianNoise(noise_std, generator)

    def forward(self, x: Tensor) -> Tensor:
        _check_batch(x, "TabularAugmentation")
        return self.noise(self.masking(x))
