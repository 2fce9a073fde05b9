"""What a final re-clustering of the trained embedding changes: ACC / NMI of the head's own assignments at the
end of training, and after ``initialize_head`` has run once more on the final embeddings (what
``ClusteringModule(final_reclustering=True)`` does when joint training ends), for the same trained model.

    OMP_NUM_THREADS=1 python scripts/bench_final_reclustering.py --preset acedec --out benchmarks/final_reclustering_digits.md

digits (minmax), presets' defaults with 50 + 50 epochs, batch 256, seeds 0 1 2 (as the clustpy side-by-side).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import platform
import shlex
import sys

import numpy as np
import pytorch_lightning as pl
import torch

from pyagc import models
from pyagc.data import TabularDataModule
from pyagc.metrics import external_metrics

PRESETS = {"acedec": models.ACeDeC, "dcn": models.DCN, "dec": models.DEC, "idec": models.IDEC}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="acedec")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--pretrain-epochs", type=int, default=50)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--precision", default="32-true")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    for seed in args.seeds:
        dm = TabularDataModule("digits", scaling="minmax", batch_size=256, seed=seed)
        dm.setup()
        pl.seed_everything(seed, verbose=False)
        model = PRESETS[args.preset](
            n_features=dm.n_features,
            n_clusters=dm.n_classes,
            pretrain_epochs=args.pretrain_epochs,
            epochs=args.epochs,
            seed=seed,
        )
        model.final_reclustering = False  # measure both from one trained model
        pl.Trainer(
            max_epochs=args.pretrain_epochs + args.epochs,
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            precision=args.precision,
        ).fit(model, datamodule=dm)
        before = external_metrics(dm.y.numpy(), model.infer_full(dm).numpy())
        model.initialize_head(dm.full_dataloader())
        after = external_metrics(dm.y.numpy(), model.infer_full(dm).numpy())
        rows.append((seed, before, after))
        print(seed, round(before["acc"], 4), round(after["acc"], 4), flush=True)
    lines = [
        f"## {args.preset}: final re-clustering on digits ({_dt.date.today().isoformat()})",
        "",
        f"- Machine: {platform.platform()}, 1 thread, torch {torch.__version__}, precision {args.precision}",
        f"- Command: `python {shlex.join(['scripts/bench_final_reclustering.py', *sys.argv[1:]])}`",
        "",
        "| seed | ACC at the end of training | NMI | ACC after re-clustering | NMI |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {s} | {b['acc']:.4f} | {b['nmi']:.4f} | {a['acc']:.4f} | {a['nmi']:.4f} |" for s, b, a in rows]
    mean = lambda which, k: np.mean([r[which][k] for r in rows])  # noqa: E731
    lines.append(
        f"| **mean** | **{mean(1, 'acc'):.4f}** | {mean(1, 'nmi'):.4f} | **{mean(2, 'acc'):.4f}** | "
        f"{mean(2, 'nmi'):.4f} |"
    )
    text = "\n".join(lines) + "\n\n"
    if args.out:
        with open(args.out, "a") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
