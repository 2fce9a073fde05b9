"""Contrastive graph clustering on Cora / CiteSeer: mean ± std over seeds of ACC, NMI, ARI, F1,
modularity, conductance and time.

    OMP_NUM_THREADS=1 python scripts/bench_contrastive_graph.py --data Cora CiteSeer --seeds 0 1 2 3 4 \\
        --md benchmarks/contrastive_graph.md

On a busy machine, run data sets / seeds as parallel processes that append to JSON-lines files, then
build the table from them (no training)::

    python scripts/bench_contrastive_graph.py --data Cora --seeds 0 1 2 --jsonl runs/cora_a.jsonl &
    python scripts/bench_contrastive_graph.py --data Cora --seeds 3 4 --jsonl runs/cora_b.jsonl &
    ...
    python scripts/bench_contrastive_graph.py --from-jsonl runs/*.jsonl --md benchmarks/contrastive_graph.md

Pipeline (the same components as ``pyagc-train experiment=dec_gcn_cora`` (default, ``--head dec``) and
``experiment=contrastive_cora`` (``--head kmeans``)):

1. encoder :class:`~pyagc.encoders.PropagationGCN` (low-pass GCN: ``layers`` x (linear, ``hops`` hops of
   the normalised adjacency));
2. GRACE pretraining (:class:`~pyagc.objectives.GraphContrastiveObjective`: feature masking + edge
   dropping, projection head, NT-Xent with intra- and inter-view negatives) for ``--pretrain-epochs``
   full-batch steps;
3. clustering head: ``kmeans`` (k-means++ on the pretrained embeddings) or ``dec`` (DEC head initialised
   by k-means, then ``--epochs`` joint steps of KL(P||Q) fine-tuning of encoder and centres).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time

import numpy as np
import pytorch_lightning as pl
import torch

from pyagc.clusters import DECClusterHead, KMeansClusterHead
from pyagc.data import GraphDataModule
from pyagc.encoders import PropagationGCN
from pyagc.metrics import conductance, external_metrics, modularity
from pyagc.models import ClusteringModule
from pyagc.objectives import GraphContrastiveObjective

KEYS = ("acc", "nmi", "ari", "f1", "modularity", "conductance", "time_s")


def build(args: argparse.Namespace, n_features: int, n_clusters: int, seed: int) -> ClusteringModule:
    encoder = PropagationGCN(
        n_features,
        args.hidden,
        args.dim,
        num_layers=args.layers,
        hops=args.hops,
        activation=args.activation,
        act_last=args.act_last,
    )
    objective = GraphContrastiveObjective(
        args.dim,
        args.proj_hidden,
        tau=args.tau,
        feature_mask_p=args.feature_mask_p,
        edge_drop_p=args.edge_drop_p,
        max_nodes=args.max_nodes,
    )
    if args.head == "dec":
        head = DECClusterHead(n_clusters, args.dim, update_interval=args.update_interval, tol=0.0, n_init=10, seed=seed)
    else:
        head = KMeansClusterHead(n_clusters, args.dim, n_init=10, seed=seed)
    return ClusteringModule(
        encoder,
        head,
        pretrain_epochs=args.pretrain_epochs,
        epochs=args.epochs if args.head == "dec" else 0,
        pretrain_optimizer={"name": "adam", "lr": args.lr, "weight_decay": args.weight_decay},
        optimizer={"name": "adam", "lr": args.joint_lr},
        pretrain_objective=objective,
    )


def run(args: argparse.Namespace, name: str, seed: int) -> dict:
    pl.seed_everything(seed, verbose=False)
    dm = GraphDataModule(name, root=args.root)
    dm.setup()
    model = build(args, dm.n_features, dm.n_classes, seed)
    t0 = time.perf_counter()
    pl.Trainer(
        max_epochs=model.pretrain_epochs + model.epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(model, datamodule=dm)
    head = model.cluster_head
    if head.requires_initialization and not head.is_initialized:  # epochs=0: k-means on the embeddings
        model.initialize_head(dm)
    elapsed = time.perf_counter() - t0
    labels = model.infer_full(dm)
    return {
        "data": name,
        "seed": seed,
        **external_metrics(dm.y, labels),
        "modularity": modularity(dm.edge_index, labels),
        "conductance": conductance(dm.edge_index, labels),
        "time_s": elapsed,
    }


def table(rows: list[dict], datasets: list[str]) -> str:
    lines = ["| data | " + " | ".join(KEYS) + " |", "|---" * (len(KEYS) + 1) + "|"]
    for name in datasets:
        sub = [r for r in rows if r["data"] == name]
        if not sub:
            continue
        cells = []
        for k in KEYS:
            v = np.array([r[k] for r in sub], dtype=float)
            cells.append(f"{v.mean():.1f} ± {v.std():.1f}" if k == "time_s" else f"{v.mean():.3f} ± {v.std():.3f}")
        lines.append(f"| {name} ({len(sub)} seeds) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=["Cora", "CiteSeer"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--root", default=None, help="Planetoid root (default: <data root>/planetoid)")
    p.add_argument("--head", choices=["kmeans", "dec"], default="dec")
    p.add_argument("--pretrain-epochs", type=int, default=120)
    p.add_argument("--epochs", type=int, default=60, help="DEC fine-tuning steps (head=dec)")
    p.add_argument("--update-interval", type=int, default=5, help="DEC: steps between target refreshes")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--hops", type=int, default=8)
    p.add_argument("--activation", default="relu")
    p.add_argument("--act-last", action="store_true")
    p.add_argument("--proj-hidden", type=int, default=128)
    p.add_argument("--tau", type=float, default=0.4)
    p.add_argument("--feature-mask-p", nargs=2, type=float, default=[0.3, 0.4])
    p.add_argument("--edge-drop-p", nargs=2, type=float, default=[0.2, 0.4])
    p.add_argument("--max-nodes", type=int, default=1024)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--joint-lr", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--md", default=None)
    p.add_argument("--jsonl", default=None, help="append each run's result to this file (one JSON per line)")
    p.add_argument(
        "--from-jsonl",
        nargs="+",
        default=None,
        help="no training: build the table (and --md) from results of parallel runs",
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    if args.from_jsonl:
        for path in args.from_jsonl:
            with open(path) as f:
                rows += [json.loads(line) for line in f if line.strip()]
        rows = [r for r in rows if r["data"] in args.data and r["seed"] in args.seeds]
    for name in args.data if not args.from_jsonl else []:
        for seed in args.seeds:
            r = run(args, name, seed)
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
            rows.append(r)
            if args.jsonl:
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps(r) + "\n")
    out = table(rows, args.data)
    print(out)
    if args.md:
        cmd = "OMP_NUM_THREADS=" + os.environ.get("OMP_NUM_THREADS", "?") + " python " + shlex.join(sys.argv)
        cpu = platform.processor() or platform.machine()
        text = (
            f"# Contrastive graph clustering (GRACE pretraining + {args.head} head)\n\n"
            f"- date: {datetime.date.today().isoformat()}\n"
            f"- machine: {platform.node()} ({cpu}, {os.cpu_count()} cores, shared with other jobs; "
            f"torch {torch.__version__}, {args.threads} thread(s), CPU)\n"
            f"- command: `{cmd}`\n"
            f"- settings: {vars(args)}\n\n"
            "Time is the wall time of pretraining + clustering per run (the machine was heavily loaded).\n\n"
            f"{out}\n\n## Per seed\n\n"
            + "\n".join(f"- {r['data']} seed {r['seed']}: " + ", ".join(f"{k} {r[k]:.4f}" for k in KEYS) for r in rows)
            + "\n"
        )
        os.makedirs(os.path.dirname(os.path.abspath(args.md)), exist_ok=True)
        with open(args.md, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
