"""Side-by-side benchmark: pyagc's DeepECT head against clustpy's DeepECT (anchor library).

    OMP_NUM_THREADS=1 python scripts/bench_deepect_vs_clustpy.py            # digits, seeds 0 1 2, 50+50 epochs

Runs with the pyagc environment. For every seed it starts two subprocesses with the same data,
scaling (minmax), architecture ([d, 500, 500, 2000, 10]), epochs, batch size and seed, alternating which
library goes first so both see the same machine load:

* pyagc:   ``<this python> scripts/bench_deepect_vs_clustpy.py --worker --seed S ...``
  (``ClusteringModule`` + ``DeepECTClusterHead``: pretraining, then joint training),
* clustpy: ``<--anchor-python> scripts/anchor_clustpy_deepect.py --seed S ...`` (clustpy's own defaults
  otherwise: LeakyReLU autoencoder, summed-MSE reconstruction, Adam 1e-3 / 1e-4, grow every 2 epochs,
  20 leaves, pruning threshold 0.1).

Metrics for both: flat ACC / NMI / ARI with the tree cut at k = 10 (the most recent splits undone:
pyagc ``cluster(z, n_clusters=10)``, clustpy ``flat_clustering(10)``), dendrogram purity (exact,
``pyagc.metrics.dendrogram_purity`` definition, re-implemented in the anchor script) and leaf purity of the
full tree. ``fit_s`` = pyagc pretraining + joint ``trainer.fit`` vs clustpy's whole ``fit``; ``proc_s``
= wall time of each subprocess. Writes a markdown report (``--out``), rewritten after every seed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- pyagc worker
def run_pyagc(args) -> dict:
    import pytorch_lightning as pl
    import torch

    from pyagc.clusters import DeepECTClusterHead
    from pyagc.data import TabularDataModule
    from pyagc.encoders import MLPAutoencoder
    from pyagc.metrics import dendrogram_purity, external_metrics, leaf_purity
    from pyagc.models import ClusteringModule

    torch.set_num_threads(args.threads)

    def trainer(epochs: int) -> pl.Trainer:
        return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)

    pl.seed_everything(args.seed, verbose=False)
    dm = TabularDataModule(args.data, scaling=args.scaling, batch_size=args.batch_size, seed=args.seed,
                           limit=args.limit)
    dm.setup()
    y = dm.y.numpy()
    k = int(dm.n_classes)
    enc = MLPAutoencoder(dm.n_features, hidden_dims=args.hidden, latent_dim=args.latent)
    head = DeepECTClusterHead(k, args.latent, max_leaves=args.max_leaves, split_interval=args.split_interval,
                              prune_threshold=args.prune_threshold, clustering_weight=args.clustering_weight,
                              reconstruction_weight=args.reconstruction_weight, seed=args.seed)
    # warm-up (untimed): first optimizer step / lazy imports, as the anchor does
    lin = torch.nn.Linear(4, 2)
    opt = torch.optim.Adam(lin.parameters(), fused=True)
    lin(torch.ones(3, 4)).pow(2).mean().backward()
    opt.step()
    t0, c0 = time.perf_counter(), time.process_time()
    cache = None
    if args.ae_cache:  # sweeps only: reuse the pretrained autoencoder of this seed (timings then exclude it)
        cache = Path(args.ae_cache) / f"{args.data}_{args.scaling}_s{args.seed}_p{args.pretrain_epochs}_lr{args.lr}.pt"
    if cache is not None and cache.is_file():
        enc.load_state_dict(torch.load(cache))
    else:
        ae = ClusteringModule(enc, head, pretrain_epochs=args.pretrain_epochs, epochs=0,
                              pretrain_optimizer={"name": "adam", "lr": args.lr})
        trainer(args.pretrain_epochs).fit(ae, datamodule=dm)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save(enc.state_dict(), cache)
    t1 = time.perf_counter()
    model = ClusteringModule(enc, head, pretrain_epochs=0, epochs=args.epochs,
                             optimizer={"name": "adam", "lr": args.joint_lr})
    trainer(args.epochs).fit(model, datamodule=dm)
    t2, c2 = time.perf_counter(), time.process_time()
    z = model.embed(dm)
    flat = head.cluster(z, n_clusters=k).numpy()
    tree = head.tree()
    nodes = head.assign_nodes(z).numpy()
    res = {"lib": "pyagc", "seed": args.seed, **{m: v for m, v in external_metrics(y, flat).items()
                                                  if m in ("acc", "nmi", "ari")},
           "dp": dendrogram_purity(y, nodes, tree["parent"]), "lp": leaf_purity(y, nodes),
           "n_leaves": int(tree["is_leaf"].sum()), "time_s": round(t2 - t0, 2), "cpu_s": round(c2 - c0, 2),
           "pretrain_s": round(t1 - t0, 2), "joint_s": round(t2 - t1, 2), "joint_steps": int(model.joint_steps),
           "n": int(len(y))}
    if args.plot:
        from pyagc.utils.tree_plot import plot_cluster_tree
        fig = plot_cluster_tree(tree["parent"], nodes, y, title=f"pyagc DeepECT on {args.data}, seed {args.seed}")
        fig.savefig(args.plot, dpi=100)
    return res


# ----------------------------------------------------------------------------- driver
def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_json(cmd: list[str], env: dict) -> tuple[dict, float, float]:
    t0, c0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-5000:])
        raise RuntimeError(f"command failed ({proc.returncode}): {shlex.join(cmd)}")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip().startswith("{")]
    if not rows:
        raise RuntimeError(f"no JSON line from: {shlex.join(cmd)}\n{proc.stdout[-2000:]}")
    return rows[-1], wall, cpu


def shared_flags(args, seed: int) -> list[str]:
    return ["--data", args.data, "--scaling", args.scaling, "--seed", str(seed), "--batch-size", str(args.batch_size),
            "--pretrain-epochs", str(args.pretrain_epochs), "--epochs", str(args.epochs),
            "--hidden", *map(str, args.hidden), "--latent", str(args.latent), "--threads", str(args.threads)] + (
        ["--limit", str(args.limit)] if args.limit is not None else [])


def pyagc_flags(args) -> list[str]:
    return ["--max-leaves", str(args.max_leaves), "--split-interval", str(args.split_interval),
            "--prune-threshold", str(args.prune_threshold), "--clustering-weight", str(args.clustering_weight),
            "--reconstruction-weight", str(args.reconstruction_weight), "--lr", str(args.lr),
            "--joint-lr", str(args.joint_lr)]


def fmt(rs: list[dict], key: str, digits: int = 4) -> str:
    v = np.array([r[key] for r in rs], dtype=float)
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"


def write_report(args, runs: list[dict], command: str) -> None:
    import torch

    lines = [
        "# DeepECT: pyagc vs clustpy on " + args.data, "",
        f"- Date: {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- Machine: {os.cpu_count()} CPUs, {platform.platform()}, {platform.machine()}, "
        f"Python {platform.python_version()}",
        f"- Versions: torch {torch.__version__} (pyagc env), clustpy 0.0.3 (anchor env `{args.anchor_python}`)",
        f"- Command: `{command}`",
        f"- Settings: data={args.data}, scaling={args.scaling}, seeds={args.seeds}, layers [d, "
        f"{', '.join(map(str, args.hidden))}, {args.latent}], batch_size={args.batch_size}, "
        f"pretrain_epochs={args.pretrain_epochs}, epochs={args.epochs}, threads={args.threads}, limit={args.limit}",
        f"- pyagc: MLPAutoencoder (ReLU, Xavier), per-element MSE, pretrain Adam lr={args.lr}, joint Adam "
        f"lr={args.joint_lr}, DeepECTClusterHead(max_leaves={args.max_leaves}, split_interval={args.split_interval} "
        f"steps, prune_threshold={args.prune_threshold}, clustering_weight={args.clustering_weight}, "
        f"reconstruction_weight={args.reconstruction_weight})",
        "- clustpy: `DeepECT` with its defaults except layers, epochs, batch size, seed (random_state) and the "
        "(pre-scaled) data: FeedforwardAutoencoder (LeakyReLU), summed-over-features MSE, Adam lr 1e-3 "
        "pretraining / 1e-4 clustering, grow_interval=2 epochs, max_n_leaf_nodes=20, pruning_threshold=0.1",
        "- Flat ACC/NMI/ARI: tree cut at k=10 (latest splits undone: pyagc `cluster(z, n_clusters=10)`, clustpy "
        "`flat_clustering(10)`). DP: exact dendrogram purity of the full tree (samples in their leaves); LP: leaf "
        "purity. fit_s: pyagc pretraining + joint `trainer.fit`; clustpy whole `fit` (wall); fit_cpu_s: the same span "
        "in process CPU time (`time.process_time`, 1 thread), which shared-machine load does not inflate; proc_s / "
        "proc_cpu_s: the whole subprocess (start-up, imports, data loading, evaluation).",
        "", "| seed | lib | ACC | NMI | ARI | DP | LP | leaves | fit_s | fit_cpu_s | proc_s | proc_cpu_s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(f"| {r['seed']} | {r['lib']} | {r['acc']:.4f} | {r['nmi']:.4f} | {r['ari']:.4f} | "
                     f"{r['dp']:.4f} | {r['lp']:.4f} | {r['n_leaves']} | {r['time_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{r['proc_s']:.1f} | {r['proc_cpu_s']:.1f} |")
    lines += ["", "Means ± std over seeds:", "",
              "| lib | runs | ACC | NMI | ARI | DP | LP | fit_s | fit_cpu_s | proc_s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    means = {}
    for lib in ("pyagc", "clustpy"):
        rs = [r for r in runs if r["lib"] == lib]
        if not rs:
            continue
        means[lib] = {k: float(np.mean([r[k] for r in rs]))
                      for k in ("acc", "nmi", "ari", "dp", "lp", "time_s", "cpu_s")}
        lines.append(f"| {lib} | {len(rs)} | {fmt(rs, 'acc')} | {fmt(rs, 'nmi')} | {fmt(rs, 'ari')} | "
                     f"{fmt(rs, 'dp')} | {fmt(rs, 'lp')} | {fmt(rs, 'time_s', 1)} | {fmt(rs, 'cpu_s', 1)} | "
                     f"{fmt(rs, 'proc_s', 1)} |")
    if len(means) == 2:
        p, c = means["pyagc"], means["clustpy"]
        lines += ["", f"Speed ratio clustpy / pyagc: wall fit_s **{c['time_s'] / p['time_s']:.2f}x**, "
                      f"CPU fit_cpu_s **{c['cpu_s'] / p['cpu_s']:.2f}x**; "
                      f"ΔACC {p['acc'] - c['acc']:+.4f}, ΔNMI {p['nmi'] - c['nmi']:+.4f}, "
                      f"ΔARI {p['ari'] - c['ari']:+.4f}, ΔDP {p['dp'] - c['dp']:+.4f}, "
                      f"ΔLP {p['lp'] - c['lp']:+.4f} (pyagc − clustpy)."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", action="store_true", help="run pyagc once (--seed) and print one JSON line")
    p.add_argument("--data", default="digits")
    p.add_argument("--scaling", default="minmax")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--pretrain-epochs", type=int, default=50)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--hidden", nargs="+", type=int, default=[500, 500, 2000])
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--lr", type=float, default=1e-3, help="pyagc pretraining Adam lr")
    p.add_argument("--joint-lr", type=float, default=1e-3, help="pyagc joint Adam lr")
    p.add_argument("--max-leaves", type=int, default=20)
    p.add_argument("--split-interval", type=int, default=16, help="pyagc steps between splits (16 = 2 epochs)")
    p.add_argument("--prune-threshold", type=float, default=0.1)
    p.add_argument("--clustering-weight", type=float, default=0.02)
    p.add_argument("--reconstruction-weight", type=float, default=1.0)
    p.add_argument("--ae-cache", default=None, help="worker, sweeps only: folder to save/reuse pretrained AEs")
    p.add_argument("--plot", default=None, help="worker: save the pyagc tree plot here")
    p.add_argument("--anchor-python", default="/work/benchvenv/bin/python")
    p.add_argument("--libs", nargs="+", default=["pyagc", "clustpy"])
    p.add_argument("--out", default=str(REPO / "benchmarks" / "deepect_vs_clustpy_digits.md"))
    p.add_argument("--json", default=None)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(run_pyagc(args)), flush=True)
        return
    command = shlex.join(["python", "scripts/bench_deepect_vs_clustpy.py", *sys.argv[1:]])
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads), TQDM_DISABLE="1")
    runs: list[dict] = []
    for i, seed in enumerate(args.seeds):
        cmds = {"pyagc": [sys.executable, "scripts/bench_deepect_vs_clustpy.py", "--worker", *shared_flags(args, seed),
                          *pyagc_flags(args)],
                "clustpy": [args.anchor_python, "scripts/anchor_clustpy_deepect.py", *shared_flags(args, seed)]}
        order = [lib for lib in ("pyagc", "clustpy") if lib in args.libs]
        if i % 2:
            order.reverse()
        for lib in order:
            row, wall, cpu = run_json(cmds[lib], env)
            row["proc_s"], row["proc_cpu_s"] = round(wall, 2), round(cpu, 2)
            print(json.dumps(row), flush=True)
            runs.append(row)
        write_report(args, runs, command)
        if args.json:
            Path(args.json).write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
