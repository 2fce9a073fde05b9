"""Pretraining objectives: ``loss = objective(encoder, batch)`` (see ``ClusteringModule(pretrain_objective=...)``)."""

from pyagc.objectives.graph_contrastive import GraphContrastiveObjective, grace_loss, nt_xent_one_side

__all__ = ["GraphContrastiveObjective", "grace_loss", "nt_xent_one_side"]
