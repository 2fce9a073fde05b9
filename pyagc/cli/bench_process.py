"""One child process of ``pyagc-bench``, run alone and measured: its exit code, wall time and peak memory.

The child's output goes to a log file (never a pipe: a chatty child cannot block on a full pipe); its peak resident
memory comes from ``wait4`` (the child and the processes it waited for), so a run's memory peak is its own. A
``timeout`` sends SIGTERM (pyagc-train then writes a checkpoint and exits with 143) and, 30 s later, SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessResult", "error_tail", "run_process"]


@dataclass
class ProcessResult:
    """How a child process ended."""

    returncode: int
    wall_s: float
    peak_rss_mb: float | None
    timed_out: bool = False


def run_process(
    cmd: Sequence[str],
    log_path: str | Path,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    cwd: str | Path | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
) -> ProcessResult:
    """Run ``cmd`` with its stdout and stderr written to ``log_path`` (replaced); wait for it and measure it.
    ``on_start`` gets the process once started (to stop it from elsewhere).
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    timed_out = threading.Event()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            list(cmd), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd
        )
        if on_start is not None:
            on_start(proc)

        def stop() -> None:
            timed_out.set()
            _signal(proc, signal.SIGTERM)
            killer = threading.Timer(30.0, _signal, (proc, signal.SIGKILL))
            killer.daemon = True
            killer.start()

        timer = threading.Timer(timeout, stop) if timeout else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            code, peak = _wait(proc)
        finally:
            if timer is not None:
                timer.cancel()
    return ProcessResult(
        returncode=code, wall_s=time.perf_counter() - start, peak_rss_mb=peak, timed_out=timed_out.is_set()
    )


def _signal(proc: subprocess.Popen, sig: int) -> None:
    if proc.returncode is None:
        try:
            proc.send_signal(sig)
        except (ProcessLookupError, OSError):
            pass


def _wait(proc: subprocess.Popen) -> tuple[int, float | None]:
    """Wait for ``proc``; its exit code (negative: killed by that signal, as ``Popen``) and peak RSS in MiB."""
    if not hasattr(os, "wait4"):  # pragma: no cover - not POSIX
        return proc.wait(), None
    while True:
        try:
            _, status, usage = os.wait4(proc.pid, 0)
            break
        except InterruptedError:  # pragma: no cover - retried by Python itself since 3.5
            continue
        except ChildProcessError:  # already reaped elsewhere
            return proc.wait(), None
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    scale = 1.0 / (1024.0 * 1024.0) if sys.platform == "darwin" else 1.0 / 1024.0  # bytes on macOS, KiB on Linux
    return code, usage.ru_maxrss * scale


def error_tail(log_path: str | Path, max_chars: int = 4000) -> tuple[str, str]:
    """The end of a failed run's log (at most ``max_chars``) and its most telling line: the last
    ``SomeError: message`` line, else the first line of the last paragraph (Hydra's config errors).
    """
    try:
        text = Path(log_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "", ""
    tail = text[-max_chars:]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if ":" in line and " " not in head and head.endswith(("Error", "Exception", "Interrupt", "Exit")):
            return tail, line
    blocks = [b.strip() for b in text.replace("\r", "\n").split("\n\n") if b.strip()]
    blocks = [b for b in blocks if not b.startswith("Set the environment variable HYDRA_FULL_ERROR")]
    return tail, blocks[-1].splitlines()[0].strip() if blocks else ""
