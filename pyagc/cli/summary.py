"""Hydra callback that collects every run's ``metrics.json`` of a ``--multirun`` into a summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

KEYS = ("acc", "nmi", "ari", "f1", "silhouette", "davies_bouldin", "calinski_harabasz", "modularity", "conductance")


def summarize(sweep_dir: str | Path) -> dict[str, Any]:
    """Mean and std of each metric over the runs under ``sweep_dir``; writes ``summary.json`` and ``.md``."""
    sweep_dir = Path(sweep_dir)
    runs = []
    for f in sorted(sweep_dir.rglob("metrics.json")):
        data = json.loads(f.read_text())
        data["run_dir"] = str(f.parent.relative_to(sweep_dir))
        runs.append(data)
    summary: dict[str, Any] = {"n_runs": len(runs), "runs": runs, "mean": {}, "std": {}}
    for k in KEYS:
        vals = [r[k] for r in runs if isinstance(r.get(k), (int, float))]
        if vals:
            summary["mean"][k] = float(np.mean(vals))
            summary["std"][k] = float(np.std(vals))
    times = [r["time_s"]["total"] for r in runs if "time_s" in r]
    if times:
        summary["mean"]["time_s"] = float(np.mean(times))
    (sweep_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    lines = ["| run | seed | " + " | ".join(k for k in KEYS if k in summary["mean"]) + " |",
             "|---|---|" + "---|" * len([k for k in KEYS if k in summary["mean"]])]
    for r in runs:
        lines.append(f"| {r['run_dir']} | {r.get('seed')} | " + " | ".join(
            f"{r[k]:.4f}" for k in KEYS if k in summary["mean"]) + " |")
    lines.append("| mean ± std | | " + " | ".join(
        f"{summary['mean'][k]:.4f} ± {summary['std'][k]:.4f}" for k in KEYS if k in summary["mean"]) + " |")
    (sweep_dir / "summary.md").write_text("\n".join(lines) + "\n")
    return summary


class MultirunSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        summary = summarize(sweep_dir)
        if summary["n_runs"]:
            print(f"[pyagc] {summary['n_runs']} runs; summary in {sweep_dir / 'summary.md'}")
            print((sweep_dir / "summary.md").read_text())
