"""Benchmark SOM-TSK against scikit-learn KMeans(init="k-means++", n_init=10).

Every labelled set ``NAME.data.gz`` + ``NAME.labels0.gz`` under the clustering benchmark folder
(all batteries) plus scikit-learn's digits. The true k is the number of distinct non-zero
labels in ``labels0``; noise points (label 0) are clustered but excluded from the ARI.
Both methods see the raw data, use random_state=SEED and run single-threaded.

Usage::

    OMP_NUM_THREADS=1 python scripts/bench_som_tsk.py [--data-root DIR] [--max-n N] [--seed S]
        [--out benchmarks/som_tsk.md]

Sets with more than ``--max-n`` points (default: no limit) are skipped and listed as such.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import glob  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyagc.som import SOM, suggest_grid_size  # noqa: E402

TIE = 0.005


def load_sets(root: str):
    sets = []
    for f in sorted(glob.glob(os.path.join(root, "*", "*.data.gz"))):
        lab = f.replace(".data.gz", ".labels0.gz")
        if not os.path.exists(lab):
            continue
        battery = os.path.basename(os.path.dirname(f))
        name = os.path.basename(f)[: -len(".data.gz")]
        sets.append((f"{battery}/{name}", f, lab))
    return sets


def som_for(X: np.ndarray, seed: int) -> SOM:
    n = len(X)
    x, y = suggest_grid_size(n, X, "hexagonal")
    epochs = int(np.clip(200000 // n, 5, 50))
    batch = int(np.clip(n // 100, 32, 512))
    return SOM(x, y, X.shape[1], epochs=epochs, batch_size=batch, topology="hexagonal", random_seed=seed)


def run_one(name: str, X: np.ndarray, y: np.ndarray, seed: int):
    k = len(np.unique(y[y > 0]))
    mask = y > 0
    t0 = time.perf_counter()
    km = KMeans(k, init="k-means++", n_init=10, random_state=seed).fit(X)
    t_sk = time.perf_counter() - t0
    ari_sk = adjusted_rand_score(y[mask], km.labels_[mask])
    t0 = time.perf_counter()
    som = som_for(X, seed).fit(X)
    t_som = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = som.cluster(method="tsk", n_clusters=k, random_state=seed)
    t_tsk = time.perf_counter() - t0
    ari_tsk = adjusted_rand_score(y[mask], res["sample_labels"][mask])
    d = ari_tsk - ari_sk
    outcome = "tie" if abs(d) <= TIE else ("win" if d > 0 else "loss")
    return {
        "name": name,
        "n": len(X),
        "d": X.shape[1],
        "k": k,
        "grid": f"{som.x}x{som.y}",
        "ari_sk": ari_sk,
        "ari_tsk": ari_tsk,
        "dari": d,
        "outcome": outcome,
        "chosen": res["chosen"].split(":")[0],
        "inertia_sk": km.inertia_,
        "inertia_tsk": res["inertia"],
        "t_sk": t_sk,
        "t_tsk": t_tsk,
        "t_som": t_som,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=os.environ.get("PYAGC_CLUSTERING_DATA", "/work/shared/data/clustering"))
    ap.add_argument("--max-n", type=int, default=0, help="skip sets with more points (0 = no limit)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "som_tsk.md")
    )
    args = ap.parse_args()
    torch.set_num_threads(1)

    rows, skipped = [], []
    todo = []
    if os.path.isdir(args.data_root):
        for name, f, lab in load_sets(args.data_root):
            todo.append((name, f, lab))
    else:
        print(f"[warn] {args.data_root} not found: only sklearn digits is run")
    t_start = time.perf_counter()
    for name, f, lab in todo:
        X = np.loadtxt(f, ndmin=2)
        y = np.loadtxt(lab, dtype=int)
        if args.max_n and len(X) > args.max_n:
            skipped.append(f"{name} (n={len(X)})")
            print(f"skip {name}: n={len(X)} > --max-n {args.max_n}", flush=True)
            continue
        r = run_one(name, X, y, args.seed)
        rows.append(r)
        print(
            f"{name:28s} n={r['n']:6d} k={r['k']:3d} ARI sk={r['ari_sk']:.4f} tsk={r['ari_tsk']:.4f} "
            f"d={r['dari']:+.4f} {r['outcome']:4s} [{r['chosen']}] t_sk={r['t_sk']:.2f}s t_tsk={r['t_tsk']:.2f}s "
            f"t_som={r['t_som']:.2f}s",
            flush=True,
        )
    dg = load_digits()
    r = run_one("sklearn/digits", dg.data.astype(np.float64), dg.target + 1, args.seed)
    rows.append(r)
    print(
        f"{'sklearn/digits':28s} ARI sk={r['ari_sk']:.4f} tsk={r['ari_tsk']:.4f} d={r['dari']:+.4f} {r['outcome']}",
        flush=True,
    )
    total = time.perf_counter() - t_start

    wins = sum(r["outcome"] == "win" for r in rows)
    ties = sum(r["outcome"] == "tie" for r in rows)
    losses = sum(r["outcome"] == "loss" for r in rows)
    worst = min(r["dari"] for r in rows)
    m_sk = float(np.mean([r["ari_sk"] for r in rows]))
    m_tsk = float(np.mean([r["ari_tsk"] for r in rows]))
    t_sk = sum(r["t_sk"] for r in rows)
    t_tsk = sum(r["t_tsk"] for r in rows)
    t_som = sum(r["t_som"] for r in rows)
    summary = [
        f"sets: {len(rows)}   wins/ties/losses (tie = |dARI| <= {TIE}): {wins}/{ties}/{losses}",
        f"worst dARI: {worst:+.4f}   mean ARI: TSK {m_tsk:.4f} vs sklearn {m_sk:.4f}",
        f"time ratio TSK/sklearn: {t_tsk / t_sk:.2f} (post-hoc only), {(t_tsk + t_som) / t_sk:.2f} (incl. SOM training)",
        f"total wall time {total:.0f}s",
    ]
    print("\n".join(summary))
    if skipped:
        print("skipped (too large):", ", ".join(skipped))

    cmd = "OMP_NUM_THREADS=1 python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    lines = [
        "# SOM-TSK vs scikit-learn k-means++",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, python {platform.python_version()}, cpu_count={os.cpu_count()}, "
        f"torch {torch.__version__}, single-threaded (OMP/torch threads = 1)",
        f"- command: `{cmd}`",
        f"- baseline: `KMeans(k, init='k-means++', n_init=10, random_state={args.seed})`; TSK: "
        f"`SOM(x, y, hexagonal, suggest_grid_size, random_seed={args.seed}).fit(X).cluster('tsk', n_clusters=k)`",
        "- k = number of distinct non-zero labels in labels0; noise (label 0) excluded from ARI; raw (unscaled) data.",
        f"- tie: |dARI| <= {TIE}",
        "",
        "## Summary",
        "",
        *[f"- {s}" for s in summary],
    ]
    if skipped:
        lines.append(f"- skipped (more than {args.max_n} points): {', '.join(skipped)}")
    lines += [
        "",
        "## Per data set",
        "",
        "| data set | n | d | k | grid | ARI sklearn | ARI TSK | dARI | result | TSK pick | inertia TSK / sklearn | t sklearn (s) | t TSK (s) | t SOM fit (s) |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['n']} | {r['d']} | {r['k']} | {r['grid']} | {r['ari_sk']:.4f} | {r['ari_tsk']:.4f} | "
            f"{r['dari']:+.4f} | {r['outcome']} | {r['chosen']} | {r['inertia_tsk'] / r['inertia_sk']:.4f} | "
            f"{r['t_sk']:.2f} | {r['t_tsk']:.2f} | {r['t_som']:.2f} |"
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
