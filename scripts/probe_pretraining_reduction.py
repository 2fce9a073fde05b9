"""Does the reduction of the pretraining reconstruction loss change how well the autoencoder clusters?

    PYAGC_DATA=../shared/data OMP_NUM_THREADS=1 python scripts/probe_pretraining_reduction.py --data digits \
        --seeds 0 1 2 3 4 5 6 7 8 9 --pretrain-epochs 50 --out benchmarks/pretraining_reduction.md

With Adam the scale of a loss only matters through ``eps`` (update ``m / (sqrt(v) + eps)``): a reconstruction
averaged over every element of the batch (pyagc's ``ClusteringModule.reconstruction_loss``) has gradients
``batch x features`` times smaller than one summed over the features and averaged over the batch (clustpy's
autoencoders, Keras-era DEC code), and for weights with gradients near ``eps = 1e-8`` the update is damped.
For each seed this script pretrains the same autoencoder ([d, 500, 500, 2000, 10], ReLU, Xavier, MSE, Adam 1e-3,
batch 256, minmax scaling, float32, one thread) three ways and scores the embedding with k-means
(scikit-learn, 10 restarts):

* ``mean``: per-element mean (pyagc's default),
* ``sum``: summed over the features, averaged over the batch,
* ``mean_eps``: per-element mean with Adam ``eps = 1e-12`` (the Adam-only explanation predicts ``sum``'s result),
* ``sum_all``: summed over the features and the batch (clustpy's VaDE pretraining, ``BCELoss(reduction="sum")``),
* ``bare``: per-element mean, but trained by a plain PyTorch loop (``torch.optim.Adam`` with its defaults, a
  ``DataLoader`` over the tensors, shuffled) instead of ``ClusteringModule`` + Lightning: separates the model and
  loss from pyagc's training machinery; ``bare_fused``: the same loop with ``Adam(fused=True)`` (pyagc's default
  optimizer build); ``mean_unfused``: ``ClusteringModule`` + Lightning with ``fused: false``.

``--recipe clustpy`` swaps the autoencoder for clustpy's VaDE / DEC-family one (LeakyReLU, PyTorch's default
init, a sigmoid output and binary cross-entropy) so that pyagc's pretraining can be put next to clustpy's own
(``anchor_clustpy_vade.py --epochs 0 --diagnose``, whose ``kmeans_acc`` is the same score of clustpy's embedding).

It prints one JSON line per run and, with ``--out``, appends a markdown table (per run and mean ± std).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import time

import numpy as np
import pytorch_lightning as pl
import torch
from sklearn.cluster import KMeans

from pyagc.clusters import KMeansClusterHead
from pyagc.encoders import MLPAutoencoder
from pyagc.metrics import external_metrics
from pyagc.models import ClusteringModule

VARIANTS = ("mean", "sum", "mean_eps", "sum_all", "bare", "bare_fused", "mean_unfused")


def data_module(name: str, seed: int):
    from pyagc.data import ImageDataModule, TabularDataModule

    if name == "digits":
        dm = TabularDataModule("digits", scaling="minmax", batch_size=256, seed=seed)
    else:
        dm = ImageDataModule(name, flatten=True, scaling="minmax", batch_size=256, seed=seed)
    dm.setup()
    return dm


RECIPES = {
    # pyagc's DEC-family autoencoder: ReLU, Xavier, linear output, squared error
    "pyagc": dict(activation="relu", init="xavier", output_activation=None, loss="mse"),
    # clustpy's (VaDE's _VaDE_VAE pretraining and FeedforwardAutoencoder defaults): LeakyReLU, PyTorch default init,
    # sigmoid output, binary cross-entropy
    "clustpy": dict(activation="leaky_relu", init="default", output_activation="sigmoid", loss="bce"),
}


def pretrain(dm, variant: str, seed: int, epochs: int, recipe: str = "pyagc") -> dict:
    pl.seed_everything(seed, verbose=False)
    r = RECIPES[recipe]
    enc = MLPAutoencoder(
        dm.n_features,
        hidden_dims=(500, 500, 2000),
        latent_dim=10,
        activation=r["activation"],
        init=r["init"],
        output_activation=r["output_activation"],
    )
    head = KMeansClusterHead(dm.n_classes, 10, seed=seed)
    optimizer = {
        "name": "adam",
        "lr": 1e-3,
        **({"eps": 1e-12} if variant == "mean_eps" else {}),
        **({"fused": False} if variant == "mean_unfused" else {}),
    }
    model = ClusteringModule(
        enc, head, pretrain_epochs=epochs, epochs=0, pretrain_optimizer=optimizer, reconstruction_loss=r["loss"]
    )
    if variant == "sum":
        per_element = model.reconstruction_loss
        model.reconstruction_loss = lambda x, x_hat: per_element(x, x_hat) * dm.n_features
    elif variant == "sum_all":
        per_element = model.reconstruction_loss
        model.reconstruction_loss = lambda x, x_hat: per_element(x, x_hat) * x.numel()
    t0 = time.perf_counter()
    if variant in ("bare", "bare_fused"):
        x_all = dm.x.reshape(len(dm.x), -1).float()
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x_all), batch_size=256, shuffle=True)
        opt = torch.optim.Adam(enc.parameters(), lr=1e-3, **({"fused": True} if variant == "bare_fused" else {}))
        enc.train()
        for _ in range(epochs):
            for (xb,) in loader:
                opt.zero_grad()
                model.reconstruction_loss(xb, enc.decode(enc(xb))).backward()
                opt.step()
        enc.eval()
    else:
        pl.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            precision="32-true",
        ).fit(model, datamodule=dm)
    seconds = time.perf_counter() - t0
    z = model.embed(dm).float().numpy()
    y = dm.y.numpy()
    labels = KMeans(dm.n_classes, n_init=10, random_state=seed).fit_predict(z)
    m = external_metrics(y, labels)
    with torch.no_grad():
        x = dm.x.reshape(len(dm.x), -1).float()
        mse = float(torch.nn.functional.mse_loss(enc.decode(enc(x)), x))
    return {
        "recipe": recipe,
        "variant": variant,
        "seed": seed,
        "kmeans_acc": round(m["acc"], 4),
        "kmeans_nmi": round(m["nmi"], 4),
        "final_mse": round(mse, 5),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["digits", "usps", "mnist"], default="digits")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--pretrain-epochs", type=int, default=50)
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=["mean", "sum", "mean_eps"])
    p.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default="pyagc",
        help="autoencoder + loss: pyagc's (ReLU, Xavier, MSE) or clustpy's (LeakyReLU, default init, sigmoid, BCE)",
    )
    p.add_argument("--out", default=None, help="markdown file to append the tables to")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    for seed in args.seeds:
        dm = data_module(args.data, seed)
        for variant in args.variants:
            row = pretrain(dm, variant, seed, args.pretrain_epochs, args.recipe)
            print(json.dumps({"data": args.data, **row}), flush=True)
            rows.append(row)
    if args.out:
        lines = [
            f"## {args.data}, {args.pretrain_epochs} pretraining epochs, {args.recipe} autoencoder, seeds {args.seeds}",
            "",
            f"- Date: {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}",
            f"- Machine: {os.cpu_count()} CPUs, {platform.platform()}, torch {torch.__version__}, 1 thread",
            f"- Command: `python scripts/probe_pretraining_reduction.py --data {args.data} --seeds "
            f"{' '.join(map(str, args.seeds))} --pretrain-epochs {args.pretrain_epochs} --recipe {args.recipe} "
            f"--variants {' '.join(args.variants)}`",
            "",
            "| seed | variant | k-means ACC | k-means NMI | final MSE | s |",
            "|---:|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['seed']} | {r['variant']} | {r['kmeans_acc']:.4f} | {r['kmeans_nmi']:.4f} | "
            f"{r['final_mse']:.5f} | {r['seconds']} |"
            for r in rows
        ]
        lines += ["", "| variant | runs | k-means ACC | k-means NMI | final MSE |", "|---|---:|---:|---:|---:|"]
        for variant in args.variants:
            sel = [r for r in rows if r["variant"] == variant]
            acc, nmi, mse = (np.array([r[k] for r in sel]) for k in ("kmeans_acc", "kmeans_nmi", "final_mse"))
            lines.append(
                f"| {variant} | {len(sel)} | {acc.mean():.4f} ± {acc.std():.4f} | "
                f"{nmi.mean():.4f} ± {nmi.std():.4f} | {mse.mean():.5f} |"
            )
        with open(args.out, "a") as f:
            f.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
