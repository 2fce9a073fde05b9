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

``--init-from F --prior-from G --pretrain-epochs 0`` starts clustpy's VaDE phase from pyagc's pretrained
autoencoder and pyagc's initial prior (``probe_vade_trajectory.py --save-pretrained F --save-prior G``, same seed,
``--pretrain-loss bce --activation leaky_relu --encoder-init default``): both VaDE phases then start from the same
network, means and variances, and the JSON line's ``start_acc`` (the paper's rule on that start with the saved
weights) equals the probe's ``vade_epoch: 0`` ACC. clustpy's VaDE is otherwise unchanged: it passes the given mixture
weights through a softmax as it does its own GMM's, so its effective starting pi is within a few percent of 1/K.

``--diagnose`` adds, for the trained network and prior, labels that separate clustpy's labelling from its
embedding: ``paper_rule_acc`` (argmax of the paper's responsibilities, 0.5 log sigma^2, of the *mean*
embedding under clustpy's final centres and variances, uniform pi; also its NMI), ``volume_rule_mean_acc`` (clustpy's own
formula, log sigma^2, on the mean instead of a sampled z, uniform pi: each component's density times
prod_j sigma_cj^-1),
``kmeans_acc`` and ``diag_gmm_acc``
(k-means, n_init 10, and a diagonal GMM, n_init 10, fitted afresh on the final mean embedding).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchor_clustpy_common import anchor_parser, cluster_acc, emit, metrics, prepare, timed, warm_up  # noqa: E402


def main() -> None:
    p = anchor_parser(__doc__, hidden=False)
    p.add_argument("--diagnose", action="store_true", help="also score the final embedding / prior (see above)")
    p.add_argument(
        "--init-from",
        default=None,
        help="start from this pretrained pyagc autoencoder (state_dict of probe_vade_trajectory.py "
        "--save-pretrained; no pretraining here)",
    )
    p.add_argument(
        "--prior-from",
        default=None,
        help="with --init-from: start the prior from this .npz (probe_vade_trajectory.py --save-prior) "
        "instead of clustpy's own GMM fit",
    )
    args = p.parse_args()
    if args.prior_from and not args.init_from:
        p.error("--prior-from needs --init-from (the prior belongs to that autoencoder's embedding)")
    if args.init_from and args.pretrain_epochs != 0:
        p.error(
            "--init-from starts from a pretrained network (clustpy skips its pretraining): pass --pretrain-epochs 0"
        )

    x, y, n_clusters = prepare(args)
    from clustpy.deep import VaDE

    warm_up(kmeans=False, gmm=True)
    options, extra = {}, {}
    if args.init_from:
        options["neural_network"] = pyagc_pretrained_vae(args.init_from, x.shape[1], args.latent)
    if args.prior_from:
        options["initial_clustering_class"] = SavedDiagonalPrior
        options["initial_clustering_params"] = {"path": args.prior_from}
        z0 = embed_mean(options["neural_network"], x)
        extra["start_acc"] = round(
            cluster_acc(y, SavedDiagonalPrior(n_clusters, args.prior_from).fit(z0).predict(z0)), 4
        )
    with timed() as t:  # keep stdout one JSON line
        model = VaDE(
            n_clusters=n_clusters,
            batch_size=args.batch_size,
            pretrain_epochs=args.pretrain_epochs,
            clustering_epochs=args.epochs,
            embedding_size=args.latent,
            device="cpu",
            random_state=args.seed,
            **options,
        ).fit(x)
    if args.diagnose:
        extra.update(diagnose(model, x, y, n_clusters, args.seed))
    emit("vade", args.seed, y, model.vade_labels_, t, gmm_acc=cluster_acc(y, model.labels_), n=int(len(x)), **extra)


def embed_mean(net, x):
    """Mean embedding of ``x`` (float64 numpy), in chunks."""
    import torch

    with torch.no_grad():
        return (
            torch.cat(
                [net.encode(torch.as_tensor(x[i : i + 4096], dtype=torch.float32))[0] for i in range(0, len(x), 4096)]
            )
            .double()
            .numpy()
        )


