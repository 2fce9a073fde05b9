"""How much stale batch-norm statistics move the embeddings that BRB re-clusters (BRB authors' DEC protocol).

    PYAGC_DATA=../shared/data OMP_NUM_THREADS=1 python scripts/probe_brb_batch_norm.py --data usps --seed 0 \
        --ae-cache DIR

Loads (or pretrains, 250 epochs) the seed's autoencoder of ``bench_reclustering_barrier.py --paper-protocol``
([784, 1024, 512, 256, 10] with batch norm), applies one BRB soft reset (alpha 0.8, Kaiming-uniform, the
encoder's linear layers but the embedding) and compares three embeddings of the whole training set:

* ``train``: batch statistics (one batch of all samples), what DEC's training steps see;
* ``stale``: evaluation mode with the running statistics accumulated before the reset (pyagc before session 12);
* ``recalibrated``: evaluation mode after :meth:`ClusteringModule.recalibrate_batch_norm`.

Prints one JSON line: the relative error ``|z - z_train| / |z_train|`` of the two evaluation-mode embeddings, and
the agreement (ARI) of k-means (n_init 20) on each with k-means on ``train``, plus each one's ACC.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys

import pytorch_lightning as pl
import torch
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ae_cache  # noqa: E402
from bench_reclustering_barrier import autoencoder, data_module, trainer  # noqa: E402

from pyagc.callbacks import ReclusteringBarrier  # noqa: E402
from pyagc.clusters import DECClusterHead, kmeans  # noqa: E402
from pyagc.metrics import external_metrics  # noqa: E402
from pyagc.models import ClusteringModule  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["usps", "mnist"], default="usps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--alpha", type=float, default=0.8)
    p.add_argument("--ae-cache", default=None, help="folder of bench_reclustering_barrier.py's autoencoders")
    args = p.parse_args()
    # the settings of bench_reclustering_barrier.py --paper-protocol
    args.paper_protocol, args.hidden, args.latent, args.batch_size = True, [1024, 512, 256], 10, 256
    args.pretrain_epochs, args.lr, args.scaling, args.precision = 250, 1e-3, "global_z", "32-true"
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    dm = data_module(args, args.seed)
    dm.setup()
    pl.seed_everything(args.seed, verbose=False)
    enc = autoencoder(args, dm.n_features)
    cache = (
        None
        if not args.ae_cache
        else ae_cache.cache_path(
            args.ae_cache,
            args.data + "28bn",
            args.scaling,
            args.batch_size,
            args.pretrain_epochs,
            args.lr,
            args.hidden,
            args.latent,
            0.0,
            args.precision,
            None,
            args.seed,
        )
    )
    weights = ae_cache.load(cache)
    model = ClusteringModule(
        enc,
        DECClusterHead(dm.n_classes, args.latent, seed=args.seed),
        pretrain_epochs=args.pretrain_epochs if weights is None else 0,
        epochs=0,
    )
    if weights is None:
        trainer(args.pretrain_epochs, []).fit(model, datamodule=dm)
        ae_cache.save(cache, copy.deepcopy(enc.state_dict()))
    else:
        enc.load_state_dict(weights)

    x, y = dm.x, dm.y.numpy()
    brb = ReclusteringBarrier(
        alpha=args.alpha,
        init="kaiming",
        layers=["encoder.0", "encoder.3", "encoder.6"],
        recluster=False,
        recalibrate_batch_norm=False,
        seed=args.seed,
    )
    brb.apply(model, epoch=20, data=x)
    model.train()
    with torch.no_grad():  # batch statistics of all samples, without touching the running statistics
        frozen = copy.deepcopy(model)
        z_train = frozen.embed_batch({"x": x})
    z_stale = model.embed(x)
    model.recalibrate_batch_norm(x)
    z_recal = model.embed(x)

    def labels(z: torch.Tensor):
        return kmeans(z, dm.n_classes, n_init=20, seed=args.seed).labels.numpy()

    ref = labels(z_train)
    row = {"data": args.data, "seed": args.seed, "alpha": args.alpha}
    for name, z in (("train", z_train), ("stale", z_stale), ("recalibrated", z_recal)):
        lab = labels(z)
        row[name] = {
            "rel_err": round(float((z - z_train).norm() / z_train.norm()), 4),
            "ari_vs_train": round(float(adjusted_rand_score(ref, lab)), 4),
            "acc": round(float(external_metrics(y, lab)["acc"]), 4),
        }
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
