r"""Two-view graph contrastive objective (GRACE).

Zhu, Xu, Yu, Liu, Wu & Wang, *Deep Graph Contrastive Representation Learning*, ICML GRL+ workshop
2020, https://arxiv.org/abs/2006.04131.

Two views of the graph :math:`(\tilde{\mathbf X}_1, \tilde{\mathcal E}_1)` and
:math:`(\tilde{\mathbf X}_2, \tilde{\mathcal E}_2)` are drawn by feature masking and edge dropping
(:mod:`pyagc.augmentations.graph`), encoded by the same encoder :math:`f` and projected by a
two-layer MLP :math:`g`: :math:`\mathbf u_i = g(f(\tilde{\mathbf X}_1, \tilde{\mathcal E}_1))_i`,
:math:`\mathbf v_i = g(f(\tilde{\mathbf X}_2, \tilde{\mathcal E}_2))_i`. With the cosine similarity
:math:`\theta(\mathbf a, \mathbf b) = \mathbf a^\top \mathbf b / (\lVert\mathbf a\rVert\,\lVert\mathbf b\rVert)`
and a temperature :math:`\tau`, the positive pair of node :math:`i` is :math:`(\mathbf u_i, \mathbf v_i)`
and its negatives are every other node in the other view (inter-view) and in its own view (intra-view):

.. math::
    \ell(\mathbf u_i, \mathbf v_i) = -\log
    \frac{e^{\theta(\mathbf u_i, \mathbf v_i)/\tau}}
         {e^{\theta(\mathbf u_i, \mathbf v_i)/\tau}
          + \sum_{k \ne i} e^{\theta(\mathbf u_i, \mathbf v_k)/\tau}
          + \sum_{k \ne i} e^{\theta(\mathbf u_i, \mathbf u_k)/\tau}},
    \qquad
    \mathcal J = \frac{1}{2N} \sum_{i=1}^{N} \big[\ell(\mathbf u_i, \mathbf v_i) + \ell(\mathbf v_i, \mathbf u_i)\big].

The loss is computed with log-sum-exp in float32 (also under autocast). Memory and time are
:math:`O(N^2)` in the number of nodes of a batch (Cora: 2 708 nodes, about 30 MB).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyagc.augmentations.graph import drop_edges, mask_features
from pyagc.clusters.base import LossOutput

__all__ = ["GraphContrastiveObjective", "grace_loss", "nt_xent_one_side"]


def nt_xent_one_side(u: Tensor, v: Tensor, tau: float) -> Tensor:
    r"""Per-node :math:`\ell(\mathbf u_i, \mathbf v_i)` of GRACE (inter- and intra-view negatives), shape ``(N,)``."""
    u, v = F.normalize(u.float(), dim=1), F.normalize(v.float(), dim=1)
    return _one_side(u @ v.t() / tau, u @ u.t() / tau)


def _one_side(between: Tensor, within: Tensor) -> Tensor:
    """``-log softmax`` of the positive (diagonal of ``between``) against the other entries of its row
    in ``between`` and ``within`` (whose diagonal, the anchor itself, is excluded).
    """
    eye = torch.eye(within.shape[0], dtype=torch.bool, device=within.device)
    denominator = torch.logaddexp(
        torch.logsumexp(between, dim=1), torch.logsumexp(within.masked_fill(eye, float("-inf")), dim=1)
    )
    return denominator - between.diagonal()


def grace_loss(u: Tensor, v: Tensor, tau: float) -> Tensor:
    r"""The symmetric GRACE loss :math:`\mathcal J` of two projected views ``u, v (N, D)``."""
    if u.shape != v.shape or u.dim() != 2:
        raise ValueError(f"the two views must have the same shape (N, D), got {tuple(u.shape)} and {tuple(v.shape)}.")
    if u.shape[0] < 2:
        raise ValueError(f"the contrastive loss needs at least 2 nodes (negatives), got {u.shape[0]}.")
    with torch.autocast(device_type=u.device.type, enabled=False):
        u, v = F.normalize(u.float(), dim=1), F.normalize(v.float(), dim=1)
        between = u @ v.t() / tau  # theta(u_i, v_k) / tau; its transpose serves the other side
        loss_u = _one_side(between, u @ u.t() / tau)
        loss_v = _one_side(between.t(), v @ v.t() / tau)
        return 0.5 * (loss_u + loss_v).mean()


def _check_no_cached_graph(encoder: nn.Module) -> None:
    """Graph layers that cache the normalised graph of their first call (``GCNConv(cached=True)``) would
    ignore the dropped edges of every later view.
    """
    for name, module in encoder.named_modules():
        if getattr(module, "cached", False) is True and hasattr(module, "_cached_edge_index"):
            raise ValueError(
                f"{type(encoder).__name__} layer {name!r} caches its graph (cached=True), so the edge-dropped "
                "views would all use the first graph it saw. Build the encoder with cached=False "
                "(encoder.cached=false)."
            )


def _pair(value: float | Sequence[float], name: str) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return float(value), float(value)
    values = tuple(float(p) for p in value)
    if len(values) != 2:
        raise ValueError(f"{name} must be one probability or one per view (two values), got {list(values)}.")
    return values  # type: ignore[return-value]


class GraphContrastiveObjective(nn.Module):
    r"""GRACE's two-view contrastive loss as a pretraining objective: ``loss = objective(encoder, batch)``.

    Each call draws two views of ``batch`` (``x``, ``edge_index``) with the global torch RNG (or
    ``generator``), encodes both with ``encoder``, projects them with this module's MLP
    :math:`g` (``n_features -> projection_hidden_dim -> projection_dim``, ELU) and returns
    :math:`\mathcal J` (see the module docstring) as a :class:`~pyagc.clusters.LossOutput`.
    The projection head is only used for the loss; clustering uses the encoder's embeddings.

    Args:
        n_features: size of the encoder's embeddings (``${encoder.out_channels}`` in configs).
        projection_hidden_dim: hidden width of the projection head.
        projection_dim: output size of the projection head (default: ``n_features``).
        tau: temperature :math:`\tau > 0`.
        feature_mask_p: feature-masking probability, one for both views or ``(p_1, p_2)``.
        edge_drop_p: edge-dropping probability, one for both views or ``(p_1, p_2)``.
        max_nodes: compute the loss on a random subset of at most this many nodes per step (anchors
            and negatives both from the subset; the encoder still sees the whole graph): uniformly sampled anchors,
            each with fewer negatives, cutting the :math:`O(N^2)` cost. ``None``: all nodes, as GRACE.

    The defaults are GRACE's Cora settings (``tau=0.4``, masking ``(0.3, 0.4)``, dropping ``(0.2, 0.4)``).
    """

    def __init__(
        self,
        n_features: int,
        projection_hidden_dim: int = 128,
        projection_dim: int | None = None,
        tau: float = 0.4,
        feature_mask_p: float | Sequence[float] = (0.3, 0.4),
        edge_drop_p: float | Sequence[float] = (0.2, 0.4),
        max_nodes: int | None = None,
    ) -> None:
        super().__init__()
        if int(n_features) < 1 or int(projection_hidden_dim) < 1:
            raise ValueError(
                f"n_features and projection_hidden_dim must be >= 1, got {n_features}, {projection_hidden_dim}."
            )
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}.")
        self.n_features = int(n_features)
        self.tau = float(tau)
        self.feature_mask_p = _pair(feature_mask_p, "feature_mask_p")
        self.edge_drop_p = _pair(edge_drop_p, "edge_drop_p")
        for p in (*self.feature_mask_p, *self.edge_drop_p):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"augmentation probabilities must be in [0, 1), got {p}.")
        if max_nodes is not None and int(max_nodes) < 2:
            raise ValueError(f"max_nodes must be >= 2 (or None for all nodes), got {max_nodes}.")
        self.max_nodes = None if max_nodes is None else int(max_nodes)
        out_dim = int(projection_dim) if projection_dim is not None else self.n_features
        self.projection = nn.Sequential(
            nn.Linear(self.n_features, int(projection_hidden_dim)),
            nn.ELU(),
            nn.Linear(int(projection_hidden_dim), out_dim),
        )

    def views(self, batch: dict[str, Tensor], generator: torch.Generator | None = None) -> list[dict[str, Tensor]]:
        """The two augmented views ``[{x, edge_index}, {x, edge_index}]`` of ``batch``."""
        if "x" not in batch:
            raise ValueError("the batch has no node features `x`.")
        x, edge_index = batch["x"], batch.get("edge_index")
        out = []
        for p_feat, p_edge in zip(self.feature_mask_p, self.edge_drop_p):
            view = {"x": mask_features(x, p_feat, generator)}
            if edge_index is not None:
                view["edge_index"] = drop_edges(edge_index, p_edge, generator, num_nodes=x.shape[0])
            out.append(view)
        return out

    def encode(self, encoder: nn.Module, view: dict[str, Tensor]) -> Tensor:
        """The encoder's embeddings of one view (graph encoders get the view's edges)."""
        if getattr(encoder, "requires_graph", False):
            _check_no_cached_graph(encoder)
            if view.get("edge_index") is None:
                raise ValueError(f"{type(encoder).__name__} needs a graph: the batch has no `edge_index`.")
            z = encoder(view["x"], view["edge_index"])
        else:
            z = encoder(view["x"])
        if z.dim() != 2 or z.shape[1] != self.n_features:
            raise ValueError(
                f"GraphContrastiveObjective was built for {self.n_features}-dimensional embeddings but the "
                f"encoder gives {tuple(z.shape)}; set n_features to the encoder's output size."
            )
        return z

    def forward(
        self, encoder: nn.Module, batch: dict[str, Tensor], generator: torch.Generator | None = None
    ) -> LossOutput:
        view1, view2 = self.views(batch, generator)
        z1, z2 = self.encode(encoder, view1), self.encode(encoder, view2)
        if self.max_nodes is not None and z1.shape[0] > self.max_nodes:
            gen_device = generator.device if generator is not None else torch.device("cpu")
            nodes = torch.randperm(z1.shape[0], generator=generator, device=gen_device)[: self.max_nodes]
            nodes = nodes.to(z1.device)
            z1, z2 = z1[nodes], z2[nodes]
        u, v = self.projection(z1), self.projection(z2)
        loss = grace_loss(u, v, self.tau)
        with torch.no_grad():
            positive = F.cosine_similarity(u.float(), v.float(), dim=1).mean()
        return LossOutput(loss, {"contrastive": loss, "positive_similarity": positive})

    def extra_repr(self) -> str:
        return (
            f"tau={self.tau}, feature_mask_p={self.feature_mask_p}, edge_drop_p={self.edge_drop_p}, "
            f"max_nodes={self.max_nodes}"
        )
