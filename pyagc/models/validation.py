"""Checks that a model can train on its data, run before anything is trained or written: the head's context
against what the model gives (:func:`check_head`) and the model against a DataModule (:func:`validate_pairing`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from pyagc.clusters.base import KNOWN_CONTEXT, BaseClusterHead
from pyagc.data.batches import iter_batches

if TYPE_CHECKING:
    from pyagc.models.clustering_module import ClusteringModule

__all__ = ["check_head", "validate_pairing"]


def check_head(model: ClusteringModule) -> None:
    """Fail with a clear message when the head names context this model cannot give (called at construction
    and again before training, so a head swapped in with ``model.cluster_head = ...`` is checked too).
    """
    head = model.cluster_head
    if not isinstance(head, BaseClusterHead):
        raise TypeError(f"cluster_head must be a pyagc.clusters.BaseClusterHead, got {type(head).__name__}.")
    unknown = sorted(head.required_context - set(KNOWN_CONTEXT))
    if unknown:
        raise ValueError(
            f"{type(head).__name__}.forward requires {', '.join(unknown)}, which no pyagc pipeline gives. A head "
            f"receives the context its signature names, out of: {', '.join(KNOWN_CONTEXT)}; give the other "
            "parameters a default or rename them."
        )
    if head.uses_reconstruction and not model.is_autoencoder:
        raise ValueError(
            f"{type(head).__name__}.forward takes x_hat (reconstructions), but {type(model.encoder).__name__} has "
            "no decoder: use an autoencoder encoder (e.g. MLPAutoencoder)."
        )
    if model.joint_augmentation and head.uses_views:
        raise ValueError(
            f"joint_augmentation=True has no effect on {type(head).__name__}: it draws its own views "
            "from `augmentation` in joint training. Leave joint_augmentation=False."
        )
    if model.final_reclustering and not head.requires_initialization:
        raise ValueError(
            f"final_reclustering re-runs the head's initialisation on the final embeddings, but "
            f"{type(head).__name__} has none (requires_initialization is False). Set final_reclustering=False."
        )


def validate_pairing(model: ClusteringModule, datamodule: Any) -> None:
    """Fail early, with a clear message, when the model cannot train on the data."""
    if hasattr(datamodule, "setup") and getattr(datamodule, "x", 1) is None:
        datamodule.setup("fit")
    check_head(model)
    head = model.cluster_head
    is_graph = bool(getattr(datamodule, "is_graph", False))
    if head.requires_graph and not is_graph:
        raise ValueError(
            f"{type(head).__name__} needs a graph: its forward requires edge_index, but the data "
            f"{getattr(datamodule, 'name', '')!r} is not a graph. Use a graph DataModule (e.g. data=cora), or a head "
            "whose forward does not require edge_index (give it a default of None to use the graph only when there "
            "is one)."
        )
    if model.encoder_needs_graph and not is_graph:
        raise ValueError(f"{type(model.encoder).__name__} needs a graph but the data is not a graph.")
    if getattr(datamodule, "is_mini_batch", False) and any(
        getattr(m, "cached", False) for m in model.encoder.modules() if m is not model.encoder
    ):
        raise ValueError(
            "the encoder caches its normalised adjacency (cached=true), which is only valid when every step sees "
            "the same whole graph; with sampled mini-batches (data.num_neighbors) set encoder.cached=false."
        )
    if head.uses_variational:  # before pretraining, not at the first joint step
        model.variational_encoder()
    n = getattr(datamodule, "n_samples", None)
    if n is not None and head.n_clusters > n:
        raise ValueError(f"n_clusters={head.n_clusters} is larger than the number of samples ({n}).")
    # One forward pass on two samples: catches feature sizes that do not match the encoder.
    batch = next(iter(iter_batches(datamodule)))
    if not is_graph:
        batch = {k: v[:2] if isinstance(v, Tensor) else v for k, v in batch.items()}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        z = model.embed_batch({k: (v.to(model.device) if isinstance(v, Tensor) else v) for k, v in batch.items()})
    model.train(was_training)
    dim = getattr(head, "n_features", None)
    if dim is not None and z.shape[1] != dim:
        raise ValueError(
            f"the encoder gives {z.shape[1]}-dimensional embeddings but {type(head).__name__} expects "
            f"{dim}. Set head.n_features={z.shape[1]} (or the encoder's latent_dim={dim})."
        )
    if not math.isfinite(float(z.sum())):
        raise FloatingPointError("the encoder produced NaN/inf embeddings on the first samples.")
    if head.uses_views:  # before training: the views can be made, and their shape fits the encoder
        if model.augmentation is None and batch.get("views") is None:
            model.embed_views(batch)  # raises the error that explains what to configure
        if model.augmentation is not None:
            with torch.random.fork_rng(devices=[]):  # leaves the global RNG (and so the training views) as it was
                view = model.augmentation(batch["x"].to(model.device))
            if view.shape != batch["x"].shape:
                raise ValueError(
                    f"{type(model.augmentation).__name__} turned a batch of shape {tuple(batch['x'].shape)} into "
                    f"{tuple(view.shape)}; an augmentation must keep the batch's shape."
                )
