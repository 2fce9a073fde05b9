"""SOM tutorial: map -> elbow -> cluster -> compare -> plots, on real data.

Runs on CPU in well under a minute::

    python tutorials/som_tutorial.py [OUT_DIR] [--data-root /work/shared/data/clustering]

Data: the UCI ``wine`` set from the shared clustering benchmarks when available (13 chemical
measurements of 178 wines from 3 cultivars), otherwise scikit-learn's copy of the same data.
Figures go to OUT_DIR (default: a fresh temporary folder).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyagc.som import SOM, SOMVisualizer, suggest_grid_size  # noqa: E402


def load_data(root: str):
    path = os.path.join(root, "uci", "wine.data.gz")
    if os.path.exists(path):
        X = np.loadtxt(path, ndmin=2)
        y = np.loadtxt(path.replace(".data.gz", ".labels0.gz"), dtype=int) - 1
        return X, y, f"wine ({path})"
    from sklearn.datasets import load_wine

    d = load_wine()
    return d.data, d.target, "wine (scikit-learn)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", nargs="?", default=None)
    ap.add_argument("--data-root", default=os.environ.get("PYAGC_CLUSTERING_DATA", "/work/shared/data/clustering"))
    args = ap.parse_args()
    out = args.out_dir or tempfile.mkdtemp(prefix="som_tutorial_")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    t0 = time.perf_counter()

    # 1. data: SOMs use Euclidean distances, so put the features on one scale
    X, y, name = load_data(args.data_root)
    X = StandardScaler().fit_transform(X)
    print(f"data: {name}, {X.shape[0]} samples x {X.shape[1]} features, {len(np.unique(y))} classes")

    # 2. the map: about 5*sqrt(n) neurons, side ratio from the PCA spectrum
    gx, gy = suggest_grid_size(len(X), X, "hexagonal")
    som = SOM(gx, gy, num_features=X.shape[1], topology="hexagonal", initialization_mode="pca",
              epochs=100, batch_size=16, random_seed=0, verbose=False)
    som.fit(X)
    print(f"map {gx}x{gy}: QE {som.quantization_error():.3f}, TE {som.topographic_error():.3f}")
    vis = SOMVisualizer(som)
    figs = {}

    # 3. how many clusters? elbow on the neuron weights
    fig = vis.plot_elbow(save_path=os.path.join(out, "elbow.png"))
    figs["elbow"] = fig
    k = fig.elbow["knee"]
    print(f"elbow (knee of k-means inertia over the neurons): k = {k}")

    # 4. cluster the map several ways
    results = {
        "kmeans/weights": som.cluster(method="kmeans", n_clusters=k, feature_space="weights"),
        "kmeans/combined": som.cluster(method="kmeans", n_clusters=k, feature_space="combined"),
        "gmm/weights (BIC k)": som.cluster(method="gmm"),
        "hdbscan/weights": som.cluster(method="hdbscan"),
        "tsk": som.cluster(method="tsk", n_clusters=k),
        "densom": som.cluster(method="densom"),
        "autosom": som.cluster(method="autosom"),
    }
    print(f"autosom route: {results['autosom']['route']} ({results['autosom']['reason']})")

    # 5. compare: internal metrics (and, because we know them here, the true classes)
    km = KMeans(k, n_init=10, random_state=0).fit(X)
    print(f"{'method':22s} {'k':>3s} {'noise':>6s} {'silhouette':>10s} {'DB':>6s} {'ARI':>6s}")
    for nm, r in results.items():
        m = r["metrics"]
        keep = r["sample_labels"] >= 0
        ari = adjusted_rand_score(y[keep], r["sample_labels"][keep])
        print(f"{nm:22s} {r['n_clusters']:3d} {100 * r['noise_fraction']:5.1f}% {m['silhouette']:10.3f} "
              f"{m['davies_bouldin']:6.3f} {ari:6.3f}")
    print(f"{'sklearn k-means++':22s} {k:3d} {0:5.1f}% {'':10s} {'':6s} {adjusted_rand_score(y, km.labels_):6.3f}")

    # 6. plots
    som.cluster(method="tsk", n_clusters=k)  # the clustering shown on the maps
    figs["compare"] = vis.plot_cluster_comparison(results, save_path=os.path.join(out, "comparison.png"))
    figs["cluster_map"] = vis.plot_cluster_map(save_path=os.path.join(out, "cluster_map.png"))
    figs["densom_map"] = vis.plot_cluster_map(results["densom"], save_path=os.path.join(out, "densom_map.png"))
    figs["silhouette"] = vis.plot_silhouette(save_path=os.path.join(out, "silhouette.png"))
    figs["umatrix"] = vis.plot_umatrix(save_path=os.path.join(out, "umatrix.png"))
    figs["hits"] = vis.plot_hit_map(save_path=os.path.join(out, "hit_map.png"))
    figs["planes"] = vis.plot_component_planes(max_planes=8, save_path=os.path.join(out, "component_planes.png"))
    figs["errors"] = vis.plot_training_errors(save_path=os.path.join(out, "training_errors.png"))
    print(f"wrote {len(figs)} figures to {out} in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
