"""The cluster-head contract shared by every head in :mod:`pyagc.clusters`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn


@dataclass
class LossOutput:
    r"""A training loss with its named terms.

    ``total`` is what is back-propagated; ``components`` maps a term's name to its
    (already weighted or unweighted, as the head documents) value so that each term is
    logged separately, e.g. ``{"kl": ..., "reconstruction": ...}``.
    """

    total: Tensor
    components: dict[str, Tensor] = field(default_factory=dict)


class BaseClusterHead(nn.Module):
    r"""Base class of every cluster head.

    A cluster head turns embeddings :math:`\mathbf{Z} \in \mathbb{R}^{N \times F}` into a
    clustering loss (:meth:`forward`) and into cluster assignments (:meth:`cluster`).

    Subclasses implement :meth:`forward` and :meth:`cluster`; they may implement
    :meth:`initialize` (called once before joint training with the embeddings of the
    whole training set) and :meth:`refresh` (called every :attr:`refresh_interval`
    joint-training steps with the embeddings of the whole training set, e.g. DEC's
    target distribution).

    Class attributes a head may set:

    * ``uses_reconstruction`` -- the head's loss needs ``x`` and ``x_hat`` in the context.
    * ``requires_graph`` -- the head's loss needs ``edge_index``.
    * ``uses_variational`` -- the head's loss needs a VAE encoder's ``mu``, ``logvar`` and a sample ``z``.
    * ``uses_views`` -- the head's loss needs the embeddings of two augmented views (``views=(z_a, z_b)``).
    * ``views_include_clean`` -- with ``uses_views``: the first view is the clean batch itself
      (``views=(z, z_aug)``; augmentation-invariant DEC / IDEC).
    * ``requires_initialization`` -- :meth:`initialize` must run before :meth:`forward`.
    * ``refresh_interval`` -- steps between calls of :meth:`refresh` (``None``: never).
    * ``requires_finalization`` -- :meth:`finalize` runs once after joint training with the embeddings of the
      whole training set (e.g. merging over-clustered columns), before the model is evaluated and saved.

    State that must survive a checkpoint is an ``nn.Parameter`` or a registered buffer.
    Buffers whose shape is only known at run time (e.g. one row per training sample)
    are listed in ``_resizable_buffers`` and are resized when a checkpoint is loaded.
    """

    uses_reconstruction: bool = False
    requires_graph: bool = False
    uses_variational: bool = False
    uses_views: bool = False
    views_include_clean: bool = False
    requires_initialization: bool = False
    refresh_interval: int | None = None
    requires_finalization: bool = False
    _resizable_buffers: tuple[str, ...] = ()

    def __init__(self, n_clusters: int) -> None:
        super().__init__()
        n_clusters = int(n_clusters)
        if n_clusters < 2:
            raise ValueError(
                f"n_clusters must be at least 2, got {n_clusters}. "
                "Set n_clusters to the number of groups you expect in the data."
            )
        self.n_clusters = n_clusters
        # Whether initialize() has run; a buffer so it survives checkpoints.
        self.register_buffer("_initialized", torch.tensor(False))

    # ------------------------------------------------------------------ contract
    def forward(self, z: Tensor, **context: Any) -> Tensor | LossOutput:  # pragma: no cover
        """Return the clustering loss of the batch ``z`` (a scalar or a :class:`LossOutput`)."""
        raise NotImplementedError

    @torch.no_grad()
    def cluster(self, z: Tensor, soft: bool = False) -> Tensor:  # pragma: no cover
        """Return hard labels ``(N,)`` int64 in ``0..K-1`` or, with ``soft``, ``(N, K)`` rows summing to 1."""
        raise NotImplementedError

    @torch.no_grad()
    def initialize(self, z: Tensor, **context: Any) -> None:
        """Initialise the head from the embeddings of the whole training set (optional)."""

    @torch.no_grad()
    def refresh(self, z: Tensor, **context: Any) -> None:
        """Update full-dataset state (e.g. a target distribution) from all embeddings (optional)."""

    @torch.no_grad()
    def finalize(self, z: Tensor, **context: Any) -> None:
        """Derive the final assignment rule from the embeddings of the whole training set after joint training
        (optional; called when ``requires_finalization``)."""

    # ------------------------------------------------------------------ helpers
    @property
    def is_initialized(self) -> bool:
        return bool(self._initialized.item())

    def mark_initialized(self) -> None:
        self._initialized.fill_(True)

    @staticmethod
    def check_embedding_dim(embedding_dim: Any) -> int:
        """``embedding_dim`` as a positive int, or a clear error (heads call it in ``__init__``)."""
        if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, (int, float)) or int(embedding_dim) < 1 \
                or int(embedding_dim) != embedding_dim:
            raise ValueError(
                f"embedding_dim must be a positive integer, got {embedding_dim!r}. Set it to the encoder's latent "
                "size (from the command line, `embedding_dim: null` in a head config is filled from the encoder)."
            )
        return int(embedding_dim)

    def check_embeddings(self, z: Tensor, expected_dim: int | None = None) -> None:
        """Raise a clear error for embeddings of the wrong shape or with NaN/inf."""
        if z.dim() != 2:
            raise ValueError(
                f"{type(self).__name__} expects embeddings of shape (N, F), got {tuple(z.shape)}."
            )
        if expected_dim is not None and z.shape[1] != expected_dim:
            raise ValueError(
                f"{type(self).__name__} was built for {expected_dim}-dimensional embeddings but "
                f"got {z.shape[1]}. Make the encoder's latent size equal the head's embedding_dim."
            )
        if not torch.isfinite(z).all():
            raise FloatingPointError(
                f"{type(self).__name__} received NaN or inf embeddings. Check the input data for "
                "NaN/inf and lower the learning rate if training diverged."
            )

    def check_initialization_input(self, z: Tensor, expected_dim: int | None = None) -> None:
        """:meth:`check_embeddings` plus: at least ``n_clusters`` samples to initialise from."""
        self.check_embeddings(z, expected_dim)
        if z.shape[0] < self.n_clusters:
            raise ValueError(
                f"n_clusters={self.n_clusters} is larger than the number of samples ({z.shape[0]}); "
                "lower n_clusters or use more data."
            )

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):  # noqa: D401 - torch hook
        for name in self._resizable_buffers:
            key = prefix + name
            if key in state_dict:
                current = self._buffers.get(name)
                incoming = state_dict[key]
                if current is None or current.shape != incoming.shape:
                    self._buffers[name] = torch.empty_like(incoming)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return f"n_clusters={self.n_clusters}"


def as_loss_output(loss: Tensor | LossOutput) -> LossOutput:
    """Normalise a head's return value to a :class:`LossOutput`."""
    if isinstance(loss, LossOutput):
        return loss
    if not isinstance(loss, Tensor) or loss.dim() != 0:
        raise TypeError(
            "A cluster head's forward() must return a scalar tensor or a LossOutput, got "
            f"{type(loss).__name__}{'' if not isinstance(loss, Tensor) else tuple(loss.shape)}."
        )
    return LossOutput(total=loss, components={})
