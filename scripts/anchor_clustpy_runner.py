"""Run clustpy's DEC or IDEC once and print one JSON line (anchor for ``bench_vs_clustpy.py``).

Runs in the separate anchor environment (clustpy is NOT a pyagc dependency)::

    /work/benchvenv/bin/python scripts/anchor_clustpy_runner.py --method dec --data digits \
        --scaling minmax --seed 0 --pretrain-epochs 50 --epochs 50 --batch-size 256 --threads 1

Prints ``{"lib": "clustpy", "method", "seed", "acc", "nmi", "ari", "time_s", ...}``; ``acc/nmi/ari``
are for clustpy's DEC labels (``dec_labels_``, argmax of Q, as pyagc reports), ``kmeans_acc`` for
clustpy's ``labels_`` (a k-means re-run on the final embedding). ``time_s`` = wall time of the whole
fit (AE pretraining, initial k-means, clustering epochs, clustpy's final k-means), not data loading
and not one-time imports (an untimed warm-up runs first).
This script does not import pyagc; it re-implements pyagc's data loading, ``--limit`` subsampling
and scaling so that both libraries see identical inputs.

Facts about clustpy (read from clustpy 0.0.3 source: deep/dec.py, _train_utils.py, _utils.py,
_data_utils.py, _abstract_deep_clustering_algo.py, neural_networks/*):

* Data scaling: none. ``fit`` only runs sklearn ``check_array`` and wraps X in float tensors; the
  caller must scale (done here, exactly as ``pyagc.data.base.scale_features``).
* Network: ``FeedforwardAutoencoder`` with layers ``[d, 500, 500, 2000, embedding_size]``
  (``_get_default_layers``), mirrored decoder, **LeakyReLU** hidden activation, linear embedding and
  output, PyTorch default init. pyagc's MLPAutoencoder uses ReLU and Xavier-uniform init.
* One ``optimizer_class`` (default ``torch.optim.Adam``) for both phases; pretraining params default
  ``{"lr": 1e-3}``, clustering params default ``{"lr": 1e-4}`` (DEC and IDEC alike). Pretraining
  has no early stopping unless an eval loader is given (it is not).
* Reconstruction loss ``clustpy.deep._utils.mean_squared_error`` = squared error **summed over
  features**, averaged over the batch (d times pyagc's ``F.mse_loss``).
* Initial centres: sklearn ``KMeans(n_clusters, random_state)`` on the embedding, default
  ``n_init`` ("auto" = 1 run with k-means++); pyagc uses 20 restarts.
* Target distribution P: recomputed **from each mini-batch's own Q at every step** (no
  update_interval, no full-data pass, no ``tol`` stopping; all ``clustering_epochs`` always run).
  pyagc refreshes P over the whole data set every ``update_interval`` (140) steps and may stop
  early on ``tol``. Clustering loss is cross-entropy -mean(sum P log Q) (same gradient as KL(P||Q)).
* DEC: loss = ``clustering_loss_weight`` (1.0) * CE; no reconstruction (``ssl_loss_weight`` = 0).
  IDEC: loss = ``ssl_loss_weight`` (1.0) * recon + ``clustering_loss_weight`` (0.1) * CE, i.e. the
  IDEC gamma is ``clustering_loss_weight`` and both weights are used. Because clustpy's recon is a
  per-sample sum, its default gamma=0.1 is effectively d times weaker than pyagc's gamma=0.1.
* Seeding: ``random_state`` int -> np RandomState; ``set_torch_seed`` seeds torch/numpy/random.
  Train loader shuffles, ``drop_last=False``. Device: CPU here (``device="cpu"`` passed).

``--match pyagc`` (default) makes clustpy mirror pyagc's ``scripts/bench_dec_idec.py``: ReLU +
Xavier init (via a pre-built FeedforwardAutoencoder), per-element MSE recon loss, Adam(lr) for
pretraining (run with clustpy's own ``FeedforwardAutoencoder.fit``), joint optimiser SGD(0.01,
momentum 0.9) for DEC (Adam(lr) with ``--dec-adam``) and Adam(lr) for IDEC, gamma (``--gamma``)
as ``clustering_loss_weight`` with ``ssl_loss_weight`` 1, initial k-means ``n_init=20``.
The per-batch P (clustpy's algorithm) is kept. ``--match none`` uses clustpy's own defaults except
layers, epochs, batch size, seed and scaling.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np


# ----------------------------------------------------------------------------- data (mirrors pyagc)
def default_data_root() -> Path:
    env = os.environ.get("PYAGC_DATA")
    if env:
        return Path(env).expanduser()
    for cand in (Path.cwd().parent / "shared" / "data", Path.cwd() / "shared" / "data"):
        if cand.is_dir():
            return cand
    return Path.home() / ".cache" / "pyagc" / "data"


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _idx_file(raw: Path, stem: str) -> Path:
    for p in (raw / f"{stem}.gz", raw / stem):
        if p.is_file():
            return p
    raise FileNotFoundError(f"MNIST file not found: {raw / (stem + '.gz')}")


def load_data(name: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    if name == "digits":
        from sklearn.datasets import load_digits
        b = load_digits()
        return b.data.astype(np.float32), b.target.astype(np.int64)
    if name == "usps":
        arrays = []
        for f in ("zip.train.gz", "zip.test.gz"):
            path = root / "usps" / f
            if not path.is_file():
                raise FileNotFoundError(f"USPS file not found: {path}")
            arrays.append(np.loadtxt(path, dtype=np.float32))
        a = np.concatenate(arrays)
        return ((a[:, 1:] + 1.0) / 2.0).astype(np.float32), a[:, 0].astype(np.int64)
    if name == "mnist":
        raw = root / "torchvision" / "MNIST" / "raw"
        xs, ys = [], []
        for split in ("train", "t10k"):  # train first, then test: same order as pyagc's split="all"
            xs.append(_read_idx(_idx_file(raw, f"{split}-images-idx3-ubyte")))
            ys.append(_read_idx(_idx_file(raw, f"{split}-labels-idx1-ubyte")))
        x = np.concatenate(xs).reshape(-1, 784).astype(np.float32) / np.float32(255.0)
        return x, np.concatenate(ys).astype(np.int64)
    raise ValueError(f"unknown data {name!r}; valid: digits, usps, mnist")


def subsample(n: int, limit: int | None, seed: int) -> np.ndarray | None:
    """Same seeded subset as ``pyagc.data.base.subsample``."""
    if limit is None or limit >= n:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def scale(x: np.ndarray, method: str) -> np.ndarray:
    """Same as ``pyagc.data.base.scale_features`` (computed in float64, returned as float32)."""
    f = x.reshape(x.shape[0], -1).astype(np.float64)
    if method == "standard":
        std = f.std(0)
        f = (f - f.mean(0)) / np.where(std > 0, std, 1.0)
    elif method == "minmax":
        lo, hi = f.min(0), f.max(0)
        rng = hi - lo
        f = (f - lo) / np.where(rng > 0, rng, 1.0)
    elif method == "global_z":
        std = f.std()
        f = (f - f.mean()) / (std if std > 0 else 1.0)
    elif method not in ("none", "unit"):
        raise ValueError(f"unknown scaling {method!r}")
    return f.astype(np.float32)


# ----------------------------------------------------------------------------- metrics
def cluster_acc(y: np.ndarray, pred: np.ndarray) -> float:
    from scipy.optimize import linear_sum_assignment
    _, yi = np.unique(y, return_inverse=True)
    _, pi = np.unique(pred, return_inverse=True)
    table = np.zeros((pi.max() + 1, yi.max() + 1), dtype=np.int64)
    np.add.at(table, (pi, yi), 1)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(y))


def metrics(y: np.ndarray, pred: np.ndarray) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    return {"acc": cluster_acc(y, pred), "nmi": float(normalized_mutual_info_score(y, pred)),
            "ari": float(adjusted_rand_score(y, pred))}


# ----------------------------------------------------------------------------- clustpy fit
def elementwise_mse(a, b):
    import torch.nn.functional as F
    return F.mse_loss(a, b)


def fit_clustpy(x: np.ndarray, n_clusters: int, args) -> object:
    import torch
    from clustpy.deep import DEC, IDEC
    from clustpy.deep.neural_networks import FeedforwardAutoencoder

    layers = [x.shape[1], *args.hidden, args.latent]
    cls = DEC if args.method == "dec" else IDEC
    common = dict(n_clusters=n_clusters, batch_size=args.batch_size, pretrain_epochs=args.pretrain_epochs,
                  clustering_epochs=args.epochs, embedding_size=args.latent, device="cpu",
                  random_state=args.seed)
    if args.match == "none":
        model = cls(neural_network=(FeedforwardAutoencoder, {"layers": layers}), **common)
        return model.fit(x)

    # --match pyagc: build and pretrain the AE like pyagc, then hand the fitted network to DEC/IDEC
    ae = FeedforwardAutoencoder(layers=layers, activation_fn=torch.nn.ReLU, random_state=args.seed)
    torch.manual_seed(args.seed)
    for m in ae.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    ae.fit(n_epochs=args.pretrain_epochs, optimizer_params={"lr": args.lr}, batch_size=args.batch_size,
           data=x, optimizer_class=torch.optim.Adam, ssl_loss_fn=elementwise_mse)
    if args.method == "dec" and not args.dec_adam:
        opt_cls, opt_params = torch.optim.SGD, {"lr": 0.01, "momentum": 0.9}
    else:
        opt_cls, opt_params = torch.optim.Adam, {"lr": args.lr}
    kw = dict(common, neural_network=ae, optimizer_class=opt_cls, clustering_optimizer_params=opt_params,
              pretrain_optimizer_params={"lr": args.lr}, ssl_loss_fn=elementwise_mse,
              initial_clustering_params={"n_init": 20})
    if args.method == "idec":
        kw.update(clustering_loss_weight=args.gamma, ssl_loss_weight=1.0)
    return cls(**kw).fit(x)


def warm_up() -> None:
    """Untimed: pay one-time import costs (clustpy, sklearn KMeans, torch.optim's lazy torch._dynamo
    import on the first step) before the clock starts; pyagc's bench pays them at import time."""
    import torch
    from sklearn.cluster import KMeans
    import clustpy.deep  # noqa: F401
    lin = torch.nn.Linear(4, 2)
    for opt in (torch.optim.Adam(lin.parameters()), torch.optim.SGD(lin.parameters(), lr=0.01, momentum=0.9)):
        opt.zero_grad()
        lin(torch.ones(3, 4)).pow(2).mean().backward()
        opt.step()
    KMeans(n_clusters=2, n_init=1, random_state=0).fit(np.random.default_rng(0).random((20, 2)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", choices=["dec", "idec"], required=True)
    p.add_argument("--data", choices=["digits", "usps", "mnist"], default="digits")
    p.add_argument("--scaling", choices=["minmax", "standard", "global_z", "none"], default="minmax")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pretrain-epochs", type=int, default=50)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam lr (pretraining; IDEC / --dec-adam joint)")
    p.add_argument("--gamma", type=float, default=0.1, help="IDEC clustering_loss_weight (--match pyagc)")
    p.add_argument("--dec-adam", action="store_true", help="DEC joint phase with Adam(lr) instead of SGD")
    p.add_argument("--hidden", nargs="+", type=int, default=[500, 500, 2000])
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--match", choices=["pyagc", "none"], default="pyagc")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--data-root", default=None)
    args = p.parse_args()

    os.environ.setdefault("TQDM_DISABLE", "1")  # clustpy's per-epoch progress bars
    import torch
    torch.set_num_threads(args.threads)
    root = Path(args.data_root).expanduser() if args.data_root else default_data_root()
    x, y = load_data(args.data, root)
    keep = subsample(len(x), args.limit, args.seed)
    if keep is not None:
        x, y = x[keep], y[keep]
    x = scale(x, args.scaling)
    n_clusters = int(len(np.unique(y)))

    import contextlib
    import io
    warm_up()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # clustpy prints; keep stdout one JSON line
        model = fit_clustpy(x, n_clusters, args)
    elapsed = time.perf_counter() - t0
    res = {"lib": "clustpy", "method": args.method, "seed": args.seed, **metrics(y, model.dec_labels_),
           "time_s": round(elapsed, 2), "kmeans_acc": cluster_acc(y, model.labels_),
           "n": int(len(x)), "match": args.match}
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
