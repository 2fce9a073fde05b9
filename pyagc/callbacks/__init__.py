"""Lightning callbacks (and the run folder's lock and Hydra guard).

The callbacks are imported on first use, so that the light parts (the run folder's lock, which ``pyagc-train``
needs before it imports torch) load without Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "EpochProgressBar": "epoch_progress",
    "GracefulStop": "fault_tolerance",
    "RunCheckpoint": "fault_tolerance",
    "RunInterrupted": "fault_tolerance",
    "SignalSync": "fault_tolerance",
    "ReclusteringBarrier": "reclustering_barrier",
    "RunFolderGuard": "run_folder",
    "RunLock": "run_folder",
    "ThroughputMonitor": "throughput",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
