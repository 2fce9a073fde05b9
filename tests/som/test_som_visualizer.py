"""Tests of SOMVisualizer (TorchSOM's method and keyword names): every plot renders to a valid,
non-trivial PNG and returns its figure."""

import matplotlib

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402

from pyagc.som import SOM, SOMVisualizer  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module", params=["hexagonal", "rectangular"])
def fitted(request):
    X, y = make_blobs(500, n_features=4, centers=3, random_state=1)
    som = SOM(10, 7, num_features=4, topology=request.param, epochs=15, random_seed=0).fit(X)
    som.cluster(method="kmeans", n_clusters=3)
    return som, X, y


def check_png(path):
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert len(raw) > 8000, "suspiciously small PNG"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 150 and img.shape[1] > 150
    assert img[..., :3].std() > 0.05, "blank image"


def test_every_plot_renders(fitted, tmp_path):
    som, X, y = fitted
    vis = SOMVisualizer(som)
    res_k = som.cluster_result_
    res_h = som.cluster(method="hdbscan")
    res_d = som.cluster(method="densom")
    plots = {
        "elbow": lambda p: vis.plot_elbow_analysis(max_k=8, feature_space="weights", save_path=p),
        "silhouette": lambda p: vis.plot_silhouette_analysis(cluster_result=res_k, save_path=p),
        "comparison": lambda p: vis.plot_cluster_quality_comparison(
            results_list={"kmeans": res_k, "hdbscan": res_h, "densom": res_d}, save_path=p
        ),
        "comparison_list": lambda p: vis.plot_cluster_quality_comparison(results_list=[res_k, res_h], save_path=p),
        "cluster_map": lambda p: vis.plot_cluster_map(cluster_result=res_d, save_path=p),
        "comparison_grid": lambda p: vis.plot_clustering_comparison_grid(
            results_list=[res_k, res_h, res_d], save_path=p
        ),
        "distance_map": lambda p: vis.plot_distance_map(save_path=p),
        "distance_map_2": lambda p: vis.plot_distance_map(
            save_path=p, neighborhood_order=2, scaling="mean", distance_metric="manhattan"
        ),
        "hits": lambda p: vis.plot_hit_map(save_path=p),
        "hits_data": lambda p: vis.plot_hit_map(data=X[:100], save_path=p),
        "planes": lambda p: vis.plot_component_planes(component_names=list("abcd"), save_path=p),
        "errors": lambda p: vis.plot_training_errors(save_path=p),
        "errors_lists": lambda p: vis.plot_training_errors(
            quantization_errors=[3, 2, 1], topographic_errors=[0.3, 0.2, 0.1], save_path=p
        ),
        "grid": lambda p: vis.plot_grid(som.hit_map(), title="hits", colorbar_label="n", save_path=p, show_values=True),
        "classification": lambda p: vis.plot_classification_map(target=y, save_path=p),
        "metric_mean": lambda p: vis.plot_metric_map(target=y, save_path=p),
        "metric_std": lambda p: vis.plot_metric_map(data=X, target=y, reduction_parameter="std", save_path=p),
        "score": lambda p: vis.plot_score_map(target=y, save_path=p),
        "rank": lambda p: vis.plot_rank_map(target=y, save_path=p),
    }
    for name, fn in plots.items():
        path = tmp_path / f"{som.topology}_{name}.png"
        fig = fn(path)
        assert isinstance(fig, Figure), name
        assert fig.saved_path == str(path) and fig.axes, name
        check_png(path)
        plt.close(fig)


def test_grid_patches_match_topology(fitted):
    som, _, _ = fitted
    som.cluster(method="densom")
    fig = SOMVisualizer(som=som).plot_cluster_map()
    ax = fig.axes[0]
    colls = [c for c in ax.collections if isinstance(c, PatchCollection)]
    assert len(colls) == 1 and len(colls[0].get_paths()) == som.n_neurons
    # hexagons have 6 corners (+ closing vertex), squares 4
    n_vertices = len(colls[0].get_paths()[0].vertices)
    assert n_vertices == (7 if som.topology == "hexagonal" else 5)
    # noise neurons (DenSOM) are drawn grey and labelled "Uncertain", clusters in distinct colours
    colors = colls[0].get_facecolor()
    assert len({tuple(np.round(c, 3)) for c in colors}) == len(np.unique(som.cluster_result_["labels"]))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert (som.cluster_result_["labels"] < 0).any() and legend[0] == "Uncertain"
    plt.close(fig)


def test_elbow_knee_and_plot_all(fitted, tmp_path):
    som, X, y = fitted
    som.cluster(method="kmeans", n_clusters=3)
    fig = SOMVisualizer(som=som).plot_elbow_analysis(max_k=8)
    assert fig.elbow["k_values"] == list(range(1, 9))
    assert fig.elbow["knee"] == 3
    inertia = fig.elbow["inertia"]
    assert all(a >= b - 1e-6 for a, b in zip(inertia, inertia[1:]))
    plt.close(fig)
    figs = SOMVisualizer(som=som).plot_all(save_path=tmp_path / "all")
    assert sorted(figs) == sorted(
        [
            "training_errors",
            "distance_map",
            "hit_map",
            "component_planes",
            "elbow_analysis",
            "cluster_map",
            "silhouette_analysis",
        ]
    )
    for name, f in figs.items():
        assert f.saved_path == str(tmp_path / "all" / f"{name}.png")
        check_png(Path(f.saved_path))
    figs = SOMVisualizer(som=som).plot_all(data=X, target=y, clustering=False, component_planes=False)
    assert {"mean_target_map", "std_target_map", "score_map", "rank_map"} <= set(figs)
    assert all(f.saved_path is None for f in figs.values())
    plt.close("all")


