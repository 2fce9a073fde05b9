"""Lightning callbacks."""

from pyagc.callbacks.epoch_progress import EpochProgressBar

__all__ = ["EpochProgressBar"]
