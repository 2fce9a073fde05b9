"""DenSOM on the FCPS suite: number of clusters found vs the true k, and ARI.

For each FCPS set a hexagonal SOM of the default size (``suggest_grid_size``: about
5*sqrt(n) neurons, side ratio from the PCA spectrum) is trained on the raw data with default
settings, then ``som.cluster("densom", density=...)`` (default sigma = sqrt(x*y)/12,
min_persistence=0.3) is run with the hit-map density (default) and the data-space log-density,
for several map seeds. ``--sensitivity`` adds a table of true-k counts (hit map) over a grid of
sigma factors and persistence values, to show how robust the defaults are.
Two ARIs are given: with DenSOM's noise points kept as one extra label, and on the points
DenSOM did not call noise.

Usage::

    OMP_NUM_THREADS=1 python scripts/bench_densom_fcps.py [--data-root DIR] [--seeds 0 1 2]
        [--densities hits data] [--sigma S] [--min-persistence 0.3] [--sensitivity]
        [--out benchmarks/densom_fcps.md]
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
from pyagc.som import SOM, densom, suggest_grid_size  # noqa: E402

NOTES = """Notes

- The issue's target (true k on at least 6 of 9 sets, robustly over seeds 0, 1, 2) is reached with the
  default hit-map density: 7/9 on each of seeds 0, 1 and 2 (21/27). Before this change (sigma=1,
  flood and persistence merges on the core neurons only) it was 5/9, 4/9, 4/9 (13/27; previous
  version of this file). On seeds 3-7, not used to choose anything, it is 6, 7, 6, 7, 7 of 9
  (before: 3, 2, 3, 4, 3); the misses there are atom (4 instead of 2), target, and hepta on seeds 3
  and 5 (8 instead of 7).
- What changed (both are needed; seeds 0/1/2 with only the first: 5/5/6, only the second: 6/5/5):
  1. **Watershed and persistence merges over the whole map** (ToMATo), Otsu's threshold only marks
     noise. Before, only core neurons were flooded, so core islands separated by a dip below the
     threshold were separate clusters whatever the depth of the dip: the map's rim (border neurons
     collect the samples outside the map, their Voronoi cells are unbounded) broke atom and wingnut
     into 6-7 islands. Now two islands are one cluster unless the dip between them is persistent
     (peak - saddle >= min_persistence * peak; a ratio, so unchanged by scaling the density).
  2. **sigma follows the map size**, sigma = sqrt(x*y)/12 (a fixed share of the map's side) instead of
     1 grid unit: a larger map of the same data has a finer grid, so the same smoothing in data space
     needs a wider kernel in grid units. sigma = 1 smoothed the small hepta map (8x9, 0.71 now) so much
     that two of its seven clusters merged, and the large engytime map (18x18, 1.5 now) so little
     that Poisson noise of the hits split its two Gaussians into 3-4 basins.
- Remaining misses: **atom** (4 instead of 2): the dense core is one clean cluster (ARI 1 on its
  points), but the sparse shell, which the 2-D map wraps around its border, is half noise and the rest
  falls into three islands separated by deep gaps. **target** (1-3 instead of 6): four of its six
  true clusters are 3-point outlier groups, which DenSOM calls noise (as a density method should), and
  the centre blob and the ring, adjacent on the map, are not separated by a persistent dip.
- Sensitivity (table above): at the default sigma factor 1/12, min_persistence 0.3 to 0.4 keeps
  >= 6/9 on every seed, 0.25 or 0.45 falls to 4-5/9 on some seeds; over sigma factors 0.07 to 0.1 the
  band 0.3-0.35 stays >= 6/9. The defaults sit inside a plateau but the plateau is not wide: the
  persistence threshold still matters.
- density=`data` (log kernel density at the prototypes) with the same flood and sigma finds 4/9 on
  each seed (12/27; 16/27 before with sigma=1 and the core-only flood). It over-splits chainlink's
  rings (9) and mis-merges/splits lsun and tetra; it stays an option, not the default.
- Also tried (seeds 0-2, full grid over sigma in 0.5..2 grid units or 0.06..0.14 * sqrt(x*y), persistence
  0..0.7, persistence relative to the peak, to the density range or to (max - Otsu threshold)), not
  adopted: Ultsch's **P-matrix** (samples within the Pareto radius, the 18th percentile of pairwise
  distances) as density: at best 4/9 per seed (the radius is of the size of a whole hepta cluster, so
  hepta, atom and target collapse to 1 cluster); the **U*-matrix** (U-matrix x (max P - P)/(max P -
  mean P)), flooded from its minima (density = -U*), with the Pareto P-matrix: at best 4/9; with a
  kernel P-matrix (bandwidth = median quantisation error): 6/6/6 at one (sigma, persistence) point
  and mostly 5/9 around it (it fails atom - the sparse shell has a high U* and becomes noise -, target, and
  chainlink, whose rings break into 4-7 pieces along U-matrix ridges where the map folds); the plain
  U-matrix watershed (density = -U): at best 4/5/6; hits / U (hits per prototype spacing): 6/6/6 at
  one point, <= 5/9 next to it. On these small maps (about 5 sqrt(n) neurons, a few neurons across a
  cluster) the U-matrix is too coarse and noisy for Ultsch's U* approach, which was designed for large
  emergent SOMs (thousands of neurons).
