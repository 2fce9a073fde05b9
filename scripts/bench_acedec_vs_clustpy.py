"""Side-by-side benchmark: pyagc's ACe/DeC head against clustpy's ACeDeC (anchor library).

    OMP_NUM_THREADS=1 python scripts/bench_acedec_vs_clustpy.py            # digits, seeds 0 1 2, 50 + 50 epochs
    python scripts/bench_acedec_vs_clustpy.py --seeds 0 --pretrain-epochs 5 --epochs 5 --out /tmp/x.md  # smoke

Runs with the pyagc environment. For every seed it starts two subprocesses with the same data (sklearn
digits), scaling (minmax), layers ``[d, 500, 500, 2000, 10]``, batch size, epochs and seed, alternating which
library goes first so both see the same machine load:

* pyagc:   ``<this python> scripts/bench_acedec_vs_clustpy.py --pyagc-run --seed S ...`` (one ``ACeDeC`` preset
  fit: ``MLPAutoencoder`` (ReLU, Xavier init, per-element MSE pretraining, Adam 1e-3), then the
  :class:`~pyagc.clusters.ACeDeCClusterHead` joint phase with Adam ``--lr`` (default 1e-4, clustpy's default
  clustering lr; beta 10x faster in both));
* clustpy: ``<--anchor-python> scripts/anchor_clustpy_acedec.py --seed S ...`` (clustpy's own defaults
  otherwise; clustpy lives only in that separate environment, default ``/work/benchvenv``).

Time columns: ``fit_s`` = pyagc's ``trainer.fit`` (pretraining, initialisation, joint epochs) vs clustpy's whole
``fit`` (pretraining, ACeDeC init, clustering epochs, final re-clustering); ``proc_s`` = wall time of each
subprocess (interpreter start, imports, data loading, evaluation included). clustpy's ``labels_`` (its default
output, after ``final_reclustering``) is the reference; its ACeDeC module's own labels before that
re-clustering (``acedec_labels_``) are reported too. Writes a markdown report (``--out``, default
``benchmarks/acedec_vs_clustpy_digits.md``), rewritten after every run.
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


# ----------------------------------------------------------------------------- one pyagc run (subprocess)
def pyagc_run(args) -> None:
    import pytorch_lightning as pl
    import torch

    from pyagc.data import TabularDataModule
    from pyagc.metrics import external_metrics
    from pyagc.models import ACeDeC

    torch.set_num_threads(args.threads)
    dm = TabularDataModule(args.data, scaling=args.scaling, batch_size=args.batch_size, seed=args.seed,
                           limit=args.limit)
    dm.setup()
    pl.seed_everything(args.seed, verbose=False)
    model = ACeDeC(n_features=dm.n_features, n_clusters=dm.n_classes, hidden_dims=args.hidden,
                   latent_dim=args.latent, pretrain_epochs=args.pretrain_epochs, epochs=args.epochs,
                   optimizer={"name": "adam", "lr": args.lr}, seed=args.seed)
    trainer = pl.Trainer(max_epochs=args.pretrain_epochs + args.epochs, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, precision=args.precision)
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.fit(model, datamodule=dm)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    pred = model.infer_full(dm).numpy()
    split = model.cluster_head.split_spaces(model.embed(dm))
    res = {"lib": "pyagc", "method": "acedec", "seed": args.seed, **external_metrics(dm.y.numpy(), pred),
           "time_s": round(fit_s, 2), "cpu_s": round(fit_cpu, 2), "joint_steps": int(model.joint_steps),
           "cluster_space_dims": int(split.cluster_dims.numel()),
           "phase_times": {k: round(v, 2) for k, v in model.phase_times.items()}}
    print(json.dumps(res), flush=True)


# ----------------------------------------------------------------------------- driver
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


def shared_flags(args) -> list[str]:
    f = ["--data", args.data, "--scaling", args.scaling, "--batch-size", str(args.batch_size),
         "--pretrain-epochs", str(args.pretrain_epochs), "--epochs", str(args.epochs), "--threads", str(args.threads),
         "--hidden", *map(str, args.hidden), "--latent", str(args.latent)]
    if args.limit is not None:
        f += ["--limit", str(args.limit)]
    return f


def ms(vals: list[float], fmt: str = "{:.4f}") -> str:
    return (fmt + " ± " + fmt).format(float(np.mean(vals)), float(np.std(vals)))


def report(args, runs: list[dict], meta: dict, command: str, done: bool) -> str:
    lines = [f"# ACe/DeC: pyagc vs clustpy on {args.data}", ""]
    if not done:
        lines += ["**Partial: run still in progress.**", ""]
    lines += [
        f"- Date: {meta['date']}",
        f"- Machine: {os.cpu_count()} CPUs (shared), {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}",
        f"- Versions: torch {meta['torch_pyagc']} (pyagc env), clustpy {meta['clustpy']} with torch "
        f"{meta['torch_clustpy']} (anchor env `{args.anchor_python}`)",
        f"- Command: `{command}`",
        f"- Settings: data={args.data} (n={meta.get('n', '?')}), scaling={args.scaling}, seeds={args.seeds}, "
        f"layers [d, {', '.join(map(str, args.hidden))}, {args.latent}], batch_size={args.batch_size}, "
        f"pretrain_epochs={args.pretrain_epochs}, epochs={args.epochs}, threads={args.threads} "
        f"(OMP_NUM_THREADS={args.threads}), limit={args.limit}, pyagc precision={args.precision} (clustpy: float32). "
        "pyagc: ReLU + Xavier MLP, per-element MSE "
        f"pretraining with Adam 1e-3, joint Adam lr={args.lr} (beta 10x), paper loss (per-sample summed "
        "reconstruction + mean of the two space losses), exactly orthogonal V. clustpy: its ACeDeC defaults "
        "(LeakyReLU + PyTorch-default-init MLP, summed-MSE pretraining with Adam 1e-3, clustering Adam 1e-4, "
        "beta 10x, `init='acedec'`, `final_reclustering=True`).",
        "- fit_s: pyagc `trainer.fit` (pretrain + init + joint); clustpy whole `fit` (pretrain, init, clustering, "
        "final re-clustering). proc_s: subprocess wall time (start-up, imports, data loading, evaluation "
        "included). fit_cpu_s: CPU time (user + system) of the fit span (`time.process_time`), the fairer speed "
        "measure on a shared machine.",
        "- clustpy ACC/NMI/ARI: `labels_` (its default output, after the final re-clustering); clustpy-inner: "
        "`acedec_labels_` (the trained ACeDeC module's own assignments).",
        "",
        "| seed | lib | ACC | NMI | ARI | fit_s | fit_cpu_s | proc_s | note |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        raw = r["raw"]
        if r["lib"] == "clustpy":
            note = (f"inner (acedec_labels_): ACC {raw['acedec_acc']:.4f}, NMI {raw['acedec_nmi']:.4f}, "
                    f"ARI {raw['acedec_ari']:.4f}")
        else:
            note = f"clustered-space dims {raw['cluster_space_dims']}/{args.latent}, {raw['joint_steps']} joint steps"
        lines.append(f"| {r['seed']} | {r['lib']} | {r['acc']:.4f} | {r['nmi']:.4f} | {r['ari']:.4f} | "
                     f"{r['fit_s']:.1f} | {r['fit_cpu_s']:.1f} | {r['proc_s']:.1f} | {note} |")
    lines += ["", "Means ± std over seeds (speed ratio = clustpy time / pyagc time):", "",
              "| lib | runs | ACC | NMI | ARI | fit_s | fit_cpu_s | proc_s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    per = {}
    for lib in ("pyagc", "clustpy"):
        rs = [r for r in runs if r["lib"] == lib]
        if not rs:
            continue
        per[lib] = {k: [r[k] for r in rs] for k in ("acc", "nmi", "ari", "fit_s", "fit_cpu_s", "proc_s")}
        d = per[lib]
        lines.append(f"| {lib} | {len(rs)} | {ms(d['acc'])} | {ms(d['nmi'])} | {ms(d['ari'])} | "
                     f"{ms(d['fit_s'], '{:.1f}')} | {ms(d['fit_cpu_s'], '{:.1f}')} | {ms(d['proc_s'], '{:.1f}')} |")
        if lib == "clustpy":
            inner = {k: [r["raw"][f"acedec_{k}"] for r in rs] for k in ("acc", "nmi", "ari")}
            lines.append(f"| clustpy-inner | {len(rs)} | {ms(inner['acc'])} | {ms(inner['nmi'])} | "
                         f"{ms(inner['ari'])} | | | |")
    if len(per) == 2:
        a, b = per["pyagc"], per["clustpy"]
        lines += ["", "| speed ratio, wall fit_s | speed ratio, fit_cpu_s | ΔACC | ΔNMI | ΔARI |",
                  "|---:|---:|---:|---:|---:|",
                  f"| {np.mean(b['fit_s']) / np.mean(a['fit_s']):.2f}x | "
                  f"{np.mean(b['fit_cpu_s']) / np.mean(a['fit_cpu_s']):.2f}x | {np.mean(a['acc']) - np.mean(b['acc']):+.4f} | "
                  f"{np.mean(a['nmi']) - np.mean(b['nmi']):+.4f} | {np.mean(a['ari']) - np.mean(b['ari']):+.4f} |"]
    return "\n".join(lines) + "\n"


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["digits"], default="digits")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--seed", type=int, default=0, help="(--pyagc-run) the one seed to run")
    p.add_argument("--scaling", choices=["minmax", "standard"], default="minmax")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--pretrain-epochs", type=int, default=50)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-4, help="pyagc joint Adam lr (clustpy's default clustering lr)")
    p.add_argument("--hidden", nargs="+", type=int, default=[500, 500, 2000])
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--precision", default="32-true",
                   help="pyagc only: Lightning precision, e.g. bf16-mixed (AMX on CPU); clustpy runs float32")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--anchor-python", default="/work/benchvenv/bin/python")
    p.add_argument("--out", default=None, help="markdown report (default benchmarks/acedec_vs_clustpy_<data>.md)")
    p.add_argument("--json", default=None, help="also write every run as JSON")
    p.add_argument("--pyagc-run", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.pyagc_run:
        pyagc_run(args)
        return

    out = Path(args.out) if args.out else REPO / "benchmarks" / f"acedec_vs_clustpy_{args.data}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads), TQDM_DISABLE="1", CLUSTPY_DEVICE="cpu",
               CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1")
    command = shlex.join(["OMP_NUM_THREADS=" + str(args.threads), "python", *sys.argv])
    meta = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), **versions(args, env)}
    runs: list[dict] = []
    for i, seed in enumerate(args.seeds):
        order = ("pyagc", "clustpy") if i % 2 == 0 else ("clustpy", "pyagc")
        for lib in order:
            if lib == "pyagc":
                cmd = [sys.executable, str(Path(__file__).resolve()), "--pyagc-run", "--seed", str(seed),
                       "--lr", str(args.lr), "--precision", args.precision, *shared_flags(args)]
            else:
                cmd = [args.anchor_python, str(SCRIPTS / "anchor_clustpy_acedec.py"), "--seed", str(seed),
                       *shared_flags(args)]
            r, wall = run_json(cmd, env)
            meta["n"] = r.get("n", meta.get("n"))
            row = {"lib": lib, "seed": seed, "acc": r["acc"], "nmi": r["nmi"], "ari": r["ari"], "fit_s": r["time_s"],
                   "fit_cpu_s": r["cpu_s"], "proc_s": wall, "raw": r}
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
