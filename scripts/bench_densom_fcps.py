"""DenSOM on the FCPS suite: number of clusters found vs the true k, and ARI.

For each FCPS set a hexagonal SOM of the default size (``suggest_grid_size``: about
5*sqrt(n) neurons, side ratio from the PCA spectrum) is trained on the raw data with default
settings, then ``som.cluster("densom", density=...)`` (sigma=1, min_persistence=0.3) is run with the
hit-map density (default) and the data-space log-density, for several map seeds.
Two ARIs are given: with DenSOM's noise points kept as one extra label, and on the points
DenSOM did not call noise.

Usage::

    OMP_NUM_THREADS=1 python scripts/bench_densom_fcps.py [--data-root DIR] [--seeds 0 1 2]
        [--densities hits data] [--sigma 1.0] [--min-persistence 0.3] [--out benchmarks/densom_fcps.md]
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

NOTES = """Notes

- The issue's target is 6/9 with the default settings. Not reached: the hit map finds 5/9 on seed 0
  (4/9 on seeds 1 and 2); the data-space density as well 5/9 on seed 0 but on different sets.
- Why the hit map fails: the SOM's magnification flattens it (hits per neuron stay nearly constant
  inside clusters, ~5 samples per neuron, Poisson noise), and **border neurons collect the samples
  that lie outside the map** (their Voronoi cells are unbounded), so the map's rim is denser than
  its inside: on atom and wingnut the rim breaks into extra core islands (7 and 6 clusters); on
  engytime (two overlapping Gaussians, no gap) the flattened density has no clear saddle.
- Why the data-space density fails elsewhere: it fixes exactly those cases (engytime and wingnut
  found on every seed, no border effect), but the densities of different clusters now differ by
  orders of magnitude (atom's dense core vs its sparse shell, target's four small outlier groups,
  chainlink's rings), which a single Otsu level cannot serve. On the raw density Otsu keeps only
  the densest cluster (atom, hepta, target: k = 1); the log-density (used here) puts the clusters
  on one scale, but its far tail (prototypes between clusters, far from any sample) stretches
  Otsu's histogram, so shallow gaps stay core and noise maxima survive (chainlink: 9 rings'
  pieces); it also splits three well-separated blobs into four (tests/test_som_posthoc.py), so
  it is an option (`density="data"`), not the default.
- Also tried (seeds 0-2, sigma in 0.5..1.5, min_persistence in 0..0.5): hits divided by a Voronoi
  volume r^d from the distances to the grid neighbours' prototypes (d = 1, 2, 3; mean/median/min;
  raw and log), kernel density with bandwidth from the k-th nearest data neighbour (k = 5, 10, 20),
  1/r_k^d at the prototype, hits weighted by a data-space kernel around the prototype (discounts
  samples outside the map), products/geometric means of hits and data density, and Otsu on the hit
  map with the flood on the data density. The best settings reach 7/9 on one seed only at a single
  (sigma, persistence) point and fall to 4/9 next to it; at the default sigma=1, persistence 0.3
  none beats the hit map by more than one set per seed, none reaches 6/9 on all three seeds.
