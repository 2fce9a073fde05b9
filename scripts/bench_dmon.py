"""DMoN on Cora / CiteSeer: mean ± std over seeds of ACC, NMI, ARI, F1, modularity, conductance, time.

    python scripts/bench_dmon.py --data Cora CiteSeer --seeds 0 1 2 3 4 --md benchmarks/dmon.md

Full-batch training of the preset ``pyagc.models.DMoN`` (one SeLU GCN layer of 64 units, DMoN head
with collapse regularisation 1.0 and dropout 0.5, Adam 1e-3, 1000 epochs), K = number of classes.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time

import numpy as np
import pytorch_lightning as pl
import torch

from pyagc.data import GraphDataModule
from pyagc.metrics import conductance, external_metrics, modularity
from pyagc.models import DMoN

KEYS = ("acc", "nmi", "ari", "f1", "modularity", "conductance", "time_s")


def run(name: str, seed: int, epochs: int, root: str | None) -> dict:
    pl.seed_everything(seed, verbose=False)
    dm = GraphDataModule(name, root=root)
    dm.setup()
    model = DMoN(in_features=dm.n_features, n_clusters=dm.n_classes, epochs=epochs)
    t0 = time.perf_counter()
    pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(model, datamodule=dm)
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=["Cora", "CiteSeer"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--root", default=None, help="Planetoid root (default: <data root>/planetoid)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--md", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.data:
        for seed in args.seeds:
            r = run(name, seed, args.epochs, args.root)
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
            rows.append(r)
    lines = [
        f"## DMoN ({datetime.date.today().isoformat()})",
        "",
        f"- machine: {os.cpu_count()} CPUs, {platform.platform()}, torch {torch.__version__}, {args.threads} thread(s)",
        f"- command: `python {shlex.join(['scripts/bench_dmon.py', *sys.argv[1:]])}`",
        "",
        "| data | " + " | ".join(KEYS) + " |",
        "|---|" + "---:|" * len(KEYS),
    ]
    for name in args.data:
        rs = [r for r in rows if r["data"] == name]
        lines.append(
            f"| {name} ({len(rs)} seeds) | "
            + " | ".join(f"{np.mean([r[k] for r in rs]):.4f} ± {np.std([r[k] for r in rs]):.4f}" for k in KEYS)
            + " |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        with open(args.md, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
