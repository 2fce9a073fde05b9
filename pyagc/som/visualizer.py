r"""Plots of a trained :class:`~pyagc.som.SOM` and of its post-hoc clusterings.

Every method returns a :class:`matplotlib.figure.Figure` drawn with the non-interactive Agg
backend (nothing is ever shown) and saves it when ``save_path`` is given. Grids are drawn
with one patch per neuron at its true position: squares on rectangular maps, pointy-top
hexagons (:class:`matplotlib.patches.RegularPolygon`, circumradius :math:`1/\sqrt3`) on
hexagonal maps, so that neighbouring cells touch.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle, RegularPolygon  # noqa: E402

from .cluster_kmeans_gmm_hdbscan import build_feature_space, default_k_max, elbow_analysis  # noqa: E402
from .som import SOM  # noqa: E402

PathLike = Union[str, "os.PathLike[str]"]  # noqa: F821


class SOMVisualizer:
    r"""Visual diagnostics of a self-organising map (`Kohonen, 1990
    <https://doi.org/10.1109/5.58325>`_; U-matrix after `Ultsch & Siemon, 1990
    <https://doi.org/10.1007/978-94-009-0643-3_74>`_).

    * :meth:`plot_elbow`: k-means inertia :math:`J(k)` of the neurons with the knee marked;
    * :meth:`plot_silhouette`: mean silhouette :math:`\bar s(k)` and the per-sample silhouette
      :math:`s_i = (b_i - a_i)/\max(a_i, b_i)` of a clustering;
    * :meth:`plot_cluster_comparison`: silhouette, Davies-Bouldin, Calinski-Harabasz of several
      results;
    * :meth:`plot_cluster_map`, :meth:`plot_umatrix`, :meth:`plot_hit_map`,
      :meth:`plot_component_planes`: values over the grid;
    * :meth:`plot_training_errors`: quantisation and topographic error per epoch.

    Args:
        som (SOM): a trained map.
        figsize_per_panel (float, optional): panel size in inches. (default: :obj:`4.5`)
        dpi (int, optional): resolution of saved figures. (default: :obj:`100`)
    """

    def __init__(self, som: SOM, figsize_per_panel: float = 4.5, dpi: int = 100) -> None:
        if not isinstance(som, SOM):
            raise TypeError(f"SOMVisualizer expects a pyagc.som.SOM; got {type(som).__name__}.")
        self.som = som
        self.size = float(figsize_per_panel)
        self.dpi = int(dpi)

    # ------------------------------------------------------------------ helpers
    def _finish(self, fig: Figure, save_path: Optional[PathLike]) -> Figure:
        fig.tight_layout()
        if save_path is not None:
            fig.savefig(save_path, dpi=self.dpi)
        return fig

    def _grid_aspect(self) -> float:
        s = self.som
        h = (s.y - 1) * (math.sqrt(3) / 2 if s.topology == "hexagonal" else 1.0) + 1
        return h / (s.x + 0.5)

    def _draw_grid(self, ax, values: np.ndarray, cmap: Any = "viridis", vmin=None, vmax=None, colors=None, colorbar: bool = True, label: str = ""):
        """Draw one patch per neuron coloured by ``values`` (or explicit RGBA ``colors``)."""
        s = self.som
        pos = s.positions.cpu().numpy()
        if s.topology == "hexagonal":
            patches = [RegularPolygon((px, py), numVertices=6, radius=1 / math.sqrt(3), orientation=0) for px, py in pos]
        else:
            patches = [Rectangle((px - 0.5, py - 0.5), 1.0, 1.0) for px, py in pos]
        coll = PatchCollection(patches, edgecolor="white", linewidth=0.3)
        if colors is not None:
            coll.set_facecolor(colors)
        else:
            coll.set_array(np.asarray(values, dtype=float).ravel())
            coll.set_cmap(cmap)
            coll.set_clim(vmin, vmax)
        ax.add_collection(coll)
        ax.set_xlim(pos[:, 0].min() - 0.8, pos[:, 0].max() + 0.8)
        ax.set_ylim(pos[:, 1].max() + 0.8, pos[:, 1].min() - 0.8)  # row 0 on top
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        if colorbar and colors is None:
            cb = ax.figure.colorbar(coll, ax=ax, fraction=0.046, pad=0.04)
            if label:
                cb.set_label(label)
        return coll

    def _grid_figure(self, ncols: int = 1, nrows: int = 1):
        a = self._grid_aspect()
        return plt.subplots(nrows, ncols, figsize=(self.size * ncols * 1.15, max(self.size * a, 2.5) * nrows), squeeze=False)

    def _result(self, result: Optional[Mapping[str, Any]]) -> Mapping[str, Any]:
        if result is None:
            result = self.som.cluster_result_
        if result is None:
            raise RuntimeError("No clustering to plot: call som.cluster(...) first or pass a result dict.")
        return result

    # ------------------------------------------------------------------ analyses
    def plot_elbow(
        self,
        k_values: Optional[Sequence[int]] = None,
        feature_space: str = "weights",
        save_path: Optional[PathLike] = None,
    ) -> Figure:
        """k-means inertia of the neurons in ``feature_space`` for ``k_values``
        (default ``1..k_max``) with the knee (Kneedle) marked; ``fig.elbow`` holds the numbers."""
        F = build_feature_space(
            self.som.weights.detach().cpu().numpy().astype(np.float64),
            self.som.positions.cpu().numpy().astype(np.float64),
            feature_space,
        )
        el = elbow_analysis(F, k_values, random_state=self.som.random_seed)
        fig, ax = plt.subplots(figsize=(self.size * 1.3, self.size))
        ax.plot(el["k_values"], el["inertia"], "o-", color="C0")
        ki = el["k_values"].index(el["knee"])
        ax.plot([el["knee"]], [el["inertia"][ki]], "o", ms=14, mfc="none", mec="C3", mew=2, label=f"knee: k = {el['knee']}")
        ax.set_xlabel("number of clusters k")
        ax.set_ylabel("k-means inertia of the neurons")
        ax.set_title(f"Elbow analysis ({feature_space})")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.elbow = el  # type: ignore[attr-defined]
        return self._finish(fig, save_path)

    def plot_silhouette(
        self,
        result: Optional[Mapping[str, Any]] = None,
        k_values: Optional[Sequence[int]] = None,
        feature_space: str = "weights",
        max_samples: int = 3000,
        save_path: Optional[PathLike] = None,
    ) -> Figure:
        """Left: mean silhouette of k-means on the neurons for each k. Right: per-sample
        silhouette ("knife" plot) of ``result`` (default: the map's last clustering) on the
        fitted data (at most ``max_samples`` samples, noise excluded)."""
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_samples, silhouette_score

        som = self.som
        F = build_feature_space(
            som.weights.detach().cpu().numpy().astype(np.float64), som.positions.cpu().numpy().astype(np.float64), feature_space
        )
        ks = list(range(2, default_k_max(len(F)) + 1) if k_values is None else k_values)
        scores = [silhouette_score(F, KMeans(k, n_init=4, random_state=som.random_seed).fit_predict(F)) for k in ks]
        fig, axes = plt.subplots(1, 2, figsize=(self.size * 2.4, self.size))
        axes[0].plot(ks, scores, "o-")
        best = ks[int(np.argmax(scores))]
        axes[0].axvline(best, color="C3", ls="--", label=f"best k = {best}")
        axes[0].set_xlabel("k")
        axes[0].set_ylabel("mean silhouette (neurons)")
        axes[0].set_title(f"Silhouette vs k ({feature_space})")
        axes[0].legend()
        axes[0].grid(alpha=0.3)
        ax = axes[1]
        res = result if result is not None else som.cluster_result_
        if res is None or som._data is None:
            ax.text(0.5, 0.5, "no clustering of the data yet", ha="center", va="center")
            ax.set_axis_off()
        else:
            X, lab = som._data, np.asarray(res["sample_labels"])
            idx = np.where(lab >= 0)[0]
            if len(idx) > max_samples:
                idx = np.sort(np.random.default_rng(0).choice(idx, max_samples, replace=False))
            if len(np.unique(lab[idx])) < 2:
                ax.text(0.5, 0.5, "fewer than 2 clusters", ha="center", va="center")
                ax.set_axis_off()
            else:
                sv = silhouette_samples(X[idx], lab[idx])
                y0 = 0
                for i, c in enumerate(np.unique(lab[idx])):
                    v = np.sort(sv[lab[idx] == c])
                    ax.fill_betweenx(np.arange(y0, y0 + len(v)), 0, v, color=plt.cm.tab20(i % 20), alpha=0.85)
                    ax.text(-0.05, y0 + len(v) / 2, str(c), ha="right", va="center", fontsize=8)
                    y0 += len(v) + 5
                ax.axvline(sv.mean(), color="C3", ls="--", label=f"mean = {sv.mean():.3f}")
                ax.set_xlabel("silhouette")
                ax.set_yticks([])
                ax.set_title(f"Per-sample silhouette: {res.get('method', '?')} (k = {res.get('n_clusters', '?')})")
                ax.legend(loc="lower right")
        return self._finish(fig, save_path)

    def plot_cluster_comparison(
        self,
        results: Union[Mapping[str, Mapping[str, Any]], Sequence[Mapping[str, Any]]],
        save_path: Optional[PathLike] = None,
    ) -> Figure:
        """Bar charts of silhouette (higher is better), Davies-Bouldin (lower is better) and
        Calinski-Harabasz (higher is better) for several clustering results (a list, or a dict
        name -> result); bars are labelled with method, k and noise share."""
        if isinstance(results, Mapping):
            names, res = list(results.keys()), list(results.values())
        else:
            res = list(results)
            names = [f"{r.get('method', '?')}/{r.get('feature_space', '')}" for r in res]
        if not res:
            raise ValueError("plot_cluster_comparison needs at least one clustering result.")
        labels = [f"{n}\nk={r.get('n_clusters', '?')}, noise={100 * r.get('noise_fraction', 0):.0f}%" for n, r in zip(names, res)]
        fig, axes = plt.subplots(1, 3, figsize=(self.size * 3, self.size * 1.1))
        for ax, (key, title) in zip(
            axes,
            [("silhouette", "Silhouette (higher better)"), ("davies_bouldin", "Davies-Bouldin (lower better)"),
             ("calinski_harabasz", "Calinski-Harabasz (higher better)")],
        ):
            vals = [r.get("metrics", {}).get(key, np.nan) for r in res]
            ax.bar(range(len(vals)), np.nan_to_num(vals), color=[plt.cm.tab10(i % 10) for i in range(len(vals))])
            ax.set_xticks(range(len(vals)))
            ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
            ax.set_title(title)
            ax.grid(axis="y", alpha=0.3)
        return self._finish(fig, save_path)

    # ------------------------------------------------------------------ grid plots
    def plot_cluster_map(self, result: Optional[Mapping[str, Any]] = None, save_path: Optional[PathLike] = None) -> Figure:
        """Neurons coloured by cluster (noise neurons grey) over the grid."""
        res = self._result(result)
        lab = np.asarray(res["labels"])
        cmap = plt.cm.tab20 if lab.max() >= 10 else plt.cm.tab10
        colors = np.array([cmap(int(v) % cmap.N) if v >= 0 else (0.8, 0.8, 0.8, 1.0) for v in lab])
        fig, axes = self._grid_figure()
        ax = axes[0, 0]
        self._draw_grid(ax, lab, colors=colors)
        from matplotlib.patches import Patch

        handles = [Patch(color=cmap(int(c) % cmap.N), label=str(c)) for c in np.unique(lab[lab >= 0])]
        if (lab < 0).any():
            handles.append(Patch(color=(0.8, 0.8, 0.8), label="noise"))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="cluster")
        ax.set_title(f"Cluster map: {res.get('method', '?')} (k = {res.get('n_clusters', '?')})")
        return self._finish(fig, save_path)

    def plot_umatrix(self, save_path: Optional[PathLike] = None) -> Figure:
        """U-matrix: mean distance of every prototype to its grid neighbours (light = far)."""
        fig, axes = self._grid_figure()
        self._draw_grid(axes[0, 0], self.som.distance_map().ravel(), cmap="bone_r", label="mean distance to neighbours")
        axes[0, 0].set_title("U-matrix")
        return self._finish(fig, save_path)

    def plot_hit_map(self, data: Optional[Any] = None, save_path: Optional[PathLike] = None) -> Figure:
        """Number of samples per neuron (fitted data by default)."""
        h = self.som.hits(data)
        fig, axes = self._grid_figure()
        self._draw_grid(axes[0, 0], h, cmap="Blues", vmin=0, label="hits")
        axes[0, 0].set_title(f"Hit map ({int(h.sum())} samples, {int((h == 0).sum())} empty neurons)")
        return self._finish(fig, save_path)

    def plot_component_planes(
        self,
        feature_names: Optional[Sequence[str]] = None,
        max_planes: int = 16,
        save_path: Optional[PathLike] = None,
    ) -> Figure:
        """One grid per input feature (at most ``max_planes``) coloured by the prototypes' value."""
        planes = self.som.component_planes()
        f = min(len(planes), int(max_planes))
        names = list(feature_names) if feature_names is not None else [f"feature {i}" for i in range(len(planes))]
        if len(names) < f:
            raise ValueError(f"feature_names has {len(names)} entries but {f} planes are drawn.")
        ncols = min(4, f)
        nrows = math.ceil(f / ncols)
        fig, axes = self._grid_figure(ncols, nrows)
        for i in range(nrows * ncols):
            ax = axes[i // ncols, i % ncols]
            if i < f:
                self._draw_grid(ax, planes[i].ravel(), cmap="coolwarm")
                ax.set_title(names[i], fontsize=9)
            else:
                ax.set_axis_off()
        return self._finish(fig, save_path)

    def plot_training_errors(self, save_path: Optional[PathLike] = None) -> Figure:
        """Quantisation and topographic error per epoch (with sigma on a twin axis)."""
        h = self.som.history
        if not h["quantization_error"]:
            raise RuntimeError("The map has no training history: call fit(data) first.")
        ep = np.arange(1, len(h["quantization_error"]) + 1)
        fig, axes = plt.subplots(1, 2, figsize=(self.size * 2.4, self.size))
        axes[0].plot(ep, h["quantization_error"], color="C0")
        axes[0].set_title("Quantisation error")
        axes[1].plot(ep, h["topographic_error"], color="C1")
        axes[1].set_title("Topographic error")
        tw = axes[1].twinx()
        tw.plot(ep, h["sigma"], color="C2", ls=":", label="sigma")
        tw.set_ylabel("sigma")
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        return self._finish(fig, save_path)

    def plot_all(self, out_dir: PathLike, prefix: str = "som") -> List[str]:
        """Save every plot that applies to ``out_dir``; returns the written paths."""
        import os

        os.makedirs(out_dir, exist_ok=True)
        paths = []
        jobs: Dict[str, Any] = {
            "training_errors": self.plot_training_errors,
            "umatrix": self.plot_umatrix,
            "hit_map": self.plot_hit_map,
            "component_planes": self.plot_component_planes,
            "elbow": self.plot_elbow,
        }
        if self.som.cluster_result_ is not None:
            jobs["cluster_map"] = self.plot_cluster_map
            jobs["silhouette"] = self.plot_silhouette
        for name, fn in jobs.items():
            p = os.path.join(str(out_dir), f"{prefix}_{name}.png")
            plt.close(fn(save_path=p))
            paths.append(p)
        return paths
