"""Run clustpy's ACeDeC once and print one JSON line (anchor for ``bench_acedec_vs_clustpy.py``).

Runs in the separate anchor environment (clustpy is NOT a pyagc dependency)::

    /work/benchvenv/bin/python scripts/anchor_clustpy_acedec.py --data digits --scaling minmax --seed 0 \
        --pretrain-epochs 50 --epochs 50 --batch-size 256 --threads 1

Prints ``{"lib": "clustpy", "method": "acedec", "seed", "acc", "nmi", "ari", "time_s", ...}``. ``acc/nmi/ari`` are
for clustpy's ``labels_`` (its default output: after the final re-clustering, ``final_reclustering=True``);
``acedec_acc/acedec_nmi/acedec_ari`` for ``acedec_labels_`` (the trained ACeDeC module's own assignments,
before that re-clustering). ``time_s`` = wall time of the whole ``fit`` (AE pretraining, ACeDeC init,
clustering epochs, final re-clustering), ``cpu_s`` its process CPU time, not data loading and not
one-time imports (an untimed warm-up runs first). Data loading, ``--limit`` subsampling, scaling,
metrics, the warm-up and the JSON line come from ``anchor_clustpy_common.py`` (identical to pyagc's;
this script does not import pyagc).

clustpy 0.0.3 ACeDeC (deep/enrc.py, class ``ACeDeC(ENRC)``) is run with its own defaults except the
settings shared with pyagc: layers ``[d, 500, 500, 2000, 10]`` (``FeedforwardAutoencoder``: LeakyReLU,
PyTorch default init), batch size, pretraining/clustering epochs, seed, CPU. Its defaults (read from the
source): one ``torch.optim.Adam`` class for both phases, pretraining lr 1e-3, clustering lr 1e-4 for the
network and V and 10x (1e-3) for the beta weights; reconstruction ``mean_squared_error`` = squared error
summed over features, batch mean; loss = 1.0 * (L_cluster_space + L_shared_space) / 2 + 1.0 * L_rec;
``init="acedec"`` (random NrKmeans init, sklearn KMeans(n_init=10) in the rotated space, then V and beta
trained in isolation for max(10, 0.2 * clustering_epochs) epochs, KMeans again, closed-form betas);
centres updated by mini-batch k-means with an exponential moving average of the per-cluster batch counts
(``center_lr`` 0.5), empty clusters re-initialised; no early stopping (``tolerance_threshold=None``);
``final_reclustering=True`` re-runs the init on the final embedding to produce ``labels_``.

``--match pyagc`` builds the autoencoder as pyagc does (the same architecture): ReLU + Xavier-uniform
init, pretrained with clustpy's own ``fit`` on per-element MSE with Adam 1e-3 (``pyagc_style_autoencoder``),
then handed to ACeDeC, whose clustering phase keeps every default above. ``--match none`` (default, as the earlier
reports): the LeakyReLU / default-init / summed-MSE autoencoder that clustpy builds itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchor_clustpy_common import (  # noqa: E402
    anchor_parser,
    emit,
    metrics,
    prepare,
    pyagc_style_autoencoder,
    timed,
    warm_up,
)


def fit_clustpy(x: np.ndarray, n_clusters: int, args) -> object:
    from clustpy.deep import ACeDeC
    from clustpy.deep.neural_networks import FeedforwardAutoencoder

    layers = [x.shape[1], *args.hidden, args.latent]
    if args.match == "pyagc":
        network = pyagc_style_autoencoder(x, layers, args, lr=1e-3)  # pyagc's pretraining lr
    else:
        network = (FeedforwardAutoencoder, {"layers": layers})
    model = ACeDeC(
        n_clusters=n_clusters,
        batch_size=args.batch_size,
        pretrain_epochs=args.pretrain_epochs,
        clustering_epochs=args.epochs,
        embedding_size=args.latent,
        device="cpu",
        neural_network=network,
        random_state=args.seed,
    )
    return model.fit(x)


def main() -> None:
    p = anchor_parser(__doc__)
    p.add_argument(
        "--match",
        choices=["pyagc", "none"],
        default="none",
        help="pyagc: pyagc's autoencoder (ReLU, Xavier, per-element MSE pretraining); none: clustpy's own",
    )
    args = p.parse_args()

    x, y, n_clusters = prepare(args)
    warm_up()
    with timed() as t:  # clustpy prints; keep stdout one JSON line
        model = fit_clustpy(x, n_clusters, args)
    inner = metrics(y, model.acedec_labels_)
    emit(
        "acedec",
        args.seed,
        y,
        model.labels_,
        t,
        acedec_acc=inner["acc"],
        acedec_nmi=inner["nmi"],
        acedec_ari=inner["ari"],
        n=int(len(x)),
    )


if __name__ == "__main__":
    main()
