r"""ResNet encoder (torchvision ResNet-18/34/50) with an optional transposed-conv decoder.

He, Zhang, Ren & Sun, *Deep Residual Learning for Image Recognition*, CVPR 2016,
https://arxiv.org/abs/1512.03385. The classification layer is replaced by a projection to
``latent_dim``; ``small_stem`` swaps the 7x7/stride-2 stem and the max-pool for a 3x3/stride-1
conv, the usual choice for 28-32 px images. ``input_size`` resizes the batch on its device before
the backbone (e.g. 28 px digits to 224 px for a standard ResNet-50, as in the RSWNet recipe) and
``replicate_channels`` feeds a grayscale batch to a 3-channel stem; the decoder reconstructs the
original input (``output_size``, ``in_channels``). ``channels_last`` stores the convolutions in
NHWC, the layout tensor cores want (``None`` = on when training runs on a GPU, decided by
:class:`~pyagc.models.ClusteringModule`). Pretrained weights are read **only from a local
file** (``weights_path``); nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyagc.encoders.base import Autoencoder

_ARCHS = ("resnet18", "resnet34", "resnet50")


class ResNetEncoder(Autoencoder):
    r"""torchvision ResNet backbone -> linear projection to ``latent_dim``.

    Args:
        arch: ``resnet18`` | ``resnet34`` | ``resnet50``.
        in_channels: 1 (grayscale) or 3 (RGB). Grayscale input to a 3-channel pretrained stem
            sums the stem's filters over colour channels.
        latent_dim: embedding size; ``None`` keeps the backbone's feature size (512 or 2048).
        small_stem: 3x3 stride-1 stem without max-pool (for 28-32 px images).
        weights_path: a local ``state_dict`` file of the torchvision model (optional).
        decoder: build a transposed-conv decoder so the encoder can be trained as an autoencoder.
        output_size: spatial size of the decoder's output (e.g. 28 to reconstruct MNIST).
        output_channels: channels of the decoder's output (default ``in_channels``).
        input_size: resize inputs to ``input_size`` x ``input_size`` (bilinear, on the batch's device)
            before the backbone; ``None`` keeps the data's size.
        replicate_channels: repeat a 1-channel input 3 times so the backbone has an RGB stem
            (the usual way to feed grayscale images to ImageNet-style networks).
        channels_last: NHWC memory format for the backbone and its inputs. ``None`` = automatic
            (on for GPU training inside ``ClusteringModule``, off otherwise).
    """

    def __init__(
        self,
        arch: str = "resnet18",
        in_channels: int = 3,
        latent_dim: int | None = 128,
        small_stem: bool = False,
        weights_path: str | None = None,
        decoder: bool = False,
        output_size: int = 32,
        output_channels: int | None = None,
        input_size: int | None = None,
        replicate_channels: bool = False,
        channels_last: bool | None = None,
    ) -> None:
        super().__init__()
        import torchvision

        if arch not in _ARCHS:
            raise ValueError(f"unknown ResNet arch {arch!r}; valid: {list(_ARCHS)}")
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {in_channels}.")
        if replicate_channels and in_channels != 1:
            raise ValueError(
                f"replicate_channels repeats a 1-channel input; the data has {in_channels} channels. "
                "Set replicate_channels=false."
            )
        if input_size is not None and int(input_size) < 8:
            raise ValueError(f"input_size must be at least 8 pixels (or null), got {input_size}.")
        self.input_size = None if input_size is None else int(input_size)
        self.replicate_channels = bool(replicate_channels)
        stem_channels = 3 if replicate_channels else in_channels
        backbone = getattr(torchvision.models, arch)(weights=None)
        if weights_path is not None:
            path = Path(weights_path).expanduser()
            if not path.is_file():
                raise FileNotFoundError(
                    f"ResNet weights file {path} not found. Put a torchvision {arch} state_dict there "
                    "(e.g. saved with torch.save(model.state_dict(), path)) or set weights_path=null."
                )
            state = torch.load(path, map_location="cpu", weights_only=True)
            backbone.load_state_dict(state)
        stem_weight = backbone.conv1.weight.data
        if small_stem:
            backbone.conv1 = nn.Conv2d(stem_channels, 64, 3, stride=1, padding=1, bias=False)
            backbone.maxpool = nn.Identity()
        elif stem_channels == 1:
            conv = nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)
            conv.weight.data.copy_(stem_weight.sum(1, keepdim=True))
            backbone.conv1 = conv
        self.feature_dim = backbone.fc.in_features
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.arch = arch
        self.in_channels = in_channels
        self.projection: nn.Module = nn.Linear(self.feature_dim, latent_dim) if latent_dim else nn.Identity()
        self.latent_dim = int(latent_dim or self.feature_dim)
        self.is_autoencoder = bool(decoder)
        self.output_size = int(output_size)
        self.output_channels = int(output_channels or in_channels)
        if decoder:
            base = max(1, self.output_size // 8)
            self._base = base
            self.decoder_fc = nn.Sequential(nn.Linear(self.latent_dim, 256 * base * base), nn.ReLU(inplace=True))
            self.decoder_conv = nn.Sequential(
                nn.ConvTranspose2d(256, 128, 4, stride=2, padding=1),
                nn.BatchNorm2d(128),
                nn.ReLU(inplace=True),
                nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1),
                nn.BatchNorm2d(64),
                nn.ReLU(inplace=True),
                nn.ConvTranspose2d(64, self.output_channels, 4, stride=2, padding=1),
            )
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def use_channels_last(self) -> None:
        """Switch the weights (and from now on the inputs) to the NHWC memory format."""
        self.to(memory_format=torch.channels_last)
        self.channels_last = True

    def encode(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"ResNetEncoder expects images (B, {self.in_channels}, H, W), got {tuple(x.shape)}. "
                "Set encoder.in_channels to the data's channels."
            )
        if self.input_size is not None and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        if self.replicate_channels:
            x = x.expand(-1, 3, -1, -1)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.projection(self.backbone(x))

    def decode(self, z: Tensor) -> Tensor:
        if not self.is_autoencoder:
            raise RuntimeError("this ResNetEncoder has no decoder; build it with decoder=True.")
        h = self.decoder_conv(self.decoder_fc(z).view(-1, 256, self._base, self._base))
        if h.shape[-1] != self.output_size:
            h = F.interpolate(h, size=(self.output_size, self.output_size), mode="bilinear", align_corners=False)
        return h

    def extra_repr(self) -> str:
        extra = f", input_size={self.input_size}" if self.input_size else ""
        extra += ", replicate_channels=True" if self.replicate_channels else ""
        return f"arch={self.arch}, in_channels={self.in_channels}, latent_dim={self.latent_dim}{extra}"
