"""Side-by-side benchmark: pyagc's DCN against clustpy's DCN (anchor library).

    OMP_NUM_THREADS=1 python scripts/bench_dcn_vs_clustpy.py        # digits, seeds 0 1 2, 50+50 epochs

Runs with the pyagc environment. For every seed it starts two subprocesses with the same data,
scaling, architecture ([d, 500, 500, 2000, 10], ReLU, Xavier init), epochs, batch size, Adam learning
rate, lambda, k-means restarts and seed, alternating which library goes first (even seeds: pyagc
first) so both see the same machine load:

* pyagc:   ``<this python> scripts/bench_dcn_vs_clustpy.py --worker ...`` -> the ``DCN`` preset
  (``ClusteringModule`` + ``DCNClusterHead``) trained by one Lightning ``Trainer.fit``
  (pretraining, k-means initialisation, joint epochs),
* clustpy: ``<--anchor-python> scripts/anchor_clustpy_dcn.py ...`` (clustpy lives only in that
  separate environment, default ``/work/benchvenv``).

``fit_s`` = pyagc's ``trainer.fit`` wall time vs clustpy's whole ``fit`` (pretraining, initial
k-means, clustering epochs, final k-means + label prediction); ``proc_s`` = wall time of each
subprocess (interpreter start, imports, data loading, evaluation included). Both report the labels
of the nearest DCN centre. Writes a markdown report (``--out``, rewritten after every run).
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


# ----------------------------------------------------------------------------- pyagc worker
def worker(args) -> None:
    """One pyagc DCN run in this process; prints one JSON line."""
    import pytorch_lightning as pl
    import torch

    from pyagc.data import TabularDataModule
    from pyagc.metrics import external_metrics
    from pyagc.models import DCN

    torch.set_num_threads(args.threads)
    dm = TabularDataModule(args.data, scaling=args.scaling, batch_size=args.batch_size, seed=args.seed,
                           limit=args.limit)
    dm.setup()
    pl.seed_everything(args.seed, verbose=False)
    model = DCN(dm.n_features, n_clusters=dm.n_classes, hidden_dims=args.hidden, latent_dim=args.latent,
                pretrain_epochs=args.pretrain_epochs, epochs=args.epochs, lambda_=args.lam, n_init=args.n_init,
                pretrain_optimizer={"name": "adam", "lr": args.lr}, optimizer={"name": "adam", "lr": args.lr},
                seed=args.seed)
    trainer = pl.Trainer(max_epochs=args.pretrain_epochs + args.epochs, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, precision=args.precision)
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.fit(model, datamodule=dm)
    fit_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    pred = model.infer_full(dm).numpy()
    res = {"lib": "pyagc", "method": "dcn", "seed": args.seed, **external_metrics(dm.y.numpy(), pred),
           "time_s": round(fit_s, 2), "cpu_s": round(cpu_s, 2), "n": int(dm.n_samples),
           "pretrain_s": round(model.phase_times["pretrain"], 2), "joint_s": round(model.phase_times["joint"], 2),
           "init_s": round(model.phase_times["initialize"], 2), "joint_steps": int(model.joint_steps)}
    print(json.dumps(res), flush=True)


# ----------------------------------------------------------------------------- orchestration
def default_data_root() -> Path:
    env = os.environ.get("PYAGC_DATA")
    if env:
        return Path(env).expanduser()
    for cand in (Path.cwd().parent / "shared" / "data", Path.cwd() / "shared" / "data"):
        if cand.is_dir():
            return cand
    return Path(os.environ.get("PYAGC_CACHE", Path.home() / ".cache" / "pyagc")).expanduser() / "data"


def run_json(cmd: list[str], env: dict) -> tuple[dict, float]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-5000:])
        raise RuntimeError(f"command failed ({proc.returncode}): {shlex.join(cmd)}")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip().startswith("{")]
    if not rows:
        raise RuntimeError(f"no JSON line from: {shlex.join(cmd)}\n{proc.stdout[-2000:]}")
    return rows[-1], wall


def shared_flags(args, seed: int) -> list[str]:
    f = ["--data", args.data, "--scaling", args.scaling, "--batch-size", str(args.batch_size),
         "--pretrain-epochs", str(args.pretrain_epochs), "--epochs", str(args.epochs), "--lr", str(args.lr),
         "--lambda", str(args.lam), "--n-init", str(args.n_init), "--threads", str(args.threads),
         "--seed", str(seed), "--hidden", *map(str, args.hidden), "--latent", str(args.latent)]
    if args.limit is not None:
        f += ["--limit", str(args.limit)]
    return f


def pyagc_cmd(args, seed: int) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", *shared_flags(args, seed),
            "--precision", args.precision]


def clustpy_cmd(args, seed: int, data_root: Path) -> list[str]:
    return [args.anchor_python, str(SCRIPTS / "anchor_clustpy_dcn.py"), *shared_flags(args, seed),
            "--match", args.match, "--data-root", str(data_root)]


def versions(args, env: dict) -> dict:
    import torch
    out = {"torch_pyagc": torch.__version__}
    code = "import importlib.metadata as m, torch; print(m.version('clustpy'), torch.__version__)"
    res = subprocess.run([args.anchor_python, "-c", code], env=env, capture_output=True, text=True, check=True)
    out["clustpy"], out["torch_clustpy"] = res.stdout.split()
    return out


def ms(vals: list[float], fmt: str = "{:.4f}") -> str:
    return (fmt + " ± " + fmt).format(float(np.mean(vals)), float(np.std(vals)))


def report(args, runs: list[dict], meta: dict, command: str, done: bool) -> str:
    lines = [f"# DCN: pyagc vs clustpy on {args.data}", ""]
    if not done:
        lines += ["**Partial: run still in progress.**", ""]
    lines += [
        f"- Date: {meta['date']}",
        f"- Machine: {os.cpu_count()} CPUs (shared), {platform.platform()}, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        f"- Versions: torch {meta['torch_pyagc']} (pyagc env), clustpy {meta['clustpy']} with torch "
        f"{meta['torch_clustpy']} (anchor env `{args.anchor_python}`)",
        f"- Command: `{command}`",
        f"- Settings: data={args.data} (n={meta.get('n', '?')}), scaling={args.scaling}, seeds={args.seeds}, "
        f"layers [d, {', '.join(map(str, args.hidden))}, {args.latent}] ReLU + Xavier init, "
        f"batch_size={args.batch_size}, pretrain_epochs={args.pretrain_epochs}, epochs={args.epochs}, "
        f"Adam lr={args.lr} (both phases), lambda={args.lam} (loss = mse + lambda/2 * mean ||z - M s||^2), "
        f"initial k-means n_init={args.n_init}, centre counts start at 100, threads={args.threads}, "
        f"limit={args.limit}, clustpy --match {args.match}, pyagc precision={args.precision} (clustpy: float32)",
        "- Algorithmic differences that remain (see `scripts/anchor_clustpy_dcn.py` and `pyagc/clusters/dcn.py`): "
        "clustpy uses each sample's stored label in the loss and, after every optimizer step, encodes the batch "
        "a second time and moves the centres in a per-sample Python loop; pyagc assigns the batch to the nearest "
        "centre in the same forward pass as the loss and moves the centres with the closed-form batch version of "
        "the same running-mean update (no second encoder pass).",
        "- fit_s: pyagc `trainer.fit` (pretrain + k-means init + joint); clustpy whole `fit` (incl. its final "
        "k-means and prediction). proc_s: subprocess wall time (start-up, data loading, evaluation included). "
        "Order alternates per seed (even seed: pyagc first).",
        "",
        "| seed | lib | ACC | NMI | ARI | fit_s | fit_cpu_s | proc_s | pretrain_s | joint_s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(f"| {r['seed']} | {r['lib']} | {r['acc']:.4f} | {r['nmi']:.4f} | {r['ari']:.4f} | "
                     f"{r['fit_s']:.1f} | {r['cpu_s']:.1f} | {r['proc_s']:.1f} | {r.get('pretrain_s', '')} | {r.get('joint_s', '')} |")
    lines += ["", "Means ± std over seeds:", "", "| lib | runs | ACC | NMI | ARI | fit_s | fit_cpu_s | proc_s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    per = {}
    for lib in ("pyagc", "clustpy"):
        rs = [r for r in runs if r["lib"] == lib]
        if not rs:
            continue
        per[lib] = {k: [r[k] for r in rs] for k in ("acc", "nmi", "ari", "fit_s", "cpu_s", "proc_s")}
        d = per[lib]
        lines.append(f"| {lib} | {len(rs)} | {ms(d['acc'])} | {ms(d['nmi'])} | {ms(d['ari'])} | "
                     f"{ms(d['fit_s'], '{:.1f}')} | {ms(d['cpu_s'], '{:.1f}')} | {ms(d['proc_s'], '{:.1f}')} |")
    if len(per) == 2:
        a, b = per["pyagc"], per["clustpy"]
        lines += ["", "| speed ratio, wall (clustpy fit_s / pyagc fit_s) | speed ratio, CPU time | ΔACC | ΔNMI | ΔARI |",
                  "|---:|---:|---:|---:|---:|",
                  f"| {np.mean(b['fit_s']) / np.mean(a['fit_s']):.2f}x | {np.mean(b['cpu_s']) / np.mean(a['cpu_s']):.2f}x | "
                  f"{np.mean(a['acc']) - np.mean(b['acc']):+.4f} | "
                  f"{np.mean(a['nmi']) - np.mean(b['nmi']):+.4f} | {np.mean(a['ari']) - np.mean(b['ari']):+.4f} |"]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--data", choices=["digits"], default="digits")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--scaling", choices=["minmax", "standard", "global_z"], default="minmax")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--pretrain-epochs", type=int, default=50)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lambda", dest="lam", type=float, default=1.0)
    p.add_argument("--n-init", type=int, default=20)
    p.add_argument("--hidden", nargs="+", type=int, default=[500, 500, 2000])
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--match", choices=["pyagc", "none"], default="pyagc")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--precision", default="32-true")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--data-root", default=None)
    p.add_argument("--anchor-python", default="/work/benchvenv/bin/python")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "dcn_vs_clustpy_digits.md"))
    p.add_argument("--json", default=None, help="also write every run as JSON")
    args = p.parse_args()
    if args.worker:
        worker(args)
        return

    data_root = Path(args.data_root).expanduser().resolve() if args.data_root else default_data_root().resolve()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYAGC_DATA=str(data_root), OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads), TQDM_DISABLE="1",
               CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1")
    command = shlex.join(["OMP_NUM_THREADS=" + str(args.threads), "python", *sys.argv])
    meta = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), **versions(args, env)}
    runs: list[dict] = []
    for seed in args.seeds:
        order = ("pyagc", "clustpy") if seed % 2 == 0 else ("clustpy", "pyagc")
        for lib in order:
            cmd = pyagc_cmd(args, seed) if lib == "pyagc" else clustpy_cmd(args, seed, data_root)
            row, wall = run_json(cmd, env)
            row["fit_s"], row["proc_s"] = float(row["time_s"]), round(wall, 2)
            meta["n"] = row.get("n", meta.get("n"))
            runs.append(row)
            print(json.dumps(row), flush=True)
            out.write_text(report(args, runs, meta, command, done=False))
    out.write_text(report(args, runs, meta, command, done=True))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": runs}, indent=2))
    print(out.read_text())


if __name__ == "__main__":
    main()
