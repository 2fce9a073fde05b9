"""Our DMoN vs DMoN of the unrelated PyPI package ``pyagc`` (Cloudy1225/PyAGC), side by side.

    python scripts/bench_dmon_vs_pypi_pyagc.py --data Cora --seeds 0 1 2 3 4

For every data set and seed it runs, in alternating order, (a) ours: ``scripts/bench_dmon.py --data NAME
--seeds S`` with this interpreter and ``PYAGC_DATA`` set, and (b) the anchor:
``scripts/anchor_pypi_pyagc_dmon.py --data NAME --seed S`` with the anchor's own venv (``--anchor-python``,
made by ``python3.11 -m venv /work/benchvenv_pyagc && /work/benchvenv_pyagc/bin/pip install pyagc``; never
install it into our venv, it would shadow our package).  Each run is its own process on 1 torch thread.
Writes a markdown report (``--md``) with per-run rows, mean ± std per library and the speed ratio.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
KEYS = ("acc", "nmi", "ari", "modularity", "time_s")


def _env(threads: int, data_root: str, anchor: bool) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYAGC_DATA=data_root)
    if anchor:
        env.pop("PYTHONPATH", None)  # keep our package out of the anchor's import path
    return env


def run_ours(name: str, seed: int, args) -> dict:
    cmd = [
        sys.executable,
        os.path.join(HERE, "bench_dmon.py"),
        "--data",
        name,
        "--seeds",
        str(seed),
        "--threads",
        str(args.threads),
        "--epochs",
        str(args.epochs),
    ]
    out = subprocess.run(cmd, cwd=REPO, env=_env(args.threads, args.data_root, False), capture_output=True, text=True)
    rows = [ast.literal_eval(line) for line in out.stdout.splitlines() if line.startswith("{'data'")]
    if out.returncode or len(rows) != 1:
        raise RuntimeError(
            f"ours failed ({out.returncode}): {shlex.join(cmd)}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        )
    return {"lib": "ours", **rows[0]}


def run_anchor(name: str, seed: int, args) -> dict:
    cmd = [
        args.anchor_python,
        os.path.join(HERE, "anchor_pypi_pyagc_dmon.py"),
        "--data",
        name,
        "--seed",
        str(seed),
        "--threads",
        str(args.threads),
        "--root",
        os.path.join(args.data_root, "planetoid"),
    ]
    out = subprocess.run(cmd, cwd="/tmp", env=_env(args.threads, args.data_root, True), capture_output=True, text=True)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or len(rows) != 1:
        raise RuntimeError(
            f"anchor failed ({out.returncode}): {shlex.join(cmd)}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        )
    return rows[0]


def _probe(python: str, code: str, cwd: str) -> str:
    out = subprocess.run(
        [python, "-c", code], cwd=cwd, capture_output=True, text=True, env=_env(1, "/nonexistent", True)
    )
    return out.stdout.strip() or f"? ({out.stderr.strip().splitlines()[-1:]})"


def versions(args) -> dict:
    code = (
        "import importlib.metadata as m, torch, torch_geometric, sys; "
        "print(f\"pyagc {m.version('pyagc')}, torch {torch.__version__}, torch_geometric "
        '{torch_geometric.__version__}, python {sys.version.split()[0]}")'
    )
    return {"ours": _probe(sys.executable, code, REPO), "anchor": _probe(args.anchor_python, code, "/tmp")}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def git_rev() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return out.stdout.strip() or "?"


def fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=["Cora"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--epochs", type=int, default=1000, help="our epochs (the anchor uses its own config)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-root", default=os.environ.get("PYAGC_DATA", "/work/shared/data"))
    p.add_argument("--anchor-python", default="/work/benchvenv_pyagc/bin/python")
    p.add_argument("--md", default=os.path.join(REPO, "benchmarks", "dmon_vs_pypi_pyagc.md"))
    args = p.parse_args()
    if not os.path.exists(args.anchor_python):
        sys.exit(
            f"no anchor interpreter at {args.anchor_python}: python3.11 -m venv /work/benchvenv_pyagc && "
            "/work/benchvenv_pyagc/bin/pip install pyagc"
        )

    rows, i = [], 0
    for name in args.data:
        for seed in args.seeds:
            order = (run_ours, run_anchor) if i % 2 == 0 else (run_anchor, run_ours)
            for fn in order:
                r = fn(name, seed, args)
                r["order"] = 1 + order.index(fn)
                print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
                rows.append(r)
            i += 1

    anchor_conf = {
        name: subprocess.run(
            [args.anchor_python, os.path.join(HERE, "anchor_pypi_pyagc_dmon.py"), "--data", name, "--show-config"],
            cwd="/tmp",
            capture_output=True,
            text=True,
            env=_env(1, args.data_root, True),
        ).stdout.strip()
        for name in args.data
    }
    ver = versions(args)
    cmd = shlex.join(["python", "scripts/bench_dmon_vs_pypi_pyagc.py", *sys.argv[1:]])
    L = [
        f"# DMoN: ours vs PyPI `pyagc` (Cloudy1225/PyAGC) ({datetime.date.today().isoformat()})",
        "",
        f"- machine: {cpu_name()}, {os.cpu_count()} CPUs (shared with other jobs), {platform.platform()}; "
        f"CPU only, {args.threads} torch thread per run, one process per run, runs sequential, order alternating",
        f"- ours: `pyagc` at {git_rev()} ({ver['ours']}), `scripts/bench_dmon.py` preset DMoN, {args.epochs} epochs",
        f"- anchor: {ver['anchor']} in its own venv (`{args.anchor_python}`), "
        "`scripts/anchor_pypi_pyagc_dmon.py` = its `benchmark/DMoN` procedure and `train.conf.yaml` defaults",
        f"- data: offline Planetoid raw files under `{args.data_root}/planetoid`",
        f"- command: `PYAGC_DATA={args.data_root} {cmd}`",
        "",
    ]
    for name, conf in anchor_conf.items():
        L.append(f"- anchor config for {name}: `{conf}`")
    L += [
        "",
        "## Per run",
        "",
        "| data | seed | lib | order | " + " | ".join(KEYS) + " | epochs |",
        "|---|---:|---|---:|" + "---:|" * (len(KEYS) + 1),
    ]
    for r in rows:
        L.append(
            f"| {r['data']} | {r['seed']} | {r['lib']} | {r['order']} | "
            + " | ".join(fmt(r[k]) for k in KEYS)
            + f" | {r.get('epochs', args.epochs)} |"
        )
    L += [
        "",
        "## Mean ± std over seeds",
        "",
        "| data | lib | n | " + " | ".join(KEYS) + " |",
        "|---|---|---:|" + "---:|" * len(KEYS),
    ]
    ratios = {}
    for name in args.data:
        for lib in ("ours", "pyagc-pypi"):
            rs = [r for r in rows if r["data"] == name and r["lib"] == lib]
            L.append(
                f"| {name} | {lib} | {len(rs)} | "
                + " | ".join(f"{np.mean([r[k] for r in rs]):.4f} ± {np.std([r[k] for r in rs]):.4f}" for k in KEYS)
                + " |"
            )
        t = {
            lib: np.mean([r["time_s"] for r in rows if r["data"] == name and r["lib"] == lib])
            for lib in ("ours", "pyagc-pypi")
        }
        ratios[name] = t["pyagc-pypi"] / t["ours"]
    L += [
        "",
        "Speed ratio (anchor mean training time / ours; > 1 means ours is faster): "
        + ", ".join(f"{n} {v:.2f}x" for n, v in ratios.items()),
        "",
        "Training time: ours = Lightning `Trainer.fit` wall time; anchor = its full-batch loop "
        "(incl. early stopping). Inference and metrics excluded for both.",
        "",
    ]
    text = "\n".join(L)
    print(text)
    os.makedirs(os.path.dirname(args.md), exist_ok=True)
    with open(args.md, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
