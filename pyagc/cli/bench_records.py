"""``results.jsonl``: one JSON object per run of ``pyagc-bench``, and the statistics over its records.

Lines are appended whole (one ``write`` of the line, flushed and fsynced, under an exclusive ``flock``), so a bench
killed at any moment leaves a readable file: at worst a last line cut short, which :func:`read_records` skips.

A record (``status: ok | failed``) holds the method, data and seed, the run's ``metrics.json`` under
``metrics`` (ACC / NMI / ARI / F1, internal scores, ``time_s`` per phase, peak memory, ...), the runner's own
``wall_s`` and the child's peak RSS, the exact overrides, and the machine (:mod:`pyagc.cli.bench_machine`).

Statistics follow ClustPy's ``evaluate_multiple_datasets``: per data set and method, the mean and the standard
deviation (``np.std``, population, ddof = 0) of each metric over the repetitions (seeds) that ran, and the runtime
(``time_s.fit``: the run's training time; ``wall_s``: the whole process).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "EXTERNAL",
    "GRAPH",
    "INTERNAL",
    "RESOURCES",
    "Group",
    "append_record",
    "done_keys",
    "group_records",
    "headline_metrics",
    "latest_records",
    "read_records",
    "value",
]

RESULTS = "results.jsonl"
# labelled data: the external scores; no labels: the clusters' internal scores on the input features (the same
# space for every method, unlike scores on each method's own embedding); graphs: modularity and conductance too
EXTERNAL = ("acc", "nmi", "ari", "f1")
INTERNAL = ("input_silhouette", "input_davies_bouldin", "input_calinski_harabasz")
GRAPH = ("modularity", "conductance")
# time and memory: the run's fit time (metrics.json time_s.fit), the process's wall time, its peak RSS
RESOURCES = ("fit_s", "wall_s", "peak_rss_mb")


@contextlib.contextmanager
def _locked(f: Any) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    try:
        fcntl.flock(f, fcntl.LOCK_EX)
    except OSError:  # some network file systems
        yield
        return
    try:
        yield
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one line of ``path``: written whole, flushed and fsynced, under a file lock."""
    line = json.dumps(record, sort_keys=False, default=str, allow_nan=True) + "\n"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f, _locked(f):
        if f.tell() > 0:  # a line cut short by an earlier crash must not swallow this one
            with open(path, "rb") as r:
                r.seek(-1, os.SEEK_END)
                if r.read(1) != b"\n":
                    f.write("\n")
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``results.jsonl`` in file order (an unreadable line is skipped, with a warning)."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            print(f"[pyagc-bench] {path}:{i}: not a JSON record (cut short?), skipped", file=sys.stderr)
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def done_keys(records: Sequence[dict[str, Any]]) -> set[str]:
    """The keys of the runs that finished (``status: ok``): what a rerun skips."""
    return {r["key"] for r in records if r.get("status") == "ok" and "key" in r}


def latest_records(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per key: the last one written, at the place of the key's first record."""
    latest: dict[str, dict[str, Any]] = {}
    first: dict[str, int] = {}
    for i, r in enumerate(records):
        key = str(r.get("key") or json.dumps([r.get("method"), r.get("data"), r.get("seed"), i]))
        first.setdefault(key, i)
        latest[key] = r
    return [latest[k] for k in sorted(latest, key=first.__getitem__)]


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(float(v)) else None


def value(record: dict[str, Any], name: str) -> float | None:
    """A record's value of ``name``: a key of its ``metrics``; ``fit_s`` / ``total_s`` (the run's ``time_s``),
    ``wall_s`` (the runner's), ``peak_rss_mb`` (the run's own, else its process's as the runner measured it).
    """
    metrics = record.get("metrics") or {}
    if name in ("fit_s", "total_s"):
        times = metrics.get("time_s") or {}
        return _number(times.get(name[:-2])) if isinstance(times, dict) else None
    if name == "wall_s":
        return _number(record.get("wall_s"))
    if name == "peak_rss_mb":
        return _number(metrics.get("peak_rss_mb")) or _number(record.get("process_peak_rss_mb"))
    return _number(metrics.get(name))


def headline_metrics(records: Sequence[dict[str, Any]]) -> list[str]:
    """The metrics a table shows: ACC / NMI / ARI / F1 when a run had labels, the input-space internal scores
    when one had none, modularity / conductance for graphs.
    """
    ok = [r for r in records if r.get("status") == "ok"]
    labelled = [value(r, "acc") is not None for r in ok]
    out: list[str] = []
    if any(labelled):
        out += EXTERNAL
    if not ok or not all(labelled):
        out += INTERNAL
    if any(value(r, "modularity") is not None for r in ok):
        out += GRAPH
    return [m for m in out if any(value(r, m) is not None for r in ok)] or list(out)


@dataclass
class Group:
    """The runs of one method on one data set: ``ok`` and ``failed`` records, and per metric the values of the
    ok runs (in seed order) with their mean and standard deviation (``np.std``, ddof = 0).
    """

    method: str
    data: str
    ok: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def values(self, name: str) -> list[float]:
        return [v for v in (value(r, name) for r in self.ok) if v is not None]

    def mean_std(self, name: str) -> tuple[float, float] | None:
        vals = self.values(name)
        if not vals:
            return None
        return float(np.mean(vals)), float(np.std(vals))

    @property
    def seeds(self) -> list[int]:
        return [int(r.get("seed", -1)) for r in self.ok]


def group_records(records: Sequence[dict[str, Any]]) -> list[Group]:
    """The latest record per run grouped by (method, data), in the order the methods and data first appear;
    within a group by seed.
    """
    latest = latest_records(records)
    method_order: dict[str, int] = {}
    data_order: dict[str, int] = {}
    for r in latest:
        method_order.setdefault(str(r.get("method")), len(method_order))
        data_order.setdefault(str(r.get("data")), len(data_order))
    groups: dict[tuple[str, str], Group] = {}
    for r in sorted(
        latest,
        key=lambda r: (method_order[str(r.get("method"))], data_order[str(r.get("data"))], int(r.get("seed", 0))),
    ):
        g = groups.setdefault(
            (str(r.get("method")), str(r.get("data"))), Group(str(r.get("method")), str(r.get("data")))
        )
        (g.ok if r.get("status") == "ok" else g.failed).append(r)
    return list(groups.values())
