"""pyagc's ``kmeans`` against scikit-learn's ``KMeans`` (k-means++, ``n_init`` restarts, float32), side by side.

For every case (synthetic Gaussian blobs) and thread count the two run alternately, ``--repeats`` times each
(pyagc first on even repeats, scikit-learn first on odd ones), repeat ``r`` with seed / ``random_state`` ``r``.
Printed as a Markdown table: median wall times, speed ratio = scikit-learn time / pyagc time (> 1: pyagc is
faster) and inertia ratio = pyagc inertia / scikit-learn inertia (mean over the repeats; < 1: pyagc is lower).

    python scripts/bench_kmeans_vs_sklearn.py --cases 10000x10:10 100000x32:50 --threads 1 2 --repeats 3

A case is ``NxF:K`` or ``NxF:K:N_INIT`` (a per-case restart count, for cases too slow at ``--n-init``).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import numpy as np
import sklearn
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from threadpoolctl import threadpool_limits

from pyagc.clusters import kmeans


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    model = fields.get("Model name", "?").strip()
    cpus = fields.get("CPU(s)", "?").strip()
    flags = fields.get("Flags", "").split()
    avx512 = "yes" if "avx512f" in flags else "no"
    amx = "yes" if any(f.startswith("amx") for f in flags) else "no"
    return f"{model}, {cpus} CPUs, AVX-512: {avx512}, AMX: {amx}"


def parse_case(text: str) -> tuple[int, int, int, int | None]:
    m = re.fullmatch(r"(\d+)x(\d+):(\d+)(?::(\d+))?", text)
    if not m:
        raise argparse.ArgumentTypeError(f"case {text!r} is not NxF:K or NxF:K:N_INIT")
    n, f, k, n_init = m.groups()
    return int(n), int(f), int(k), int(n_init) if n_init else None


def human(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def run_pyagc(
    x: torch.Tensor, k: int, n_init: int, seed: int, threads: int, n_local_trials: int | None
) -> tuple[float, float]:
    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        t = time.perf_counter()
        res = kmeans(x, k, n_init=n_init, seed=seed, n_local_trials=n_local_trials)
        return time.perf_counter() - t, res.inertia


def run_sklearn(x: np.ndarray, k: int, n_init: int, seed: int, threads: int) -> tuple[float, float]:
    with threadpool_limits(limits=threads):
        t = time.perf_counter()
        km = KMeans(k, init="k-means++", n_init=n_init, random_state=seed, algorithm="lloyd").fit(x)
        return time.perf_counter() - t, float(km.inertia_)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--cases",
        nargs="+",
        type=parse_case,
        metavar="NxF:K[:N_INIT]",
        default=[parse_case(c) for c in ("10000x10:10", "100000x32:50", "1000000x64:100:3", "100000x256:1000:1")],
    )
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--n-init", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--std", type=float, default=3.0, help="cluster standard deviation of the blobs")
    p.add_argument(
        "--sklearn-trials",
        action="store_true",
        help="pyagc draws scikit-learn's 2 + int(ln K) k-means++ candidates (default: its own 2x)",
    )
    args = p.parse_args()

    print(f"date: {datetime.date.today().isoformat()}  ")
    print(f"machine: {machine()}  ")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
        f"numpy {np.__version__}  "
    )
    print(f"command: python {' '.join(sys.argv)}  ")
    print(f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())}\n")
    print(
        "| data (N x F) | K | threads | n_init | pyagc s (median) | scikit-learn s (median) | speed ratio "
        "| inertia ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n, f, k, case_n_init in args.cases:
        n_init = case_n_init or args.n_init
        x_np, _ = make_blobs(n_samples=n, n_features=f, centers=k, cluster_std=args.std, random_state=0)
        x_np = np.ascontiguousarray(x_np, dtype=np.float32)
        x = torch.from_numpy(x_np)
        for threads in args.threads:
            ours, theirs, ratios = [], [], []
            for rep in range(args.repeats):
                order = (0, 1) if rep % 2 == 0 else (1, 0)
                res = {}
                for which in order:
                    trials = 2 + int(math.log(k)) if args.sklearn_trials else None
                    res[which] = (
                        run_pyagc(x, k, n_init, rep, threads, trials)
                        if which == 0
                        else run_sklearn(x_np, k, n_init, rep, threads)
                    )
                ours.append(res[0][0])
                theirs.append(res[1][0])
                ratios.append(res[0][1] / res[1][1])
                print(
                    f"  {human(n)} x {f}, K={k}, {threads} thr, rep {rep}: pyagc {res[0][0]:.2f} s, "
                    f"sklearn {res[1][0]:.2f} s, inertia ratio {ratios[-1]:.5f}",
                    file=sys.stderr,
                    flush=True,
                )
            t_ours, t_theirs = statistics.median(ours), statistics.median(theirs)
            note = " (pyagc: scikit-learn's trials)" if args.sklearn_trials else ""
            print(
                f"| {human(n)} x {f} | {k} | {threads} | {n_init}{note} | {t_ours:.2f} | {t_theirs:.2f} "
                f"| {t_theirs / t_ours:.2f} | {statistics.mean(ratios):.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