def test_target_maps_values(fitted):
    """build_map's per-neuron statistics agree with a direct computation from the BMUs."""
    som, X, y = fitted
    b = som.bmus(X)
    t = y.astype(float) * 2.0 + np.arange(len(y)) % 3
    bd = som.build_map("bmus_data", data=X, return_indices=True)
    assert sum(len(v) for v in bd.values()) == len(X)
    (r, c), idx = next(iter(bd.items()))
    assert all(b[i] == r * som.x + c for i in idx)
    mean = som.build_map("metric", target=t, bmus_data_map=bd, reduction_parameter="mean").ravel()
    std = som.build_map("metric", data=X, target=t, reduction_parameter="std").ravel()
    hits = som.build_map("hit", data=X).ravel()
    for j in range(som.n_neurons):
        tj = t[b == j]
        assert hits[j] == len(tj)
        if len(tj) == 0:
            assert np.isnan(mean[j]) and np.isnan(std[j])
        else:
            assert mean[j] == pytest.approx(tj.mean())
            if len(tj) > 1:
                assert std[j] == pytest.approx(tj.std(ddof=1), abs=1e-9)
    cls = som.build_map("classification", target=y).ravel()
    for j in np.flatnonzero(hits > 0):
        counts = np.bincount(y[b == j], minlength=3)
        assert counts[int(cls[j])] == counts.max()
    rank = som.build_map("rank", target=t).ravel()
    assert sorted(rank[np.isfinite(rank)]) == list(range(1, int((hits > 0).sum()) + 1))
    score = som.build_map("score", target=t, total_samples=len(X)).ravel()
    assert np.isfinite(score).sum() == (hits > 0).sum() and (score[np.isfinite(score)] > 0).all()
    # neighbourhood order 2 reaches the second ring: 6 + 12 on hexagonal, 8 + 16 on rectangular maps
    inner = (som.y // 2) * som.x + som.x // 2  # row 3, column 5 of the 10 x 7 map
    ring2 = som.neighbors_within(2)[inner].nnz
    assert ring2 == (18 if som.topology == "hexagonal" else 24)
    u1, u_sum = som.distance_map(), som.build_map("distance")
    assert u1.shape == u_sum.shape == (som.y, som.x) and u1.max() == u_sum.max() == 1.0


def test_save_path_conventions(fitted, tmp_path):
    som, _, _ = fitted
    vis = SOMVisualizer(som=som)
    fig = vis.plot_hit_map(save_path=tmp_path / "out", fig_name="hits")  # a folder (TorchSOM)
    check_png(tmp_path / "out" / "hits.png")
    fig = vis.plot_distance_map(save_path=str(tmp_path / "sub" / "u.pdf"))  # a file, any matplotlib format
    assert (tmp_path / "sub" / "u.pdf").read_bytes()[:4] == b"%PDF" and fig.saved_path.endswith("u.pdf")
    from pyagc.som import VisualizationConfig

    vis = SOMVisualizer(som=som, config=VisualizationConfig(save_format="svg", dpi=50))
    vis.plot_distance_map(save_path=tmp_path / "svg")
    assert (tmp_path / "svg" / "distance_map.svg").exists()
    plt.close("all")


def test_visualizer_errors():
    som = SOM(4, 4, num_features=2)
    vis = SOMVisualizer(som=som)
    with pytest.raises(RuntimeError, match="som.cluster"):
        vis.plot_cluster_map()
    with pytest.raises(RuntimeError, match="fit"):
        vis.plot_training_errors()
    with pytest.raises(TypeError, match="expects a pyagc.som.SOM"):
        SOMVisualizer("not a map")
    with pytest.raises(TypeError, match="VisualizationConfig"):
        SOMVisualizer(som, config={"dpi": 10})
    with pytest.raises(ValueError, match="at least one"):
        vis.plot_cluster_quality_comparison(results_list=[])
    with pytest.raises(TypeError, match="returned by som.cluster"):
        vis.plot_cluster_map(cluster_result=[0, 1])
    with pytest.raises(ValueError, match="needs target="):
        vis.plot_metric_map(data=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="one value per neuron"):
        vis.plot_grid(np.zeros(5))
    with pytest.raises(TypeError, match="unexpected keyword"):
        vis.plot_grid(np.zeros(16), colour="red")
    with pytest.raises(ValueError, match="must be a folder"):
        vis.plot_all(save_path="all.png")
    # pyagc's former names point to TorchSOM's
    with pytest.raises(AttributeError, match="plot_elbow_analysis"):
        vis.plot_elbow()
    with pytest.raises(AttributeError, match="plot_cluster_quality_comparison"):
        vis.plot_cluster_comparison([])
    with pytest.raises(AttributeError, match="has no attribute 'plot_nothing'"):
        vis.plot_nothing()
