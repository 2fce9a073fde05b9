"""Lightning modules composing an encoder and a cluster head, and named presets."""

from pyagc.models.clustering_model import ClusteringModel
from pyagc.models.clustering_module import ClusteringModule, build_optimizer, peak_memory_mb, validate_pairing
from pyagc.models.presets import DEC, IDEC, DMoN
from pyagc.models.presets import ACeDeC
from pyagc.models.presets import DCN
from pyagc.models.presets import DeepECT
from pyagc.models.presets import VaDE
from pyagc.models.presets import DipEncoder

__all__ = ["ClusteringModel", "ClusteringModule", "DEC", "IDEC", "DMoN", "ACeDeC", "DCN", "DeepECT", "VaDE", "DipEncoder", "build_optimizer", "validate_pairing", "peak_memory_mb"]
