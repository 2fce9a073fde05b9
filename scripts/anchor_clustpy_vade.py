"""Run clustpy's VaDE once and print one JSON line (anchor for ``bench_vade_vs_clustpy.py``).

Runs in the separate anchor environment (clustpy is NOT a pyagc dependency)::

    /work/benchvenv/bin/python scripts/anchor_clustpy_vade.py --data digits --scaling minmax --seed 0 \
        --pretrain-epochs 50 --epochs 50 --batch-size 256 --threads 1

Prints ``{"lib": "clustpy", "method": "vade", "seed", "acc", "nmi", "ari", "time_s", "gmm_acc", ...}``:
``acc/nmi/ari`` are for clustpy's ``vade_labels_`` (argmax of the responsibilities of the mean
embedding, what pyagc's ``VaDEClusterHead.cluster`` returns); ``gmm_acc`` for clustpy's ``labels_``
(a full-covariance GMM re-fitted on the final embedding). ``time_s`` = wall time of the whole ``fit``
(VAE pretraining, initial GMM, VaDE epochs, final GMM), not data loading or one-time imports (an
untimed warm-up runs first). Data loading, ``--limit`` subsampling and scaling are imported from
``anchor_clustpy_runner.py`` (identical inputs to pyagc's; this script does not import pyagc).

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
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchor_clustpy_runner import cluster_acc, default_data_root, load_data, metrics, scale, subsample  # noqa: E402


def warm_up() -> None:
    """Untimed: one-time import costs (clustpy, sklearn GMM, torch.optim's lazy imports)."""
    import numpy as np
    import torch
    from sklearn.mixture import GaussianMixture
    import clustpy.deep  # noqa: F401
    lin = torch.nn.Linear(4, 2)
    opt = torch.optim.Adam(lin.parameters())
    opt.zero_grad()
    lin(torch.ones(3, 4)).pow(2).mean().backward()
    opt.step()
    GaussianMixture(2, covariance_type="diag", random_state=0).fit(np.random.default_rng(0).random((20, 2)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["digits", "usps", "mnist"], default="digits")
    p.add_argument("--scaling", choices=["minmax", "standard", "global_z", "none"], default="minmax")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pretrain-epochs", type=int, default=50)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--data-root", default=None)
    args = p.parse_args()

    os.environ.setdefault("TQDM_DISABLE", "1")
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    root = Path(args.data_root).expanduser() if args.data_root else default_data_root()
    x, y = load_data(args.data, root)
    keep = subsample(len(x), args.limit, args.seed)
    if keep is not None:
        x, y = x[keep], y[keep]
    x = scale(x, args.scaling)
    n_clusters = int(len(np.unique(y)))

    from clustpy.deep import VaDE
    warm_up()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # keep stdout one JSON line
        model = VaDE(n_clusters=n_clusters, batch_size=args.batch_size, pretrain_epochs=args.pretrain_epochs,
                     clustering_epochs=args.epochs, embedding_size=args.latent, device="cpu",
                     random_state=args.seed).fit(x)
    elapsed = time.perf_counter() - t0
    res = {"lib": "clustpy", "method": "vade", "seed": args.seed, **metrics(y, model.vade_labels_),
           "time_s": round(elapsed, 2), "gmm_acc": cluster_acc(y, model.labels_), "n": int(len(x))}
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
