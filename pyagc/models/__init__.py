"""Lightning modules composing an encoder and a cluster head, and named presets."""

from pyagc.models.clustering_model import ClusteringModel
from pyagc.models.clustering_module import ClusteringModule
from pyagc.models.optimizers import build_lr_schedule, build_optimizer
from pyagc.models.presets import DCN, DEC, IDEC, ACeDeC, DeepECT, DipEncoder, DMoN, VaDE
from pyagc.models.validation import check_head, validate_pairing
from pyagc.utils.memory import peak_memory_mb

__all__ = [
    "ClusteringModel",
    "ClusteringModule",
    "DEC",
    "IDEC",
    "DMoN",
    "ACeDeC",
    "DCN",
    "DeepECT",
    "VaDE",
    "DipEncoder",
    "build_optimizer",
    "build_lr_schedule",
    "check_head",
    "validate_pairing",
    "peak_memory_mb",
]
