"""Final evaluation: assignments, metrics and plots written atomically to an output folder."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pyagc.metrics import external_metrics, graph_metrics, internal_metrics
from pyagc.utils.distributed import is_distributed


def is_rank_zero() -> bool:
    return not is_distributed() or torch.distributed.get_rank() == 0


def atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: no half-written outputs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def evaluate(model: Any, datamodule: Any) -> dict[str, Any]:
    """Embed the whole data set, cluster it and score it (all processes take part under DDP)."""
    z, y = model.embed(datamodule.full_dataloader() if hasattr(datamodule, "full_dataloader") else datamodule,
                       with_labels=True)
    labels = model.cluster_head.cluster(z)
    z_np, labels_np = z.cpu().numpy(), labels.cpu().numpy()
    y_np = None if y is None else y.cpu().numpy()
    scores: dict[str, Any] = {"n_samples": int(len(labels_np)), "n_clusters": int(model.cluster_head.n_clusters),
                              "n_clusters_found": int(len(np.unique(labels_np[labels_np >= 0])))}
    if is_rank_zero():
        if y_np is not None:
            scores.update(external_metrics(y_np, labels_np))
        scores.update(internal_metrics(z_np, labels_np))
        edge_index = getattr(datamodule, "edge_index", None)
        if edge_index is not None:
            scores.update(graph_metrics(edge_index, labels_np))
    return {"metrics": scores, "z": z_np, "labels": labels_np, "y": y_np}


def save_outputs(result: dict[str, Any], output_dir: str | Path, extra: dict[str, Any] | None = None,
                 plot: bool = True, title: str = "") -> dict[str, Path]:
    """Write ``metrics.json``, ``assignments.csv`` and ``embedding.png`` (rank 0 only)."""
    out = Path(output_dir)
    paths = {"metrics": out / "metrics.json", "assignments": out / "assignments.csv"}
    if not is_rank_zero():
        return paths
    metrics = dict(result["metrics"])
    if extra:
        metrics.update(extra)
    labels, y = result["labels"], result["y"]
    cols = [np.arange(len(labels)), labels] + ([y] if y is not None else [])
    header = "index,cluster" + (",label" if y is not None else "")
    atomic_write(paths["assignments"], lambda p: np.savetxt(p, np.stack(cols, 1), fmt="%d", delimiter=",",
                                                            header=header, comments=""))
    if plot:
        from pyagc.utils.plotting import plot_embedding
        import matplotlib.pyplot as plt

        paths["plot"] = out / "embedding.png"

        def _plot(p: str) -> None:
            fig = plot_embedding(result["z"], labels, y, title=title)
            fig.savefig(p, dpi=110, format="png")
            plt.close(fig)

        atomic_write(paths["plot"], _plot)
    atomic_write(paths["metrics"], lambda p: Path(p).write_text(json.dumps(metrics, indent=2, default=float)))
    return paths
