r"""Random affine views of images (rotation, translation, shear), one set of parameters per image.

The augmentation of the augmentation-invariant DEC / IDEC runs of *Breaking the Reclustering Barrier*
(Miklautz et al., ICLR 2025, https://arxiv.org/abs/2411.02275; after ``torchvision.transforms.RandomAffine``,
whose parameters it takes): every image :math:`i` is moved by

.. math::
    \mathbf p' = R(\theta_i)\, S(\phi_i)\,\mathbf p + \mathbf t_i, \qquad
    R(\theta) = \begin{pmatrix}\cos\theta & -\sin\theta\\ \sin\theta & \cos\theta\end{pmatrix}, \quad
    S(\phi) = \begin{pmatrix}1 & -\tan\phi\\ 0 & 1\end{pmatrix}

in pixel coordinates about the image centre, with :math:`\theta_i \sim \mathcal U(\pm\texttt{degrees})`,
:math:`\phi_i \sim \mathcal U(\texttt{shear})` (a horizontal shear) and
:math:`\mathbf t_i \sim \mathcal U(\pm\texttt{translate}\cdot(W, H))`; pixels that come from outside the image
get ``fill``. The whole batch is resampled with one bilinear ``grid_sample`` on the batch's device.

Works on image batches ``(N, C, H, W)`` and on images stored flat ``(N, C*H*W)`` (give ``image_shape``), so
an MLP autoencoder on flattened pixels can train on affine views. Interpolation is affine in the pixel values,
so on standardised pixels :math:`(x - m)/s` the view equals the standardised view of the raw image when
``fill`` is :math:`-m/s` (the standardised 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["RandomAffine"]


class RandomAffine(nn.Module):
    r"""A random rotation, translation and horizontal shear of every image of a batch.

    Args:
        degrees: rotation angles are drawn from :math:`\mathcal U(-\texttt{degrees}, \texttt{degrees})`
            (BRB paper: 16).
        translate: maximal shift as a fraction of the width and height (BRB paper: (0.1, 0.1)).
        shear: range of the horizontal shear angle in degrees, ``(low, high)`` or one number ``s`` for
            :math:`(-s, s)` (BRB paper: (-8, 8)).
        image_shape: ``(C, H, W)`` (or ``(H, W)``) of images stored flat; ``None``: batches are
            ``(N, C, H, W)``.
        fill: value of the pixels that come from outside the image.
        generator: optional :class:`torch.Generator` (CPU) for the parameters; default the global RNG.

    Stateless; active in train and eval mode alike (it is called exactly when a view is wanted).
    """

    def __init__(
        self,
        degrees: float = 16.0,
        translate: Sequence[float] = (0.1, 0.1),
        shear: float | Sequence[float] = (-8.0, 8.0),
        image_shape: Sequence[int] | None = None,
        fill: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if float(degrees) < 0:
            raise ValueError(f"degrees must be >= 0, got {degrees}.")
        translate = tuple(float(t) for t in translate)
        if len(translate) != 2 or not all(0.0 <= t <= 1.0 for t in translate):
            raise ValueError(f"translate must be two fractions in [0, 1] (width, height), got {translate}.")
        shear = (-float(shear), float(shear)) if isinstance(shear, (int, float)) else tuple(float(s) for s in shear)
        if len(shear) != 2 or shear[0] > shear[1] or not all(-90.0 < s < 90.0 for s in shear):
            raise ValueError(f"shear must be (low, high) with -90 < low <= high < 90 degrees, got {shear}.")
        if image_shape is not None:
            image_shape = tuple(int(s) for s in image_shape)
            if len(image_shape) == 2:
                image_shape = (1, *image_shape)
            if len(image_shape) != 3 or min(image_shape) < 1:
                raise ValueError(f"image_shape must be (C, H, W) or (H, W) with positive sizes, got {image_shape}.")
        if not math.isfinite(float(fill)):
            raise ValueError(f"fill must be finite, got {fill}.")
        self.degrees = float(degrees)
        self.translate = translate
        self.shear = shear
        self.image_shape = image_shape
        self.fill = float(fill)
        self.generator = generator

    def sample_matrices(self, n: int, height: int, width: int) -> Tensor:
        """``(n, 2, 3)`` matrices for ``F.affine_grid``: output -> input, in normalised coordinates."""
        u = torch.rand(n, 4, generator=self.generator, dtype=torch.float64)
        theta = torch.deg2rad(self.degrees * (2 * u[:, 0] - 1))
        phi = torch.deg2rad(self.shear[0] + (self.shear[1] - self.shear[0]) * u[:, 1])
        tx = self.translate[0] * width * (2 * u[:, 2] - 1)  # pixels
        ty = self.translate[1] * height * (2 * u[:, 3] - 1)
        cos, sin, tan = torch.cos(theta), torch.sin(theta), torch.tan(phi)
        forward = torch.stack(
            [torch.stack([cos, -cos * tan - sin], 1), torch.stack([sin, -sin * tan + cos], 1)], 1
        )  # R(theta) S(phi), (n, 2, 2)
        inverse = torch.linalg.inv(forward)
        half = torch.tensor([width / 2.0, height / 2.0], dtype=torch.float64)
        # pixel offsets p = D u (D = diag(W/2, H/2)); input = A^-1 (output - t)  =>  u_in = D^-1 A^-1 D u_out - D^-1 A^-1 t
        linear = inverse * half.view(1, 1, 2) / half.view(1, 2, 1)
        shift = -(inverse @ torch.stack([tx, ty], 1).unsqueeze(2)).squeeze(2) / half
        return torch.cat([linear, shift.unsqueeze(2)], 2)

    def forward(self, x: Tensor) -> Tensor:
        if not x.is_floating_point():
            raise TypeError(f"RandomAffine expects float images, got dtype {x.dtype}.")
        flat_shape = None
        if self.image_shape is not None:
            if x.dim() != 2 or x.shape[1] != math.prod(self.image_shape):
                raise ValueError(
                    f"RandomAffine(image_shape={self.image_shape}) expects flat images of shape "
                    f"(N, {math.prod(self.image_shape)}), got {tuple(x.shape)}."
                )
            flat_shape = x.shape
            x = x.reshape(x.shape[0], *self.image_shape)
        elif x.dim() != 4:
            raise ValueError(
                f"RandomAffine expects image batches (N, C, H, W), got {tuple(x.shape)}; for images "
                "stored flat give image_shape=(C, H, W)."
            )
        n, _, height, width = x.shape
        dtype = x.dtype
        theta = self.sample_matrices(n, height, width).to(device=x.device, dtype=torch.float32)
        grid = F.affine_grid(theta, [n, x.shape[1], height, width], align_corners=False)
        y = (
            F.grid_sample(x.float() - self.fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            + self.fill
        )
        y = y.to(dtype)
        return y.reshape(flat_shape) if flat_shape is not None else y

    def extra_repr(self) -> str:
        return (
            f"degrees={self.degrees}, translate={self.translate}, shear={self.shear}, "
            f"image_shape={self.image_shape}, fill={self.fill}"
        )
