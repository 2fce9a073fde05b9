import torch
from sklearn.datasets import make_blobs
from sklearn.preprocessing import StandardScaler

from pyagc.som import SOM, SOMVisualizer

X, _ = make_blobs(n_samples=1000, centers=4, n_features=5, random_state=42)
data = torch.tensor(StandardScaler().fit_transform(X), dtype=torch.float32)

som = SOM(x=25, y=15, num_features=5, epochs=100, batch_size=16,
          topology="hexagonal", initialization_mode="pca", random_seed=42)
som.initialize_weights(data=data, mode=som.initialization_mode)
som.fit(data=data)

viz = SOMVisualizer(som=som)
viz.plot_elbow_analysis(max_k=10, feature_space="weights")     # pick k
result = som.cluster(method="kmeans", n_clusters=4, feature_space="weights")
viz.plot_cluster_map(cluster_result=result)

# =====================================================================================
# SOM tutorial.
#
# Above: the end-to-end example of TorchSOM's documentation page "Clustering", exactly as
# written there except for the import (`from torchsom import` -> `from pyagc.som import`).
# Every plot method returns its matplotlib Figure: in Jupyter it shows inline; in a script
# pass save_path= (a file such as "map.png", or a folder that receives "<fig_name>.png").
#
# Below: what pyagc adds on the same map -- more post-hoc clusterings (SOM-TSK, DenSOM,
# AutoSOM), an objective comparison, every diagnostic plot -- and the same workflow on real
# data (the UCI wine set). Runs on CPU in well under a minute:
#
#     python tutorials/som_tutorial.py [OUT_DIR] [--data-root /work/shared/data/clustering]
#
# Figures go to OUT_DIR (default: a fresh temporary folder).
# =====================================================================================
import argparse  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from pyagc.som import suggest_grid_size  # noqa: E402


def load_wine(root: str):
    """UCI wine from the shared clustering benchmarks when available, else scikit-learn's copy."""
    path = os.path.join(root, "uci", "wine.data.gz")
    if os.path.exists(path):
        Xw = np.loadtxt(path, ndmin=2)
        yw = np.loadtxt(path.replace(".data.gz", ".labels0.gz"), dtype=int) - 1
        return Xw, yw, f"wine ({path})"
    from sklearn.datasets import load_wine as sk_load_wine

    d = sk_load_wine()
    return d.data, d.target, "wine (scikit-learn)"


