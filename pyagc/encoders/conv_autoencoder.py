r"""Convolutional autoencoder for small images (the DCEC architecture by default).

Guo, Liu, Zhu & Yin, *Deep Clustering with Convolutional Autoencoders*, ICONIP 2017,
https://xifengguo.github.io/papers/ICONIP17-DCEC.pdf: conv(32, 5x5, s2) - conv(64, 5x5, s2) -
conv(128, 3x3, s2) - dense(F), mirrored by transposed convolutions. Trained with
:math:`\mathcal L_r = \lVert \mathbf x - g(f(\mathbf x)) \rVert^2 / (CHW)`.

With ``variational=True`` a log-variance layer sits next to the dense (mean) bottleneck layer:
``encode`` returns the mean, ``encode_distribution`` returns ``(mu, logvar)`` (a VAE encoder, as
variational heads such as :class:`~pyagc.clusters.VaDEClusterHead` need).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from pyagc.encoders.base import Autoencoder, make_activation


def _out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class ConvAutoencoder(Autoencoder):
    r"""Strided-conv encoder + dense bottleneck + transposed-conv decoder.

    Args:
        in_channels: image channels :math:`C` (1 for MNIST/USPS, 3 for RGB).
        image_size: height = width of the input images.
        channels: output channels of the encoder's conv layers.
        kernel_sizes: kernel size of each conv layer (default 5, 5, 3, ...).
        latent_dim: embedding size :math:`F`.
        activation: activation name.
        batch_norm: batch normalisation after each conv.
        variational: add a log-variance layer next to the mean layer (VAE encoder).
        output_activation: activation of the decoder's output (``None``: linear; ``"sigmoid"`` for
            pixel probabilities, as a Bernoulli decoder needs).
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        channels: Sequence[int] = (32, 64, 128),
        kernel_sizes: Sequence[int] | None = None,
        latent_dim: int = 10,
        activation: str = "relu",
        batch_norm: bool = False,
        variational: bool = False,
        output_activation: str | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.image_size = int(image_size)
        self.latent_dim = int(latent_dim)
        channels = [int(c) for c in channels]
        if kernel_sizes is None:
            kernel_sizes = [5] * (len(channels) - 1) + [3] if len(channels) > 1 else [3]
        if len(kernel_sizes) != len(channels):
            raise ValueError("kernel_sizes must have one entry per conv layer in `channels`.")
        sizes = [self.image_size]
        enc: list[nn.Module] = []
        c_in = self.in_channels
        for c, k in zip(channels, kernel_sizes):
            pad = k // 2 if sizes[-1] % 2 == 0 else 0
            enc += [nn.Conv2d(c_in, c, k, stride=2, padding=pad)]
            if batch_norm:
                enc.append(nn.BatchNorm2d(c))
            enc.append(make_activation(activation))
            sizes.append(_out_size(sizes[-1], k, 2, pad))
            if sizes[-1] < 1:
                raise ValueError(f"image_size={image_size} is too small for {len(channels)} stride-2 convs.")
            c_in = c
        self.encoder_conv = nn.Sequential(*enc)
        self._bottleneck_shape = (channels[-1], sizes[-1], sizes[-1])
        flat = channels[-1] * sizes[-1] ** 2
        self.to_latent = nn.Linear(flat, self.latent_dim)
        self.variational = bool(variational)
        self.to_logvar = nn.Linear(flat, self.latent_dim) if self.variational else None
        self.from_latent = nn.Sequential(nn.Linear(self.latent_dim, flat), make_activation(activation))
        dec: list[nn.Module] = []
        rev_channels = channels[::-1][1:] + [self.in_channels]
        rev_kernels = list(kernel_sizes)[::-1]
        c_in = channels[-1]
        for i, (c, k) in enumerate(zip(rev_channels, rev_kernels)):
            target, current = sizes[-(i + 2)], sizes[-(i + 1)]
            pad = k // 2 if target % 2 == 0 else 0
            out_pad = target - ((current - 1) * 2 - 2 * pad + k)
            if not 0 <= out_pad < 2:
                raise ValueError(f"cannot mirror the encoder for image_size={image_size}")
            dec.append(nn.ConvTranspose2d(c_in, c, k, stride=2, padding=pad, output_padding=out_pad))
            if i < len(rev_channels) - 1:
                if batch_norm:
                    dec.append(nn.BatchNorm2d(c))
                dec.append(make_activation(activation))
            c_in = c
        self.output_activation = output_activation
        if output_activation is not None:
            dec.append(make_activation(output_activation))
        self.decoder_conv = nn.Sequential(*dec)

    def _features(self, x: Tensor) -> Tensor:
        if x.dim() == 2 and x.shape[1] == self.in_channels * self.image_size**2:
            x = x.view(-1, self.in_channels, self.image_size, self.image_size)
        if x.dim() != 4 or x.shape[1:] != (self.in_channels, self.image_size, self.image_size):
            raise ValueError(
                f"ConvAutoencoder expects images (B, {self.in_channels}, {self.image_size}, {self.image_size}), "
                f"got {tuple(x.shape)}. Set encoder.in_channels / encoder.image_size to match the data."
            )
        return self.encoder_conv(x).flatten(1)

    def encode(self, x: Tensor) -> Tensor:
        r"""The embedding (for a variational encoder: the mean of :math:`q(\mathbf z \mid \mathbf x)`)."""
        return self.to_latent(self._features(x))

    def encode_distribution(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r"""Mean and log-variance ``(B, F)`` each of :math:`q(\mathbf z \mid \mathbf x)` (``variational=True`` only)."""
        if self.to_logvar is None:
            raise ValueError(
                "encode_distribution needs a variational encoder: build ConvAutoencoder(variational=True) "
                "(set encoder.variational=true)."
            )
        h = self._features(x)
        return self.to_latent(h), self.to_logvar(h)

    def decode(self, z: Tensor) -> Tensor:
        h = self.from_latent(z).view(-1, *self._bottleneck_shape)
        return self.decoder_conv(h)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, image_size={self.image_size}, latent_dim={self.latent_dim}"
