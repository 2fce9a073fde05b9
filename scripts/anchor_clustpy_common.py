"""Shared parts of the clustpy anchor scripts (``scripts/anchor_clustpy_*.py``).

Runs in the separate anchor environment (clustpy is NOT a pyagc dependency): this module imports
neither pyagc nor clustpy at import time (clustpy only inside :func:`warm_up` and
:func:`pyagc_style_autoencoder`), so ``scripts/clustpy_side_by_side.py`` (pyagc environment) can
reuse :func:`default_data_root` from it. It re-implements pyagc's data loading, ``--limit``
subsampling and scaling so that both libraries see identical inputs:

* :func:`default_data_root`, :func:`load_data` (digits, USPS, MNIST), :func:`subsample`, :func:`scale`
  (mirrors of ``pyagc.data.paths.default_data_root``, the data modules, ``pyagc.data.base.subsample``
  and ``pyagc.data.base.scale_features``), :func:`cluster_acc` and :func:`metrics` (ACC / NMI / ARI);
* :func:`anchor_parser` (the command-line options every anchor shares), :func:`prepare` (threads,
  data loading, subsampling, scaling), :func:`warm_up` (untimed one-time import costs);
* :func:`pyagc_style_autoencoder` (``--match pyagc``: ReLU + Xavier ``FeedforwardAutoencoder``
  pretrained with per-element MSE and Adam, as pyagc's ``MLPAutoencoder``);
* :func:`timed` (wall and process CPU time of a fit, clustpy's prints kept off stdout) and
  :func:`emit` (the one JSON line an anchor prints, read by the ``bench_*_vs_clustpy.py`` drivers).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import time
from pathlib import Path

import numpy as np


# ----------------------------------------------------------------------------- data (mirrors pyagc)
def default_data_root() -> Path:
    """Same resolution as ``pyagc.data.paths.default_data_root`` (without importing pyagc):
    ``$PYAGC_DATA``, else ``../shared/data`` or ``./shared/data`` when present, else
    ``$PYAGC_CACHE/data`` (default ``~/.cache/pyagc/data``)."""
    env = os.environ.get("PYAGC_DATA")
    if env:
        return Path(env).expanduser()
    for cand in (Path.cwd().parent / "shared" / "data", Path.cwd() / "shared" / "data"):
        if cand.is_dir():
            return cand
    return Path(os.environ.get("PYAGC_CACHE", Path.home() / ".cache" / "pyagc")).expanduser() / "data"


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
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

    return {
        "acc": cluster_acc(y, pred),
        "nmi": float(normalized_mutual_info_score(y, pred)),
        "ari": float(adjusted_rand_score(y, pred)),
    }


# ----------------------------------------------------------------------------- command line and inputs
def anchor_parser(doc: str | None, *, hidden: bool = True) -> argparse.ArgumentParser:
    """Parser with the options every anchor takes (the flags the drivers' ``shared_flags`` pass):
    ``--data --scaling --seed --pretrain-epochs --epochs --batch-size [--hidden] --latent --threads
    --limit --data-root``. Scripts add their method-specific options."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["digits", "usps", "mnist"], default="digits")
    p.add_argument("--scaling", choices=["minmax", "standard", "global_z", "none"], default="minmax")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pretrain-epochs", type=int, default=50)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=256)
    if hidden:
        p.add_argument("--hidden", nargs="+", type=int, default=[500, 500, 2000])
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--data-root", default=None)
    return p


def prepare(args) -> tuple[np.ndarray, np.ndarray, int]:
    """Silence clustpy's progress bars, set torch's threads, load ``--data`` from ``--data-root`` (default
    :func:`default_data_root`), take the ``--limit`` subset of ``--seed`` and scale: ``(x, y, n_clusters)``."""
    os.environ.setdefault("TQDM_DISABLE", "1")  # clustpy's per-epoch progress bars
    import torch

    torch.set_num_threads(args.threads)
    root = Path(args.data_root).expanduser() if args.data_root else default_data_root()
    x, y = load_data(args.data, root)
    keep = subsample(len(x), args.limit, args.seed)
    if keep is not None:
        x, y = x[keep], y[keep]
    return scale(x, args.scaling), y, int(len(np.unique(y)))


def warm_up(*, sgd: bool = False, kmeans: bool = True, gmm: bool = False, dip: bool = False) -> None:
    """Untimed: pay one-time import costs (clustpy, torch.optim's lazy torch._dynamo import on the first
    Adam step, and with ``sgd`` an SGD step; sklearn ``KMeans`` / diagonal ``GaussianMixture``, clustpy's
    ``dip_test``, as the method uses them) before the clock starts; pyagc's drivers pay them at import
    time or in their own warm-up."""
    import clustpy.deep  # noqa: F401
    import torch

    lin = torch.nn.Linear(4, 2)
    opts = [torch.optim.Adam(lin.parameters())]
    if sgd:
        opts.append(torch.optim.SGD(lin.parameters(), lr=0.01, momentum=0.9))
    for opt in opts:
        opt.zero_grad()
        lin(torch.ones(3, 4)).pow(2).mean().backward()
        opt.step()
    if kmeans:
        from sklearn.cluster import KMeans

        KMeans(n_clusters=2, n_init=1, random_state=0).fit(np.random.default_rng(0).random((20, 2)))
    if gmm:
        from sklearn.mixture import GaussianMixture

        GaussianMixture(2, covariance_type="diag", random_state=0).fit(np.random.default_rng(0).random((20, 2)))
    if dip:
        from clustpy.utils import dip_test

        dip_test(np.random.default_rng(0).random(30))


# ----------------------------------------------------------------------------- --match pyagc
def elementwise_mse(a, b):
    """Per-element MSE (pyagc's ``F.mse_loss``), instead of clustpy's squared error summed over features."""
    import torch.nn.functional as F

    return F.mse_loss(a, b)


def pyagc_style_autoencoder(x: np.ndarray, layers: list[int], args, lr: float | None = None):
    """clustpy ``FeedforwardAutoencoder`` built and pretrained like pyagc's ``MLPAutoencoder``: ReLU,
    Xavier-uniform weights and zero biases (seeded with ``args.seed``), ``args.pretrain_epochs`` epochs of
    Adam(``lr``, default ``args.lr``) on per-element MSE with clustpy's own ``fit``; hand it to a clustpy method as
    ``neural_network``."""
    import torch
    from clustpy.deep.neural_networks import FeedforwardAutoencoder

    ae = FeedforwardAutoencoder(layers=layers, activation_fn=torch.nn.ReLU, random_state=args.seed)
    torch.manual_seed(args.seed)
    for m in ae.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    ae.fit(
        n_epochs=args.pretrain_epochs,
        optimizer_params={"lr": args.lr if lr is None else lr},
        batch_size=args.batch_size,
        data=x,
        optimizer_class=torch.optim.Adam,
        ssl_loss_fn=elementwise_mse,
    )
    return ae


# ----------------------------------------------------------------------------- timing and output
class Timing:
    """Wall (``wall_s``, ``time.perf_counter``) and process CPU (``cpu_s``, ``time.process_time``) seconds."""

    wall_s: float = 0.0
    cpu_s: float = 0.0


@contextlib.contextmanager
def timed(quiet: bool = True):
    """Time the block (a :class:`Timing` is yielded, filled on exit); with ``quiet`` clustpy's prints are
    swallowed so that stdout stays one JSON line."""
    t = Timing()
    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        yield t
    t.wall_s, t.cpu_s = time.perf_counter() - t0, time.process_time() - c0


def emit(method: str, seed: int, y: np.ndarray, labels, timing: Timing, **extra) -> dict:
    """Print (and return) the anchor's one JSON line: ``{"lib": "clustpy", "method", "seed", "acc", "nmi",
    "ari", "time_s", "cpu_s", **extra}``, metrics of ``labels`` against ``y``, times rounded to 0.01 s."""
    res = {
        "lib": "clustpy",
        "method": method,
        "seed": seed,
        **metrics(y, np.asarray(labels)),
        "time_s": round(timing.wall_s, 2),
        "cpu_s": round(timing.cpu_s, 2),
        **extra,
    }
    print(json.dumps(res), flush=True)
    return res
