"""DCN with the paper's fixed per-sample assignments in the loss vs. assignments recomputed in the loss.

    PYAGC_DATA=../shared/data OMP_NUM_THREADS=1 python scripts/bench_dcn_assignments.py --out benchmarks/dcn_assignments_usps.md

``DCNClusterHead`` pulls every sample towards the centre it was assigned to at its previous visit (the
initial k-means labels before its first), as Algorithm 1 of Yang et al. (2017): the network is updated with
the assignments fixed, then they are recomputed. The ``fresh`` arm withholds the batch's ``index`` from the
head, so it falls back to the assignments of the current forward pass (what pyagc did before). Both arms share
the pretrained autoencoder of a seed; after every joint epoch the script records ACC and the cluster sizes.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import platform
import shlex
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

from pyagc.clusters import DCNClusterHead
from pyagc.data import ImageDataModule
from pyagc.encoders import MLPAutoencoder
from pyagc.metrics import external_metrics
from pyagc.models import ClusteringModule


class FreshAssignments(DCNClusterHead):
    """DCN head that never sees the batch index: the loss uses the assignments of the same forward pass."""

    def forward(self, z, index=None, **context):
        return super().forward(z, **context)


def trainer(epochs: int, callbacks: list) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )


class EpochLog(pl.Callback):
    def __init__(self, dm):
        self.dm, self.rows = dm, []

    def on_train_epoch_end(self, trainer, module):
        if module.phase != "joint" or not module.cluster_head.is_initialized:
            return
        labels = module.cluster_head.cluster(module.embed(self.dm))
        sizes = torch.bincount(labels, minlength=module.cluster_head.n_clusters).tolist()
        self.rows.append((trainer.current_epoch + 1, external_metrics(self.dm.y.numpy(), labels.numpy())["acc"], sizes))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="usps")
    p.add_argument("--limit", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pretrain-epochs", type=int, default=20)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--lambda", dest="lam", type=float, default=1.0)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    dm = ImageDataModule(args.data, flatten=True, scaling="minmax", batch_size=256, seed=args.seed, limit=args.limit)
    dm.setup()
    pl.seed_everything(args.seed, verbose=False)
    enc = MLPAutoencoder(dm.n_features, hidden_dims=[500, 500, 2000], latent_dim=10)
    pre = ClusteringModule(enc, DCNClusterHead(dm.n_classes, 10), pretrain_epochs=args.pretrain_epochs, epochs=0)
    trainer(args.pretrain_epochs, []).fit(pre, datamodule=dm)
    weights = copy.deepcopy(enc.state_dict())
    lines = [
        f"# DCN: fixed vs. fresh assignments in the loss ({args.data}, {dm.n_samples} samples)",
        "",
        f"- Date: {_dt.date.today().isoformat()}; machine: {platform.platform()}, 1 thread, torch {torch.__version__}",
        f"- Command: `python {shlex.join(['scripts/bench_dcn_assignments.py', *sys.argv[1:]])}`",
        f"- Settings: minmax scaling, [d, 500, 500, 2000, 10] autoencoder pretrained {args.pretrain_epochs} epochs "
        f"(Adam 1e-3, shared by both arms), then {args.epochs} DCN epochs, Adam 1e-3, lambda {args.lam}, batch 256, "
        f"seed {args.seed}.",
        "",
    ]
    for arm, cls in (("fixed (paper, pyagc)", DCNClusterHead), ("fresh (in-loss)", FreshAssignments)):
        pl.seed_everything(args.seed, verbose=False)
        e = MLPAutoencoder(dm.n_features, hidden_dims=[500, 500, 2000], latent_dim=10)
        e.load_state_dict(weights)
        model = ClusteringModule(
            e,
            cls(dm.n_classes, 10, lambda_=args.lam, seed=args.seed),
            epochs=args.epochs,
            optimizer={"name": "adam", "lr": 1e-3},
        )
        log = EpochLog(dm)
        trainer(args.epochs, [log]).fit(model, datamodule=dm)
        lines += [f"## {arm}", "", "| joint epoch | ACC | empty clusters | cluster sizes |", "|---:|---:|---:|---|"]
        lines += [f"| {ep} | {acc:.4f} | {sum(s == 0 for s in sizes)} | {sizes} |" for ep, acc, sizes in log.rows]
        lines.append("")
        print(arm, [(ep, round(acc, 4)) for ep, acc, _ in log.rows], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
