"""Lightning callbacks (and the run folder's lock and Hydra guard)."""

from pyagc.callbacks.epoch_progress import EpochProgressBar
from pyagc.callbacks.fault_tolerance import GracefulStop, RunCheckpoint, RunInterrupted, SignalSync
from pyagc.callbacks.reclustering_barrier import ReclusteringBarrier
from pyagc.callbacks.run_folder import RunFolderGuard, RunLock
from pyagc.callbacks.throughput import ThroughputMonitor

__all__ = ["EpochProgressBar", "GracefulStop", "ReclusteringBarrier", "RunCheckpoint", "RunFolderGuard",
           "RunInterrupted", "RunLock", "SignalSync", "ThroughputMonitor"]
