r"""Fully connected (stacked) autoencoder, the encoder of DEC / IDEC.

Default widths :math:`d`-500-500-2000-10 follow Xie et al., ICML 2016
(https://arxiv.org/abs/1511.06335). Trained with the reconstruction loss

.. math:: \mathcal L_r = \frac{1}{B\,d}\sum_i \lVert \mathbf x_i - g(f(\mathbf x_i)) \rVert^2 .

Inputs of any shape ``(B, ...)`` are flattened; ``decode`` returns ``(B, d)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from pyagc.encoders.base import Autoencoder, make_activation


def _mlp(dims: Sequence[int], activation: str, batch_norm: bool, dropout: float, last_linear: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        is_last = i == len(dims) - 2
        if is_last and last_linear:
            break
        if batch_norm:
            layers.append(nn.BatchNorm1d(b))
        layers.append(make_activation(activation))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class MLPAutoencoder(Autoencoder):
    r"""Symmetric MLP autoencoder :math:`d \to h_1 \to \dots \to h_L \to F \to h_L \to \dots \to d`.

    Args:
        in_features: input dimension :math:`d` (images are flattened: 784 for 28x28).
        hidden_dims: widths of the hidden layers of the encoder (decoder mirrors them).
        latent_dim: embedding size :math:`F`.
        activation: hidden activation name (``relu``, ``leaky_relu``, ``elu``, ``gelu``, ...).
        batch_norm: batch normalisation after each hidden linear layer.
        dropout: dropout rate after each hidden activation.
        init: weight initialisation, ``"xavier"`` (Glorot uniform, as the DEC/IDEC reference
            code) or ``"default"`` (PyTorch's).
    """

    def __init__(
        self,
        in_features: int,
        hidden_dims: Sequence[int] = (500, 500, 2000),
        latent_dim: int = 10,
        activation: str = "relu",
        batch_norm: bool = False,
        dropout: float = 0.0,
        init: str = "xavier",
    ) -> None:
        super().__init__()
        if in_features < 1 or latent_dim < 1:
            raise ValueError(f"in_features and latent_dim must be positive, got {in_features}, {latent_dim}.")
        self.in_features = int(in_features)
        self.latent_dim = int(latent_dim)
        self.hidden_dims = [int(h) for h in hidden_dims]
        dims = [self.in_features, *self.hidden_dims, self.latent_dim]
        self.encoder = _mlp(dims, activation, batch_norm, dropout, last_linear=True)
        self.decoder = _mlp(dims[::-1], activation, batch_norm, dropout, last_linear=True)
        if init == "xavier":
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)
        elif init != "default":
            raise ValueError(f"unknown init {init!r}; valid: ['xavier', 'default']")

    def encode(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"MLPAutoencoder expects {self.in_features} input features but got {x.shape[1]}. "
                f"Set encoder.in_features={x.shape[1]} (the data's feature size)."
            )
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, hidden_dims={self.hidden_dims}, latent_dim={self.latent_dim}"