"""

FCPS = ["atom", "chainlink", "engytime", "hepta", "lsun", "target", "tetra", "twodiamonds", "wingnut"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=os.environ.get("PYAGC_CLUSTERING_DATA", "/work/shared/data/clustering"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="the first one is the headline")
    ap.add_argument(
        "--densities",
        nargs="+",
        default=["hits", "data"],
        choices=["hits", "data"],
        help="DenSOM densities to compare; the first one is the headline",
    )
    ap.add_argument("--sigma", type=float, default=None, help="DenSOM sigma in grid units (default: sqrt(x*y)/12)")
    ap.add_argument("--min-persistence", type=float, default=0.3)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--sensitivity", action="store_true", help="add a sigma x min_persistence table (hit map)")
    ap.add_argument(
        "--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "densom_fcps.md")
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = os.path.join(args.data_root, "fcps")
    if not os.path.isdir(root):
        sys.exit(f"FCPS folder {root} not found; pass --data-root")
    rows = []  # (seed, density, row)
    sens_factors = [0.06, 0.07, 0.0833, 0.1, 0.12]  # sigma = factor * sqrt(x*y); 1/12 = 0.0833 is the default
    sens_pers = [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]
    sens = {}  # (factor, persistence) -> {seed: found}
    for seed in args.seeds:
        for name in FCPS:
            X = np.loadtxt(os.path.join(root, f"{name}.data.gz"), ndmin=2)
            y = np.loadtxt(os.path.join(root, f"{name}.labels0.gz"), dtype=int)
            k_true = len(np.unique(y[y > 0]))
            x, yy = suggest_grid_size(len(X), X, "hexagonal")
            t0 = time.perf_counter()
            som = SOM(x, yy, X.shape[1], epochs=args.epochs, batch_size=32, topology="hexagonal", random_seed=seed).fit(
                X
            )
            t_fit = time.perf_counter() - t0
            if args.sensitivity:
                hits = som.hits()
                for fac in sens_factors:
                    for pers in sens_pers:
                        kf = densom(hits, x, yy, "hexagonal", sigma=fac * np.sqrt(x * yy), min_persistence=pers)[
                            "n_clusters"
                        ]
                        d = sens.setdefault((fac, pers), {})
                        d[seed] = d.get(seed, 0) + int(kf == k_true)
            for density in args.densities:
                t1 = time.perf_counter()
                res = som.cluster("densom", sigma=args.sigma, min_persistence=args.min_persistence, density=density)
                dt = t_fit + time.perf_counter() - t1
                lab = res["sample_labels"]
                m = y > 0
                ari_all = adjusted_rand_score(y[m], lab[m])
                keep = m & (lab >= 0)
                ari_core = adjusted_rand_score(y[keep], lab[keep]) if keep.sum() > 1 else float("nan")
                r = {
                    "name": name,
                    "n": len(X),
                    "grid": f"{x}x{yy}",
                    "sigma": res["sigma"],
                    "k_true": k_true,
                    "k_found": res["n_clusters"],
                    "ari_all": ari_all,
                    "ari_core": ari_core,
                    "noise": res["noise_fraction"],
                    "t": dt,
                }
                rows.append((seed, density, r))
                print(
                    f"seed={seed} density={density:4s} {name:12s} n={r['n']:5d} grid={r['grid']:6s} k_true={k_true} "
                    f"k_found={r['k_found']} {'OK ' if k_true == r['k_found'] else 'MISS'} "
                    f"ARI(noise as label)={ari_all:.3f} ARI(non-noise)={ari_core:.3f} noise={100 * r['noise']:.1f}% "
                    f"t={dt:.1f}s",
                    flush=True,
                )

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
        f"DenSOM sigma={'sqrt(x*y)/12 (default)' if args.sigma is None else args.sigma}, "
        f"min_persistence={args.min_persistence}; seeds {', '.join(map(str, args.seeds))}",
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
        lines.append(
            f"| density=`{density}` | "
            + " | ".join(f"{c}/{len(FCPS)}" for c in counts)
            + f" | {sum(counts)}/{len(FCPS) * len(args.seeds)} |"
        )
    for density in args.densities:
        lines += [
            "",
            f"## density=`{density}`, seed {main_seed}",
            "",
            "| data set | n | grid | sigma | true k | found k | match | ARI (noise as label) | ARI (non-noise points) | noise | time (s) |",
            "|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|",
        ]
        for s_, d_, r in rows:
            if s_ != main_seed or d_ != density:
                continue
            lines.append(
                f"| {r['name']} | {r['n']} | {r['grid']} | {r['sigma']:.2f} | {r['k_true']} | {r['k_found']} | "
                f"{'yes' if r['k_true'] == r['k_found'] else 'no'} | {r['ari_all']:.3f} | {r['ari_core']:.3f} | "
                f"{100 * r['noise']:.1f}% | {r['t']:.1f} |"
            )
    lines += [
        "",
        "## Per seed (found k / true k)",
        "",
        "| seed | density | " + " | ".join(FCPS) + " |",
        "|---|---|" + "---:|" * len(FCPS),
    ]
    for seed in args.seeds:
        for density in args.densities:
            ks = {r["name"]: r for s_, d_, r in rows if s_ == seed and d_ == density}
            lines.append(
                f"| {seed} | {density} | "
                + " | ".join(
                    f"{ks[n]['k_found']}/{ks[n]['k_true']}" + ("" if ks[n]["k_found"] == ks[n]["k_true"] else " ✗")
                    for n in FCPS
                )
                + " |"
            )
    if args.sensitivity:
        lines += [
            "",
            "## Sensitivity (hit map): true k found per seed, sigma = factor * sqrt(x*y)",
            "",
            "| factor \\ min_persistence | " + " | ".join(f"{p:g}" for p in sens_pers) + " |",
            "|---|" + "---:|" * len(sens_pers),
        ]
        for fac in sens_factors:
            lines.append(
                f"| {fac:g}{' (default)' if abs(fac - 1 / 12) < 1e-3 else ''} | "
                + " | ".join("/".join(str(sens[(fac, p)].get(s_, 0)) for s_ in args.seeds) for p in sens_pers)
                + " |"
            )
    lines += ["", NOTES]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
