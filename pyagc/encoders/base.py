"""Shared helpers of the encoders."""

from __future__ import annotations

from torch import Tensor, nn

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "identity": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    """Build an activation module from its name; unknown names list the valid ones."""
    try:
        return _ACTIVATIONS[name.lower()]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; valid: {sorted(_ACTIVATIONS)}") from None


class Autoencoder(nn.Module):
    """Base class of encoders that also decode: ``forward == encode``.

    Subclasses set ``latent_dim`` and implement :meth:`encode` and :meth:`decode`.
    ``decode(encode(x))`` has the shape of ``x``.
    """

    is_autoencoder: bool = True
    latent_dim: int

    def encode(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, z: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.encode(x)
