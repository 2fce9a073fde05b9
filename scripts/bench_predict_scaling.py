"""``pyagc-predict`` on 100k and 1M rows: wall time and peak memory of the predicting process.

    python scripts/bench_predict_scaling.py --md benchmarks/predict_scaling.md

1. Synthetic blobs: ``--centers`` Gaussian clusters in ``--features`` dimensions (scikit-learn's ``make_blobs``, one
   set of centres for all files). A DEC model (MLP autoencoder ``--hidden``, 10-d latent) is trained small and
   quickly with ``pyagc-train data=file`` on ``--train-rows`` rows of them (a ``.npy``, per-feature standard scaling
   fitted on those rows and saved in the checkpoint).
2. For each size in ``--rows`` the same blobs are written as ``.npy`` and as ``.csv`` (with a header; in chunks, so
   the script itself never holds them), and ``pyagc-predict`` runs on each file in its own process
   (``python -m pyagc.cli.predict``), once with ``assignments.csv`` only and once with ``soft=true
   embeddings=true`` as well. Each process's peak resident memory comes from ``os.wait4`` (``ru_maxrss`` of that
   child alone); wall time is measured around the process (start-up of Python, torch and Hydra included) and
   inside it (``time_s`` of ``metrics.json``: loading the checkpoint excluded).

Memory must not grow with the rows: the script checks that the peak RSS at the largest size is within
``--rss-slack-mb`` of the smallest size's for every format and output set, and says so in the table file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def blobs(n: int, centers: np.ndarray, std: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(centers), n)
    x = centers[y] + std * rng.standard_normal((n, centers.shape[1]))
    return x.astype(np.float32), y


def write_files(folder: Path, n: int, centers: np.ndarray, std: float, seed: int, chunk: int = 100_000) -> dict:
    """``x.npy`` and ``x.csv`` (header f0..fF-1) of ``n`` rows, written chunk by chunk."""
    folder.mkdir(parents=True, exist_ok=True)
    npy, csv = folder / "x.npy", folder / "x.csv"
    if npy.is_file() and csv.is_file():
        return {"npy": npy, "csv": csv}
    f = centers.shape[1]
    out = np.lib.format.open_memmap(folder / "x.tmp.npy", mode="w+", dtype=np.float32, shape=(n, f))
    with open(folder / "x.tmp.csv", "w") as fh:
        fh.write(",".join(f"f{j}" for j in range(f)) + "\n")
        for i, start in enumerate(range(0, n, chunk)):
            x, _ = blobs(min(chunk, n - start), centers, std, seed + 1 + i)
            out[start : start + len(x)] = x
            np.savetxt(fh, x, fmt="%.5g", delimiter=",")
    out.flush()
    del out
    os.replace(folder / "x.tmp.npy", npy)
    os.replace(folder / "x.tmp.csv", csv)
    return {"npy": npy, "csv": csv}


def run_measured(cmd: list[str], log: Path) -> tuple[float, float, int]:
    """Run ``cmd``; return (wall seconds, peak RSS MiB of that process, exit code)."""
    start = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--centers", type=int, default=10)
    ap.add_argument("--std", type=float, default=2.0)
    ap.add_argument("--train-rows", type=int, default=5000)
    ap.add_argument("--hidden", default="[256,256]")
    ap.add_argument("--epochs", type=int, default=10, help="pretraining and joint epochs each")
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the predicting process")
    ap.add_argument("--formats", nargs="+", default=["npy", "csv"])
    ap.add_argument("--workdir", default="/tmp/pyagc_bench_predict")
    ap.add_argument("--rss-slack-mb", type=float, default=64.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retrain", action="store_true", help="train again even when --workdir holds a trained model")
    ap.add_argument("--md", default=None, help="write the results table to this markdown file")
    args = ap.parse_args()

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    centers = rng.uniform(-10, 10, (args.centers, args.features))
    x, y = blobs(args.train_rows, centers, args.std, args.seed)
    np.save(work / "train.npy", x)
    np.save(work / "train_labels.npy", y)

    py = sys.executable
    train_dir = work / "train"
    train_cmd = [
        py,
        "-m",
        "pyagc.cli.train",
        f"hydra.run.dir={train_dir}",
        "data=file",
        f"data.path={work / 'train.npy'}",
        f"data.labels_path={work / 'train_labels.npy'}",
        f"n_clusters={args.centers}",
        f"encoder.hidden_dims={args.hidden}",
        f"model.pretrain_epochs={args.epochs}",
        f"model.epochs={args.epochs}",
        "plot=false",
        "trainer.enable_progress_bar=false",
        "logger=none",
    ]
    done = train_dir / "metrics.json"
    if args.retrain or not done.is_file() or not Path(json.loads(done.read_text())["checkpoint"]).is_file():
        print("training:", shlex.join(train_cmd), flush=True)
        wall, rss, rc = run_measured(train_cmd, work / "train.log")
        if rc != 0:
            sys.exit(f"training failed (exit {rc}); see {work / 'train.log'}")
        print(f"  trained in {wall:.1f} s", flush=True)
    else:
        print(f"reusing the model trained in {train_dir} (--retrain to train again)", flush=True)
    trained = json.loads(done.read_text())
    ckpt = trained["checkpoint"]
    print(f"  ACC {trained['acc']:.4f} on {args.train_rows} training rows; checkpoint {ckpt}", flush=True)

    floor_cmd = [py, "-c", "import pyagc.cli.predict, pyagc.evaluation, sklearn.metrics"]
    _, floor_rss, _ = run_measured(floor_cmd, work / "imports.log")
    print(f"importing pyagc-predict's modules alone: peak RSS {floor_rss:.1f} MiB", flush=True)

    results = []
    for n in args.rows:
        t = time.perf_counter()
        files = write_files(work / f"rows_{n}", n, centers, args.std, args.seed + n)
        print(f"data: {n:,} rows x {args.features} written in {time.perf_counter() - t:.1f} s", flush=True)
        for fmt in args.formats:
            for extra in ([], ["soft=true", "embeddings=true"]):
                out = work / f"pred_{n}_{fmt}_{'all' if extra else 'assign'}"
                cmd = [
                    py,
                    "-m",
                    "pyagc.cli.predict",
                    f"ckpt={ckpt}",
                    "data=file",
                    f"data.path={files[fmt]}",
                    f"out={out}",
                    f"batch_size={args.batch_size}",
                    f"threads={args.threads}",
                    *extra,
                ]
                wall, rss, rc = run_measured(cmd, work / f"{out.name}.log")
                if rc != 0:
                    sys.exit(f"prediction failed (exit {rc}); see {work / (out.name + '.log')}")
                m = json.loads((out / "metrics.json").read_text())
                row = {
                    "rows": n,
                    "format": fmt,
                    "outputs": "assignments + soft + embeddings" if extra else "assignments",
                    "file_mb": files[fmt].stat().st_size / 2**20,
                    "wall_s": wall,
                    "predict_s": m["time_s"],
                    "rows_per_s": m["samples_per_s"],
                    "peak_rss_mb": rss,
                    "out_mb": sum(p.stat().st_size for p in out.iterdir() if p.is_file()) / 2**20,
                    "command": shlex.join(["pyagc-predict", *cmd[3:]]),
                }
                results.append(row)
                print(
                    f"  {fmt:>4} {n:>9,} rows {row['outputs']:<32} wall {wall:6.1f} s  predict {m['time_s']:6.1f} s"
                    f"  {m['samples_per_s']:>10,.0f} rows/s  peak RSS {rss:7.1f} MiB",
                    flush=True,
                )

    verdicts = []
    for fmt in args.formats:
        for outputs in ("assignments", "assignments + soft + embeddings"):
            rs = [r for r in results if r["format"] == fmt and r["outputs"] == outputs]
            lo, hi = min(rs, key=lambda r: r["rows"]), max(rs, key=lambda r: r["rows"])
            growth = hi["peak_rss_mb"] - lo["peak_rss_mb"]
            verdicts.append((fmt, outputs, lo["rows"], hi["rows"], growth, growth <= args.rss_slack_mb))
    for fmt, outputs, lo, hi, growth, ok in verdicts:
        print(f"peak RSS {fmt} ({outputs}): {lo:,} -> {hi:,} rows: {growth:+.1f} MiB ({'flat' if ok else 'GROWS'})")

    if args.md:
        write_md(Path(args.md), args, trained, train_cmd, results, verdicts, floor_rss)
    if not all(v[-1] for v in verdicts):
        sys.exit("peak memory grows with the number of rows")


def write_md(
    path: Path,
    args: argparse.Namespace,
    trained: dict,
    train_cmd: list[str],
    results: list[dict],
    verdicts: list,
    floor_rss: float,
) -> None:
    import torch

    lines = [
        "# Prediction at scale: pyagc-predict on 100k and 1M rows",
        "",
        "A trained DEC model assigns rows of 50 features read in batches (a `.npy` through memory-mapped windows, a "
        "CSV in chunks); peak RSS is the predicting process's own (`os.wait4`), wall time includes its start-up "
        "(Python, torch, Hydra, loading the checkpoint), `predict s` is the batch loop alone (`time_s` of "
        "`metrics.json`). Written by `scripts/bench_predict_scaling.py`.",
        "",
        f"## {datetime.date.today().isoformat()}",
        "",
        f"- machine: 2-core CPU, 24 GiB ({platform.machine()}, {platform.platform()}), torch {torch.__version__}, "
        f"{args.threads} thread(s) in the predicting process, shared with other jobs while running",
        f"- command: `python scripts/bench_predict_scaling.py {shlex.join(sys.argv[1:])}`",
        f"- data: {args.centers} Gaussian blobs in {args.features} dimensions (std {args.std}); CSV with a header, "
        "values written with 5 significant digits",
        f"- model: DEC, MLP autoencoder {args.hidden} -> 10, {args.epochs} + {args.epochs} epochs on "
        f"{args.train_rows:,} rows, standard scaling fitted on them (ACC {trained['acc']:.4f} on the training rows); "
        f"trained with `{shlex.join(['pyagc-train', *train_cmd[3:]])}`",
        f"- prediction: `batch_size={args.batch_size}`; each row of the table is one command "
        "(`pyagc-predict ckpt=... data=file data.path=... out=... batch_size=... threads=...` [+ `soft=true "
        "embeddings=true`])",
        "",
        "| rows | format | outputs | input MiB | wall s | predict s | rows/s | peak RSS MiB | outputs MiB |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['format']} | {r['outputs']} | {r['file_mb']:,.0f} | {r['wall_s']:.1f} | "
            f"{r['predict_s']:.1f} | {r['rows_per_s']:,.0f} | {r['peak_rss_mb']:,.0f} | {r['out_mb']:,.0f} |"
        )
    lines += [
        "",
        f"Importing the modules alone (torch with its CUDA libraries, Lightning, Hydra, scikit-learn) peaks at "
        f"{floor_rss:,.0f} MiB of RSS in this environment: the rest is the model, one batch and the outputs' "
        "buffers.",
        "",
        "Peak RSS from the smallest to the largest size (memory must not grow with the rows; "
        f"tolerance {args.rss_slack_mb:.0f} MiB):",
        "",
    ]
    for fmt, outputs, lo, hi, growth, ok in verdicts:
        lines.append(f"- {fmt}, {outputs}: {lo:,} -> {hi:,} rows: {growth:+.1f} MiB ({'flat' if ok else 'grows'})")
    lines += ["", "Commands, one per row of the table:", ""]
    lines += [f"    {r['command']}" for r in results]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
