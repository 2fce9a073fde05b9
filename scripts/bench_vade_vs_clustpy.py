"""Side-by-side benchmark: pyagc's VaDE against clustpy's (anchor library).

    python scripts/bench_vade_vs_clustpy.py                       # digits, seeds 0 1 2, 50+50 epochs
    python scripts/bench_vade_vs_clustpy.py --precision bf16-mixed --out benchmarks/vade_vs_clustpy_digits.md

Runs with the pyagc environment. For every seed it starts two subprocesses with the same data,
scaling, architecture ([d, 500, 500, 2000, 10] with mean and log-variance layers, sigmoid output),
epochs, batch size and seed, alternating which library goes first so both see the same machine load:

* pyagc:   ``<this python> scripts/bench_vade_vs_clustpy.py --worker --seed S ...``: the
  ``pyagc.models.VaDE`` preset (plain AE pretraining on the mean with MSE, Adam 1e-3; diagonal GMM
  initialisation with 10 restarts; negative ELBO with BCE reconstruction, Adam 2e-3) in one
  ``Trainer.fit``;
* clustpy: ``<--anchor-python> scripts/anchor_clustpy_vade.py --seed S ...`` (clustpy's own VaDE
  defaults otherwise; see that script's docstring), clustpy living only in ``/work/benchvenv``.

Both compute ACC/NMI/ARI of the argmax of the responsibilities of the mean embedding. ``fit_s`` is
the wall time of the whole fit (pretraining, GMM initialisation, VaDE epochs; clustpy's also its
final GMM re-fit), after an untimed warm-up in each process; ``proc_s`` is each subprocess' wall time
(start-up, imports, data loading, evaluation included). Writes a markdown report (``--out``, default
``benchmarks/vade_vs_clustpy_<data>.md``), rewritten after every run.
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
    """One pyagc VaDE fit; prints one JSON line."""
    import pytorch_lightning as pl
    import torch

    from pyagc.data import ImageDataModule, TabularDataModule
    from pyagc.metrics import external_metrics
    from pyagc.models import VaDE

    torch.set_num_threads(args.threads)

    def make_data(limit, seed):
        if args.data in ("mnist", "usps"):
            return ImageDataModule(args.data, scaling=args.scaling, batch_size=args.batch_size, seed=seed,
                                   flatten=True, limit=limit)
        return TabularDataModule(args.data, scaling=args.scaling, batch_size=args.batch_size, seed=seed, limit=limit)

    def fit(dm, pretrain_epochs, epochs, seed):
        pl.seed_everything(seed, verbose=False)
        dm.setup("fit")
        model = VaDE(dm.n_features, dm.n_classes, hidden_dims=args.hidden, latent_dim=args.latent,
                     pretrain_epochs=pretrain_epochs, epochs=epochs, n_init=args.n_init,
                     optimizer={"name": "adam", "lr": args.lr}, seed=seed)
        trainer = pl.Trainer(max_epochs=pretrain_epochs + epochs, accelerator="cpu", devices=1, logger=False,
                             enable_checkpointing=False, precision=args.precision, enable_progress_bar=False,
                             enable_model_summary=False, num_sanity_val_steps=0)
        trainer.fit(model, datamodule=dm)
        return model

    fit(make_data(300, 0), 1, 1, 0)  # untimed warm-up: Lightning, optimizer, sklearn imports
    dm = make_data(args.limit, args.seed)
    dm.setup("fit")
    t0 = time.perf_counter()
    model = fit(dm, args.pretrain_epochs, args.epochs, args.seed)
    elapsed = time.perf_counter() - t0
    pred = model.infer_full(dm).numpy()
    res = {"lib": "pyagc", "method": "vade", "seed": args.seed, **external_metrics(dm.y.numpy(), pred),
           "time_s": round(elapsed, 2), "n": int(dm.n_samples), "joint_steps": int(model.joint_steps),
           "phase_s": {k: round(v, 2) for k, v in model.phase_times.items()}}
    print(json.dumps(res), flush=True)


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
         "--latent", str(args.latent)]
    if args.limit is not None:
        f += ["--limit", str(args.limit)]
    return f


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
    lines = [f"# VaDE: pyagc vs clustpy on {args.data}", ""]
    if not done:
        lines += ["**Partial: run still in progress.**", ""]
    lines += [
        f"- Date: {meta['date']}",
        f"- Machine: {os.cpu_count()} CPUs (shared with other jobs), {platform.platform()}, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        f"- Versions: torch {meta['torch_pyagc']} (pyagc env), clustpy {meta['clustpy']} with torch "
        f"{meta['torch_clustpy']} (anchor env `{args.anchor_python}`)",
        f"- Command: `{command}`",
        f"- Settings: data={args.data} (n={meta.get('n', '?')}), scaling={args.scaling}, seeds={args.seeds}, "
        f"layers [d, {', '.join(map(str, args.hidden))}, {args.latent}] (mean + log-variance, sigmoid output), "
        f"batch_size={args.batch_size}, pretrain_epochs={args.pretrain_epochs}, epochs={args.epochs}, "
        f"threads={args.threads}, limit={args.limit}",
        f"- pyagc: `VaDE` preset, ReLU + Xavier init, AE pretraining with MSE (Adam 1e-3), diagonal GMM init "
        f"(n_init={args.n_init}), negative ELBO with BCE reconstruction summed over features, Adam lr={args.lr} "
        f"(constant), precision {args.precision}.",
        "- clustpy: `clustpy.deep.VaDE` defaults otherwise: LeakyReLU, PyTorch init, AE pretraining with BCE "
        "(Adam 1e-3), diagonal GMM init (n_init=10), Adam 1e-4, BCE summed over the batch, float32 "
        "(see `scripts/anchor_clustpy_vade.py`). Its labels: `vade_labels_` (argmax of gamma of the mean); "
        "`gmm_acc` = its `labels_` (full-covariance GMM re-fit).",
        "- fit_s: whole fit (pretraining + initialisation + VaDE epochs; clustpy also its final GMM). "
        "proc_s: subprocess wall time (start-up, warm-up, data loading, evaluation included).",
        "",
        "| seed | lib | ACC | NMI | ARI | fit_s | proc_s | notes |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        raw = r["raw"]
        note = (f"gmm_acc {raw['gmm_acc']:.4f}" if r["lib"] == "clustpy"
                else "phases " + ", ".join(f"{k} {v:.1f}s" for k, v in raw.get("phase_s", {}).items()))
        lines.append(f"| {r['seed']} | {r['lib']} | {r['acc']:.4f} | {r['nmi']:.4f} | {r['ari']:.4f} | "
                     f"{r['fit_s']:.1f} | {r['proc_s']:.1f} | {note} |")
    lines += ["", "Means ± std over seeds:", "", "| lib | runs | ACC | NMI | ARI | fit_s | proc_s |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    per = {}
    for lib in ("pyagc", "clustpy"):
        rs = [r for r in runs if r["lib"] == lib]
        if rs:
            per[lib] = d = {k: [r[k] for r in rs] for k in ("acc", "nmi", "ari", "fit_s", "proc_s")}
            lines.append(f"| {lib} | {len(rs)} | {ms(d['acc'])} | {ms(d['nmi'])} | {ms(d['ari'])} | "
                         f"{ms(d['fit_s'], '{:.1f}')} | {ms(d['proc_s'], '{:.1f}')} |")
    if len(per) == 2:
        a, b = per["pyagc"], per["clustpy"]
        lines += ["", "| speed ratio (clustpy fit_s / pyagc fit_s) | ΔACC | ΔNMI | ΔARI |", "|---:|---:|---:|---:|",
                  f"| {np.mean(b['fit_s']) / np.mean(a['fit_s']):.2f}x | {np.mean(a['acc']) - np.mean(b['acc']):+.4f} | "
                  f"{np.mean(a['nmi']) - np.mean(b['nmi']):+.4f} | {np.mean(a['ari']) - np.mean(b['ari']):+.4f} |"]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["digits", "usps", "mnist"], default="digits")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--seed", type=int, default=0, help="--worker only")
    p.add_argument("--scaling", choices=["minmax", "unit", "none"], default="minmax")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--pretrain-epochs", type=int, default=50)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--lr", type=float, default=2e-3, help="pyagc VaDE-phase Adam lr")
    p.add_argument("--n-init", type=int, default=10, help="pyagc GMM restarts")
    p.add_argument("--hidden", nargs="+", type=int, default=[500, 500, 2000])
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--precision", default="32-true", help="pyagc only: Lightning precision (bf16-mixed: AMX on CPU)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--data-root", default=None)
    p.add_argument("--anchor-python", default="/work/benchvenv/bin/python")
    p.add_argument("--out", default=None, help="markdown report (default benchmarks/vade_vs_clustpy_<data>.md)")
    p.add_argument("--json", default=None, help="also write every run as JSON")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return

    data_root = Path(args.data_root).expanduser().resolve() if args.data_root else default_data_root().resolve()
    out = Path(args.out) if args.out else REPO / "benchmarks" / f"vade_vs_clustpy_{args.data}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYAGC_DATA=str(data_root), OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads), TQDM_DISABLE="1",
               CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1")
    command = shlex.join(["python", *sys.argv])
    meta = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), **versions(args, env)}
    print(f"data root {data_root}; {meta}", flush=True)
    pyagc_extra = ["--lr", str(args.lr), "--n-init", str(args.n_init), "--precision", args.precision,
                   "--hidden", *map(str, args.hidden)]
    runs: list[dict] = []
    for i, seed in enumerate(args.seeds):
        for lib in (("pyagc", "clustpy") if i % 2 == 0 else ("clustpy", "pyagc")):
            if lib == "pyagc":
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", *shared_flags(args, seed), *pyagc_extra]
            else:
                cmd = [args.anchor_python, str(SCRIPTS / "anchor_clustpy_vade.py"), *shared_flags(args, seed),
                       "--data-root", str(data_root)]
            r, wall = run_json(cmd, env)
            meta["n"] = r.get("n")
            row = {"lib": lib, "seed": seed, "acc": r["acc"], "nmi": r["nmi"], "ari": r["ari"], "fit_s": r["time_s"],
                   "proc_s": wall, "raw": r}
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
