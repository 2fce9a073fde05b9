"""pyagc's messages: the ``pyagc`` logger (rank zero only) and :func:`report`, the lines a run prints for people.

A run's summary (``[pyagc] DECClusterHead on digits: ACC ...``) is printed plainly on the console, exactly as the
README shows it, and logged to the ``pyagc`` logger as well, so that Hydra's job log (``train.log``) holds it. The
record is marked as printed; the console handler of pyagc's Hydra logging config
(``configs/hydra/job_logging/pyagc.yaml``) skips marked records with :class:`NotPrinted`, so the line appears on
the console once.

Under DDP every process runs the same code: records below ``WARNING`` of the ``pyagc`` logger and the lines of
:func:`report` come from global rank zero only. Nothing here imports torch.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import IO

__all__ = ["log", "report", "global_rank", "NotPrinted", "RankZeroFilter", "PRINTED"]

#: the attribute :func:`report` sets on its log records: the line was printed on the console already
PRINTED = "pyagc_printed"

log = logging.getLogger("pyagc")


def global_rank() -> int:
    """This process's global rank: torch.distributed's when it is initialised, else Lightning's (once imported),
    else the launcher's environment (``RANK``, ``LOCAL_RANK``, ``SLURM_PROCID``, ``JSM_NAMESPACE_RANK``), else 0.
    """
    dist = sys.modules.get("torch.distributed")
    try:
        if dist is not None and dist.is_available() and dist.is_initialized():
            return int(dist.get_rank())
    except Exception:  # noqa: BLE001 - a half torn-down process group: fall back on the others
        pass
    lightning = sys.modules.get("lightning_utilities.core.rank_zero")
    rank = getattr(getattr(lightning, "rank_zero_only", None), "rank", None)
    if rank is not None:
        return int(rank)
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        value = os.environ.get(key)
        if value is not None and value.strip().lstrip("-").isdigit():
            return int(value)
    return 0


class RankZeroFilter(logging.Filter):
    """Lets records below ``WARNING`` through on global rank zero only (warnings and errors from every rank)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or global_rank() == 0


class NotPrinted(logging.Filter):
    """Drops the records of lines :func:`report` printed already: for console handlers, so no line shows twice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, PRINTED, False)


if not any(isinstance(f, RankZeroFilter) for f in log.filters):
    log.addFilter(RankZeroFilter())


def report(message: str, *, stream: IO[str] | None = None, level: int = logging.INFO) -> None:
    """Print ``message`` as it is (default: to stdout) and log it to the ``pyagc`` logger, on global rank zero only.

    The record carries ``pyagc_printed=True``: log files get it; a console handler with :class:`NotPrinted` (as in
    pyagc's Hydra logging config) leaves it out, since the console shows the printed line already.
    """
    if global_rank() != 0:
        return
    print(message, file=stream if stream is not None else sys.stdout, flush=True)
    log.log(level, message, extra={PRINTED: True})
