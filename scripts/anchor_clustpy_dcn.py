"""Run clustpy's DCN once and print one JSON line (anchor for ``bench_dcn_vs_clustpy.py``).

Runs in the separate anchor environment (clustpy is NOT a pyagc dependency)::

    /work/benchvenv/bin/python scripts/anchor_clustpy_dcn.py --data digits --scaling minmax --seed 0 \
        --pretrain-epochs 50 --epochs 50 --batch-size 256 --lambda 1.0 --threads 1

Prints ``{"lib": "clustpy", "method": "dcn", "seed", "acc", "nmi", "ari", "time_s", ...}``;
``acc/nmi/ari`` are for clustpy's DCN labels (``dcn_labels_``: nearest DCN centre, as pyagc reports),
``kmeans_acc`` for clustpy's ``labels_`` (a k-means re-run on the final embedding). ``time_s`` = wall
time of the whole ``fit`` (AE pretraining, initial k-means, clustering epochs, clustpy's final
k-means and label prediction), ``cpu_s`` its process CPU time, not data loading and not one-time
imports (an untimed warm-up runs first). Data loading, ``--limit`` subsampling, scaling, metrics, the
warm-up, the pyagc-style autoencoder and the JSON line come from ``anchor_clustpy_common.py``
(identical inputs to pyagc's ``TabularDataModule``).

Facts about clustpy 0.0.3's DCN (read from clustpy/deep/dcn.py):

* loss = ``ssl_loss_weight * ssl_loss + 0.5 * clustering_loss_weight * mean_i ||z_i - m_{l_i}||^2``;
  the default ``ssl_loss_fn`` sums the squared error over features (d times pyagc's ``F.mse_loss``),
  default ``clustering_loss_weight`` = 0.1, default clustering lr 1e-4 (Adam), pretraining lr 1e-3.
* the labels ``l_i`` in the loss are the ones stored for each sample (from the initial k-means, then
  overwritten after each step): per step it (1) takes an optimizer step with the stored labels,
  (2) encodes the batch again with the updated network, (3) re-assigns the batch to the nearest
  centre and (4) moves the centres with a Python loop over the samples:
  ``counts[c] += 1; centers[c] = (1 - 1/counts[c]) centers[c] + 1/counts[c] z_i`` (counts start at
  100, "from original DCN code").
* initial centres: sklearn ``KMeans(n_clusters, random_state)`` with clustpy's
  ``initial_clustering_params`` (default ``{}`` = sklearn's n_init="auto", i.e. 1 run).
* after training: ``predict_batchwise`` (``dcn_labels_``) and a final sklearn ``KMeans`` on the
  embedding (``labels_``), both inside ``fit``.

``--match pyagc`` (default) gives clustpy pyagc's settings, not its defaults: ReLU + Xavier-uniform
init (a pre-built ``FeedforwardAutoencoder`` pretrained with its own ``fit``), per-element MSE
reconstruction, Adam(lr) in both phases, ``clustering_loss_weight`` = ``--lambda`` with
``ssl_loss_weight`` 1 (so the loss is exactly pyagc's ``mse + lambda/2 * kmeans``), initial k-means
``n_init=20``. ``--match none``: clustpy's own defaults except layers, epochs, batch size, seed and
scaling.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchor_clustpy_common import (  # noqa: E402
    anchor_parser,
    cluster_acc,
    elementwise_mse,
    emit,
    prepare,
    pyagc_style_autoencoder,
    timed,
    warm_up,
)


def fit_clustpy_dcn(x, n_clusters: int, args):
    import torch
    from clustpy.deep import DCN
    from clustpy.deep.neural_networks import FeedforwardAutoencoder

    layers = [x.shape[1], *args.hidden, args.latent]
    common = dict(
        n_clusters=n_clusters,
        batch_size=args.batch_size,
        pretrain_epochs=args.pretrain_epochs,
        clustering_epochs=args.epochs,
        embedding_size=args.latent,
        device="cpu",
        random_state=args.seed,
    )
    if args.match == "none":
        return DCN(neural_network=(FeedforwardAutoencoder, {"layers": layers}), **common).fit(x)
    ae = pyagc_style_autoencoder(x, layers, args)
    kw = dict(
        common,
        neural_network=ae,
        optimizer_class=torch.optim.Adam,
        clustering_optimizer_params={"lr": args.lr},
        pretrain_optimizer_params={"lr": args.lr},
        ssl_loss_fn=elementwise_mse,
        clustering_loss_weight=args.lam,
        ssl_loss_weight=1.0,
        initial_clustering_params={"n_init": args.n_init},
    )
    return DCN(**kw).fit(x)


def main() -> None:
    p = anchor_parser(__doc__)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam lr of both phases (--match pyagc)")
    p.add_argument("--lambda", dest="lam", type=float, default=1.0, help="clustering_loss_weight (--match pyagc)")
    p.add_argument("--n-init", type=int, default=20, help="initial k-means restarts (--match pyagc)")
    p.add_argument("--match", choices=["pyagc", "none"], default="pyagc")
    args = p.parse_args()

    x, y, n_clusters = prepare(args)
    warm_up()
    with timed() as t:  # clustpy prints; keep stdout one JSON line
        model = fit_clustpy_dcn(x, n_clusters, args)
    emit(
        "dcn",
        args.seed,
        y,
        model.dcn_labels_,
        t,
        kmeans_acc=cluster_acc(y, model.labels_),
        n=int(len(x)),
        match=args.match,
    )


if __name__ == "__main__":
    main()
