"""Run clustpy's DipEncoder once and print one JSON line (anchor for ``bench_dipencoder_vs_clustpy.py``).

Runs in the separate anchor environment (clustpy is NOT a pyagc dependency)::

    /work/benchvenv/bin/python scripts/anchor_clustpy_dipencoder.py --data digits --scaling minmax \
        --seed 0 --pretrain-epochs 50 --epochs 50 --batch-size 256 --threads 1

Prints ``{"lib": "clustpy", "method": "dipencoder", "seed", "acc", "nmi", "ari", "time_s", ...}`` for
clustpy's ``labels_`` (the DipEncoder's own pairwise-threshold labels). ``time_s`` = wall time of the
whole ``fit`` (AE pretraining, k-means, clustering epochs), not data loading or one-time imports
(an untimed warm-up runs first); ``cpu_s`` = CPU time of that fit (robust to a loaded machine). Data loading and scaling are imported from
``anchor_clustpy_runner.py`` (identical to pyagc's).

clustpy 0.0.3 defaults used (read from clustpy/deep/dipencoder.py, _train_utils.py): FeedforwardAutoencoder
``[d, 500, 500, 2000, 10]`` with LeakyReLU and PyTorch default init; Adam, pretraining lr 1e-3 and
clustering lr 1e-4; reconstruction loss = squared error summed over features (mean over the batch);
``ssl_loss_weight`` = 1 / (4 * loss of an untrained autoencoder on the first batch);
``clustering_loss_weight`` = 1; ``max_cluster_size_diff_factor`` = 3; pairs need >= 10 samples of each
cluster in the batch; sklearn ``KMeans`` initialisation (n_init "auto" = 1); labels are relabelled by the
pairwise projection thresholds before every clustering epoch and after the last one; its dip losses are
weighted by the detached dips (4 dip for clusters, 4 (1/4 - dip) for pairs). Only layers, epochs, batch
size, seed, scaling and ``device="cpu"`` are set here.
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
    import numpy as np
    import torch
    from sklearn.cluster import KMeans
    import clustpy.deep  # noqa: F401
    from clustpy.utils import dip_test
    lin = torch.nn.Linear(4, 2)
    opt = torch.optim.Adam(lin.parameters())
    opt.zero_grad()
    lin(torch.ones(3, 4)).pow(2).mean().backward()
    opt.step()
    KMeans(n_clusters=2, n_init=1, random_state=0).fit(np.random.default_rng(0).random((20, 2)))
    dip_test(np.random.default_rng(0).random(30))


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

    from clustpy.deep import DipEncoder
    from clustpy.deep.neural_networks import FeedforwardAutoencoder
    warm_up()
    layers = [x.shape[1], *args.hidden, args.latent]
    model = DipEncoder(n_clusters=n_clusters, batch_size=args.batch_size, pretrain_epochs=args.pretrain_epochs,
                       clustering_epochs=args.epochs, embedding_size=args.latent,
                       neural_network=(FeedforwardAutoencoder, {"layers": layers}), device="cpu",
                       random_state=args.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):  # clustpy prints; keep stdout one JSON line
        model.fit(x)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    res = {"lib": "clustpy", "method": "dipencoder", "seed": args.seed, **metrics(y, model.labels_),
           "time_s": round(elapsed, 2), "cpu_s": round(cpu, 2), "n": int(len(x))}
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
