"""Plots people look at instead of reading numbers: the embedding coloured by cluster and class, and the confusion
matrix of clusters against classes.

* :func:`plot_embedding`: a 2-D projection of the embeddings (PCA by default; t-SNE, or UMAP with umap-learn
  installed), coloured by cluster and, with labels, by class, each panel with a legend. Each cluster takes the
  colour of the class the Hungarian matching (the one behind ACC) pairs it with, so the two panels compare.
* :func:`plot_confusion`: counts of clusters (rows) against classes (columns), reordered by the same matching so
  that matched pairs lie on the diagonal (:func:`matched_confusion`).
* :data:`PALETTE`: 20 qualitative colours, neighbours and all pairs clearly apart (tab10, then ten more picked for
  the largest smallest CIELAB distance to those before); more groups than that are coloured from ``turbo``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "PALETTE",
    "PROJECTIONS",
    "colours",
    "check_projection",
    "project_2d",
    "matched_confusion",
    "plot_embedding",
    "plot_confusion",
]

#: 20 distinct colours: tab10, then ten more each as far (CIELAB) from those before as a set of named palettes
#: allows (smallest pairwise CIELAB distance ~28, as within tab10; tab20's light/dark pairs are ~17 apart)
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#f032e6",
    "#fdc086",
    "#a1d99b",
    "#fccde5",
    "#f0027f",
    "#637939",
    "#a6761d",
    "#fb8072",
    "#1b9e77",
    "#911eb4",
)

#: the 2-D projections :func:`project_2d` makes (``plot_projection=`` in the configs)
PROJECTIONS = ("pca", "tsne", "umap")
_AXES = {"pca": "PC", "tsne": "t-SNE", "umap": "UMAP"}
#: at most this many legend entries; with more groups a panel says how many instead
MAX_LEGEND = 40
#: counts are written into the confusion matrix's cells when it has at most this many cells
MAX_ANNOTATED_CELLS = 400


def colours(n: int) -> list[str | tuple[float, ...]]:
    """``n`` distinct colours: :data:`PALETTE` up to 20, else ``turbo`` sampled evenly and interleaved (so that
    neighbouring indices are far apart on the colour scale).
    """
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    cmap = matplotlib.colormaps["turbo"]
    stride = max(1, round(n / 2.618))  # golden-ratio stride through the scale: consecutive groups far apart
    while np.gcd(stride, n) != 1:
        stride += 1
    return [tuple(cmap(0.05 + 0.9 * ((i * stride) % n) / max(1, n - 1))) for i in range(n)]


def check_projection(method: str) -> str:
    """``method`` normalised (``pca``, ``tsne`` or ``umap``); a ``ValueError`` for other names, an ``ImportError``
    naming ``pip install umap-learn`` for ``umap`` without it. Call it before training to fail early.
    """
    name = str(method or "pca").strip().lower().replace("-", "").replace("_", "")
    if name not in PROJECTIONS:
        raise ValueError(f"plot_projection={method!r} is not a projection; use one of {', '.join(PROJECTIONS)}.")
    if name == "umap":
        try:
            import umap  # noqa: F401
        except ImportError:
            raise ImportError(
                "plot_projection=umap needs umap-learn, which is not installed: pip install umap-learn "
                "(or plot_projection=pca / tsne)."
            ) from None
    return name


def project_2d(
    z: np.ndarray, max_points: int = 5000, seed: int = 0, method: str = "pca"
) -> tuple[np.ndarray, np.ndarray]:
    """2-D projection of (a seeded subsample of at most ``max_points`` rows of) ``z``; returns
    ``(points, kept_rows)``. ``method``: ``pca`` (default; 2-D data is kept as it is), ``tsne`` (scikit-learn) or
    ``umap`` (umap-learn).
    """
    method = check_projection(method)
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(z), size=min(max_points, len(z)), replace=False))
    zs = np.asarray(z[keep], dtype=np.float64).reshape(len(keep), -1)
    n = len(zs)
    if method == "tsne" and n > 2:
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(1.0, (n - 1) / 3)))
        return TSNE(
            n_components=2, perplexity=perplexity, init="pca" if zs.shape[1] >= 2 else "random", random_state=seed
        ).fit_transform(zs), keep
    if method == "umap" and n > 3:
        import umap

        return np.asarray(
            umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed).fit_transform(zs), np.float64
        ), keep
    if zs.shape[1] > 2:
        zs = zs - zs.mean(0)
        _, _, vt = np.linalg.svd(zs, full_matrices=False)
        zs = zs @ vt[:2].T
        if zs.shape[1] == 1:  # fewer samples than dimensions: rank 1
            zs = np.concatenate([zs, np.zeros_like(zs)], 1)
    elif zs.shape[1] == 1:
        zs = np.concatenate([zs, np.zeros_like(zs)], 1)
    return zs, keep


def matched_confusion(y: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, list[int], list[int]]:
    """The contingency table of clusters (rows) and classes (columns), reordered by the Hungarian matching of
    clusters to classes (:func:`pyagc.metrics.hungarian_mapping`, as ACC): the first rows and columns are the
    matched pairs in class order, so the diagonal holds the matched counts (their sum / N is ACC); then the
    unmatched clusters (largest first) and the unmatched classes. Returns ``(table, row_clusters, column_classes)``.
    """
    from pyagc.metrics import hungarian_mapping

    y = np.asarray(y, np.int64).ravel()
    labels = np.asarray(labels, np.int64).ravel()
    classes, t = np.unique(y, return_inverse=True)
    clusters, p = np.unique(labels, return_inverse=True)
    table = np.zeros((len(clusters), len(classes)), np.int64)
    np.add.at(table, (p, t), 1)
    mapping = hungarian_mapping(y, labels)
    pairs = sorted(mapping.items(), key=lambda kv: kv[1])  # (cluster, class) in class order
    row_of = {int(c): i for i, c in enumerate(clusters)}
    col_of = {int(k): j for j, k in enumerate(classes)}
    rows = [row_of[c] for c, _ in pairs]
    cols = [col_of[k] for _, k in pairs]
    spare_rows = [i for i in np.argsort(-table.sum(1), kind="stable").tolist() if i not in set(rows)]
    spare_cols = [j for j in range(len(classes)) if j not in set(cols)]
    order_r, order_c = rows + spare_rows, cols + spare_cols
    return (table[np.ix_(order_r, order_c)], [int(clusters[i]) for i in order_r], [int(classes[j]) for j in order_c])


def _legend(ax: Any, handles: list[Any], title: str, n: int, what: str) -> None:
    if n > MAX_LEGEND:
        ax.text(1.02, 1.0, f"{n} {what}\n(too many\nfor a legend)", transform=ax.transAxes, va="top", fontsize=8)
        return
    ax.legend(
        handles=handles,
        title=title,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        fontsize=8,
        title_fontsize=8,
        ncol=1 if n <= 20 else 2,
        frameon=False,
        handletextpad=0.2,
        columnspacing=0.8,
    )


def plot_embedding(
    z: np.ndarray,
    labels: np.ndarray,
    y: np.ndarray | None = None,
    title: str = "",
    path: str | Path | None = None,
    projection: str = "pca",
    max_points: int = 5000,
    seed: int = 0,
) -> plt.Figure:
    """Scatter a 2-D projection (``projection``: ``pca``, ``tsne`` or ``umap``) of the embeddings coloured by
    cluster, and by class when ``y`` is given, each panel with a legend. With labels each cluster takes the colour
    of the class it is matched to (Hungarian), and its legend entry says which (``3 → 1``).
    """
    from matplotlib.lines import Line2D

    labels = np.asarray(labels).ravel()
    projection = check_projection(projection)
    pts, keep = project_2d(z, max_points=max_points, seed=seed, method=projection)
    cluster_ids = np.unique(labels).tolist()
    if y is not None:
        y = np.asarray(y).ravel()
        from pyagc.metrics import hungarian_mapping

        class_ids = np.unique(y).tolist()
        mapping = hungarian_mapping(y, labels)
        slot_of_class = {k: i for i, k in enumerate(class_ids)}
        spare = iter(range(len(class_ids), 10**9))
        slot_of_cluster = {
            c: slot_of_class[mapping[c]] if c in mapping else next(spare)
            for c in sorted(cluster_ids, key=lambda c: (c not in mapping, mapping.get(c, 0), c))
        }
        n_slots = max(len(class_ids), max(slot_of_cluster.values()) + 1)
    else:
        mapping, class_ids = {}, []
        slot_of_cluster = {c: i for i, c in enumerate(cluster_ids)}
        n_slots = len(cluster_ids)
    palette = colours(n_slots)
    marker = dict(marker="o", linestyle="", markersize=6)

    def cluster_name(c: int) -> str:
        base = "noise" if c < 0 else str(c)
        return f"{base} → {mapping[c]}" if c in mapping else base

    panels = [
        (
            "clusters",
            labels[keep],
            [(slot_of_cluster[c], c, cluster_name(c)) for c in slot_of_cluster],
            "cluster → class" if y is not None else "cluster",
        )
    ]
    if y is not None:
        panels.append(("classes", y[keep], [(slot_of_class[k], k, str(k)) for k in class_ids], "class"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 5), squeeze=False)
    axis = _AXES[projection]
    size = float(np.clip(2000.0 / max(1, len(pts)), 3.0, 30.0))  # points that stay visible in small data
    for ax, (name, values, entries, legend_title) in zip(axes[0], panels):
        slot = {value: s for s, value, _ in entries}
        colour_idx = np.array([slot[v] for v in values.tolist()], np.int64)
        rgba = matplotlib.colors.to_rgba_array([palette[i] for i in range(n_slots)])
        ax.scatter(pts[:, 0], pts[:, 1], c=rgba[colour_idx], s=size, alpha=0.8, linewidths=0)
        handles = [Line2D([], [], color=palette[s], label=label, **marker) for s, _, label in entries]
        _legend(ax, handles, legend_title, len(entries), name)
        ax.set_title(f"{title} — coloured by {name}".strip(" —"))
        ax.set_xlabel(f"{axis} 1")
        ax.set_ylabel(f"{axis} 2")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def plot_confusion(y: np.ndarray, labels: np.ndarray, title: str = "", path: str | Path | None = None) -> plt.Figure:
    """The confusion matrix of clusters (rows) against classes (columns), ordered by the Hungarian matching
    (:func:`matched_confusion`): the matched pairs on the diagonal, outlined; counts written in the cells when
    there are at most :data:`MAX_ANNOTATED_CELLS` of them.
    """
    from matplotlib.patches import Rectangle

    table, rows, cols = matched_confusion(y, labels)
    n_r, n_c = table.shape
    matched = min(n_r, n_c)  # the Hungarian matching pairs this many clusters with classes: the diagonal
    width = min(20.0, 2.5 + 0.45 * n_c)
    height = min(20.0, 2.0 + 0.4 * n_r)
    fig, ax = plt.subplots(figsize=(max(4.5, width), max(3.5, height)))
    im = ax.imshow(table, cmap="Blues", aspect="auto", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="samples")
    if n_r * n_c <= MAX_ANNOTATED_CELLS:
        threshold = table.max() / 2 if table.size else 0
        size = 8 if n_r * n_c <= 144 else 6
        for i in range(n_r):
            for j in range(n_c):
                if table[i, j]:
                    ax.text(
                        j,
                        i,
                        str(int(table[i, j])),
                        ha="center",
                        va="center",
                        fontsize=size,
                        color="white" if table[i, j] > threshold else "black",
                    )
    for i in range(matched):
        ax.add_patch(Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#d62728", linewidth=1.2))
    step_r, step_c = max(1, n_r // 40), max(1, n_c // 40)
    ax.set_yticks(range(0, n_r, step_r), ["noise" if r < 0 else str(r) for r in rows][::step_r], fontsize=8)
    ax.set_xticks(range(0, n_c, step_c), [str(c) for c in cols][::step_c], fontsize=8)
    ax.set_ylabel("cluster")
    ax.set_xlabel("class")
    acc = np.trace(table[:matched, :matched]) / max(1, table.sum())
    ax.set_title(f"{title} — clusters × classes (matched as ACC: {acc:.3f})".strip(" —"), fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
