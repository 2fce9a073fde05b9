r"""Plots of a trained :class:`~pyagc.som.SOM` and of its post-hoc clusterings, with TorchSOM's API.

:class:`SOMVisualizer` has the method and keyword names of TorchSOM's ``SOMVisualizer``
(``plot_elbow_analysis``, ``plot_silhouette_analysis``, ``plot_cluster_quality_comparison``,
``plot_cluster_map``, ``plot_distance_map``, ``plot_hit_map``, ``plot_component_planes``,
``plot_training_errors``, ``plot_classification_map``, ``plot_metric_map``,
``plot_score_map``, ``plot_rank_map``, ``plot_grid``, ``plot_all``...), so code written for
TorchSOM runs after changing ``from torchsom import`` to ``from pyagc.som import``.

Figures
-------
Every plot method **returns** its :class:`matplotlib.figure.Figure` (a :class:`SOMFigure`).

* ``save_path`` saves it. A path with an image suffix (``"map.png"``, ``"map.pdf"``...) is the
  file; any other path is a folder (TorchSOM's convention), created if needed, that receives
  ``<fig_name>.<config.save_format>`` (``fig_name`` defaults to TorchSOM's file names, e.g.
  ``cluster_map``). The written path is ``fig.saved_path``.
* Jupyter: the figure shows inline exactly once per cell, whether the call is the cell's last
  expression (displayed through the returned figure) or not (shown by the inline backend at
  the end of the cell). :meth:`SOMFigure._ipython_display_` removes the duplicate a returned
  pyplot figure would otherwise get.
* Scripts: nothing is shown and :func:`matplotlib.pyplot.show` is never called (with a GUI
  backend call ``plt.show()`` yourself). A figure that was saved is closed right away when the
  session is not interactive (no IPython, ``matplotlib.is_interactive()`` false), so loops
  that save many plots do not pile up open figures; the returned object stays usable
  (inspect it, ``savefig`` it again). Unsaved figures stay open: close them with
  ``plt.close(fig)``.
* The module never changes the matplotlib backend.

Grids are drawn with one patch per neuron at its true position: squares on rectangular maps,
pointy-top hexagons (:class:`matplotlib.patches.RegularPolygon`, circumradius
:math:`1/\sqrt3`) on hexagonal maps, so that neighbouring cells touch. Row 0 of the grid is at
the top; grids use pyagc's ``(y, x)`` layout (``x`` columns, ``y`` rows).
"""

from __future__ import annotations

import io
import math
import sys
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle, RegularPolygon

from ._validation import check_option, check_positive_int
from .neuron_clustering import build_feature_space, elbow_analysis
from .som import FEATURE_SPACES, SOM

PathLike = Union[str, "os.PathLike[str]"]  # noqa: F821
ResultLike = Mapping[str, Any]

NOISE_LABEL = "Uncertain"  # legend entry of noise neurons (cluster id -1), as in TorchSOM
NOISE_COLOR = (0.7, 0.7, 0.7, 1.0)
EMPTY_COLOR = (0.93, 0.93, 0.93, 1.0)  # neurons without data in target maps
_STATIC_BACKENDS = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}
_RENAMED = {
    "plot_elbow": "plot_elbow_analysis(max_k=..., feature_space=...)",
    "plot_silhouette": "plot_silhouette_analysis(cluster_result=...)",
    "plot_cluster_comparison": "plot_cluster_quality_comparison(results_list=...)",
    "plot_umatrix": "plot_distance_map()",
}


# ---------------------------------------------------------------------- figures in notebooks
_shown_this_cell: weakref.WeakSet[Figure] = weakref.WeakSet()
_reset_hook: dict[int, bool] = {}


def _clear_shown() -> None:
    _shown_this_cell.clear()


def _in_interactive_session() -> bool:
    """True under IPython / Jupyter or with matplotlib's interactive mode on."""
    if matplotlib.is_interactive():
        return True
    ipy = sys.modules.get("IPython")
    return ipy is not None and getattr(ipy, "get_ipython", lambda: None)() is not None


class SOMFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that Jupyter displays once per cell.

    A pyplot figure returned as a cell's last expression is normally drawn twice: once by
    the display hook and once by the inline backend when the cell ends. IPython calls
    :meth:`_ipython_display_` in both cases; it publishes the figure the first time in a cell
    and does nothing the second. ``saved_path`` is the file the figure was saved to, if any.
    """

    saved_path: str | None = None

    def _ipython_display_(self) -> None:
        from IPython import get_ipython
        from IPython.display import publish_display_data

        ip = get_ipython()
        backend = str(matplotlib.get_backend()).lower()
        static = "inline" in backend or backend in _STATIC_BACKENDS
        if not static:  # GUI / widget backends show the figure themselves
            publish_display_data({"text/plain": repr(self)})
            return
        if self in _shown_this_cell:
            return
        if ip is not None and not _reset_hook.get(id(ip)):
            ip.events.register("pre_execute", _clear_shown)
            _reset_hook[id(ip)] = True
        data: dict[str, Any] = {}
        metadata: dict[str, Any] = {}
        if ip is not None:  # honour the shell's figure formats (png / retina / svg ...)
            fmt = ip.display_formatter
            for mime, formatter in fmt.formatters.items():
                if mime not in fmt.active_types or mime == "text/plain":
                    continue
                try:
                    out = formatter(self)
                except Exception:  # a broken formatter must not hide the figure
                    out = None
                if out is None:
                    continue
                if isinstance(out, tuple):
                    out, md = out
                    metadata[mime] = md
                data[mime] = out
        if not any(k.startswith("image/") for k in data):
            buf = io.BytesIO()
            self.savefig(buf, format="png", bbox_inches="tight", facecolor="white")
            data["image/png"] = buf.getvalue()
        data["text/plain"] = repr(self)
        publish_display_data(data, metadata=metadata)
        _shown_this_cell.add(self)


# ---------------------------------------------------------------------- configuration
@dataclass
class VisualizationConfig:
    r"""Settings of :class:`SOMVisualizer` (TorchSOM's field names).

    Args:
        figsize (tuple, optional): size in inches of single-panel plots (elbow, silhouette,
            comparison, training errors); :obj:`None` sizes them from ``figsize_per_panel``.
            Grid plots are always sized from ``figsize_per_panel`` and the grid's aspect.
        fontsize (dict): font sizes of ``"title"``, ``"axis"`` labels and ``"legend"``.
        fontweight (dict): font weights of the same elements.
        cmap (str): colour map of value grids (:meth:`SOMVisualizer.plot_grid`, metric maps).
        dpi (int): resolution of saved figures (TorchSOM: 300; here 100, a tenth of the bytes).
        grid_alpha (float): transparency of the background grid of line and bar plots.
        colorbar_pad (float): gap between a grid and its colour bar (fraction of the axes).
        save_format (str): file format when ``save_path`` is a folder.
        hex_radius (float): accepted for TorchSOM compatibility; hexagons always have
            circumradius :math:`1/\\sqrt3` so that neighbours touch.
        hex_border_color (str): edge colour of the cells.
        hex_border_width (float): edge width of the cells.
        figsize_per_panel (float): panel size in inches used when ``figsize`` is :obj:`None`.
    """

    figsize: tuple[float, float] | None = None
    fontsize: dict[str, int] = field(default_factory=lambda: {"title": 12, "axis": 10, "legend": 8})
    fontweight: dict[str, str] = field(
        default_factory=lambda: {"title": "normal", "axis": "normal", "legend": "normal"}
    )
    cmap: str = "viridis"
    dpi: int = 100
    grid_alpha: float = 0.3
    colorbar_pad: float = 0.04
    save_format: str = "png"
    hex_radius: float = 0.5
    hex_border_color: str = "white"
    hex_border_width: float = 0.3
    figsize_per_panel: float = 4.5


class SOMVisualizer:
    r"""Visual diagnostics of a self-organising map (`Kohonen, 1990
    <https://doi.org/10.1109/5.58325>`_; U-matrix after `Ultsch & Siemon, 1990
    <https://doi.org/10.1007/978-94-009-0643-3_74>`_), with TorchSOM's method names.

    Clustering diagnostics:

    * :meth:`plot_elbow_analysis`: k-means inertia :math:`J(k)` of the neurons, knee marked;
    * :meth:`plot_silhouette_analysis`: mean silhouette :math:`\bar s(k)` of k-means on the
      neurons and the per-sample silhouette :math:`s_i = (b_i - a_i)/\max(a_i, b_i)` of a
      clustering;
    * :meth:`plot_cluster_quality_comparison`: silhouette, Davies-Bouldin, Calinski-Harabasz
      and number of clusters of several results;
    * :meth:`plot_cluster_map` (noise neurons as "Uncertain"),
      :meth:`plot_clustering_comparison_grid`.

    Map diagnostics: :meth:`plot_distance_map` (U-matrix), :meth:`plot_hit_map`,
    :meth:`plot_component_planes`, :meth:`plot_training_errors`,
    :meth:`plot_classification_map`, :meth:`plot_metric_map`, :meth:`plot_score_map`,
    :meth:`plot_rank_map`, :meth:`plot_grid` (any per-neuron values), :meth:`plot_all`.

    See the module documentation for how figures are returned, saved and displayed.

    Args:
        som (SOM): a trained map.
        config (VisualizationConfig, optional): plot settings. (default: :obj:`None`)
        figsize_per_panel (float, optional): overrides ``config.figsize_per_panel``.
        dpi (int, optional): overrides ``config.dpi``.

    Example:
        >>> viz = SOMVisualizer(som=som)
        >>> viz.plot_elbow_analysis(max_k=10, feature_space="weights")
        >>> result = som.cluster(method="kmeans", n_clusters=4, feature_space="weights")
        >>> fig = viz.plot_cluster_map(cluster_result=result, save_path="figures")  # figures/cluster_map.png
    """

    def __init__(
        self,
        som: SOM,
        config: VisualizationConfig | None = None,
        figsize_per_panel: float | None = None,
        dpi: int | None = None,
    ) -> None:
        if not isinstance(som, SOM):
            raise TypeError(f"SOMVisualizer expects a pyagc.som.SOM; got {type(som).__name__}.")
        if config is None:
            config = VisualizationConfig()
        elif not isinstance(config, VisualizationConfig):
            raise TypeError(
                f"config must be a pyagc.som.VisualizationConfig; got {type(config).__name__}. "
                "Pass figsize_per_panel= / dpi= directly or build VisualizationConfig(...)."
            )
        self.som = som
        self.config = config
        self.size = float(config.figsize_per_panel if figsize_per_panel is None else figsize_per_panel)
        self.dpi = int(config.dpi if dpi is None else dpi)

    def __getattr__(self, name: str) -> Any:
        if name in _RENAMED:
            raise AttributeError(f"SOMVisualizer.{name} was renamed to TorchSOM's name: use {_RENAMED[name]}.")
        raise AttributeError(f"'SOMVisualizer' object has no attribute {name!r}")

    # ------------------------------------------------------------------ helpers
    def _figure(self, nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] | None = None, **kwargs: Any):
        """A pyplot-managed :class:`SOMFigure` with a ``(nrows, ncols)`` array of axes."""
        return plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, FigureClass=SOMFigure, **kwargs)

    def _line_figsize(self, width: float = 1.3, height: float = 1.0) -> tuple[float, float]:
        if self.config.figsize is not None:
            return tuple(self.config.figsize)  # type: ignore[return-value]
        return (self.size * width, self.size * height)

    def _title(self, ax, text: str) -> None:
        ax.set_title(text, fontsize=self.config.fontsize.get("title"), fontweight=self.config.fontweight.get("title"))

    def _save_target(self, fig: Figure, save_path: PathLike, fig_name: str) -> Path:
        p = Path(save_path)
        suffix = p.suffix.lower().lstrip(".")
        if suffix and suffix in fig.canvas.get_supported_filetypes():
            p.parent.mkdir(parents=True, exist_ok=True)
            return p
        p.mkdir(parents=True, exist_ok=True)
        return p / f"{fig_name}.{self.config.save_format}"

    def _finish(self, fig: Figure, save_path: PathLike | None, fig_name: str) -> Figure:
        """Lay out, save (file or folder), close a saved figure outside interactive sessions."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # tight_layout vs. outside legends
            fig.tight_layout()
        if save_path is not None and str(save_path) != "":
            path = self._save_target(fig, save_path, fig_name)
            fig.savefig(path, dpi=self.dpi, bbox_inches="tight", facecolor="white")
            fig.saved_path = str(path)  # type: ignore[attr-defined]
            if not _in_interactive_session():
                plt.close(fig)
        return fig

    def _grid_aspect(self) -> float:
        s = self.som
        h = (s.y - 1) * (math.sqrt(3) / 2 if s.topology == "hexagonal" else 1.0) + 1
        return h / (s.x + 0.5)

    def _grid_figure(self, ncols: int = 1, nrows: int = 1):
        a = self._grid_aspect()
        return self._figure(nrows, ncols, figsize=(self.size * ncols * 1.15, max(self.size * a, 2.5) * nrows))

    def _as_neuron_values(self, values: Any, name: str = "map") -> np.ndarray:
        """Per-neuron values ``(M,)`` from ``(M,)``, pyagc's ``(y, x)`` grid or TorchSOM's ``(x, y)``."""
        s = self.som
        v = values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)
        v = v.astype(np.float64)
        if v.shape == (s.n_neurons,):
            return v
        if v.shape == (s.y, s.x):
            return v.ravel()
        if v.shape == (s.x, s.y):
            return v.T.ravel()
        raise ValueError(
            f"{name} has shape {v.shape}; expected one value per neuron: ({s.n_neurons},) or the "
            f"grid ({s.y}, {s.x}) (rows, columns)."
        )

    def _draw_grid(
        self,
        ax,
        values: np.ndarray | None,
        cmap: Any = None,
        vmin: float | None = None,
        vmax: float | None = None,
        colors: np.ndarray | None = None,
        colorbar: bool = True,
        label: str = "",
        norm: Any = None,
        ticks: Sequence[float] | None = None,
        tick_labels: Sequence[str] | None = None,
        show_values: bool = False,
        value_format: str = ".2f",
    ):
        """Draw one patch per neuron coloured by ``values`` (NaN = light grey) or explicit ``colors``."""
        s = self.som
        pos = s.positions.cpu().numpy()
        if s.topology == "hexagonal":
            patches = [
                RegularPolygon((px, py), numVertices=6, radius=1 / math.sqrt(3), orientation=0) for px, py in pos
            ]
        else:
            patches = [Rectangle((px - 0.5, py - 0.5), 1.0, 1.0) for px, py in pos]
        coll = PatchCollection(patches, edgecolor=self.config.hex_border_color, linewidth=self.config.hex_border_width)
        if colors is not None:
            coll.set_facecolor(colors)
        else:
            vals = np.ma.masked_invalid(np.asarray(values, dtype=float).ravel())
            cm = matplotlib.colormaps[cmap or self.config.cmap] if isinstance(cmap, (str, type(None))) else cmap
            cm = cm.with_extremes(bad=EMPTY_COLOR)  # a copy: the caller's colour map is untouched
            coll.set_array(vals)
            coll.set_cmap(cm)
            if norm is not None:
                coll.set_norm(norm)
            else:
                coll.set_clim(vmin, vmax)
        ax.add_collection(coll)
        ax.set_xlim(pos[:, 0].min() - 0.8, pos[:, 0].max() + 0.8)
        ax.set_ylim(pos[:, 1].max() + 0.8, pos[:, 1].min() - 0.8)  # row 0 on top
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if show_values and values is not None:
            fs = max(4.0, min(9.0, 60.0 / max(s.x, s.y)))
            for (px, py), v in zip(pos, np.asarray(values, dtype=float).ravel()):
                if np.isfinite(v):
                    ax.text(px, py, format(v, value_format), ha="center", va="center", fontsize=fs)
        if colorbar and colors is None:
            cb = ax.figure.colorbar(coll, ax=ax, fraction=0.046, pad=self.config.colorbar_pad, ticks=ticks)
            if tick_labels is not None:
                cb.set_ticklabels(list(tick_labels))
            if label:
                cb.set_label(label)
        return coll

    def _result(self, cluster_result: ResultLike | None) -> ResultLike:
        if cluster_result is None:
            cluster_result = self.som.cluster_result_
        if cluster_result is None:
            raise RuntimeError("No clustering to plot: call som.cluster(...) first or pass cluster_result=.")
        if not isinstance(cluster_result, Mapping) or "labels" not in cluster_result:
            raise TypeError(
                "cluster_result must be the dict returned by som.cluster(...) (it has a 'labels' entry); "
                f"got {type(cluster_result).__name__}."
            )
        return cluster_result

    def _cluster_colors(self, labels: np.ndarray):
        """Colours per neuron and legend handles; noise (-1) is grey and labelled "Uncertain"."""
        clusters = np.unique(labels[labels >= 0])
        cmap = plt.cm.tab10 if len(clusters) <= 10 else plt.cm.tab20
        lut = {int(c): cmap(i % cmap.N) for i, c in enumerate(clusters)}
        colors = np.array([lut[int(v)] if v >= 0 else NOISE_COLOR for v in labels])
        handles = [Patch(facecolor=lut[int(c)], label=str(int(c))) for c in clusters]
        if (labels < 0).any():
            handles.insert(0, Patch(facecolor=NOISE_COLOR, label=NOISE_LABEL))
        return colors, handles

    def _draw_cluster_map(self, ax, res: ResultLike, title: str | None, show_values: bool, legend: bool = True) -> None:
        lab = np.asarray(res["labels"].detach().cpu().numpy() if hasattr(res["labels"], "detach") else res["labels"])
        lab = lab.astype(np.int64).ravel()
        if lab.shape != (self.som.n_neurons,):
            raise ValueError(
                f"cluster_result['labels'] has {lab.size} entries; the map has {self.som.n_neurons} neurons. "
                "Pass a result of som.cluster(...) on this map."
            )
        colors, handles = self._cluster_colors(lab)
        self._draw_grid(ax, lab.astype(float), colors=colors, show_values=show_values, value_format=".0f")
        if legend:
            ax.legend(
                handles=handles,
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                fontsize=self.config.fontsize.get("legend"),
                title="cluster",
            )
        if title is None:
            fs = res.get("feature_space", "")
            title = (
                f"{str(res.get('method', '?')).upper()} clustering"
                + (f" ({fs} space)" if fs else "")
                + f"\n{res.get('n_clusters', '?')} clusters"
            )
            if (lab < 0).any():
                title += f", {int((lab < 0).sum())} uncertain neurons"
        self._title(ax, title)

    def _target_values(self, bmus_data_map, data, target, map_type: str, **kw) -> np.ndarray:
        if target is None:
            raise ValueError(
                f"This plot needs target= (one value or label per sample of the data) for the {map_type} map."
            )
        return self.som.build_map(map_type, data=data, target=target, bmus_data_map=bmus_data_map, **kw)

    # ------------------------------------------------------------------ clustering analyses
    def plot_elbow_analysis(
        self,
        max_k: int = 10,
        feature_space: str = "weights",
        save_path: PathLike | None = None,
        k_values: Sequence[int] | None = None,
        fig_name: str = "elbow_analysis",
    ) -> Figure:
        """Elbow: k-means inertia (within-cluster sum of squares) of the neurons in
        ``feature_space`` for ``k = 1..max_k`` (or ``k_values``), with the knee (Kneedle)
        marked. ``fig.elbow`` holds ``k_values``, ``inertia`` and ``knee``.
        """
        fs = check_option(feature_space, FEATURE_SPACES, "feature_space")
        F = build_feature_space(
            self.som.weights.detach().cpu().numpy().astype(np.float64),
            self.som.positions.cpu().numpy().astype(np.float64),
            fs,
        )
        if k_values is None:
            max_k = check_positive_int(max_k, "max_k", minimum=2)
            k_values = range(1, min(max_k, len(F) - 1) + 1)
        el = elbow_analysis(F, k_values, random_state=self.som.random_seed)
        fig, axes = self._figure(figsize=self._line_figsize())
        ax = axes[0, 0]
        ax.plot(el["k_values"], el["inertia"], "o-", color="C0")
        ki = el["k_values"].index(el["knee"])
        ax.plot(
            [el["knee"]], [el["inertia"][ki]], "o", ms=14, mfc="none", mec="C3", mew=2, label=f"knee: k = {el['knee']}"
        )
        ax.set_xlabel("number of clusters k")
        ax.set_ylabel("within-cluster sum of squares (neurons)")
        self._title(ax, f"Elbow analysis for k-means ({fs} space)")
        ax.legend(fontsize=self.config.fontsize.get("legend"))
        ax.grid(alpha=self.config.grid_alpha)
        fig.elbow = el  # type: ignore[attr-defined]
        return self._finish(fig, save_path, fig_name)

    def plot_silhouette_analysis(
        self,
        cluster_result: ResultLike | None = None,
        save_path: PathLike | None = None,
        k_values: Sequence[int] | None = None,
        feature_space: str | None = None,
        max_samples: int = 3000,
        fig_name: str = "silhouette_analysis",
    ) -> Figure:
        """Left: mean silhouette of k-means on the neurons for each k (``k_values``, default
        ``2..10``) in ``feature_space`` (default: the result's). Right: per-sample silhouette
        ("knife" plot) of ``cluster_result`` (default: the map's last clustering) on the fitted
        data (at most ``max_samples`` samples, noise excluded).
        """
        from sklearn.metrics import silhouette_samples, silhouette_score

        from pyagc.functional.kmeans import kmeans_numpy

        som = self.som
        res = cluster_result if cluster_result is not None else som.cluster_result_
        if feature_space is None:
            feature_space = res.get("feature_space") if res is not None else None
            feature_space = feature_space if feature_space in FEATURE_SPACES else "weights"
        fs = check_option(feature_space, FEATURE_SPACES, "feature_space")
        F = build_feature_space(
            som.weights.detach().cpu().numpy().astype(np.float64), som.positions.cpu().numpy().astype(np.float64), fs
        )
        ks = list(range(2, min(10, len(F) - 1) + 1) if k_values is None else k_values)
        scores = [silhouette_score(F, kmeans_numpy(F, k, som.random_seed, n_init=4).labels) for k in ks]
        w, h = self._line_figsize(2.4, 1.0)
        fig, axes = self._figure(1, 2, figsize=(w, h))
        axes = axes[0]
        axes[0].plot(ks, scores, "o-")
        best = ks[int(np.argmax(scores))]
        axes[0].axvline(best, color="C3", ls="--", label=f"best k = {best}")
        axes[0].set_xlabel("k")
        axes[0].set_ylabel("mean silhouette (neurons)")
        self._title(axes[0], f"Silhouette vs k ({fs} space)")
        axes[0].legend(fontsize=self.config.fontsize.get("legend"))
        axes[0].grid(alpha=self.config.grid_alpha)
        ax = axes[1]
        if res is None or som._data is None or "sample_labels" not in res:
            ax.text(0.5, 0.5, "no clustering of the data yet:\ncall som.cluster(...)", ha="center", va="center")
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
                ax.set_xlabel("silhouette coefficient")
                ax.set_yticks([])
                self._title(ax, f"Per-sample silhouette: {res.get('method', '?')} (k = {res.get('n_clusters', '?')})")
                ax.legend(loc="lower right", fontsize=self.config.fontsize.get("legend"))
        return self._finish(fig, save_path, fig_name)

    def plot_cluster_quality_comparison(
        self,
        results_list: Sequence[ResultLike] | Mapping[str, ResultLike],
        save_path: PathLike | None = None,
        fig_name: str = "clustering_metrics_comparison",
    ) -> Figure:
        """Bar charts of silhouette (higher is better), Davies-Bouldin (lower is better),
        Calinski-Harabasz (higher is better) and the number of clusters for several results of
        :meth:`SOM.cluster` (a list, or a dict name -> result). Bars are labelled with method,
        feature space and noise share; a missing score (fewer than 2 clusters) is shown as n/a.
        """
        if isinstance(results_list, Mapping):
            names, res = [str(k) for k in results_list.keys()], list(results_list.values())
        else:
            res = list(results_list)
            names = [f"{r.get('method', '?')}_{r.get('feature_space', '')}".rstrip("_") for r in res]
        if not res:
            raise ValueError(
                "plot_cluster_quality_comparison needs at least one clustering result (results_list=[...])."
            )
        labels = [f"{n}\nnoise {100 * r.get('noise_fraction', 0):.0f}%" for n, r in zip(names, res)]

        def metric(r: ResultLike, key: str) -> float:
            m = r.get("metrics", {}) or {}
            v = m.get(key, m.get(f"{key}_score", np.nan))
            return float(v) if v is not None else float("nan")

        w, h = self._line_figsize(2.6, 2.0)
        fig, axes = self._figure(2, 2, figsize=(w, h) if self.config.figsize is None else self.config.figsize)
        panels = [
            ("silhouette", "Silhouette (higher = better)", "{:.3f}"),
            ("davies_bouldin", "Davies-Bouldin (lower = better)", "{:.3f}"),
            ("calinski_harabasz", "Calinski-Harabasz (higher = better)", "{:.1f}"),
            ("n_clusters", "Number of clusters", "{:.0f}"),
        ]
        x = np.arange(len(res))
        for ax, (key, title, f) in zip(axes.ravel(), panels):
            vals = np.array(
                [float(r.get("n_clusters", np.nan)) if key == "n_clusters" else metric(r, key) for r in res]
            )
            bars = ax.bar(x, np.nan_to_num(vals), color=[plt.cm.tab10(i % 10) for i in range(len(vals))], alpha=0.8)
            for b, v in zip(bars, vals):
                ax.annotate(
                    "n/a" if not np.isfinite(v) else f.format(v),
                    (b.get_x() + b.get_width() / 2, b.get_height()),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
            ax.set_xticks(x)
            ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
            self._title(ax, title)
            ax.grid(axis="y", alpha=self.config.grid_alpha)
        return self._finish(fig, save_path, fig_name)

    def plot_cluster_map(
        self,
        cluster_result: ResultLike | None = None,
        title: str | None = None,
        save_path: PathLike | None = None,
        show_values: bool = False,
        fig_name: str = "cluster_map",
    ) -> Figure:
        """Neurons coloured by cluster over the grid; noise neurons (id ``-1``, e.g. from
        HDBSCAN or DenSOM) are grey and labelled "Uncertain". ``cluster_result`` defaults to
        the map's last :meth:`SOM.cluster` result; ``show_values`` writes the id in each cell.
        """
        res = self._result(cluster_result)
        fig, axes = self._grid_figure()
        self._draw_cluster_map(axes[0, 0], res, title, show_values)
        return self._finish(fig, save_path, fig_name)

    def plot_clustering_comparison_grid(
        self,
        results_list: Sequence[ResultLike] | Mapping[str, ResultLike],
        save_path: PathLike | None = None,
        ncols: int | None = None,
        fig_name: str = "clustering_comparison_grid",
    ) -> Figure:
        """Cluster maps of several results side by side (a list, or a dict name -> result)."""
        if isinstance(results_list, Mapping):
            items = [(str(k), v) for k, v in results_list.items()]
        else:
            items = [(None, r) for r in results_list]
        if not items:
            raise ValueError(
                "plot_clustering_comparison_grid needs at least one clustering result (results_list=[...])."
            )
        ncols = min(len(items), 3) if ncols is None else check_positive_int(ncols, "ncols")
        nrows = math.ceil(len(items) / ncols)
        fig, axes = self._grid_figure(ncols, nrows)
        for i in range(nrows * ncols):
            ax = axes[i // ncols, i % ncols]
            if i < len(items):
                name, r = items[i]
                r = self._result(r)
                t = None if name is None else f"{name}: {r.get('n_clusters', '?')} clusters"
                self._draw_cluster_map(ax, r, t, False)
            else:
                ax.set_axis_off()
        return self._finish(fig, save_path, fig_name)

    # ------------------------------------------------------------------ map plots
    def plot_grid(
        self,
        map: Any,
        title: str = "",
        colorbar_label: str = "",
        filename: str = "grid",
        save_path: PathLike | None = None,
        cmap: Any | None = None,
        show_values: bool = False,
        value_format: str = ".2f",
        **kwargs: Any,
    ) -> Figure:
        """Any per-neuron values over the grid: ``map`` of shape ``(M,)``, ``(y, x)`` (pyagc's
        layout) or ``(x, y)`` (TorchSOM's; transposed). NaN cells are light grey.

        Keyword arguments: ``norm``, ``vmin``, ``vmax``, ``ticks``, ``tick_labels`` (colour
        bar), ``mask_zeros`` (draw zeros as empty cells) and ``is_component_plane`` (accepted,
        unused).
        """
        allowed = {"norm", "vmin", "vmax", "ticks", "tick_labels", "mask_zeros", "is_component_plane"}
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise TypeError(f"plot_grid got unexpected keyword(s) {unknown}; it accepts {sorted(allowed)}.")
        v = self._as_neuron_values(map)
        if kwargs.get("mask_zeros"):
            v = np.where(v == 0, np.nan, v)
        fig, axes = self._grid_figure()
        self._draw_grid(
            axes[0, 0],
            v,
            cmap=cmap,
            vmin=kwargs.get("vmin"),
            vmax=kwargs.get("vmax"),
            norm=kwargs.get("norm"),
            label=colorbar_label,
            ticks=kwargs.get("ticks"),
            tick_labels=kwargs.get("tick_labels"),
            show_values=show_values,
            value_format=value_format,
        )
        self._title(axes[0, 0], title)
        return self._finish(fig, save_path, filename)

    def plot_distance_map(
        self,
        fig_name: str = "distance_map",
        save_path: PathLike | None = None,
        distance_metric: str | None = None,
        neighborhood_order: int | None = None,
        scaling: str = "sum",
    ) -> Figure:
        """U-matrix: distance of every prototype to its grid neighbours up to
        ``neighborhood_order`` steps (default 1), summed (``scaling="sum"``, TorchSOM's
        default) or averaged, normalised to ``[0, 1]`` (dark = far: cluster borders).
        """
        u = self.som.distance_map(
            scaling=scaling, distance_metric=distance_metric, neighborhood_order=neighborhood_order
        )
        order = 1 if neighborhood_order is None else int(neighborhood_order)
        fig, axes = self._grid_figure()
        self._draw_grid(
            axes[0, 0],
            u.ravel(),
            cmap="bone_r",
            label=f"{distance_metric or self.som.distance_function} distance to neighbours ({scaling})",
        )
        self._title(axes[0, 0], f"U-matrix (distance map), order {order}")
        return self._finish(fig, save_path, fig_name)

    def plot_hit_map(
        self,
        data: Any | None = None,
        fig_name: str = "hit_map",
        save_path: PathLike | None = None,
        batch_size: int = 1024,
    ) -> Figure:
        """Number of samples per neuron for ``data`` (default: the fitted data).
        ``batch_size`` is accepted for TorchSOM compatibility (BMUs are computed in chunks).
        """
        h = self.som.hits(data)
        fig, axes = self._grid_figure()
        self._draw_grid(axes[0, 0], h, cmap="Blues", vmin=0, label="number of hits")
        self._title(axes[0, 0], f"Hit map ({int(h.sum())} samples, {int((h == 0).sum())} empty neurons)")
        return self._finish(fig, save_path, fig_name)

    def plot_component_planes(
        self,
        component_names: Sequence[str] | None = None,
        save_path: PathLike | None = None,
        max_planes: int = 16,
        fig_name: str = "component_planes",
    ) -> Figure:
        """One grid per input feature (at most ``max_planes``) coloured by the prototypes'
        value, all in one figure (TorchSOM draws one figure per feature).
        """
        planes = self.som.component_planes()
        f = min(len(planes), check_positive_int(max_planes, "max_planes"))
        names = (
            list(component_names) if component_names is not None else [f"Component_{i + 1}" for i in range(len(planes))]
        )
        if len(names) < f:
            raise ValueError(
                f"component_names has {len(names)} entries but {f} planes are drawn; give one name per feature."
            )
        ncols = min(4, f)
        nrows = math.ceil(f / ncols)
        fig, axes = self._grid_figure(ncols, nrows)
        for i in range(nrows * ncols):
            ax = axes[i // ncols, i % ncols]
            if i < f:
                self._draw_grid(ax, planes[i].ravel(), cmap="coolwarm")
                ax.set_title(str(names[i]), fontsize=9)
            else:
                ax.set_axis_off()
        return self._finish(fig, save_path, fig_name)

    def plot_training_errors(
        self,
        quantization_errors: Sequence[float] | None = None,
        topographic_errors: Sequence[float] | None = None,
        fig_name: str = "training_errors",
        save_path: PathLike | None = None,
    ) -> Figure:
        r"""Quantisation and topographic error per epoch (default: ``som.history``; with
        :math:`\\sigma` on a twin axis when the history is used).
        """
        hist = self.som.history
        use_hist = quantization_errors is None and topographic_errors is None
        qe = list(
            hist["quantization_error"] if quantization_errors is None else np.asarray(quantization_errors, dtype=float)
        )
        te = list(
            hist["topographic_error"] if topographic_errors is None else np.asarray(topographic_errors, dtype=float)
        )
        if not qe and not te:
            raise RuntimeError("The map has no training history: call fit(data) first (or pass the error lists).")
        w, h = self._line_figsize(2.4, 1.0)
        fig, axes = self._figure(1, 2, figsize=(w, h))
        axes = axes[0]
        axes[0].plot(np.arange(1, len(qe) + 1), qe, color="C0")
        self._title(axes[0], "Quantisation error")
        axes[1].plot(np.arange(1, len(te) + 1), te, color="C1")
        self._title(axes[1], "Topographic error")
        if use_hist and hist["sigma"]:
            tw = axes[1].twinx()
            tw.plot(np.arange(1, len(hist["sigma"]) + 1), hist["sigma"], color="C2", ls=":", label="sigma")
            tw.set_ylabel("sigma")
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.grid(alpha=self.config.grid_alpha)
        return self._finish(fig, save_path, fig_name)

    def plot_classification_map(
        self,
        bmus_data_map: Mapping[Any, Any] | None = None,
        data: Any | None = None,
        target: Any | None = None,
        fig_name: str = "classification_map",
        save_path: PathLike | None = None,
        neighborhood_order: int | None = None,
    ) -> Figure:
        """Most frequent ``target`` label per neuron (ties broken by the neighbours up to
        ``neighborhood_order`` steps); neurons without samples are light grey. Samples come
        from ``bmus_data_map`` (``som.build_map("bmus_data", data=..., return_indices=True)``),
        else ``data``, else the fitted data.
        """
        cls = self._target_values(
            bmus_data_map, data, target, "classification", neighborhood_order=neighborhood_order
        ).ravel()
        classes = np.unique(cls[np.isfinite(cls)])
        cmap = plt.cm.tab10 if len(classes) <= 10 else plt.cm.tab20
        lut = {c: cmap(i % cmap.N) for i, c in enumerate(classes)}
        colors = np.array([lut[v] if np.isfinite(v) else EMPTY_COLOR for v in cls])
        fig, axes = self._grid_figure()
        ax = axes[0, 0]
        self._draw_grid(ax, cls, colors=colors)
        handles = [Patch(facecolor=lut[c], label=f"{c:g}") for c in classes]
        if not np.isfinite(cls).all():
            handles.append(Patch(facecolor=EMPTY_COLOR, label="no samples"))
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=self.config.fontsize.get("legend"),
            title="label",
        )
        self._title(ax, "Classification map (most frequent label)")
        return self._finish(fig, save_path, fig_name)

    def plot_metric_map(
        self,
        bmus_data_map: Mapping[Any, Any] | None = None,
        data: Any | None = None,
        target: Any | None = None,
        reduction_parameter: str = "mean",
        fig_name: str | None = None,
        save_path: PathLike | None = None,
    ) -> Figure:
        """Mean (``reduction_parameter="mean"``) or standard deviation (``"std"``) of
        ``target`` over the samples of each neuron.
        """
        red = check_option(reduction_parameter, ("mean", "std"), "reduction_parameter")
        v = self._target_values(bmus_data_map, data, target, "metric", reduction_parameter=red)
        title = "Map of mean target value" if red == "mean" else "Map of standard deviation of target values"
        return self.plot_grid(
            v,
            title=title,
            colorbar_label=f"target {red}",
            filename=fig_name or f"{red}_target_map",
            save_path=save_path,
        )

    def plot_score_map(
        self,
        bmus_data_map: Mapping[Any, Any] | None = None,
        target: Any | None = None,
        total_samples: int | None = None,
        fig_name: str = "score_map",
        save_path: PathLike | None = None,
        data: Any | None = None,
    ) -> Figure:
        r"""Neuron representativeness: standard error of ``target`` times
        :math:`\\log(N / n_j)` (lower = better; see :meth:`SOM.build_map`).
        """
        kw = {} if total_samples is None else {"total_samples": total_samples}
        v = self._target_values(bmus_data_map, data, target, "score", **kw)
        return self.plot_grid(
            v,
            title="Neuron representativeness map",
            colorbar_label="score (lower = better)",
            filename=fig_name,
            save_path=save_path,
        )

    def plot_rank_map(
        self,
        bmus_data_map: Mapping[Any, Any] | None = None,
        target: Any | None = None,
        fig_name: str = "rank_map",
        save_path: PathLike | None = None,
        data: Any | None = None,
    ) -> Figure:
        """Neurons ranked by the standard deviation of ``target`` (1 = largest), rank in each cell."""
        v = self._target_values(bmus_data_map, data, target, "rank")
        return self.plot_grid(
            v,
            title="Neurons ranked by target standard deviation",
            colorbar_label="rank (lower std = higher rank)",
            filename=fig_name,
            save_path=save_path,
            show_values=True,
            value_format=".0f",
        )

    def plot_all(
        self,
        quantization_errors: Sequence[float] | None = None,
        topographic_errors: Sequence[float] | None = None,
        bmus_data_map: Mapping[Any, Any] | None = None,
        data: Any | None = None,
        target: Any | None = None,
        component_names: Sequence[str] | None = None,
        save_path: PathLike | None = None,
        training_errors: bool = True,
        distance_map: bool = True,
        hit_map: bool = True,
        score_map: bool = True,
        rank_map: bool = True,
        metric_map: bool = True,
        component_planes: bool = True,
        clustering: bool = True,
    ) -> dict[str, Figure]:
        """Every plot that applies, saved into the folder ``save_path`` when given.

        Target maps (metric mean / std, score, rank) need ``target``; ``clustering`` adds the
        elbow analysis and, once the map is clustered, the cluster map and silhouette analysis.

        Returns:
            dict: plot name -> figure (``fig.saved_path`` is the written file).
        """
        if save_path is not None and Path(save_path).suffix.lower().lstrip(".") in ("png", "pdf", "svg", "jpg", "jpeg"):
            raise ValueError(f"plot_all saves several files: save_path must be a folder, not {str(save_path)!r}.")
        figs: dict[str, Figure] = {}
        has_hist = bool(self.som.history["quantization_error"]) or quantization_errors is not None
        if training_errors and has_hist:
            figs["training_errors"] = self.plot_training_errors(
                quantization_errors, topographic_errors, save_path=save_path
            )
        if distance_map:
            figs["distance_map"] = self.plot_distance_map(save_path=save_path)
        if hit_map and (data is not None or self.som._data is not None):
            figs["hit_map"] = self.plot_hit_map(data, save_path=save_path)
        if target is not None:
            if metric_map:
                figs["mean_target_map"] = self.plot_metric_map(bmus_data_map, data, target, "mean", save_path=save_path)
                figs["std_target_map"] = self.plot_metric_map(bmus_data_map, data, target, "std", save_path=save_path)
            if score_map:
                figs["score_map"] = self.plot_score_map(bmus_data_map, target, None, save_path=save_path, data=data)
            if rank_map:
                figs["rank_map"] = self.plot_rank_map(bmus_data_map, target, save_path=save_path, data=data)
        if component_planes:
            figs["component_planes"] = self.plot_component_planes(component_names, save_path=save_path)
        if clustering:
            figs["elbow_analysis"] = self.plot_elbow_analysis(save_path=save_path)
            if self.som.cluster_result_ is not None:
                figs["cluster_map"] = self.plot_cluster_map(save_path=save_path)
                figs["silhouette_analysis"] = self.plot_silhouette_analysis(save_path=save_path)
        return figs
