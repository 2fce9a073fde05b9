"""Side-by-side benchmark: pyagc's DipEncoder head against clustpy's DipEncoder (anchor library).

    OMP_NUM_THREADS=1 python scripts/bench_dipencoder_vs_clustpy.py          # digits, seeds 0 1 2, 50+50 epochs

Runs with the pyagc environment. For every seed it starts two subprocesses with the same data, scaling
(minmax), architecture ([d, 500, 500, 2000, 10]), epochs, batch size and seed, alternating which library
goes first so both see the same machine load:

* pyagc:   ``<this python> scripts/bench_dipencoder_vs_clustpy.py --worker --seed S ...``: MLPAutoencoder
  pretraining (Adam 1e-3), then ``DipEncoderClusterHead`` jointly (Adam 1e-4, relabelling once per epoch).
* clustpy: ``<--anchor-python> scripts/anchor_clustpy_dipencoder.py --seed S ...`` (clustpy's defaults,
  clustpy lives only in that separate environment, default ``/work/benchvenv``).

``fit_s``: pyagc's two ``trainer.fit`` calls (pretraining + joint, initial k-means included) vs clustpy's
whole ``fit``. ``proc_s``: wall time of each subprocess. Writes ``benchmarks/dipencoder_vs_clustpy_<data>.md``
(``--out``), rewritten after every run pair.
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
def run_pyagc(args) -> dict:
    import pytorch_lightning as pl
    import torch

    from pyagc.clusters import DipEncoderClusterHead
    from pyagc.data import TabularDataModule
    from pyagc.encoders import MLPAutoencoder
    from pyagc.metrics import external_metrics
    from pyagc.models import ClusteringModule

    torch.set_num_threads(args.threads)
    dm = TabularDataModule(args.data, scaling=args.scaling, batch_size=args.batch_size, seed=args.seed,
                           limit=args.limit)
    dm.setup()
    steps_per_epoch = -(-dm.n_samples // args.batch_size)

    def trainer(epochs: int) -> pl.Trainer:
        return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)

    pl.seed_everything(args.seed, verbose=False)
    enc = MLPAutoencoder(dm.n_features, hidden_dims=args.hidden, latent_dim=args.latent)
    head = DipEncoderClusterHead(dm.n_classes, args.latent, update_interval=steps_per_epoch, seed=args.seed,
                                 dip_weighting=args.dip_weighting, n_init=args.n_init)
    t0, c0 = time.perf_counter(), time.process_time()
    pre = ClusteringModule(enc, head, pretrain_epochs=args.pretrain_epochs, epochs=0,
                           pretrain_optimizer={"name": "adam", "lr": args.lr})
    trainer(args.pretrain_epochs).fit(pre, datamodule=dm)
    pre_s = time.perf_counter() - t0
    model = ClusteringModule(enc, head, pretrain_epochs=0, epochs=args.epochs,
                             optimizer={"name": "adam", "lr": args.joint_lr})
    t1 = time.perf_counter()
    trainer(args.epochs).fit(model, datamodule=dm)
    joint_s = time.perf_counter() - t1
    cpu_s = time.process_time() - c0
    pred = model.infer_full(dm).numpy()
    return {"lib": "pyagc", "method": "dipencoder", "seed": args.seed,
            **{k: v for k, v in external_metrics(dm.y.numpy(), pred).items() if k in ("acc", "nmi", "ari")},
            "time_s": round(pre_s + joint_s, 2), "cpu_s": round(cpu_s, 2), "pretrain_s": round(pre_s, 2), "joint_s": round(joint_s, 2),
            "refresh_s": round(model.phase_times["refresh"], 2), "steps": int(model.joint_steps),
            "reconstruction_weight": float(head.reconstruction_weight), "n": int(dm.n_samples)}


# ----------------------------------------------------------------------------- driver
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
    f = ["--data", args.data, "--scaling", args.scaling, "--batch-size", str(args.batch_size), "--seed", str(seed),
         "--pretrain-epochs", str(args.pretrain_epochs), "--epochs", str(args.epochs), "--threads", str(args.threads),
         "--hidden", *map(str, args.hidden), "--latent", str(args.latent)]
    if args.limit is not None:
        f += ["--limit", str(args.limit)]
    return f


def pyagc_cmd(args, seed: int) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", *shared_flags(args, seed), "--lr", str(args.lr),
           "--joint-lr", str(args.joint_lr), "--n-init", str(args.n_init)]
    return cmd + (["--dip-weighting"] if args.dip_weighting else [])


def clustpy_cmd(args, seed: int, data_root: Path) -> list[str]:
    return [args.anchor_python, str(SCRIPTS / "anchor_clustpy_dipencoder.py"), *shared_flags(args, seed),
            "--data-root", str(data_root)]


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
    lines = [f"# DipEncoder: pyagc vs clustpy on {args.data}", ""]
    if not done:
        lines += ["**Partial: run still in progress.**", ""]
    lines += [
        f"- Date: {meta['date']}",
        f"- Machine: {os.cpu_count()} CPUs (shared), {platform.platform()}, {platform.machine()}, "
        f"Python {platform.python_version()}",
        f"- Versions: torch {meta['torch_pyagc']} (pyagc env), clustpy {meta['clustpy']} with torch "
        f"{meta['torch_clustpy']} (anchor env `{args.anchor_python}`)",
        f"- Command: `{command}`",
        f"- Settings: data={args.data} (n={meta.get('n', '?')}), scaling={args.scaling}, seeds={args.seeds}, "
        f"layers [d, {', '.join(map(str, args.hidden))}, {args.latent}], batch_size={args.batch_size}, "
        f"pretrain_epochs={args.pretrain_epochs}, epochs={args.epochs}, threads={args.threads} (OMP_NUM_THREADS), "
        f"limit={args.limit}",
        f"- pyagc: MLPAutoencoder (ReLU, Xavier), pretraining Adam lr={args.lr}, joint Adam lr={args.joint_lr}, "
        f"DipEncoderClusterHead(update_interval=batches per epoch, dip_weighting={args.dip_weighting}, "
        f"n_init={args.n_init}, reconstruction_weight=auto 1/(4 mean(x^2))). Labels: the head's pairwise-threshold "
        "vote (`infer_full`).",
        "- clustpy: DipEncoder defaults (see `scripts/anchor_clustpy_dipencoder.py`): LeakyReLU, default init, "
        "Adam 1e-3 / 1e-4, dip-weighted losses, KMeans n_init=1; labels `labels_`.",
        "- fit_s: pyagc pretraining + joint `trainer.fit` (k-means init and relabelling included); clustpy whole "
        "`fit`. fit_cpu_s: CPU time of the same span (`time.process_time`, 1 thread: the fair speed measure on "
        "this shared, loaded machine, whose wall times vary with other people's jobs). proc_s: subprocess wall time "
        "(start-up, imports, data loading, evaluation included).",
        "",
        "| seed | lib | ACC | NMI | ARI | fit_s | fit_cpu_s | proc_s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(f"| {r['seed']} | {r['lib']} | {r['acc']:.4f} | {r['nmi']:.4f} | {r['ari']:.4f} | "
                     f"{r['time_s']:.1f} | {r['cpu_s']:.1f} | {r['proc_s']:.1f} |")
    lines += ["", "Means ± std over seeds:", "", "| lib | runs | ACC | NMI | ARI | fit_s | fit_cpu_s | proc_s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    per = {}
    for lib in ("pyagc", "clustpy"):
        rs = [r for r in runs if r["lib"] == lib]
        if not rs:
            continue
        per[lib] = {k: [r[k] for r in rs] for k in ("acc", "nmi", "ari", "time_s", "cpu_s", "proc_s")}
        d = per[lib]
        lines.append(f"| {lib} | {len(rs)} | {ms(d['acc'])} | {ms(d['nmi'])} | {ms(d['ari'])} | "
                     f"{ms(d['time_s'], '{:.1f}')} | {ms(d['cpu_s'], '{:.1f}')} | {ms(d['proc_s'], '{:.1f}')} |")
    if len(per) == 2:
        a, b = per["pyagc"], per["clustpy"]
        lines += ["", "| speed ratio fit_s (clustpy / pyagc) | speed ratio fit_cpu_s | ΔACC | ΔNMI | ΔARI |",
                  "|---:|---:|---:|---:|---:|",
                  f"| {np.mean(b['time_s']) / np.mean(a['time_s']):.2f}x | {np.mean(b['cpu_s']) / np.mean(a['cpu_s']):.2f}x | "
                  f"{np.mean(a['acc']) - np.mean(b['acc']):+.4f} | "
                  f"{np.mean(a['nmi']) - np.mean(b['nmi']):+.4f} | {np.mean(a['ari']) - np.mean(b['ari']):+.4f} |"]
    pa = [r for r in runs if r["lib"] == "pyagc"]
    if pa:
        lines += ["", "pyagc phase times (s): " + "; ".join(
            f"seed {r['seed']}: pretrain {r['pretrain_s']}, joint {r['joint_s']} (relabelling {r['refresh_s']})"
            for r in pa)]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", action="store_true", help="internal: run one pyagc fit and print a JSON line")
    p.add_argument("--seed", type=int, default=0, help="worker only")
    p.add_argument("--data", default="digits")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--scaling", default="minmax")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--pretrain-epochs", type=int, default=50)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-3, help="pyagc pretraining Adam lr (clustpy default 1e-3)")
    p.add_argument("--joint-lr", type=float, default=1e-4, help="pyagc joint Adam lr (clustpy default 1e-4)")
    p.add_argument("--dip-weighting", action="store_true", help="pyagc head: weight dips by their detached values")
    p.add_argument("--n-init", type=int, default=10, help="pyagc head: k-means restarts")
    p.add_argument("--hidden", nargs="+", type=int, default=[500, 500, 2000])
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--data-root", default=None)
    p.add_argument("--anchor-python", default="/work/benchvenv/bin/python")
    p.add_argument("--out", default=None, help="markdown report (default benchmarks/dipencoder_vs_clustpy_<data>.md)")
    args = p.parse_args()

    if args.worker:
        print(json.dumps(run_pyagc(args)), flush=True)
        return

    data_root = Path(args.data_root).expanduser().resolve() if args.data_root else default_data_root().resolve()
    out = Path(args.out) if args.out else REPO / "benchmarks" / f"dipencoder_vs_clustpy_{args.data}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYAGC_DATA=str(data_root), OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads), TQDM_DISABLE="1",
               CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1")
    command = shlex.join(["OMP_NUM_THREADS=" + str(args.threads), "python", *sys.argv])
    meta = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), **versions(args, env)}
    print(f"data root {data_root}; {meta}", flush=True)
    runs: list[dict] = []
    for i, seed in enumerate(args.seeds):
        order = ["pyagc", "clustpy"] if i % 2 == 0 else ["clustpy", "pyagc"]
        for lib in order:
            cmd = pyagc_cmd(args, seed) if lib == "pyagc" else clustpy_cmd(args, seed, data_root)
            row, wall = run_json(cmd, env)
            row["proc_s"] = round(wall, 2)
            meta["n"] = row.get("n", meta.get("n"))
            runs.append(row)
            print(json.dumps(row), flush=True)
        out.write_text(report(args, runs, meta, command, done=False))
    out.write_text(report(args, runs, meta, command, done=True))
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
