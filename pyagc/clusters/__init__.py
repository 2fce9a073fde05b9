"""Cluster heads: each turns embeddings into a clustering loss and cluster assignments."""

from pyagc.clusters.acedec import ACeDeCClusterHead, ACeDeCSplit
from pyagc.clusters.base import BaseClusterHead, LossOutput, as_loss_output
from pyagc.clusters.contrastive import ContrastiveClusterHead
from pyagc.clusters.dcn import DCNClusterHead
from pyagc.clusters.dec import DECClusterHead, kl_divergence, student_t_assignment, target_distribution
from pyagc.clusters.deepect import DeepECTClusterHead
from pyagc.clusters.desom import SOMClusterHead
from pyagc.clusters.dipencoder import DipEncoderClusterHead
from pyagc.clusters.dmon import DMoNClusterHead, collapse_regularization, spectral_modularity_loss
from pyagc.clusters.idec import IDECClusterHead
from pyagc.clusters.kmeans import KMeansClusterHead, KMeansResult, kmeans, pairwise_sq_dists
from pyagc.clusters.vade import VaDEClusterHead, vade_kl_terms, vade_responsibilities

__all__ = [
    "DipEncoderClusterHead",
    "ContrastiveClusterHead",
    "BaseClusterHead",
    "LossOutput",
    "as_loss_output",
    "KMeansClusterHead",
    "DECClusterHead",
    "IDECClusterHead",
    "ACeDeCClusterHead",
    "ACeDeCSplit",
    "DeepECTClusterHead",
    "DCNClusterHead",
    "SOMClusterHead",
    "DMoNClusterHead",
    "VaDEClusterHead",
    "vade_responsibilities",
    "vade_kl_terms",
    "spectral_modularity_loss",
    "collapse_regularization",
    "kmeans",
    "KMeansResult",
    "pairwise_sq_dists",
    "student_t_assignment",
    "target_distribution",
    "kl_divergence",
]
