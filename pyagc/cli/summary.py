"""Hydra callback that collects every run's ``metrics.json`` of a ``--multirun`` into a summary.

The summary (``summary.json`` and ``summary.md`` in the sweep folder) is rewritten after every job, so it exists
even when a job fails (Hydra then stops the sweep with that job's error before its end-of-sweep callbacks run) or
the sweep is killed; failed jobs are listed with their overrides and error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from pyagc.utils.checkpoint_io import atomic_replace

KEYS = ("acc", "nmi", "ari", "f1", "silhouette", "davies_bouldin", "calinski_harabasz", "modularity", "conductance")


def summarize(sweep_dir: str | Path, failed: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Mean and std of each metric over the runs under ``sweep_dir``; writes ``summary.json`` and ``.md``.

    ``failed``: the jobs that failed, as ``{"job", "run_dir", "overrides", "error"}`` dicts; they are listed in
    both files (``n_failed``, ``failed``) and left out of the means.
    """
    sweep_dir = Path(sweep_dir)
    failed = list(failed or [])
    failed_dirs = {f.get("run_dir") for f in failed}
    runs = []
    for f in sorted(sweep_dir.rglob("metrics.json"), key=lambda p: _job_order(p.parent.relative_to(sweep_dir))):
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        data["run_dir"] = str(f.parent.relative_to(sweep_dir))
        if data["run_dir"] in failed_dirs:  # a metrics.json from an earlier sweep into the same folder
            continue
        runs.append(data)
    summary: dict[str, Any] = {"n_runs": len(runs), "n_failed": len(failed), "runs": runs, "failed": failed,
                               "mean": {}, "std": {}}
    for k in KEYS:
        vals = [r[k] for r in runs if isinstance(r.get(k), (int, float))]
        if vals:
            summary["mean"][k] = float(np.mean(vals))
            summary["std"][k] = float(np.std(vals))
    times = [r["time_s"]["total"] for r in runs if "time_s" in r]
    if times:
        summary["mean"]["time_s"] = float(np.mean(times))
    text = json.dumps(summary, indent=2, default=str)
    atomic_replace(lambda tmp: Path(tmp).write_text(text), sweep_dir / "summary.json", fsync=False)
    lines = ["| run | seed | " + " | ".join(k for k in KEYS if k in summary["mean"]) + " |",
             "|---|---|" + "---|" * len([k for k in KEYS if k in summary["mean"]])]
    for r in runs:
        lines.append(f"| {r['run_dir']} | {r.get('seed')} | " + " | ".join(
            f"{r[k]:.4f}" for k in KEYS if k in summary["mean"]) + " |")
    lines.append("| mean ± std | | " + " | ".join(
        f"{summary['mean'][k]:.4f} ± {summary['std'][k]:.4f}" for k in KEYS if k in summary["mean"]) + " |")
    if failed:
        lines += ["", f"{len(failed)} failed run(s):", "", "| run | overrides | error |", "|---|---|---|"]
        for f in failed:
            error = str(f.get("error", "")).replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {f.get('run_dir')} | {' '.join(f.get('overrides', []))} | {error} |")
    atomic_replace(lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"), sweep_dir / "summary.md", fsync=False)
    return summary


def _job_order(run_dir: Path) -> tuple:
    parts = run_dir.parts
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


class MultirunSummary(Callback):
    """Writes the sweep's summary after every job (listing the failed ones) and prints it at the sweep's end."""

    def __init__(self) -> None:
        self.failed: list[dict[str, Any]] = []

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.failed = []

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        from hydra.types import RunMode

        try:
            if config.hydra.mode != RunMode.MULTIRUN:
                return
            sweep_dir = Path(config.hydra.sweep.dir)
            run_dir = Path(config.hydra.runtime.output_dir).resolve()
            sweep_abs = sweep_dir.resolve()
            status = getattr(getattr(job_return, "status", None), "name", "")
            if status == "FAILED":
                error = getattr(job_return, "_return_value", None)
                self.failed.append({
                    "job": int(config.hydra.job.num),
                    "run_dir": str(run_dir.relative_to(sweep_abs)) if run_dir.is_relative_to(sweep_abs) else str(run_dir),
                    "overrides": list(getattr(job_return, "overrides", None) or []),
                    "error": f"{type(error).__name__}: {error}" if error is not None else "unknown error",
                })
            summarize(sweep_dir, self.failed)
            if status == "FAILED":
                print(f"[pyagc] job {config.hydra.job.num} failed ({self.failed[-1]['error'].splitlines()[0]}); "
                      f"summary so far in {sweep_dir / 'summary.md'}", flush=True)
        except Exception as e:  # the summary must never hide the job's own result
            print(f"[pyagc] could not write the sweep summary: {type(e).__name__}: {e}", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        summary = summarize(sweep_dir, self.failed)
        if summary["n_runs"] or summary["n_failed"]:
            print(f"[pyagc] {summary['n_runs']} runs, {summary['n_failed']} failed; summary in {sweep_dir / 'summary.md'}")
            print((sweep_dir / "summary.md").read_text())
