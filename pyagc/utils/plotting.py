"""Plots people look at instead of reading numbers: the embedding coloured by cluster and class."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def project_2d(z: np.ndarray, max_points: int = 5000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """PCA projection of (a seeded subsample of) ``z`` to 2-D; returns ``(points, kept_rows)``."""
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(z), size=min(max_points, len(z)), replace=False))
    zs = z[keep].astype(np.float64)
    if zs.shape[1] > 2:
        zs = zs - zs.mean(0)
        _, _, vt = np.linalg.svd(zs, full_matrices=False)
        zs = zs @ vt[:2].T
    elif zs.shape[1] == 1:
        zs = np.concatenate([zs, np.zeros_like(zs)], 1)
    return zs, keep


def plot_embedding(z: np.ndarray, labels: np.ndarray, y: np.ndarray | None = None, title: str = "",
                   path: str | Path | None = None) -> plt.Figure:
    """Scatter the 2-D PCA of the embeddings, coloured by cluster (and by class when ``y`` is known)."""
    pts, keep = project_2d(z)
    if y is not None:  # colour each cluster like the class it is matched to (Hungarian), so colours compare
        from pyagc.metrics import hungarian_mapping

        mapping = hungarian_mapping(y, labels)
        spare = iter(range(int(max(y.max(), labels.max())) + 1, 10**6))
        labels = np.array([mapping[c] if c in mapping else next(spare) for c in labels.tolist()])
    panels = [("clusters", labels[keep])] + ([("classes", y[keep])] if y is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 5), squeeze=False)
    for ax, (name, colour) in zip(axes[0], panels):
        ax.scatter(pts[:, 0], pts[:, 1], c=colour, cmap="tab20", vmin=0, vmax=19, s=4, alpha=0.8, linewidths=0)
        ax.set_title(f"{title} — coloured by {name}".strip(" —"))
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
