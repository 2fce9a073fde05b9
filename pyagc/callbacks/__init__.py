"""Lightning callbacks."""

from pyagc.callbacks.epoch_progress import EpochProgressBar
from pyagc.callbacks.reclustering_barrier import ReclusteringBarrier

__all__ = ["EpochProgressBar", "ReclusteringBarrier"]
