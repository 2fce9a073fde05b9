"""Run clustpy's DEC or IDEC once and print one JSON line (anchor for ``bench_vs_clustpy.py``).

Runs in the separate anchor environment (clustpy is NOT a pyagc dependency)::

    /work/benchvenv/bin/python scripts/anchor_clustpy_runner.py --method dec --data digits \
        --scaling minmax --seed 0 --pretrain-epochs 50 --epochs 50 --batch-size 256 --threads 1

Prints ``{"lib": "clustpy", "method", "seed", "acc", "nmi", "ari", "time_s", ...}``; ``acc/nmi/ari``
are for clustpy's DEC labels (``dec_labels_``, argmax of Q, as pyagc reports), ``kmeans_acc`` for
clustpy's ``labels_`` (a k-means re-run on the final embedding). ``time_s`` = wall time of the whole
fit (AE pretraining, initial k-means, clustering epochs, clustpy's final k-means), not data loading
and not one-time imports (an untimed warm-up runs first); ``cpu_s`` = process CPU time of that fit.
This script does not import pyagc; data loading, ``--limit`` subsampling, scaling, metrics, the
warm-up, the pyagc-style autoencoder (``--match pyagc``) and the JSON line come from
``anchor_clustpy_common.py``, which re-implements pyagc's inputs so that both libraries see identical
data (its names are importable from this module too, as before).

Facts about clustpy (read from clustpy 0.0.3 source: deep/dec.py, _train_utils.py, _utils.py,
_data_utils.py, _abstract_deep_clustering_algo.py, neural_networks/*):

* Data scaling: none. ``fit`` only runs sklearn ``check_array`` and wraps X in float tensors; the
  caller must scale (done here, exactly as ``pyagc.data.base.scale_features``).
* Network: ``FeedforwardAutoencoder`` with layers ``[d, 500, 500, 2000, embedding_size]``
  (``_get_default_layers``), mirrored decoder, **LeakyReLU** hidden activation, linear embedding and
  output, PyTorch default init. pyagc's MLPAutoencoder uses ReLU and Xavier-uniform init.
* One ``optimizer_class`` (default ``torch.optim.Adam``) for both phases; pretraining params default
  ``{"lr": 1e-3}``, clustering params default ``{"lr": 1e-4}`` (DEC and IDEC alike). Pretraining
  has no early stopping unless an eval loader is given (it is not).
* Reconstruction loss ``clustpy.deep._utils.mean_squared_error`` = squared error **summed over
  features**, averaged over the batch (d times pyagc's ``F.mse_loss``).
* Initial centres: sklearn ``KMeans(n_clusters, random_state)`` on the embedding, default
  ``n_init`` ("auto" = 1 run with k-means++); pyagc uses 20 restarts.
* Target distribution P: recomputed **from each mini-batch's own Q at every step** (no
  update_interval, no full-data pass, no ``tol`` stopping; all ``clustering_epochs`` always run).
  pyagc refreshes P over the whole data set every ``update_interval`` (140) steps and may stop
  early on ``tol``. Clustering loss is cross-entropy -mean(sum P log Q) (same gradient as KL(P||Q)).
* DEC: loss = ``clustering_loss_weight`` (1.0) * CE; no reconstruction (``ssl_loss_weight`` = 0).
  IDEC: loss = ``ssl_loss_weight`` (1.0) * recon + ``clustering_loss_weight`` (0.1) * CE, i.e. the
  IDEC gamma is ``clustering_loss_weight`` and both weights are used. Because clustpy's recon is a
  per-sample sum, its default gamma=0.1 is effectively d times weaker than pyagc's gamma=0.1.
* Seeding: ``random_state`` int -> np RandomState; ``set_torch_seed`` seeds torch/numpy/random.
  Train loader shuffles, ``drop_last=False``. Device: CPU here (``device="cpu"`` passed).

``--match pyagc`` (default) makes clustpy mirror pyagc's ``scripts/bench_dec_idec.py``: ReLU +
Xavier init (via a pre-built FeedforwardAutoencoder), per-element MSE recon loss, Adam(lr) for
pretraining (run with clustpy's own ``FeedforwardAutoencoder.fit``), joint optimiser SGD(0.01,
momentum 0.9) for DEC (Adam(lr) with ``--dec-adam``) and Adam(lr) for IDEC, gamma (``--gamma``)
as ``clustering_loss_weight`` with ``ssl_loss_weight`` 1, initial k-means ``n_init=20``.
The per-batch P (clustpy's algorithm) is kept. ``--match none`` uses clustpy's own defaults except
layers, epochs, batch size, seed and scaling.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchor_clustpy_common import (  # noqa: E402,F401  (data helpers re-exported for older importers)
    anchor_parser,
    cluster_acc,
    default_data_root,
    elementwise_mse,
    emit,
    load_data,
    metrics,
    prepare,
    pyagc_style_autoencoder,
    scale,
    subsample,
    timed,
    warm_up,
)


# ----------------------------------------------------------------------------- clustpy fit
def fit_clustpy(x: np.ndarray, n_clusters: int, args) -> object:
    import torch
    from clustpy.deep import DEC, IDEC
    from clustpy.deep.neural_networks import FeedforwardAutoencoder

    layers = [x.shape[1], *args.hidden, args.latent]
    cls = DEC if args.method == "dec" else IDEC
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
        model = cls(neural_network=(FeedforwardAutoencoder, {"layers": layers}), **common)
        return model.fit(x)

    # --match pyagc: build and pretrain the AE like pyagc, then hand the fitted network to DEC/IDEC
    ae = pyagc_style_autoencoder(x, layers, args)
    if args.method == "dec" and not args.dec_adam:
        opt_cls, opt_params = torch.optim.SGD, {"lr": 0.01, "momentum": 0.9}
    else:
        opt_cls, opt_params = torch.optim.Adam, {"lr": args.lr}
    kw = dict(
        common,
        neural_network=ae,
        optimizer_class=opt_cls,
        clustering_optimizer_params=opt_params,
        pretrain_optimizer_params={"lr": args.lr},
        ssl_loss_fn=elementwise_mse,
        initial_clustering_params={"n_init": 20},
    )
    if args.method == "idec":
        kw.update(clustering_loss_weight=args.gamma, ssl_loss_weight=1.0)
    return cls(**kw).fit(x)


def main() -> None:
    p = anchor_parser(__doc__)
    p.add_argument("--method", choices=["dec", "idec"], required=True)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam lr (pretraining; IDEC / --dec-adam joint)")
    p.add_argument("--gamma", type=float, default=0.1, help="IDEC clustering_loss_weight (--match pyagc)")
    p.add_argument("--dec-adam", action="store_true", help="DEC joint phase with Adam(lr) instead of SGD")
    p.add_argument("--match", choices=["pyagc", "none"], default="pyagc")
    args = p.parse_args()

    x, y, n_clusters = prepare(args)
    warm_up(sgd=True)
    with timed() as t:
        model = fit_clustpy(x, n_clusters, args)
    emit(
        args.method,
        args.seed,
        y,
        model.dec_labels_,
        t,
        kmeans_acc=cluster_acc(y, model.labels_),
        n=int(len(x)),
        match=args.match,
    )


if __name__ == "__main__":
    main()
