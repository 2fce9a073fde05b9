"""Run clustpy's ACeDeC once and print one JSON line (anchor for ``bench_acedec_vs_clustpy.py``).

Runs in the separate anchor environment (clustpy is NOT a pyagc dependency)::

    /work/benchvenv/bin/python scripts/anchor_clustpy_acedec.py --data digits --scaling minmax --seed 0 \
        --pretrain-epochs 50 --epochs 50 --batch-size 256 --threads 1

Prints ``{"lib": "clustpy", "method": "acedec", "seed", "acc", "nmi", "ari", "time_s", ...}``. ``acc/nmi/ari`` are
for clustpy's ``labels_`` (its default output: after the final re-clustering, ``final_reclustering=True``);
``acedec_acc/acedec_nmi/acedec_ari`` for ``acedec_labels_`` (the trained ACeDeC module's own assignments,
before that re-clustering). ``time_s`` = wall time of the whole ``fit`` (AE pretraining, ACeDeC init,
clustering epochs, final re-clustering), not data loading and not one-time imports (an untimed warm-up
runs first). Data loading, ``--limit`` subsampling and scaling are imported from
``anchor_clustpy_runner.py`` (identical to pyagc's; this script does not import pyagc).

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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchor_clustpy_runner import default_data_root, load_data, metrics, scale, subsample  # noqa: E402


def fit_clustpy(x: np.ndarray, n_clusters: int, args) -> object:
    from clustpy.deep import ACeDeC
    from clustpy.deep.neural_networks import FeedforwardAutoencoder

    layers = [x.shape[1], *args.hidden, args.latent]
    model = ACeDeC(n_clusters=n_clusters, batch_size=args.batch_size, pretrain_epochs=args.pretrain_epochs,
                   clustering_epochs=args.epochs, embedding_size=args.latent, device="cpu",
                   neural_network=(FeedforwardAutoencoder, {"layers": layers}), random_state=args.seed)
    return model.fit(x)


def warm_up() -> None:
    """Untimed: pay one-time import costs before the clock starts."""
    import torch
    from sklearn.cluster import KMeans
    import clustpy.deep  # noqa: F401
    lin = torch.nn.Linear(4, 2)
    opt = torch.optim.Adam(lin.parameters())
    opt.zero_grad()
    lin(torch.ones(3, 4)).pow(2).mean().backward()
    opt.step()
    KMeans(n_clusters=2, n_init=1, random_state=0).fit(np.random.default_rng(0).random((20, 2)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["digits", "usps", "mnist"], default="digits")
    p.add_argument("--scaling", choices=["minmax", "standard", "global_z", "none"], default="minmax")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pretrain-epochs", type=int, default=50)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--hidden", nargs="+", type=int, default=[500, 500, 2000])
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--data-root", default=None)
    args = p.parse_args()

    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch
    torch.set_num_threads(args.threads)
    root = Path(args.data_root).expanduser() if args.data_root else default_data_root()
    x, y = load_data(args.data, root)
    keep = subsample(len(x), args.limit, args.seed)
    if keep is not None:
        x, y = x[keep], y[keep]
    x = scale(x, args.scaling)
    n_clusters = int(len(np.unique(y)))

    warm_up()
    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):  # clustpy prints; keep stdout one JSON line
        model = fit_clustpy(x, n_clusters, args)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    inner = metrics(y, model.acedec_labels_)
    res = {"lib": "clustpy", "method": "acedec", "seed": args.seed, **metrics(y, model.labels_),
           "acedec_acc": inner["acc"], "acedec_nmi": inner["nmi"], "acedec_ari": inner["ari"],
           "time_s": round(elapsed, 2), "cpu_s": round(cpu, 2), "n": int(len(x))}
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