def compare(results, y, X_std, k):
    """Print internal metrics of each clustering and, since we know them here, the ARI to the classes."""
    print(f"  {'method':22s} {'k':>3s} {'noise':>6s} {'silhouette':>10s} {'DB':>6s} {'ARI':>6s}")
    for name, r in results.items():
        m = r["metrics"]
        keep = r["sample_labels"] >= 0
        ari = adjusted_rand_score(y[keep], r["sample_labels"][keep])
        print(f"  {name:22s} {r['n_clusters']:3d} {100 * r['noise_fraction']:5.1f}% {m['silhouette']:10.3f} "
              f"{m['davies_bouldin']:6.3f} {ari:6.3f}")
    km = KMeans(k, n_init=10, random_state=0).fit(X_std)
    print(f"  {'sklearn k-means++':22s} {k:3d} {0:5.1f}% {'':10s} {'':6s} {adjusted_rand_score(y, km.labels_):6.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description="pyagc SOM tutorial (TorchSOM's clustering example, then pyagc's additions).")
    ap.add_argument("out_dir", nargs="?", default=None)
    ap.add_argument("--data-root", default=os.environ.get("PYAGC_CLUSTERING_DATA", "/work/shared/data/clustering"))
    args = ap.parse_args()
    out = args.out_dir or tempfile.mkdtemp(prefix="som_tutorial_")
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()

    # 1. the page's map, saved this time (save_path as a folder: files named like TorchSOM's)
    print(f"map 25x15: QE {som.quantization_error():.3f}, TE {som.topographic_error():.3f}")
    elbow = viz.plot_elbow_analysis(max_k=10, feature_space="weights", save_path=out)  # out/elbow_analysis.png
    k = elbow.elbow["knee"]
    print(f"elbow (knee of the k-means inertia over the neurons): k = {k}")
    viz.plot_cluster_map(cluster_result=result, save_path=out)  # out/cluster_map.png
    _, y = make_blobs(n_samples=1000, centers=4, n_features=5, random_state=42)  # the labels the page dropped
    X_std = data.numpy()

    # 2. more ways to cluster the map: the page's three, and pyagc's SOM-TSK / DenSOM / AutoSOM
    results = {
        "kmeans/weights": som.cluster(method="kmeans", n_clusters=k, feature_space="weights"),
        "kmeans/combined": som.cluster(method="kmeans", n_clusters=k, feature_space="combined"),
        "gmm (BIC k)": som.cluster(method="gmm"),
        "hdbscan": som.cluster(method="hdbscan"),
        "tsk": som.cluster(method="tsk", n_clusters=k),  # topology-seeded k-means on the data
        "densom": som.cluster(method="densom"),  # density watershed on the map, finds k
        "autosom": som.cluster(method="autosom"),  # picks k and the route (TSK or DenSOM) itself
    }
    print(f"autosom route: {results['autosom']['route']} ({results['autosom']['reason']})")
    print("blobs (4 classes):")
    compare(results, y, X_std, k)

    # 3. every plot (each returns its Figure; saved figures are closed in scripts)
    viz.plot_cluster_quality_comparison(results_list=results, save_path=out)
    viz.plot_clustering_comparison_grid(
        results_list={n: results[n] for n in ("kmeans/weights", "hdbscan", "tsk", "densom")}, save_path=out)
    viz.plot_cluster_map(cluster_result=results["densom"], save_path=os.path.join(out, "densom_map.png"))
    viz.plot_silhouette_analysis(cluster_result=results["tsk"], save_path=out)
    viz.plot_distance_map(save_path=out)  # U-matrix: cluster borders are the dark ridges
    viz.plot_hit_map(data=data, save_path=out)
    viz.plot_component_planes(component_names=[f"x{i}" for i in range(5)], save_path=out)
    viz.plot_training_errors(save_path=out)
    viz.plot_classification_map(target=y, save_path=out)  # most frequent class per neuron

    # 4. the same workflow on real data: UCI wine (13 measurements, 3 cultivars)
    Xw, yw, name = load_wine(args.data_root)
    Xw = StandardScaler().fit_transform(Xw)
    gx, gy = suggest_grid_size(len(Xw), Xw, "hexagonal")  # about 5 sqrt(n) neurons, sides from the PCA spectrum
    wine = SOM(gx, gy, num_features=Xw.shape[1], topology="hexagonal", initialization_mode="pca",
               epochs=100, batch_size=16, random_seed=0)
    wine.fit(Xw)
    print(f"{name}: {Xw.shape[0]} samples x {Xw.shape[1]} features, map {gx}x{gy}")
    wv = SOMVisualizer(som=wine)
    kw = wv.plot_elbow_analysis(max_k=8, save_path=os.path.join(out, "wine_elbow.png")).elbow["knee"]
    wine_results = {
        "kmeans/weights": wine.cluster(method="kmeans", n_clusters=kw),
        "tsk": wine.cluster(method="tsk", n_clusters=kw),
        "densom": wine.cluster(method="densom"),
        "autosom": wine.cluster(method="autosom"),
    }
    compare(wine_results, yw, Xw, kw)
    wv.plot_cluster_map(cluster_result=wine_results["tsk"], save_path=os.path.join(out, "wine_cluster_map.png"))
    wv.plot_component_planes(max_planes=8, save_path=os.path.join(out, "wine_component_planes.png"))

    n_png = len([f for f in os.listdir(out) if f.endswith(".png")])
    print(f"wrote {n_png} figures to {out} in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
