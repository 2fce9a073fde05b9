"""Run clustpy's DipEncoder once and print one JSON line (anchor for ``bench_dipencoder_vs_clustpy.py``).

Runs in the separate anchor environment (clustpy is NOT a pyagc dependency)::

    /work/benchvenv/bin/python scripts/anchor_clustpy_dipencoder.py --data digits --scaling minmax \
        --seed 0 --pretrain-epochs 50 --epochs 50 --batch-size 256 --threads 1

Prints ``{"lib": "clustpy", "method": "dipencoder", "seed", "acc", "nmi", "ari", "time_s", ...}`` for
clustpy's ``labels_`` (the DipEncoder's own pairwise-threshold labels). ``time_s`` = wall time of the
whole ``fit`` (AE pretraining, k-means, clustering epochs), not data loading or one-time imports
(an untimed warm-up runs first); ``cpu_s`` = CPU time of that fit (robust to a loaded machine). Data
loading, scaling, metrics, the warm-up and the JSON line come from ``anchor_clustpy_common.py``
(identical to pyagc's).

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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchor_clustpy_common import anchor_parser, emit, prepare, timed, warm_up  # noqa: E402


def main() -> None:
    args = anchor_parser(__doc__).parse_args()

    x, y, n_clusters = prepare(args)
    from clustpy.deep import DipEncoder
    from clustpy.deep.neural_networks import FeedforwardAutoencoder

    warm_up(dip=True)
    layers = [x.shape[1], *args.hidden, args.latent]
    model = DipEncoder(
        n_clusters=n_clusters,
        batch_size=args.batch_size,
        pretrain_epochs=args.pretrain_epochs,
        clustering_epochs=args.epochs,
        embedding_size=args.latent,
        neural_network=(FeedforwardAutoencoder, {"layers": layers}),
        device="cpu",
        random_state=args.seed,
    )
    with timed() as t:  # clustpy prints; keep stdout one JSON line
        model.fit(x)
    emit("dipencoder", args.seed, y, model.labels_, t, n=int(len(x)))


if __name__ == "__main__":
    main()
