"""Anchor runner: DMoN from the *unrelated* PyPI package ``pyagc`` (attributed graph clustering,
Cloudy1225/PyAGC, v1.1.2) with that project's own benchmark defaults, one seed, one JSON line.

Run it with the separate venv, never with ours (the two packages share the import name):

    python3.11 -m venv /work/benchvenv_pyagc && /work/benchvenv_pyagc/bin/pip install pyagc
    /work/benchvenv_pyagc/bin/python scripts/anchor_pypi_pyagc_dmon.py --data Cora --seed 0

The wheel ships the library but not its ``benchmark/`` folder; the settings below are the values of
upstream ``benchmark/DMoN/train.conf.yaml`` (``default`` merged with the data set's section, as its
``get_training_config`` does) and the procedure follows upstream ``benchmark/DMoN/main.py``:
``get_dataset`` (row-normalised features, undirected edges), ``set_seed(seed)``, ``create_tuned_gnn``
+ ``pyagc.models.DMoN``, Adam(lr, weight_decay), full-batch ``model.train_full`` for up to ``epochs``
with early stopping after ``patience`` epochs without a lower training loss, ``model.infer_full``.
One process = one run with seed S (= run S of upstream ``main.py --seed 0 --runs 5``).
CiteSeer has no section upstream (its ``main.py`` does not even offer it), so it gets ``default``.

Metrics are computed here, not by the library: ACC (Hungarian, scipy), NMI / ARI (sklearn),
modularity of the hard partition on the undirected ``edge_index``.  ``time_s`` is training wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import numpy as np
import torch

# upstream benchmark/DMoN/train.conf.yaml (Cloudy1225/PyAGC @ 82fe195), only the keys DMoN uses.
DEFAULT = dict(
    lr=1e-3,
    wd=1e-5,
    epochs=1000,
    patience=50,
    gnn_type="gcn",
    hidden_channels=512,
    num_layers=2,
    dropout=0.5,
    act="selu",
    act_first=False,
    act_last=False,
    norm=None,
    residual=False,
    pre_linear=False,
    jk=None,
    add_self_loops=None,
    normalize=True,
    improved=False,
    cached=True,
    lam=1.0,
)
PER_DATA = {"Cora": dict(epochs=1000, hidden_channels=64, num_layers=1, dropout=0.5, norm=None, lam=1.0)}


def config(name: str) -> dict:
    return {**DEFAULT, **PER_DATA.get(name, {})}


def hungarian_acc(y: np.ndarray, p: np.ndarray) -> float:
    from scipy.optimize import linear_sum_assignment

    k = int(max(y.max(), p.max())) + 1
    w = np.zeros((k, k), dtype=np.int64)
    np.add.at(w, (p, y), 1)
    r, c = linear_sum_assignment(-w)
    return float(w[r, c].sum() / y.size)


def modularity(edge_index: np.ndarray, p: np.ndarray) -> float:
    """Newman modularity of partition ``p`` on an undirected graph given by both edge directions."""
    src, dst = edge_index
    two_m = float(src.size)
    deg = np.bincount(src, minlength=p.size).astype(np.float64)
    k = int(p.max()) + 1
    intra = np.bincount(p[src][p[src] == p[dst]], minlength=k).astype(np.float64)  # 2 * internal edges
    vol = np.bincount(p, weights=deg, minlength=k)
    return float(np.sum(intra / two_m - (vol / two_m) ** 2))


def load(name: str, planetoid_root: str, tmp: str):
    """The library's own loader, pointed at a private copy of the offline Planetoid raw files."""
    from pyagc.data import get_dataset

    src = os.path.join(planetoid_root, name, "raw")
    if not os.path.isdir(src):
        raise SystemExit(f"no Planetoid raw files at {src}")
    # get_dataset lower-cases the name: Planetoid(root, 'cora') reads <root>/cora/raw
    shutil.copytree(src, os.path.join(tmp, name.lower(), "raw"))
    return get_dataset(name, root=tmp, return_splits=False)


def run(name: str, seed: int, planetoid_root: str, device: str) -> dict:
    from torch_geometric.data import Data

    from pyagc.encoders import create_tuned_gnn
    from pyagc.models import DMoN
    from pyagc.utils import set_seed

    conf = config(name)
    dev = torch.device(device)
    with tempfile.TemporaryDirectory(prefix="pypi_pyagc_") as tmp:
        set_seed(seed)
        x, edge_index, y = load(name, planetoid_root, tmp)
    data = Data(x=x, edge_index=edge_index)
    n_clusters = int(y.max()) + 1

    set_seed(seed)
    encoder = create_tuned_gnn(
        gnn_type=conf["gnn_type"],
        in_channels=data.num_features,
        hidden_channels=conf["hidden_channels"],
        num_layers=conf["num_layers"],
        out_channels=None,
        dropout=conf["dropout"],
        act=conf["act"],
        act_first=conf["act_first"],
        act_last=conf["act_last"],
        norm=conf["norm"],
        residual=conf["residual"],
        pre_linear=conf["pre_linear"],
        jk=conf["jk"],
        add_self_loops=conf["add_self_loops"],
        normalize=conf["normalize"],
        improved=conf["improved"],
        cached=conf["cached"],
    )
    model = DMoN(encoder=encoder, n_features=conf["hidden_channels"], n_clusters=n_clusters, lam=conf["lam"]).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=conf["lr"], weight_decay=conf["wd"])

    t0 = time.time()
    data = data.to(dev)
    best, stale, epoch = float("inf"), 0, 0
    for epoch in range(1, conf["epochs"] + 1):
        loss = model.train_full(data, optimizer, epoch, verbose=False)
        if loss < best:
            best, stale = loss, 0
        else:
            stale += 1
        if stale >= conf["patience"]:
            break
    elapsed = time.time() - t0

    set_seed(seed)
    pred = model.infer_full(data).cpu().numpy().astype(np.int64)
    yy = y.cpu().numpy().astype(np.int64)
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {
        "lib": "pyagc-pypi",
        "data": name,
        "seed": seed,
        "acc": hungarian_acc(yy, pred),
        "nmi": float(normalized_mutual_info_score(yy, pred)),
        "ari": float(adjusted_rand_score(yy, pred)),
        "modularity": modularity(edge_index.cpu().numpy(), pred),
        "time_s": elapsed,
        "epochs": epoch,
        "n_clusters_used": int(np.unique(pred).size),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="Cora", choices=["Cora", "CiteSeer"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--root",
        default=os.path.join(os.environ.get("PYAGC_DATA", "/work/shared/data"), "planetoid"),
        help="folder holding <Name>/raw Planetoid files",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--show-config", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.show_config:
        print(json.dumps(config(args.data)))
        return
    print(json.dumps(run(args.data, args.seed, args.root, args.device)), flush=True)


if __name__ == "__main__":
    main()
