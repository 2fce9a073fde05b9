"""Draw a cluster tree (e.g. DeepECT's): nodes sized by their number of samples, labelled with the
majority class and its share when classes are known.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pyagc.metrics.external import to_numpy  # noqa: E402


def tree_layout(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """``(x, depth, children)``: leaves spread evenly left to right (depth-first order), an inner node
    centred over its children, depth counted from the root.
    """
    m = len(parent)
    children: list[list[int]] = [[] for _ in range(m)]
    roots = [v for v in range(m) if parent[v] < 0]
    if len(roots) != 1:
        raise ValueError(f"the tree must have exactly one root (parent == -1), found {len(roots)}.")
    for v in range(m):
        if parent[v] >= 0:
            children[int(parent[v])].append(v)
    x = np.zeros(m)
    depth = np.zeros(m, dtype=int)
    next_leaf = 0
    stack: list[tuple[int, bool]] = [(roots[0], False)]
    seen = 0
    while stack:
        v, done = stack.pop()
        if done:
            x[v] = np.mean([x[c] for c in children[v]])
            continue
        seen += 1
        if seen > m:
            raise ValueError("parent does not describe a tree (a cycle?).")
        if not children[v]:
            x[v] = next_leaf
            next_leaf += 1
            continue
        stack.append((v, True))
        for c in reversed(children[v]):
            depth[c] = depth[v] + 1
            stack.append((c, False))
    return x, depth, children


def plot_cluster_tree(
    parent: Any, assignment: Any, y: Any | None = None, title: str = "", ax: plt.Axes | None = None
) -> plt.Figure:
    """Plot a cluster tree and return its figure.

    Args:
        parent: ``(M,)`` parent node id of every node, ``-1`` at the root (e.g. ``head.tree()["parent"]``).
        assignment: node id of every sample (e.g. ``head.assign_nodes(z)``); node sizes are subtree counts.
        y: optional classes; each node then shows its majority class and that class's share.
        title: figure title.
        ax: draw into this axes instead of a new figure.
    """
    par = to_numpy(parent).ravel().astype(np.int64)
    a = to_numpy(assignment).ravel().astype(np.int64)
    m = len(par)
    if m == 0:
        raise ValueError("the tree has no nodes.")
    if len(a) and ((a < 0) | (a >= m)).any():
        raise ValueError(f"assignment must hold node ids in [0, {m - 1}].")
    x, depth, children = tree_layout(par)
    size = np.bincount(a, minlength=m).astype(float)
    classes = None
    if y is not None:
        yv = to_numpy(y).ravel()
        if len(yv) != len(a):
            raise ValueError(f"y and assignment differ in length: {len(yv)} vs {len(a)}.")
        classes, y_idx = np.unique(yv, return_inverse=True)
        counts = np.zeros((m, len(classes)))
        np.add.at(counts, (a, y_idx), 1)
    for v in np.argsort(-depth, kind="stable"):  # subtree sizes: children before parents
        if par[v] >= 0:
            size[par[v]] += size[v]
            if classes is not None:
                counts[par[v]] += counts[v]
    if ax is None:
        n_leaves = int(sum(1 for c in children if not c))
        fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * n_leaves + 2), max(4.0, 1.1 * (depth.max() + 2))))
    else:
        fig = ax.figure
    for v in range(m):
        for c in children[v]:
            ax.plot([x[v], x[c]], [-depth[v], -depth[c]], color="0.6", lw=1, zorder=1)
    total = max(size.max(), 1.0)
    colour = None
    if classes is not None:
        share = counts.max(1) / np.maximum(counts.sum(1), 1)
        colour = share
    sc = ax.scatter(
        x,
        -depth,
        s=60 + 1400 * size / total,
        c=colour if colour is not None else "tab:blue",
        cmap="viridis",
        vmin=0,
        vmax=1,
        edgecolors="k",
        zorder=2,
    )
    for v in range(m):
        text = f"n={int(size[v])}"
        if classes is not None and counts[v].sum() > 0:
            text += f"\n{classes[int(counts[v].argmax())]} ({share[v]:.0%})"
        ax.annotate(
            text, (x[v], -depth[v]), textcoords="offset points", xytext=(0, -22), ha="center", va="top", fontsize=7
        )
    if colour is not None:
        fig.colorbar(sc, ax=ax, label="majority-class share")
    ax.set_xticks([])
    ax.set_yticks(-np.arange(depth.max() + 1))
    ax.set_yticklabels([str(d) for d in range(depth.max() + 1)])
    ax.set_ylabel("depth")
    ax.set_ylim(-depth.max() - 0.8, 0.5)
    ax.set_title(title or f"cluster tree ({sum(1 for c in children if not c)} leaves)")
    fig.tight_layout()
    return fig
