"""Lightning callbacks."""

from pyagc.callbacks.epoch_progress import EpochProgressBar
from pyagc.callbacks.reclustering_barrier import ReclusteringBarrier
from pyagc.callbacks.throughput import ThroughputMonitor

__all__ = ["EpochProgressBar", "ReclusteringBarrier", "ThroughputMonitor"]
