r"""Stochastic augmentations of attributed graphs for contrastive learning.

Both follow GRACE (Zhu et al., *Deep Graph Contrastive Representation Learning*, 2020,
https://arxiv.org/abs/2006.04131):

* **feature masking** draws one mask :math:`\mathbf m \in \{0, 1\}^F`, :math:`m_j \sim \mathrm{Bernoulli}(1 - p)`,
  shared by all nodes, and returns :math:`\tilde{\mathbf X} = \mathbf X \,\mathrm{diag}(\mathbf m)`
  (whole feature columns are zeroed; no rescaling);
* **edge dropping** removes each edge with probability :math:`p`. An undirected edge
  :math:`\{u, v\}` stored as the two directions :math:`(u, v)` and :math:`(v, u)` is kept or
  dropped as a whole, so a symmetric graph stays symmetric.

Randomness comes from ``generator`` (a :class:`torch.Generator`) when one is given, else from the
global torch RNG (seeded by ``torch.manual_seed`` / Lightning's ``seed_everything``). The random
draws are made on the generator's device (the global RNG: on the CPU) and the results live on the
input's device, so the same seed gives the same views on CPU and GPU.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["mask_features", "drop_edges", "FeatureMasking", "EdgeDropping"]


def _check_probability(p: float, name: str) -> float:
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1), got {p}.")
    return p


def _uniform(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """``n`` uniform draws from ``generator`` (or the global CPU RNG), moved to ``device``."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(n, generator=generator, device=gen_device).to(device)


def mask_features(x: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
    r"""Zero each feature column of ``x (N, F)`` with probability ``p`` (the same columns for every node).

    Returns a new tensor; ``x`` is not modified. ``p = 0`` returns ``x`` itself.
    """
    p = _check_probability(p, "feature masking probability p")
    if x.dim() != 2:
        raise ValueError(f"mask_features expects node features of shape (N, F), got {tuple(x.shape)}.")
    if p == 0.0:
        return x
    keep = _uniform(x.shape[1], generator, x.device) >= p
    return x * keep.to(x.dtype)


def drop_edges(
    edge_index: Tensor, p: float, generator: torch.Generator | None = None, num_nodes: int | None = None
) -> Tensor:
    r"""Drop each undirected edge of ``edge_index (2, E)`` with probability ``p``.

    The two directions :math:`(u, v)` and :math:`(v, u)` of an edge share one draw, so they are
    dropped together; self-loops and one-directional edges are dropped independently. The kept
    edges come back in their input order. ``p = 0`` returns ``edge_index`` itself.
    """
    p = _check_probability(p, "edge dropping probability p")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"drop_edges expects edge_index of shape (2, E), got {tuple(edge_index.shape)}.")
    if p == 0.0 or edge_index.shape[1] == 0:
        return edge_index
    n = int(num_nodes) if num_nodes is not None else int(edge_index.max()) + 1
    lo, hi = torch.minimum(edge_index[0], edge_index[1]), torch.maximum(edge_index[0], edge_index[1])
    pair, inverse = torch.unique(lo * n + hi, return_inverse=True)  # one id per undirected edge
    keep_pair = _uniform(pair.numel(), generator, edge_index.device) >= p
    return edge_index[:, keep_pair[inverse]]


class FeatureMasking(nn.Module):
    """:func:`mask_features` as a module (identity in eval mode)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = _check_probability(p, "feature masking probability p")

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return mask_features(x, self.p, generator) if self.training else x

    def extra_repr(self) -> str:
        return f"p={self.p}"


class EdgeDropping(nn.Module):
    """:func:`drop_edges` as a module (identity in eval mode)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = _check_probability(p, "edge dropping probability p")

    def forward(
        self, edge_index: Tensor, generator: torch.Generator | None = None, num_nodes: int | None = None
    ) -> Tensor:
        return drop_edges(edge_index, self.p, generator, num_nodes) if self.training else edge_index

    def extra_repr(self) -> str:
        return f"p={self.p}"
