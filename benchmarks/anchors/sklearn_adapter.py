"""pyagc-bench anchor adapter for scikit-learn (protocol 1: see ``pyagc/cli/bench_anchors.py``).

    python sklearn_adapter.py --method kmeans --inputs inputs.npz --out labels.npy

Methods: ``kmeans`` (``KMeans``, k-means++, 10 restarts: as pyagc's k-means head), ``gmm`` (``GaussianMixture``,
full covariances, 10 restarts), ``agglomerative`` (Ward linkage). Needs only numpy and scikit-learn, so it runs in
pyagc's environment or any other.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def peak_rss_mb() -> float | None:
    """This process's peak resident memory since it started (Linux: VmHWM; ``ru_maxrss`` would include the
    parent's memory from before ``exec``)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def build(method: str, n_clusters: int, seed: int):
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.mixture import GaussianMixture

    if method == "kmeans":
        return KMeans(n_clusters=n_clusters, init="k-means++", n_init=10, random_state=seed), {
            "init": "k-means++",
            "n_init": 10,
        }
    if method == "gmm":
        return GaussianMixture(n_components=n_clusters, covariance_type="full", n_init=10, random_state=seed), {
            "covariance_type": "full",
            "n_init": 10,
        }
    if method == "agglomerative":
        return AgglomerativeClustering(n_clusters=n_clusters, linkage="ward"), {"linkage": "ward"}
    raise SystemExit(f"sklearn adapter: unknown method {method!r} (kmeans, gmm, agglomerative)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--method", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import sklearn

    inputs = np.load(args.inputs)
    x = inputs["x"]
    n_clusters, seed = int(inputs["n_clusters"]), int(inputs["seed"])
    model, params = build(args.method, n_clusters, seed)
    start = time.perf_counter()
    labels = model.fit_predict(x)
    fit = time.perf_counter() - start
    np.save(args.out, np.asarray(labels, dtype=np.int64))
    print(
        json.dumps(
            {
                "library": "sklearn",
                "version": sklearn.__version__,
                "method": args.method,
                "params": {"n_clusters": n_clusters, "random_state": seed, **params},
                "time_s": {"fit": fit},
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    main()
