"""``results.png`` of a ``pyagc-bench`` folder: one panel per headline metric (and the fit time), the methods side
by side, a bar at each method's mean over the seeds, the standard deviation as an error bar and a dot per seed.
One row of panels per data set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyagc.cli.bench_records import group_records, headline_metrics

__all__ = ["plot_results"]


def plot_results(records: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path | None:
    """Draw the records' headline metrics to ``path`` (PNG, matplotlib's Agg backend); ``None`` without an ok
    run to draw.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    from pyagc.cli.bench_tables import LABELS

    groups = group_records(records)
    ok = [r for g in groups for r in g.ok]
    if not ok:
        return None
    panels = [*headline_metrics(ok), "fit_s"]
    methods = list(dict.fromkeys(g.method for g in groups))
    datas = list(dict.fromkeys(g.data for g in groups))
    by_key = {(g.method, g.data): g for g in groups}
    width = max(3.2, 0.55 * len(methods) + 1.6)
    fig, axes = plt.subplots(len(datas), len(panels), figsize=(width * len(panels), 3.4 * len(datas)), squeeze=False)
    colours = plt.get_cmap("tab10")
    for row, data in enumerate(datas):
        for col, metric in enumerate(panels):
            ax = axes[row][col]
            for i, method in enumerate(methods):
                g = by_key.get((method, data))
                vals = g.values(metric) if g is not None else []
                if not vals:
                    continue
                mean, std = float(np.mean(vals)), float(np.std(vals))
                colour = colours(i % 10)
                ax.bar(i, mean, width=0.6, color=colour, alpha=0.35, edgecolor=colour)
                ax.errorbar(i, mean, yerr=std, color="black", capsize=4, linewidth=1)
                jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else np.zeros(1)
                ax.scatter(i + jitter, vals, s=14, color=colour, zorder=3)
            ax.set_xticks(range(len(methods)))
            ax.set_xticklabels(methods, rotation=30, ha="right", fontsize=8)
            ax.set_title(f"{LABELS.get(metric, metric)}" + (f" — {data}" if len(datas) > 1 or data else ""), fontsize=9)
            ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)
    return path
