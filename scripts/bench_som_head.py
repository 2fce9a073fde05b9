"""Benchmark the SOM head (DESOM) on scikit-learn's digits through the Python API.

For each seed: MLP autoencoder pretraining (reconstruction), then ``SOMClusterHead``
initialisation (PCA + short batch-SOM fit on the embeddings) and joint training
(reconstruction + gamma * SOM loss, temperature T_max -> T_min over all joint steps), then the
map's neurons are grouped into 10 clusters. Reports ACC / NMI / ARI of the head's assignments,
the ACC of k-means (10 restarts) on the final embeddings for reference, and the wall time.
Writes a Markdown table (default ``benchmarks/som_head.md``) with date, machine and command.

    OMP_NUM_THREADS=1 python scripts/bench_som_head.py --seeds 0 1 2
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyagc.clusters import SOMClusterHead, kmeans  # noqa: E402
from pyagc.data import TabularDataModule  # noqa: E402
from pyagc.encoders import MLPAutoencoder  # noqa: E402
from pyagc.metrics import external_metrics  # noqa: E402
from pyagc.models import ClusteringModule  # noqa: E402


def run_one(args: argparse.Namespace, scaling: str, seed: int) -> dict:
    pl.seed_everything(seed, verbose=False)
    dm = TabularDataModule("digits", scaling=scaling, batch_size=args.batch_size, seed=seed)
    dm.setup()
    steps = math.ceil(dm.n_samples / args.batch_size) * args.epochs
    head = SOMClusterHead(
        dm.n_classes,
        args.latent,
        map_size=tuple(args.map_size),
        gamma=args.gamma,
        T_max=args.T_max,
        T_min=args.T_min,
        decay_steps=max(steps, 1),
        seed=seed,
    )
    enc = MLPAutoencoder(dm.n_features, hidden_dims=args.hidden, latent_dim=args.latent)
    model = ClusteringModule(
        enc, head, pretrain_epochs=args.pretrain_epochs, epochs=args.epochs, optimizer={"name": "adam", "lr": args.lr}
    )
    trainer = pl.Trainer(
        max_epochs=args.pretrain_epochs + args.epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    t0 = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    time.perf_counter() - t0
    pred = model.infer_full(dm).numpy()
    total_s = time.perf_counter() - t0
    y = dm.y.numpy()
    z = model.embed(dm)
    km = kmeans(z, dm.n_classes, n_init=10, seed=seed).labels.numpy()
    m = external_metrics(y, pred)
    return {
        "scaling": scaling,
        "seed": seed,
        "acc": m["acc"],
        "nmi": m["nmi"],
        "ari": m["ari"],
        "kmeans_z_acc": external_metrics(y, km)["acc"],
        "clusters_used": int(len(np.unique(pred))),
        "joint_steps": int(head.steps),
        "final_T": head.temperature,
        "time_s": total_s,
        "phase_s": {k: round(v, 2) for k, v in model.phase_times.items()},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--scalings", nargs="+", default=["standard"], help="digits scaling(s): standard, minmax")
    p.add_argument("--hidden", nargs="+", type=int, default=[500, 500, 2000])
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--pretrain-epochs", type=int, default=50)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--map-size", nargs=2, type=int, default=[10, 10])
    p.add_argument("--gamma", type=float, default=0.001)
    p.add_argument("--T-max", type=float, default=1.0)
    p.add_argument("--T-min", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "som_head.md")
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    runs = []
    for scaling in args.scalings:
        for seed in args.seeds:
            r = run_one(args, scaling, seed)
            print(json.dumps(r), flush=True)
            runs.append(r)
    cmd = "OMP_NUM_THREADS=1 python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    lines = [
        "# SOM head (DESOM) on digits",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, python {platform.python_version()}, cpu_count={os.cpu_count()}, "
        f"torch {torch.__version__}, {args.threads} thread(s), CPU",
        f"- command: `{cmd}`",
        f"- model: MLP autoencoder 64-{'-'.join(map(str, args.hidden))}-{args.latent}, batch {args.batch_size}, "
        f"Adam lr {args.lr}; {args.pretrain_epochs} pretraining + {args.epochs} joint epochs; "
        f"`SOMClusterHead(map_size={tuple(args.map_size)}, gamma={args.gamma}, T_max={args.T_max}, "
        f"T_min={args.T_min}, decay_steps=joint steps)`, map clustering: hits-weighted k-means on the prototypes",
        "- ACC (Hungarian), NMI, ARI of the head's assignments on all 1797 samples; 'k-means on z': "
        "ACC of k-means (10 restarts) on the final embeddings, for reference; time = fit + inference",
        "",
        "| scaling | seed | ACC | NMI | ARI | k-means on z (ACC) | time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['scaling']} | {r['seed']} | {r['acc']:.4f} | {r['nmi']:.4f} | {r['ari']:.4f} | "
            f"{r['kmeans_z_acc']:.4f} | {r['time_s']:.1f} |"
        )
    for scaling in args.scalings:
        rs = [r for r in runs if r["scaling"] == scaling]

        def ms(key: str) -> str:
            v = np.array([r[key] for r in rs])
            return f"{v.mean():.4f} ± {v.std():.4f}"

        lines.append(
            f"| **{scaling} mean ± std** | | {ms('acc')} | {ms('nmi')} | {ms('ari')} | {ms('kmeans_z_acc')} | "
            f"{np.mean([r['time_s'] for r in rs]):.1f} |"
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines[-len(args.scalings) :]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
