"""Where does a trained contrastive-clustering model lose a class: in its cluster head or in its representation?

    PYAGC_DATA=../shared/data OMP_NUM_THREADS=1 python scripts/probe_contrastive_embedding.py \
        outputs/.../checkpoints/last.ckpt --data usps [--resize 28 --pad 0]

Loads a ``pyagc-train`` checkpoint of a :class:`~pyagc.clusters.ContrastiveClusterHead` model, embeds every image
of the data set (the clean images, no augmentation) and prints, as JSON lines:

* ``head``: ACC / NMI / ARI of the head's clusters (``cluster``: the argmax of the cluster projection, merged
  first with ``overclusters``; what ``pyagc-train`` reports),
* ``kmeans_z`` / ``kmeans_z_l2`` / ``kmeans_instance``: k-means (scikit-learn, 10 restarts) with the true number of
  classes on the encoder output z, on z scaled to unit length and on the instance projection,
* ``confusion``: the head's confusion matrix (rows = classes, columns = clusters),
* ``column_pairs``: the five pairs of cluster-projection columns with the largest confusion :math:`C_{ij} + C_{ji}`
  over the data (what ``overclusters``' merge joins first, :func:`~pyagc.clusters.contrastive.merge_columns`), each
  with the majority class of its two columns; ``merged_K'_to_K``: the scores after merging the raw columns down to
  the number of classes by the current code (``finalize`` again for an over-clustered head; the same rule for a
  model trained with ``n_clusters=K'``, scored as if it had been over-clustered).

If k-means on z is no better than the head, the representation itself does not separate the classes the head
confuses (the cluster head is not what loses them).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from sklearn.cluster import KMeans

from pyagc.cli.build import model_from_checkpoint
from pyagc.clusters.contrastive import merge_columns
from pyagc.data import ImageDataModule
from pyagc.metrics import external_metrics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--data", default="usps", choices=["usps", "mnist", "fashion_mnist"])
    p.add_argument("--resize", type=int, default=None, help="the data.resize the model was trained with")
    p.add_argument("--pad", type=int, default=0, help="the data.pad the model was trained with")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)

    model = model_from_checkpoint(args.checkpoint).eval()
    head = model.cluster_head
    if not hasattr(head, "cluster_probabilities"):
        raise SystemExit(f"{args.checkpoint} holds a {type(head).__name__}, not a ContrastiveClusterHead.")
    dm = ImageDataModule(args.data, split="all", scaling="unit", resize=args.resize, pad=args.pad, seed=args.seed)
    dm.setup()
    x, y = dm.x.float(), dm.y.numpy()
    with torch.no_grad():
        z = torch.cat([model.encoder(part) for part in x.split(1024)]).float()
        probabilities = head.cluster(z, soft=True)
        instance = head.instance_features(z)
    labels = probabilities.argmax(1).numpy()
    k = int(y.max()) + 1

    def scores(pred: np.ndarray) -> dict:
        return {name: round(float(v), 4) for name, v in external_metrics(y, pred).items()}

    print(json.dumps({"what": "head", **scores(labels)}))
    for name, features in (
        ("kmeans_z", z),
        ("kmeans_z_l2", torch.nn.functional.normalize(z, dim=1)),
        ("kmeans_instance", instance),
    ):
        pred = KMeans(k, n_init=10, random_state=args.seed).fit_predict(features.numpy())
        print(json.dumps({"what": name, **scores(pred)}))
    confusion = np.zeros((k, int(labels.max()) + 1), dtype=int)
    np.add.at(confusion, (y, labels), 1)
    print(json.dumps({"what": "confusion", "rows_classes_cols_clusters": confusion.tolist()}))
    with torch.no_grad():
        raw = head.cluster_probabilities(z).double()
    winner = raw.argmax(1).numpy()
    members = torch.nn.functional.one_hot(torch.as_tensor(winner), raw.shape[1]).double()
    confusion = (members.T @ raw) / members.sum(0).clamp_min(1).unsqueeze(1)  # mean p_j over the samples of i
    similarity = (confusion + confusion.T).numpy()
    majority = [
        int(np.bincount(y[winner == j], minlength=k).argmax()) if (winner == j).any() else -1
        for j in range(raw.shape[1])
    ]
    pairs = sorted(
        ((float(similarity[i, j]), i, j) for i in range(len(majority)) for j in range(i + 1, len(majority))),
        reverse=True,
    )[:5]
    if getattr(head, "overclusters", None) is not None and head.n_clusters == k:
        head.finalize(z)  # the merge as the current code makes it at the end of training
        merged = head.cluster(z).numpy()
    else:  # the same rule on a model trained with n_clusters=K': sum each group's columns, then argmax
        groups = merge_columns(raw, k)
        merged = torch.zeros(len(raw), k, dtype=raw.dtype).index_add_(1, groups, raw).argmax(1).numpy()
    print(json.dumps({"what": "merged_" + str(raw.shape[1]) + "_to_" + str(k), **scores(merged)}))
    print(
        json.dumps(
            {
                "what": "column_pairs",
                "pairs": [
                    {"columns": [i, j], "majority_classes": [majority[i], majority[j]], "confusion": round(s, 4)}
                    for s, i, j in pairs
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