def pyagc_pretrained_vae(path: str, n_features: int, latent: int):
    """clustpy's ``_VaDE_VAE`` ([d, 500, 500, 2000, latent], LeakyReLU, sigmoid output) with the weights of a
    pretrained pyagc ``MLPAutoencoder(variational=True, activation="leaky_relu")``, marked as fitted so that
    clustpy skips its pretraining. Only plain tensors are read: pyagc is not imported here."""
    import torch
    from clustpy.deep.vade import _VaDE_VAE

    state = torch.load(path, map_location="cpu")
    net = _VaDE_VAE(layers=[n_features, 500, 500, 2000, latent])
    mapping = {
        "encoder.block.0": "encoder.0",
        "encoder.block.2": "encoder.2",
        "encoder.block.4": "encoder.4",
        "mean": "encoder.6",
        "log_variance": "logvar_layer",
        "decoder.block.0": "decoder.0",
        "decoder.block.2": "decoder.2",
        "decoder.block.4": "decoder.4",
        "decoder.block.6": "decoder.6",
    }
    expected = {f"{theirs}.{kind}" for theirs in mapping.values() for kind in ("weight", "bias")}
    if set(state) != expected:
        raise SystemExit(
            f"{path}: expected the tensors {sorted(expected)} of a [d, 500, 500, 2000, {latent}] "
            f"variational MLP autoencoder (pyagc MLPAutoencoder, variational=True), found {sorted(state)}"
        )
    mapped = {
        f"{ours}.{kind}": state[f"{theirs}.{kind}"] for ours, theirs in mapping.items() for kind in ("weight", "bias")
    }
    net.load_state_dict(mapped)  # strict: every tensor of clustpy's network is set
    net.fitted = True
    return net


class SavedDiagonalPrior:
    """Stands in for clustpy's initial ``GaussianMixture``: ``fit`` reads weights, means and diagonal variances
    from an .npz instead of fitting; ``predict`` is the paper's rule (argmax of the responsibilities)."""

    def __init__(self, n_components: int, path: str, random_state=None) -> None:
        self.n_components, self.path, self.random_state = n_components, path, random_state

    def fit(self, X):
        import numpy as np

        saved = np.load(self.path)
        self.weights_, self.means_, self.covariances_ = saved["weights"], saved["means"], saved["variances"]
        if self.means_.shape != (self.n_components, X.shape[1]):
            raise SystemExit(
                f"{self.path}: means of shape {self.means_.shape}, expected ({self.n_components}, {X.shape[1]})"
            )
        return self

    def predict(self, X):
        import numpy as np

        log_density = -0.5 * (
            np.log(self.covariances_)[None] + (X[:, None] - self.means_[None]) ** 2 / self.covariances_[None]
        ).sum(2)
        return (np.log(self.weights_)[None] + log_density).argmax(1)


def diagnose(model, x, y, n_clusters: int, seed: int) -> dict:
    """ACC of other labellings of the final embedding (see the module docstring)."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    z = embed_mean(model.neural_network_trained_, x)
    means = np.asarray(model.vade_cluster_centers_, dtype=np.float64)
    log_vars = np.asarray(model.vade_covariances_, dtype=np.float64)  # clustpy returns p_log_var here
    log_density = -0.5 * (log_vars[None] + (z[:, None] - means[None]) ** 2 / np.exp(log_vars[None])).sum(2)
    paper_rule = metrics(y, log_density.argmax(1))
    return {
        "paper_rule_acc": round(paper_rule["acc"], 4),
        "paper_rule_nmi": round(paper_rule["nmi"], 4),
        # clustpy's own formula (log sigma^2, not 0.5 log sigma^2) on the mean instead of a sampled z, uniform pi
        # (clustpy does not return its softmax(pi), which is within a few percent of 1/K)
        "volume_rule_mean_acc": round(cluster_acc(y, (log_density - 0.5 * log_vars.sum(1)[None]).argmax(1)), 4),
        "kmeans_acc": round(cluster_acc(y, KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(z)), 4),
        "diag_gmm_acc": round(
            cluster_acc(
                y, GaussianMixture(n_clusters, covariance_type="diag", n_init=10, random_state=seed).fit_predict(z)
            ),
            4,
        ),
    }


if __name__ == "__main__":
    main()
