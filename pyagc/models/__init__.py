"""Lightning modules composing an encoder and a cluster head, and named presets."""

from pyagc.models.clustering_module import ClusteringModule, build_optimizer, peak_memory_mb, validate_pairing
from pyagc.models.presets import DEC, IDEC, DMoN

__all__ = ["ClusteringModule", "DEC", "IDEC", "DMoN", "build_optimizer", "validate_pairing", "peak_memory_mb"]
