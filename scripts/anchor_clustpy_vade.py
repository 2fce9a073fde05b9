"""Run clustpy's VaDE once and print one JSON line (anchor for ``bench_vade_vs_clustpy.py``).

Runs in the separate anchor environment (clustpy is NOT a pyagc dependency)::

    /work/benchvenv/bin/python scripts/anchor_clustpy_vade.py --data digits --scaling minmax --seed 0 \
        --pretrain-epochs 50 --epochs 50 --batch-size 256 --threads 1

Prints ``{"lib": "clustpy", "method": "vade", "seed", "acc", "nmi", "ari", "time_s", "cpu_s", "gmm_acc", ...}``:
``acc/nmi/ari`` are for clustpy's ``vade_labels_`` (its ``predict``: argmax of its responsibilities of one
sample z of q(z|x); pyagc's ``VaDEClusterHead.cluster`` uses the mean and the paper's density, see
``--diagnose``); ``gmm_acc`` for clustpy's ``labels_``
(a full-covariance GMM re-fitted on the final embedding). ``time_s`` = wall time of the whole ``fit``
(VAE pretraining, initial GMM, VaDE epochs, final GMM), ``cpu_s`` its process CPU time, not data
loading or one-time imports (an untimed warm-up runs first). Data loading, ``--limit`` subsampling,
scaling, metrics, the warm-up and the JSON line come from ``anchor_clustpy_common.py`` (identical
inputs to pyagc's; this script does not import pyagc).

clustpy's VaDE (clustpy 0.0.3, deep/vade.py, neural_networks/variational_autoencoder.py), run with
its own defaults except layers, epochs, batch size, seed and scaling:

* Network ``_VaDE_VAE``: ``[d, 500, 500, 2000]`` LeakyReLU encoder with a mean and a log-variance
  layer of size 10, mirrored decoder with a **sigmoid** output, PyTorch default init.
* Pretraining: a plain AE on the mean (``fitted=False``), loss ``BCELoss(reduction="sum")``, Adam lr 1e-3.
* Initialisation: sklearn ``GaussianMixture(covariance_type="diag", n_init=10)`` on the mean
  embeddings gives pi, mu_c, sigma_c^2 (pi is a raw parameter passed through a softmax).
* VaDE phase: Adam lr 1e-4 over VAE + prior, one reparametrised sample per step; loss =
  ELBO KL terms / batch size + BCE **summed over the batch** (so the reconstruction is weighted
  batch-size times more than in the ELBO). Its responsibilities use ``log sigma_c^2`` where the
  normal density has ``0.5 log sigma_c^2``; no learning-rate decay (commented out in clustpy).

``--diagnose`` adds, for the trained network and prior, labels that separate clustpy's labelling from its
embedding: ``paper_rule_acc`` (argmax of the paper's responsibilities, 0.5 log sigma^2, of the *mean*
embedding under clustpy's final centres and variances, uniform pi), ``kmeans_acc`` and ``diag_gmm_acc``
(k-means, n_init 10, and a diagonal GMM, n_init 10, fitted afresh on the final mean embedding).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchor_clustpy_common import anchor_parser, cluster_acc, emit, prepare, timed, warm_up  # noqa: E402


def main() -> None:
    p = anchor_parser(__doc__, hidden=False)
    p.add_argument("--diagnose", action="store_true", help="also score the final embedding / prior (see above)")
    args = p.parse_args()

    x, y, n_clusters = prepare(args)
    from clustpy.deep import VaDE
    warm_up(kmeans=False, gmm=True)
    with timed() as t:  # keep stdout one JSON line
        model = VaDE(n_clusters=n_clusters, batch_size=args.batch_size, pretrain_epochs=args.pretrain_epochs,
                     clustering_epochs=args.epochs, embedding_size=args.latent, device="cpu",
                     random_state=args.seed).fit(x)
    extra = diagnose(model, x, y, n_clusters, args.seed) if args.diagnose else {}
    emit("vade", args.seed, y, model.vade_labels_, t, gmm_acc=cluster_acc(y, model.labels_), n=int(len(x)),
         **extra)


def diagnose(model, x, y, n_clusters: int, seed: int) -> dict:
    """ACC of other labellings of the final embedding (see the module docstring)."""
    import numpy as np
    import torch
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    net = model.neural_network_trained_
    with torch.no_grad():
        z = torch.cat([net.encode(torch.as_tensor(x[i:i + 4096], dtype=torch.float32))[0]
                       for i in range(0, len(x), 4096)]).double().numpy()
    means = np.asarray(model.vade_cluster_centers_, dtype=np.float64)
    log_vars = np.asarray(model.vade_covariances_, dtype=np.float64)  # clustpy returns p_log_var here
    log_density = -0.5 * (log_vars[None] + (z[:, None] - means[None]) ** 2 / np.exp(log_vars[None])).sum(2)
    return {
        "paper_rule_acc": round(cluster_acc(y, log_density.argmax(1)), 4),
        "kmeans_acc": round(cluster_acc(y, KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(z)), 4),
        "diag_gmm_acc": round(cluster_acc(y, GaussianMixture(n_clusters, covariance_type="diag", n_init=10,
                                                              random_state=seed).fit_predict(z)), 4),
    }


if __name__ == "__main__":
    main()