"""

FCPS = ["atom", "chainlink", "engytime", "hepta", "lsun", "target", "tetra", "twodiamonds", "wingnut"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=os.environ.get("PYAGC_CLUSTERING_DATA", "/work/shared/data/clustering"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="the first one is the headline")
    ap.add_argument("--densities", nargs="+", default=["hits", "data"], choices=["hits", "data"],
                    help="DenSOM densities to compare; the first one is the headline")
    ap.add_argument("--sigma", type=float, default=1.0)
    ap.add_argument("--min-persistence", type=float, default=0.3)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "densom_fcps.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = os.path.join(args.data_root, "fcps")
    if not os.path.isdir(root):
        sys.exit(f"FCPS folder {root} not found; pass --data-root")
    rows = []  # (seed, density, row)
    for seed in args.seeds:
        for name in FCPS:
            X = np.loadtxt(os.path.join(root, f"{name}.data.gz"), ndmin=2)
            y = np.loadtxt(os.path.join(root, f"{name}.labels0.gz"), dtype=int)
            k_true = len(np.unique(y[y > 0]))
            x, yy = suggest_grid_size(len(X), X, "hexagonal")
            t0 = time.perf_counter()
            som = SOM(x, yy, X.shape[1], epochs=args.epochs, batch_size=32, topology="hexagonal", random_seed=seed).fit(X)
            t_fit = time.perf_counter() - t0
            for density in args.densities:
                t1 = time.perf_counter()
                res = som.cluster("densom", sigma=args.sigma, min_persistence=args.min_persistence, density=density)
                dt = t_fit + time.perf_counter() - t1
                lab = res["sample_labels"]
                m = y > 0
                ari_all = adjusted_rand_score(y[m], lab[m])
                keep = m & (lab >= 0)
                ari_core = adjusted_rand_score(y[keep], lab[keep]) if keep.sum() > 1 else float("nan")
                r = {"name": name, "n": len(X), "grid": f"{x}x{yy}", "k_true": k_true, "k_found": res["n_clusters"],
                     "ari_all": ari_all, "ari_core": ari_core, "noise": res["noise_fraction"], "t": dt}
                rows.append((seed, density, r))
                print(f"seed={seed} density={density:4s} {name:12s} n={r['n']:5d} grid={r['grid']:6s} k_true={k_true} "
                      f"k_found={r['k_found']} {'OK ' if k_true == r['k_found'] else 'MISS'} "
                      f"ARI(noise as label)={ari_all:.3f} ARI(non-noise)={ari_core:.3f} noise={100 * r['noise']:.1f}% "
                      f"t={dt:.1f}s", flush=True)

    def found(seed: int, density: str) -> int:
        return sum(r["k_true"] == r["k_found"] for s_, d_, r in rows if s_ == seed and d_ == density)

    main_seed, main_density = args.seeds[0], args.densities[0]
    summary = f"true k found on {found(main_seed, main_density)}/{len(FCPS)} FCPS sets"
    print(summary, f"(seed {main_seed}, density={main_density!r})")
    cmd = "OMP_NUM_THREADS=1 python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    lines = [
        "# DenSOM on FCPS",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, python {platform.python_version()}, cpu_count={os.cpu_count()}, "
        f"torch {torch.__version__}, single-threaded",
        f"- command: `{cmd}`",
        f"- map: hexagonal, `suggest_grid_size(n, X)`, {args.epochs} epochs, batch 32, raw data; "
        f"DenSOM sigma={args.sigma}, min_persistence={args.min_persistence}; seeds {', '.join(map(str, args.seeds))}",
        "- densities: `hits` = hit map (the default); `data` = log Gaussian kernel density of the data at each "
        "prototype, bandwidth = median distance of a sample to its BMU prototype (see `pyagc/som/densom.py`)",
        "- ARI on points with true label > 0; 'noise as label' counts DenSOM's noise as one extra cluster.",
        "",
        f"**{summary} (default density `{main_density}`, seed {main_seed})**",
        "",
        "| true k found | " + " | ".join(f"seed {s}" for s in args.seeds) + " | total |",
        "|---|" + "---:|" * (len(args.seeds) + 1),
    ]
    for density in args.densities:
        counts = [found(s, density) for s in args.seeds]
        lines.append(f"| density=`{density}` | " + " | ".join(f"{c}/{len(FCPS)}" for c in counts)
                     + f" | {sum(counts)}/{len(FCPS) * len(args.seeds)} |")
    for density in args.densities:
        lines += [
            "",
            f"## density=`{density}`, seed {main_seed}",
            "",
            "| data set | n | grid | true k | found k | match | ARI (noise as label) | ARI (non-noise points) | noise | time (s) |",
            "|---|---:|---|---:|---:|---|---:|---:|---:|---:|",
        ]
        for s_, d_, r in rows:
            if s_ != main_seed or d_ != density:
                continue
            lines.append(
                f"| {r['name']} | {r['n']} | {r['grid']} | {r['k_true']} | {r['k_found']} | "
                f"{'yes' if r['k_true'] == r['k_found'] else 'no'} | {r['ari_all']:.3f} | {r['ari_core']:.3f} | "
                f"{100 * r['noise']:.1f}% | {r['t']:.1f} |"
            )
    lines += ["", "## Per seed (found k / true k)", "",
              "| seed | density | " + " | ".join(FCPS) + " |", "|---|---|" + "---:|" * len(FCPS)]
    for seed in args.seeds:
        for density in args.densities:
            ks = {r["name"]: r for s_, d_, r in rows if s_ == seed and d_ == density}
            lines.append(f"| {seed} | {density} | " + " | ".join(
                f"{ks[n]['k_found']}/{ks[n]['k_true']}" + ("" if ks[n]["k_found"] == ks[n]["k_true"] else " ✗")
                for n in FCPS) + " |")
    lines += ["", NOTES]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
