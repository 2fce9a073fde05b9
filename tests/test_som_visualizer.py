"""Tests of SOMVisualizer: every plot renders to a valid, non-trivial PNG."""

import matplotlib

matplotlib.use("Agg")

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
    return som, X


def check_png(path):
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert len(raw) > 8000, "suspiciously small PNG"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 150 and img.shape[1] > 150
    assert img[..., :3].std() > 0.05, "blank image"


def test_every_plot_renders(fitted, tmp_path):
    som, X = fitted
    vis = SOMVisualizer(som)
    res_k = som.cluster_result_
    res_h = som.cluster(method="hdbscan")
    res_d = som.cluster(method="densom")
    plots = {
        "elbow": lambda p: vis.plot_elbow(save_path=p),
        "silhouette": lambda p: vis.plot_silhouette(result=res_k, save_path=p),
        "comparison": lambda p: vis.plot_cluster_comparison({"kmeans": res_k, "hdbscan": res_h, "densom": res_d}, save_path=p),
        "cluster_map": lambda p: vis.plot_cluster_map(res_d, save_path=p),
        "umatrix": lambda p: vis.plot_umatrix(save_path=p),
        "hits": lambda p: vis.plot_hit_map(save_path=p),
        "planes": lambda p: vis.plot_component_planes(feature_names=list("abcd"), save_path=p),
        "errors": lambda p: vis.plot_training_errors(save_path=p),
    }
    for name, fn in plots.items():
        path = tmp_path / f"{som.topology}_{name}.png"
        fig = fn(path)
        assert isinstance(fig, Figure), name
        check_png(path)
        plt.close(fig)


def test_grid_patches_match_topology(fitted):
    som, _ = fitted
    som.cluster(method="densom")
    fig = SOMVisualizer(som).plot_cluster_map()
    ax = fig.axes[0]
    colls = [c for c in ax.collections if isinstance(c, PatchCollection)]
    assert len(colls) == 1 and len(colls[0].get_paths()) == som.n_neurons
    # hexagons have 6 corners (+ closing vertex), squares 4
    n_vertices = len(colls[0].get_paths()[0].vertices)
    assert n_vertices == (7 if som.topology == "hexagonal" else 5)
    # noise neurons (DenSOM) are drawn grey, clusters in distinct colours
    colors = colls[0].get_facecolor()
    assert len({tuple(np.round(c, 3)) for c in colors}) == len(np.unique(som.cluster_result_["labels"]))
    plt.close(fig)


def test_elbow_knee_and_plot_all(fitted, tmp_path):
    som, _ = fitted
    som.cluster(method="kmeans", n_clusters=3)
    fig = SOMVisualizer(som).plot_elbow(k_values=range(1, 9))
    assert fig.elbow["knee"] == 3
    inertia = fig.elbow["inertia"]
    assert all(a >= b - 1e-6 for a, b in zip(inertia, inertia[1:]))
    plt.close(fig)
    paths = SOMVisualizer(som).plot_all(tmp_path / "all")
    assert len(paths) == 7
    for p in paths:
        check_png(__import__("pathlib").Path(p))


def test_visualizer_errors():
    som = SOM(4, 4, num_features=2)
    vis = SOMVisualizer(som)
    with pytest.raises(RuntimeError, match="som.cluster"):
        vis.plot_cluster_map()
    with pytest.raises(RuntimeError, match="fit"):
        vis.plot_training_errors()
    with pytest.raises(TypeError, match="expects a pyagc.som.SOM"):
        SOMVisualizer("not a map")
    with pytest.raises(ValueError, match="at least one"):
        vis.plot_cluster_comparison([])
