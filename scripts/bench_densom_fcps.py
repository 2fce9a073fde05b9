"""DenSOM on the FCPS suite: number of clusters found vs the true k, and ARI.

For each FCPS set a hexagonal SOM of the default size (``suggest_grid_size``: about
5*sqrt(n) neurons, side ratio from the PCA spectrum) is trained on the raw data with default
settings, then ``som.cluster("densom")`` (sigma=1, min_persistence=0.3) is run.
Two ARIs are given: with DenSOM's noise points kept as one extra label, and on the points
DenSOM did not call noise.

Usage::

    OMP_NUM_THREADS=1 python scripts/bench_densom_fcps.py [--data-root DIR] [--seed S]
        [--sigma 1.0] [--min-persistence 0.3] [--out benchmarks/densom_fcps.md]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyagc.som import SOM, suggest_grid_size  # noqa: E402

FCPS = ["atom", "chainlink", "engytime", "hepta", "lsun", "target", "tetra", "twodiamonds", "wingnut"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=os.environ.get("PYAGC_CLUSTERING_DATA", "/work/shared/data/clustering"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sigma", type=float, default=1.0)
    ap.add_argument("--min-persistence", type=float, default=0.3)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "densom_fcps.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = os.path.join(args.data_root, "fcps")
    if not os.path.isdir(root):
        sys.exit(f"FCPS folder {root} not found; pass --data-root")
    rows = []
    for name in FCPS:
        X = np.loadtxt(os.path.join(root, f"{name}.data.gz"), ndmin=2)
        y = np.loadtxt(os.path.join(root, f"{name}.labels0.gz"), dtype=int)
        k_true = len(np.unique(y[y > 0]))
        x, yy = suggest_grid_size(len(X), X, "hexagonal")
        t0 = time.perf_counter()
        som = SOM(x, yy, X.shape[1], epochs=args.epochs, batch_size=32, topology="hexagonal", random_seed=args.seed).fit(X)
        res = som.cluster("densom", sigma=args.sigma, min_persistence=args.min_persistence)
        dt = time.perf_counter() - t0
        lab = res["sample_labels"]
        m = y > 0
        ari_all = adjusted_rand_score(y[m], lab[m])
        keep = m & (lab >= 0)
        ari_core = adjusted_rand_score(y[keep], lab[keep]) if keep.sum() > 1 else float("nan")
        r = {"name": name, "n": len(X), "grid": f"{x}x{yy}", "k_true": k_true, "k_found": res["n_clusters"],
             "ari_all": ari_all, "ari_core": ari_core, "noise": res["noise_fraction"], "t": dt}
        rows.append(r)
        print(f"{name:12s} n={r['n']:5d} grid={r['grid']:6s} k_true={k_true} k_found={r['k_found']} "
              f"{'OK ' if k_true == r['k_found'] else 'MISS'} ARI(noise as label)={ari_all:.3f} "
              f"ARI(non-noise)={ari_core:.3f} noise={100 * r['noise']:.1f}% t={dt:.1f}s", flush=True)
    hits = sum(r["k_true"] == r["k_found"] for r in rows)
    summary = f"true k found on {hits}/{len(rows)} FCPS sets"
    print(summary)
    cmd = "OMP_NUM_THREADS=1 python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    lines = [
        "# DenSOM on FCPS",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, python {platform.python_version()}, cpu_count={os.cpu_count()}, "
        f"torch {torch.__version__}, single-threaded",
        f"- command: `{cmd}`",
        f"- map: hexagonal, `suggest_grid_size(n, X)`, {args.epochs} epochs, batch 32, seed {args.seed}, raw data; "
        f"DenSOM sigma={args.sigma}, min_persistence={args.min_persistence}",
        "- ARI on points with true label > 0; 'noise as label' counts DenSOM's noise as one extra cluster.",
        "",
        f"**{summary}**",
        "",
        "| data set | n | grid | true k | found k | match | ARI (noise as label) | ARI (non-noise points) | noise | time (s) |",
        "|---|---:|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['n']} | {r['grid']} | {r['k_true']} | {r['k_found']} | "
            f"{'yes' if r['k_true'] == r['k_found'] else 'no'} | {r['ari_all']:.3f} | {r['ari_core']:.3f} | "
            f"{100 * r['noise']:.1f}% | {r['t']:.1f} |"
        )
    lines += [
        "",
        "Notes (from tuning sigma in 0.5..4, min_persistence in 0..0.6, map scale 0.5..1.4, both topologies,",
        "sqrt/log/P-matrix densities and U-matrix edge cuts: none found more than 5/9):",
        "",
        "- the SOM's magnification flattens the hit map: inside a cluster hits are nearly uniform Poisson",
        "  noise (about 5 samples per neuron on a default map), so the gaps (zero-hit interpolating neurons)",
        "  are the main signal; touching clusters with a density dip are only partly visible;",
        "- atom (dense core inside a sparse shell) and engytime (two overlapping Gaussians) have no gap;",
        "- wingnut/hepta: border neurons of a hexagonal map absorb the data outside the map and create",
        "  spurious maxima (wingnut), or 212 points on 72 neurons are too few to separate 7 peaks (hepta).",
    ]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
