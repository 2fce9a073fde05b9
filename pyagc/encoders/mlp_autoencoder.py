r"""Fully connected (stacked) autoencoder, the encoder of DEC / IDEC.

Default widths :math:`d`-500-500-2000-10 follow Xie et al., ICML 2016
(https://arxiv.org/abs/1511.06335). Trained with the reconstruction loss

.. math:: \mathcal L_r = \frac{1}{B\,d}\sum_i \lVert \mathbf x_i - g(f(\mathbf x_i)) \rVert^2 .

Inputs of any shape ``(B, ...)`` are flattened; ``decode`` returns ``(B, d)``.

With ``variational=True`` the encoder also has a log-variance layer next to its last (mean)
layer, as the inference network of a VAE (Kingma & Welling, https://arxiv.org/abs/1312.6114) and
of VaDE (Jiang et al., IJCAI 2017, https://arxiv.org/abs/1611.05148):
:math:`q(\mathbf z \mid \mathbf x) = \mathcal N(\boldsymbol\mu(\mathbf x), \operatorname{diag}\boldsymbol\sigma^2(\mathbf x))`.
``encode`` keeps returning the mean :math:`\boldsymbol\mu(\mathbf x)` (deterministic embeddings for
pretraining, initialisation and clustering); ``encode_distribution`` returns
:math:`(\boldsymbol\mu, \log\boldsymbol\sigma^2)`.
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
        variational: add a log-variance layer next to the mean layer (a VAE encoder; needed by
            variational heads such as :class:`~pyagc.clusters.VaDEClusterHead`).
        output_activation: activation of the decoder's output (``None``: linear). ``"sigmoid"``
            gives pixel probabilities in (0, 1), as a Bernoulli decoder needs.
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
        variational: bool = False,
        output_activation: str | None = None,
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
        self.output_activation = output_activation
        if output_activation is not None:
            self.decoder.append(make_activation(output_activation))
        self.variational = bool(variational)
        # the mean is the encoder's last linear layer; the log-variance layer reads the same features
        self.logvar_layer = nn.Linear(dims[-2], self.latent_dim) if self.variational else None
        if init == "xavier":
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)
        elif init != "default":
            raise ValueError(f"unknown init {init!r}; valid: ['xavier', 'default']")

    def _flat(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"MLPAutoencoder expects {self.in_features} input features but got {x.shape[1]}. "
                f"Set encoder.in_features={x.shape[1]} (the data's feature size)."
            )
        return x

    def encode(self, x: Tensor) -> Tensor:
        r"""The embedding (for a variational encoder: the mean of :math:`q(\mathbf z \mid \mathbf x)`)."""
        return self.encoder(self._flat(x))

    def encode_distribution(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r"""Mean and log-variance ``(B, F)`` each of :math:`q(\mathbf z \mid \mathbf x)` (``variational=True`` only)."""
        if self.logvar_layer is None:
            raise ValueError(
                "encode_distribution needs a variational encoder: build MLPAutoencoder(variational=True) "
                "(set encoder.variational=true, e.g. encoder=mlp_vae)."
            )
        h = self.encoder[:-1](self._flat(x))
        return self.encoder[-1](h), self.logvar_layer(h)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, hidden_dims={self.hidden_dims}, latent_dim={self.latent_dim}, "
            f"variational={self.variational}"
        )
