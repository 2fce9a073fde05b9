"""Which start VaDE's prior gets on a saved autoencoder: k-means vs diagonal-GMM restarts.

    PYAGC_DATA=../shared/data OMP_NUM_THREADS=1 python scripts/probe_vade_start_choice.py --data mnist --seed 1 \
        --autoencoder DIR/mnist_aug50_s1.pt [--random-states 0 1 2]

Loads a pretrained variational MLP autoencoder (``scripts/probe_vade_trajectory.py --save-pretrained``), embeds
the data (means, minmax scaling) and prints one JSON line per start: pyagc's k-means (10 restarts, the head's
``init="kmeans"``) and scikit-learn's ``GaussianMixture(K, "diag", n_init=10)`` (the head's ``init="gmm"``) for
each ``--random-states`` value, with ACC / NMI and, for the GMM, its per-sample log-likelihood lower bound.
Shows whether the likelihood-best of 10 GMM restarts is a reliable start (``benchmarks/vade_mnist.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from sklearn.mixture import GaussianMixture

from pyagc.clusters import kmeans
from pyagc.metrics import external_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_vade_start import embed_with_saved_autoencoder, flat_data  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["digits", "usps", "mnist"], default="mnist")
    p.add_argument("--seed", type=int, default=0, help="data seed and k-means seed")
    p.add_argument("--autoencoder", required=True, help="state_dict saved by probe_vade_trajectory --save-pretrained")
    p.add_argument("--random-states", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    dm = flat_data(args.data, "minmax", args.seed)
    z = embed_with_saved_autoencoder(dm, args.autoencoder, args.seed)
    y = dm.y.numpy()
    base = {"data": args.data, "seed": args.seed, "autoencoder": Path(args.autoencoder).name}
    km = kmeans(z, dm.n_classes, n_init=10, seed=args.seed).labels.numpy()
    m = external_metrics(y, km)
    print(json.dumps({**base, "start": "kmeans n_init=10", "acc": round(m["acc"], 4), "nmi": round(m["nmi"], 4)}))
    for rs in args.random_states:
        gmm = GaussianMixture(dm.n_classes, covariance_type="diag", n_init=10, random_state=rs).fit(z.double().numpy())
        m = external_metrics(y, gmm.predict(z.double().numpy()))
        print(
            json.dumps(
                {
                    **base,
                    "start": "gmm diag n_init=10",
                    "random_state": rs,
                    "acc": round(m["acc"], 4),
                    "nmi": round(m["nmi"], 4),
                    "lower_bound": round(float(gmm.lower_bound_), 4),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
