r"""Improved Deep Embedded Clustering (IDEC) head.

Guo, Gao, Liu & Yin, *Improved Deep Embedded Clustering with Local Structure Preservation*,
IJCAI 2017, https://www.ijcai.org/proceedings/2017/0243.pdf.

DEC's clustering loss plus the autoencoder's reconstruction loss, so the embedding keeps the
local structure of the data:

.. math::
    \mathcal{L} = \underbrace{\frac{1}{B}\sum_i \lVert \mathbf x_i - \hat{\mathbf x}_i \rVert^2 / d}_{\mathcal L_r}
                + \gamma\, \underbrace{\mathrm{KL}(P \,\Vert\, Q)}_{\mathcal L_c}

with :math:`P, Q` as in :class:`~pyagc.clusters.DECClusterHead` (paper: :math:`\gamma = 0.1`).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from pyagc.clusters.base import LossOutput
from pyagc.clusters.dec import DECClusterHead


class IDECClusterHead(DECClusterHead):
    r"""IDEC: reconstruction + :math:`\gamma` KL(P || Q). Needs ``x`` and ``x_hat`` in the context.

    Args:
        gamma: weight :math:`\gamma` of the clustering term (paper: 0.1).

    The other arguments are those of :class:`~pyagc.clusters.DECClusterHead`.
    """

    uses_reconstruction = True

    def __init__(
        self,
        n_clusters: int,
        n_features: int,
        gamma: float = 0.1,
        alpha: float = 1.0,
        update_interval: int | None = 140,
        tol: float = 0.001,
        n_init: int = 20,
        seed: int = 0,
        augmentation_invariance: bool = False,
    ) -> None:
        super().__init__(
            n_clusters,
            n_features,
            alpha=alpha,
            update_interval=update_interval,
            tol=tol,
            n_init=n_init,
            seed=seed,
            augmentation_invariance=augmentation_invariance,
        )
        if gamma < 0:
            raise ValueError(f"gamma must be non-negative, got {gamma}.")
        self.gamma = float(gamma)

    def forward(
        self,
        z: Tensor,
        index: Tensor | None = None,
        x: Tensor | None = None,
        x_hat: Tensor | None = None,
        views: tuple[Tensor, Tensor] | None = None,
    ) -> LossOutput:
        self.check_embeddings(z, self.n_features)
        if x is None or x_hat is None:
            raise ValueError(
                "IDECClusterHead needs the input `x` and its reconstruction `x_hat` in the context: "
                "use an autoencoder (e.g. MLPAutoencoder) and call head(z, x=x, x_hat=decoder(z))."
            )
        kl = self.clustering_loss(z, index, self._view_of(z, views))
        recon = F.mse_loss(x_hat.float(), x.float())
        return LossOutput(total=recon + self.gamma * kl, components={"kl": kl, "reconstruction": recon})

    def extra_repr(self) -> str:
        return super().extra_repr() + f", gamma={self.gamma}"
