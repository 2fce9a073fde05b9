"""Side-by-side benchmark: pyagc's DEC / IDEC against clustpy's (anchor library), one run.

    python scripts/bench_vs_clustpy.py                      # digits, seeds 0 1 2, 50+50 epochs
    python scripts/bench_vs_clustpy.py --data usps --seeds 0 1 2 --pretrain-epochs 50 --epochs 50

Runs with the pyagc environment. For every seed and method it starts two subprocesses with the
same data, scaling, architecture ([d, 500, 500, 2000, 10]), epochs, batch size, learning rates and
seed, alternating which library goes first so both see the same machine load:

* pyagc:   ``<this python> scripts/bench_dec_idec.py --methods M --seeds S ...`` (own pretraining),
* clustpy: ``<--anchor-python> scripts/anchor_clustpy_runner.py --method M --seed S ...``
  (clustpy lives only in that separate environment, default ``/work/benchvenv``).

Both read the same files (``--data-root``, passed to pyagc as ``PYAGC_DATA``). Time columns:
``fit_s`` = pyagc pretrain_s + joint_s (the two ``trainer.fit`` calls) vs clustpy's whole ``fit``
(pretraining, initial k-means, clustering epochs, its final k-means re-run); ``proc_s`` = wall time
of each subprocess (interpreter start, imports, data loading, evaluation included).
Writes a markdown report to ``benchmarks/dec_idec_vs_clustpy_<data>.md`` (``--out``), rewritten
after every run pair, and optionally all runs as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"


def default_data_root() -> Path:
    """Same resolution as ``pyagc.data.paths.default_data_root`` (without importing pyagc)."""
    env = os.environ.get("PYAGC_DATA")
    if env:
        return Path(env).expanduser()
    for cand in (Path.cwd().parent / "shared" / "data", Path.cwd() / "shared" / "data"):
        if cand.is_dir():
            return cand
    return Path(os.environ.get("PYAGC_CACHE", Path.home() / ".cache" / "pyagc")).expanduser() / "data"


def run_json(cmd: list[str], env: dict) -> tuple[list[dict], float]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-5000:])
        raise RuntimeError(f"command failed ({proc.returncode}): {shlex.join(cmd)}")
    rows = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    if not rows:
        raise RuntimeError(f"no JSON line from: {shlex.join(cmd)}\n{proc.stdout[-2000:]}")
    return rows, wall


def shared_flags(args) -> list[str]:
    f = [
        "--data",
        args.data,
        "--scaling",
        args.scaling,
        "--batch-size",
        str(args.batch_size),
        "--pretrain-epochs",
        str(args.pretrain_epochs),
        "--epochs",
        str(args.epochs),
        "--lr",
        str(args.lr),
        "--gamma",
        str(args.gamma),
        "--threads",
        str(args.threads),
    ]
    if args.limit is not None:
        f += ["--limit", str(args.limit)]
    if args.dec_adam:
        f += ["--dec-adam"]
    return f


def pyagc_cmd(args, method: str, seed: int) -> list[str]:
    return [
        sys.executable,
        str(SCRIPTS / "bench_dec_idec.py"),
        *shared_flags(args),
        "--methods",
        method,
        "--seeds",
        str(seed),
        "--update-interval",
        str(args.update_interval),
        "--tol",
        str(args.tol),
        "--precision",
        args.precision,
    ]


def clustpy_cmd(args, method: str, seed: int, data_root: Path) -> list[str]:
    return [
        args.anchor_python,
        str(SCRIPTS / "anchor_clustpy_runner.py"),
        *shared_flags(args),
        "--method",
        method,
        "--seed",
        str(seed),
        "--match",
        args.match,
        "--data-root",
        str(data_root),
    ]


def versions(args, env: dict) -> dict:
    import torch

    out = {"torch_pyagc": torch.__version__}
    code = "import importlib.metadata as m, torch; print(m.version('clustpy'), torch.__version__)"
    try:
        res = subprocess.run([args.anchor_python, "-c", code], env=env, capture_output=True, text=True, check=True)
        out["clustpy"], out["torch_clustpy"] = res.stdout.split()
    except (subprocess.CalledProcessError, ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"anchor python {args.anchor_python!r} cannot import clustpy: {exc}")
    return out


def ms(vals: list[float], fmt: str = "{:.4f}") -> str:
    return (fmt + " ± " + fmt).format(float(np.mean(vals)), float(np.std(vals)))


def report(args, runs: list[dict], meta: dict, command: str, done: bool) -> str:
    lines = [f"# DEC / IDEC: pyagc vs clustpy on {args.data}", ""]
    if not done:
        lines += ["**Partial: run still in progress.**", ""]
    lines += [
        f"- Date: {meta['date']}",
        f"- Machine: {os.cpu_count()} CPUs, {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}",
        f"- Versions: torch {meta['torch_pyagc']} (pyagc env), clustpy {meta['clustpy']} with torch "
        f"{meta['torch_clustpy']} (anchor env `{args.anchor_python}`)",
        f"- Command: `{command}`",
        f"- Settings: data={args.data} (n={meta.get('n', '?')}), scaling={args.scaling}, seeds={args.seeds}, "
        f"layers [d, {', '.join(map(str, [500, 500, 2000]))}, 10], batch_size={args.batch_size}, "
        f"pretrain_epochs={args.pretrain_epochs}, epochs={args.epochs}, pretrain Adam lr={args.lr}, "
        f"DEC joint {'Adam lr=' + str(args.lr) if args.dec_adam else 'SGD lr=0.01 momentum=0.9'}, "
        f"IDEC joint Adam lr={args.lr} gamma={args.gamma}, threads={args.threads}, limit={args.limit}, "
        f"clustpy --match {args.match}, pyagc precision={args.precision} (clustpy: float32)",
        f"- pyagc refreshes P on the whole data set every {args.update_interval} steps and stops when fewer "
        f"than tol={args.tol} of labels change; clustpy recomputes P from each mini-batch at every step "
        "and always runs all epochs (see `scripts/anchor_clustpy_runner.py` docstring).",
        "- fit_s: pyagc pretrain_s + joint_s; clustpy whole `fit` (incl. its final k-means). "
        "proc_s: subprocess wall time (start-up, data loading, evaluation included).",
        "",
        "| seed | method | lib | ACC | NMI | ARI | fit_s | proc_s | joint steps |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['seed']} | {r['method']} | {r['lib']} | {r['acc']:.4f} | {r['nmi']:.4f} | "
            f"{r['ari']:.4f} | {r['fit_s']:.1f} | {r['proc_s']:.1f} | {r.get('steps', '')} |"
        )
    lines += [
        "",
        "Means ± std over seeds (Δ = pyagc − clustpy; speed ratio = clustpy fit_s / pyagc fit_s):",
        "",
        "| method | lib | runs | ACC | NMI | ARI | fit_s | proc_s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    summary = []
    for method in args.methods:
        per = {}
        for lib in ("pyagc", "clustpy"):
            rs = [r for r in runs if r["method"] == method and r["lib"] == lib]
            if not rs:
                continue
            per[lib] = {k: [r[k] for r in rs] for k in ("acc", "nmi", "ari", "fit_s", "proc_s")}
            d = per[lib]
            lines.append(
                f"| {method} | {lib} | {len(rs)} | {ms(d['acc'])} | {ms(d['nmi'])} | {ms(d['ari'])} | "
                f"{ms(d['fit_s'], '{:.1f}')} | {ms(d['proc_s'], '{:.1f}')} |"
            )
        if len(per) == 2:
            a, b = per["pyagc"], per["clustpy"]
            summary.append(
                f"| {method} | {np.mean(b['fit_s']) / np.mean(a['fit_s']):.2f}x | "
                f"{np.mean(a['acc']) - np.mean(b['acc']):+.4f} | {np.mean(a['nmi']) - np.mean(b['nmi']):+.4f} | "
                f"{np.mean(a['ari']) - np.mean(b['ari']):+.4f} |"
            )
    if summary:
        lines += [
            "",
            "| method | speed ratio (clustpy/pyagc) | ΔACC | ΔNMI | ΔARI |",
            "|---|---:|---:|---:|---:|",
            *summary,
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["digits", "usps", "mnist"], default="digits")
    p.add_argument("--methods", nargs="+", choices=["dec", "idec"], default=["dec", "idec"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--scaling", choices=["minmax", "standard", "global_z"], default="minmax")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--pretrain-epochs", type=int, default=50)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam lr: pretraining, IDEC joint, DEC joint with --dec-adam")
    p.add_argument("--gamma", type=float, default=0.1, help="IDEC clustering-loss weight")
    p.add_argument("--dec-adam", action="store_true", help="DEC joint phase with Adam(lr) instead of SGD(0.01, 0.9)")
    p.add_argument("--update-interval", type=int, default=140, help="pyagc only (clustpy updates P every batch)")
    p.add_argument("--tol", type=float, default=0.001, help="pyagc only (clustpy has no tol stopping)")
    p.add_argument(
        "--match",
        choices=["pyagc", "none"],
        default="pyagc",
        help="clustpy mirrors pyagc's activation/init/loss scale/optimisers/k-means restarts, or "
        "uses its own defaults (see anchor_clustpy_runner.py)",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--precision", default="32-true", help="pyagc only: Lightning precision (bf16-mixed uses AMX on CPU)"
    )
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--data-root", default=None, help="folder with usps/ and torchvision/ (default: pyagc's)")
    p.add_argument("--anchor-python", default="/work/benchvenv/bin/python")
    p.add_argument("--out", default=None, help="markdown report (default benchmarks/dec_idec_vs_clustpy_<data>.md)")
    p.add_argument("--json", default=None, help="also write every run as JSON")
    args = p.parse_args()

    data_root = Path(args.data_root).expanduser().resolve() if args.data_root else default_data_root().resolve()
    out = Path(args.out) if args.out else REPO / "benchmarks" / f"dec_idec_vs_clustpy_{args.data}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        PYAGC_DATA=str(data_root),
        OMP_NUM_THREADS=str(args.threads),
        MKL_NUM_THREADS=str(args.threads),
        OPENBLAS_NUM_THREADS=str(args.threads),
        TQDM_DISABLE="1",
        CLUSTPY_DEVICE="cpu",
        CUDA_VISIBLE_DEVICES="",
        PYTHONUNBUFFERED="1",
    )
    command = shlex.join(["python", *sys.argv])
    meta = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), **versions(args, env)}
    print(f"data root {data_root}; {meta}", flush=True)

    runs: list[dict] = []
    pair = 0
    for seed in args.seeds:
        for method in args.methods:
            order = ("pyagc", "clustpy") if pair % 2 == 0 else ("clustpy", "pyagc")
            pair += 1
            for lib in order:
                if lib == "pyagc":
                    rows, wall = run_json(pyagc_cmd(args, method, seed), env)
                    r = rows[-1]
                    row = {
                        "lib": "pyagc",
                        "method": method,
                        "seed": seed,
                        "acc": r["acc"],
                        "nmi": r["nmi"],
                        "ari": r["ari"],
                        "fit_s": r["pretrain_s"] + r["joint_s"],
                        "proc_s": wall,
                        "steps": r.get("joint_steps"),
                        "raw": r,
                    }
                else:
                    rows, wall = run_json(clustpy_cmd(args, method, seed, data_root), env)
                    r = rows[-1]
                    n = r.get("n")
                    meta["n"] = n
                    steps = args.epochs * -(-n // args.batch_size) if n else None
                    row = {
                        "lib": "clustpy",
                        "method": method,
                        "seed": seed,
                        "acc": r["acc"],
                        "nmi": r["nmi"],
                        "ari": r["ari"],
                        "fit_s": r["time_s"],
                        "proc_s": wall,
                        "steps": steps,
                        "raw": r,
                    }
                runs.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "raw"}), flush=True)
            out.write_text(report(args, runs, meta, command, done=False))
    text = report(args, runs, meta, command, done=True)
    out.write_text(text)
    print("\n" + text)
    print(f"wrote {out}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "meta": meta, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
