"""How the covariance of the initial mixture decides VaDE's start on a saved autoencoder.

    PYAGC_DATA=../shared/data OMP_NUM_THREADS=1 python scripts/probe_vade_start_covariance.py --data mnist \
        --seed S --autoencoder DIR/mnist_p5_sS.pt --activation leaky_relu

Loads a pretrained variational MLP autoencoder (``scripts/probe_vade_trajectory.py --save-pretrained``, e.g. the
shared starts of ``scripts/bench_vade_phases_shared_start.py``), embeds the data (means) and prints one JSON line
with the ACC / NMI of four starts of VaDE's prior on the same embedding, all with 10 restarts and
``random_state = seed``:

- ``diag``: the head's ``init="gmm"`` (a diagonal GMM, the paper's start; its labels are the head's);
- ``diag_pca``: the same diagonal GMM fitted in the embedding's principal axes (a rotation the encoder's last
  layer could absorb);
- ``full``: a full-covariance GMM's own labels (not a VaDE prior: VaDE's components are diagonal);
- ``gmm_full``: the head's ``init="gmm_full"`` (that full GMM projected onto the diagonal prior: weights, means,
  covariance diagonals), labelled by the head's diagonal responsibilities, i.e. where VaDE starts with it.

Explains the start of ``benchmarks/vade_vs_clustpy_mnist.md`` (session 14).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from pyagc.clusters import VaDEClusterHead
from pyagc.metrics import external_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_vade_start import embed_with_saved_autoencoder, flat_data  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["digits", "usps", "mnist"], default="mnist")
    p.add_argument("--seed", type=int, default=0, help="data seed and the mixtures' random_state")
    p.add_argument("--autoencoder", required=True, help="state_dict saved by probe_vade_trajectory --save-pretrained")
    p.add_argument("--activation", default="leaky_relu", help="the saved autoencoder's (clustpy's: leaky_relu)")
    p.add_argument("--scaling", default="minmax")
    p.add_argument("--n-init", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    dm = flat_data(args.data, args.scaling, args.seed)
    z = embed_with_saved_autoencoder(dm, args.autoencoder, args.seed, activation=args.activation)
    y = dm.y.numpy()
    k = dm.n_classes

    def scores(labels) -> list[float]:
        m = external_metrics(y, np.asarray(labels))
        return [round(m["acc"], 4), round(m["nmi"], 4)]

    out: dict = {"data": args.data, "seed": args.seed, "autoencoder": Path(args.autoencoder).name}
    for init in ("gmm", "gmm_full"):
        t0 = time.perf_counter()
        head = VaDEClusterHead(k, z.shape[1], init=init, n_init=args.n_init, seed=args.seed)
        head.initialize(z)
        out["diag" if init == "gmm" else "gmm_full"] = scores(head.cluster(z).numpy())
        out[f"{init}_fit_s"] = round(time.perf_counter() - t0, 1)
    zd = z.double().numpy()
    zr = PCA(random_state=args.seed).fit_transform(zd)
    out["diag_pca"] = scores(
        GaussianMixture(k, covariance_type="diag", n_init=args.n_init, random_state=args.seed).fit(zr).predict(zr)
    )
    out["full"] = scores(
        GaussianMixture(k, covariance_type="full", n_init=args.n_init, random_state=args.seed).fit(zd).predict(zd)
    )
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
