"""Hydra callback that collects every run's ``metrics.json`` of a ``--multirun`` into a summary.

The summary (``summary.json`` and ``summary.md`` in the sweep folder) is rewritten after every job, so it exists
even when a job fails (Hydra then stops the sweep with that job's error before its end-of-sweep callbacks run) or
the sweep is killed; failed jobs are listed with their overrides and error.

Jobs may run in other processes than the sweep (``hydra/launcher=submitit_local`` / ``submitit_slurm``): each job
records its failure in ``<sweep>/.pyagc_sweep/failed/<job>.json`` and rewrites the summary under a file lock, and
the sweep's own process writes the final summary from the folder at the end.

For an Optuna sweep (``hparams_search=...``, ``hydra/sweeper=optuna``) the summary names the best trial: its run
folder, overrides and ``optimized_metric`` value in the sweep's direction, and, at the end, Optuna's own
``optimization_results.yaml`` (best parameters and value).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from pyagc.cli.sweeps import DEFAULT_OBJECTIVE, is_optuna_sweep, metric_direction
from pyagc.utils.checkpoint_io import atomic_replace

KEYS = (
    "acc",
    "nmi",
    "ari",
    "f1",
    "silhouette",
    "davies_bouldin",
    "calinski_harabasz",
    "input_silhouette",
    "modularity",
    "conductance",
)
STATE_DIR = ".pyagc_sweep"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def _job_key(entry: dict[str, Any]) -> str:
    return str(entry.get("job", entry.get("run_dir")))


def _recorded_failures(sweep_dir: Path) -> list[dict[str, Any]]:
    """The failures the jobs recorded in ``<sweep>/.pyagc_sweep/failed/`` (jobs in other processes)."""
    out = []
    for f in (sweep_dir / STATE_DIR / "failed").glob("*.json"):
        try:
            out.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            continue
    return out


@contextlib.contextmanager
def _sweep_lock(sweep_dir: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``<sweep>/.pyagc_sweep/summary.lock`` while a process rewrites the summary (jobs
    that end at the same time in separate processes); without ``flock`` (some network file systems) no lock.
    """
    try:
        import fcntl

        (sweep_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
        f = open(sweep_dir / STATE_DIR / "summary.lock", "a")
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(f, fcntl.LOCK_EX)
        yield
    finally:
        f.close()  # releases the lock


def _overrides(run_dir: Path) -> list[str]:
    try:
        return [str(o) for o in (OmegaConf.load(run_dir / ".hydra" / "overrides.yaml") or [])]
    except Exception:
        return []


def best_run(runs: list[dict[str, Any]], metric: str, direction: str) -> dict[str, Any] | None:
    """The run with the best finite ``metric`` (``direction``: ``maximize`` / ``minimize``); the first on ties."""
    scored = [r for r in runs if _is_number(r.get(metric))]
    if not scored:
        return None
    sign = -1.0 if direction == "minimize" else 1.0
    return max(scored, key=lambda r: sign * float(r[metric]))


def summarize(
    sweep_dir: str | Path, failed: list[dict[str, Any]] | None = None, objective: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Mean and std of each metric over the runs under ``sweep_dir``; writes ``summary.json`` and ``.md``.

    ``failed``: the jobs that failed, as ``{"job", "run_dir", "overrides", "error"}`` dicts (besides those the jobs
    recorded in ``<sweep>/.pyagc_sweep/failed/``); they are listed in both files (``n_failed``, ``failed``) and
    left out of the means. ``objective`` (an Optuna sweep): ``{"metric", "direction", "params"}``; the summary then
    names the best run (``best``: run folder, overrides, the searched ``params`` and the value) and Optuna's
    ``optimization_results.yaml`` when the sweep has written it (``optuna``).
    """
    sweep_dir = Path(sweep_dir)
    merged: dict[str, dict[str, Any]] = {}
    for f in [*_recorded_failures(sweep_dir), *(failed or [])]:
        merged[_job_key(f)] = f
    failed = sorted(merged.values(), key=lambda f: _job_order(Path(str(f.get("run_dir", "")))))
    failed_dirs = {f.get("run_dir") for f in failed}
    runs = []
    for f in sorted(sweep_dir.rglob("metrics.json"), key=lambda p: _job_order(p.parent.relative_to(sweep_dir))):
        if STATE_DIR in f.parts or ".submitit" in f.parts:
            continue
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        data["run_dir"] = str(f.parent.relative_to(sweep_dir))
        if data["run_dir"] in failed_dirs:  # a failed trial (e.g. its objective was NaN), or an earlier sweep's
            continue
        runs.append(data)
    summary: dict[str, Any] = {
        "n_runs": len(runs),
        "n_failed": len(failed),
        "runs": runs,
        "failed": failed,
        "mean": {},
        "std": {},
    }
    keys = list(KEYS)
    metric = str((objective or {}).get("metric") or "")
    if metric and metric not in keys and any(_is_number(r.get(metric)) for r in runs):
        keys.append(metric)
    for k in keys:
        vals = [r[k] for r in runs if _is_number(r.get(k))]
        if vals:
            summary["mean"][k] = float(np.mean(vals))
            summary["std"][k] = float(np.std(vals))
    times = [r["time_s"]["total"] for r in runs if isinstance(r.get("time_s"), dict) and "total" in r["time_s"]]
    if times:
        summary["mean"]["time_s"] = float(np.mean(times))
    best_lines: list[str] = []
    if objective:
        direction = str(objective.get("direction") or "maximize")
        summary["objective"] = {"metric": metric, "direction": direction}
        best = best_run(runs, metric, direction)
        if best is not None:
            overrides = _overrides(sweep_dir / best["run_dir"])
            params = [o for o in overrides if o.split("=", 1)[0] in set(objective.get("params") or ())]
            summary["best"] = {
                "run_dir": best["run_dir"],
                "metric": metric,
                "value": float(best[metric]),
                "direction": direction,
                "params": params,
                "overrides": overrides,
            }
            best_lines = [
                f"Best trial ({direction} {metric}): run {best['run_dir']}, {metric} = {best[metric]:.4f}",
                "",
                f"    {' '.join(params or overrides)}",
            ]
        results = sweep_dir / "optimization_results.yaml"
        if results.is_file():
            with contextlib.suppress(Exception):
                optuna = OmegaConf.to_container(OmegaConf.load(results))
                summary["optuna"] = optuna
                if isinstance(optuna, dict) and "best_params" in optuna:
                    best_params = " ".join(f"{k}={v}" for k, v in optuna["best_params"].items())
                    best_lines += [
                        "",
                        f"Optuna's best ({results.name}): {best_params}; value {optuna.get('best_value')}",
                    ]
    text = json.dumps(summary, indent=2, default=str)
    atomic_replace(lambda tmp: Path(tmp).write_text(text), sweep_dir / "summary.json", fsync=False)
    shown = [k for k in keys if k in summary["mean"]]
    lines = ["| run | seed | " + " | ".join(shown) + " |", "|---|---|" + "---|" * len(shown)]
    for r in runs:
        lines.append(
            f"| {r['run_dir']} | {r.get('seed')} | "
            + " | ".join(f"{r[k]:.4f}" if _is_number(r.get(k)) else "" for k in shown)
            + " |"
        )
    lines.append(
        "| mean ± std | | " + " | ".join(f"{summary['mean'][k]:.4f} ± {summary['std'][k]:.4f}" for k in shown) + " |"
    )
    if best_lines:
        lines += ["", *best_lines]
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


def sweep_objective_spec(config: DictConfig) -> dict[str, Any] | None:
    """``{"metric", "direction", "params"}`` of an Optuna sweep's config (``None`` for other sweepers)."""
    hydra_cfg = config.get("hydra") if "hydra" in config else None
    if not is_optuna_sweep(hydra_cfg):
        return None
    direction = OmegaConf.select(hydra_cfg, "sweeper.direction", default="maximize")
    if OmegaConf.is_list(direction) or isinstance(direction, (list, tuple)):
        direction = list(direction)[0] if len(direction) else "maximize"
    direction = str(getattr(direction, "name", direction)).lower()
    params = OmegaConf.select(hydra_cfg, "sweeper.params", default=None) or {}
    return {
        "metric": str(config.get("optimized_metric") or DEFAULT_OBJECTIVE),
        "direction": "minimize" if direction.endswith("minimize") else "maximize",
        "params": [str(k) for k in params],
    }


def check_objective(config: DictConfig) -> None:
    """Stop an Optuna sweep before its first trial when ``hydra.sweeper.direction`` goes the wrong way for
    ``optimized_metric`` (maximizing Davies-Bouldin, minimizing ACC), and warn about internal scores on the
    learned embedding (they reward collapse and differ between embedding sizes).
    """
    spec = sweep_objective_spec(config)
    if spec is None:
        return
    metric, direction = spec["metric"], spec["direction"]
    expected = metric_direction(metric)
    if expected is not None and expected != direction:
        raise SystemExit(
            f"Error: optimized_metric={metric} is better when {'lower' if expected == 'minimize' else 'higher'}, "
            f"but the sweep would {direction} it: set hydra.sweeper.direction={expected}."
        )
    if metric in ("silhouette", "davies_bouldin", "calinski_harabasz"):
        print(
            f"[pyagc] warning: optimized_metric={metric} scores the clusters on the learned embedding, which an "
            "encoder that collapses each cluster to a point scores best, and which is not comparable between "
            f"embedding sizes; input_{metric} scores them on the input features.",
            flush=True,
        )


class MultirunSummary(Callback):
    """Writes the sweep's summary after every job (listing the failed ones) and prints it at the sweep's end."""

    def __init__(self) -> None:
        self.failed: list[dict[str, Any]] = []

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.failed = []
        check_objective(config)
        with contextlib.suppress(OSError):  # failures recorded by an earlier sweep into this folder
            for f in (Path(config.hydra.sweep.dir) / STATE_DIR / "failed").glob("*.json"):
                f.unlink()

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        from hydra.types import RunMode

        from pyagc.callbacks.run_folder import is_launching_process

        try:
            if config.hydra.mode != RunMode.MULTIRUN or not is_launching_process():
                return  # a single run, or a DDP process other than rank 0
            sweep_dir = Path(config.hydra.sweep.dir)
            run_dir = Path(config.hydra.runtime.output_dir).resolve()
            sweep_abs = sweep_dir.resolve()
            rel = str(run_dir.relative_to(sweep_abs)) if run_dir.is_relative_to(sweep_abs) else str(run_dir)
            job = int(config.hydra.job.num)
            status = getattr(getattr(job_return, "status", None), "name", "")
            record = sweep_dir / STATE_DIR / "failed" / f"{job}.json"
            entry = None
            if status == "FAILED":
                error = getattr(job_return, "_return_value", None)
                entry = {
                    "job": job,
                    "run_dir": rel,
                    "overrides": list(getattr(job_return, "overrides", None) or []),
                    "error": f"{type(error).__name__}: {error}" if error is not None else "unknown error",
                }
                self.failed = [f for f in self.failed if _job_key(f) != str(job)] + [entry]
            with _sweep_lock(sweep_dir):
                if entry is not None:
                    text = json.dumps(entry, default=str)
                    atomic_replace(lambda tmp: Path(tmp).write_text(text), record, fsync=False)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        record.unlink()  # this job failed before (a sweep run again into its folder)
                summarize(sweep_dir, self.failed, sweep_objective_spec(config))
            if entry is not None:
                print(
                    f"[pyagc] job {job} failed ({entry['error'].splitlines()[0]}); "
                    f"summary so far in {sweep_dir / 'summary.md'}",
                    flush=True,
                )
        except Exception as e:  # the summary must never hide the job's own result
            print(f"[pyagc] could not write the sweep summary: {type(e).__name__}: {e}", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        with _sweep_lock(sweep_dir):
            summary = summarize(sweep_dir, self.failed, sweep_objective_spec(config))
        if summary["n_runs"] or summary["n_failed"]:
            print(
                f"[pyagc] {summary['n_runs']} runs, {summary['n_failed']} failed; summary in {sweep_dir / 'summary.md'}"
            )
            print((sweep_dir / "summary.md").read_text())
