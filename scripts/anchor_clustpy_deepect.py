"""Run clustpy's DeepECT once and print one JSON line (anchor for ``bench_deepect_vs_clustpy.py``).

Runs in the separate anchor environment (clustpy is NOT a pyagc dependency)::

    /work/benchvenv/bin/python scripts/anchor_clustpy_deepect.py --data digits --scaling minmax --seed 0 \
        --pretrain-epochs 50 --epochs 50 --batch-size 256 --threads 1

Prints ``{"lib": "clustpy", "method": "deepect", "seed", "acc", "nmi", "ari", "dp", "lp", "n_leaves", "time_s", ...}``.
``acc/nmi/ari`` score ``flat_clustering(k)`` (the tree pruned to k leaves by undoing the most recent
splits, clustpy's own flat result) at the number of classes k; ``dp`` is the exact dendrogram purity
(Kobren et al. 2017, same formula as ``pyagc.metrics.dendrogram_purity``, re-implemented here because
this script does not import pyagc) and ``lp`` the leaf purity, both of the full tree with every sample in
its predicted leaf (``labels_``). ``time_s`` / ``cpu_s`` = wall / process CPU time of ``fit`` (pretraining,
initial 2-means, tree growing and clustering epochs, final prediction); an untimed warm-up runs first. Data
loading, scaling, metrics, the warm-up and the JSON line come from ``anchor_clustpy_common.py``
(identical to pyagc's).

Facts about clustpy 0.0.3's DeepECT (read from clustpy/deep/deepect.py, hierarchical/_cluster_tree.py):

* Defaults used here: ``max_n_leaf_nodes=20``, ``grow_interval=2`` (epochs; the tree is also grown at
  epoch 0), ``pruning_threshold=0.1``, Adam, pretraining lr 1e-3, clustering lr 1e-4, reconstruction
  ``mean_squared_error`` summed over features, ``clustering_loss_weight=ssl_loss_weight=1``,
  FeedforwardAutoencoder with LeakyReLU (``--match pyagc``: pyagc's ReLU / Xavier autoencoder, pretrained on
  per-element MSE by clustpy's own ``fit``); the initial root split is sklearn KMeans(2, n_init=20).
* Leaf centres are ``nn.Parameter`` added to the optimizer as they are created and trained by the
  node-centre loss (Euclidean norm to the stop-gradient batch mean, divided by the number of leaves);
  split-node centres are weighted means of their children; weights ``w = 0.5 w + 0.5 n`` per batch;
  nodes with ``w < pruning_threshold`` are deleted, the sibling replaces the parent.
* Growing (every ``grow_interval`` epochs, on the whole data set): the leaf with the largest sum of
  squared distances is split by sklearn KMeans(2, n_init=20); new leaves get weight 1.
* Projection (data compression) loss: ``|(sg[mu_c] - z) . (mu_l - mu_r)/sg||mu_l - mu_r|||`` for both
  children of every split node, divided by ``2 * n_split_nodes * batch_size``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchor_clustpy_common import (  # noqa: E402
    anchor_parser,
    emit,
    prepare,
    pyagc_style_autoencoder,
    timed,
    warm_up,
)


def dendrogram_purity(y: np.ndarray, assignment: np.ndarray, parent: np.ndarray) -> float:
    """Exact dendrogram purity: pairs of same-class samples, purity of their lowest common ancestor."""
    _, yi = np.unique(y, return_inverse=True)
    m = len(parent)
    depth = np.zeros(m, dtype=int)
    for v in range(m):
        u = v
        while parent[u] >= 0:
            depth[v] += 1
            u = parent[u]
    counts = np.zeros((m, yi.max() + 1), dtype=np.int64)
    np.add.at(counts, (assignment, yi), 1)
    for v in np.argsort(-depth, kind="stable"):
        if parent[v] >= 0:
            counts[parent[v]] += counts[v]
    pairs = counts * (counts - 1) // 2
    child = np.zeros_like(pairs)
    np.add.at(child, parent[parent >= 0], pairs[parent >= 0])
    purity = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    total = pairs[parent == -1].sum()
    return float(((pairs - child) * purity).sum() / total) if total else 1.0


def leaf_purity(y: np.ndarray, assignment: np.ndarray) -> float:
    _, yi = np.unique(y, return_inverse=True)
    _, ai = np.unique(assignment, return_inverse=True)
    table = np.zeros((ai.max() + 1, yi.max() + 1), dtype=np.int64)
    np.add.at(table, (ai, yi), 1)
    return float(table.max(1).sum() / len(y))


def tree_arrays(tree, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(parent, assignment)`` of clustpy's BinaryClusterTree: node index of each sample's leaf."""
    nodes = [tree.root_node_]
    i = 0
    while i < len(nodes):
        node = nodes[i]
        if not node.is_leaf_node():
            nodes += [node.left_node_, node.right_node_]
        i += 1
    index = {id(n): j for j, n in enumerate(nodes)}
    parent = np.array([-1 if n is tree.root_node_ else index[id(n.parent_node)] for n in nodes], dtype=np.int64)
    leaf_of_label = {n.labels[0]: index[id(n)] for n in nodes if n.is_leaf_node()}
    assignment = np.array([leaf_of_label[int(lab)] for lab in labels], dtype=np.int64)
    return parent, assignment


def main() -> None:
    p = anchor_parser(__doc__)
    p.add_argument(
        "--match",
        choices=["pyagc", "none"],
        default="none",
        help="pyagc: the autoencoder built and pretrained as pyagc's (ReLU, Xavier, per-element MSE, "
        "Adam 1e-3; the same architecture); none: clustpy's own (LeakyReLU, default init)",
    )
    p.add_argument("--grow-interval", type=int, default=2, help="clustpy's grow_interval (epochs; its default 2)")
    args = p.parse_args()

    x, y, k = prepare(args)
    from clustpy.deep import DeepECT
    from clustpy.deep.neural_networks import FeedforwardAutoencoder

    warm_up(sgd=True)
    layers = [x.shape[1], *args.hidden, args.latent]
    with timed() as t:  # pretraining inside the timed span, as clustpy's own
        if args.match == "pyagc":
            network = pyagc_style_autoencoder(x, layers, args, lr=1e-3)  # pyagc's pretraining lr
        else:
            network = (FeedforwardAutoencoder, {"layers": layers})
        model = DeepECT(
            batch_size=args.batch_size,
            pretrain_epochs=args.pretrain_epochs,
            clustering_epochs=args.epochs,
            neural_network=network,
            embedding_size=args.latent,
            grow_interval=args.grow_interval,
            device="cpu",
            random_state=args.seed,
        )
        model.fit(x)
    labels = np.asarray(model.labels_)
    parent, assignment = tree_arrays(model.tree_, labels)
    emit(
        "deepect",
        args.seed,
        y,
        model.flat_clustering(k),
        t,
        dp=dendrogram_purity(y, assignment, parent),
        lp=leaf_purity(y, assignment),
        n_leaves=int(len(np.unique(assignment))),
        n=int(len(x)),
    )


if __name__ == "__main__":
    main()
