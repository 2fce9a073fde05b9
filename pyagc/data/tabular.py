"""Tabular data: scikit-learn's bundled sets, synthetic blobs/moons, NumPy/CSV files and the
``NAME.data.gz`` + ``NAME.labels0.gz`` clustering-benchmark format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pyagc.data.base import ClusteringDataModule
from pyagc.data.paths import missing_file_error, resolve_root

SKLEARN_SETS = ("digits", "iris", "wine", "breast_cancer")
SYNTHETIC_SETS = ("blobs", "moons")


def load_sklearn(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    loader = {"digits": datasets.load_digits, "iris": datasets.load_iris, "wine": datasets.load_wine,
              "breast_cancer": datasets.load_breast_cancer}[name]
    bunch = loader()
    return bunch.data.astype(np.float32), bunch.target.astype(np.int64)


def load_array_file(path: Path) -> np.ndarray:
    if not path.is_file():
        raise missing_file_error(path, "data file")
    suffixes = "".join(path.suffixes)
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".npz":
        with np.load(path) as f:
            return f[f.files[0]]
    delimiter = "," if ".csv" in suffixes else None
    return np.loadtxt(path, delimiter=delimiter, ndmin=2)


def load_benchmark(name: str, root: Path, labels: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``root/NAME.data.gz`` and ``root/NAME.labels{labels}.gz`` (label 0 = noise -> -1, clusters 0..k-1)."""
    data = root / f"{name}.data.gz"
    lab = root / f"{name}.labels{labels}.gz"
    if not data.is_file():
        raise missing_file_error(data, f"benchmark data set {name!r}")
    x = np.loadtxt(data, ndmin=2).astype(np.float32)
    y = np.loadtxt(lab, dtype=np.int64) - 1 if lab.is_file() else None
    return x, y


class TabularDataModule(ClusteringDataModule):
    r"""Tabular data as a DataModule.

    Exactly one source:

    * ``name``: ``digits``, ``iris``, ``wine``, ``breast_cancer`` (bundled with scikit-learn),
      ``blobs`` / ``moons`` (synthetic; ``n_samples``, ``n_features``, ``centers``, ``noise``), or
      ``BATTERY/NAME`` of the clustering benchmark suite under ``root`` (default
      ``<data root>/clustering``), e.g. ``fcps/hepta``, with ground truth ``labels{labels_index}``;
    * ``path``: a ``.npy``/``.npz``/``.csv``/``.txt``/``.data.gz`` file of features, with optional
      ``labels_path`` (a ``NAME.data.gz`` file picks up ``NAME.labels0.gz`` beside it).
    """

    def __init__(self, name: str | None = "digits", path: str | None = None, labels_path: str | None = None,
                 root: str | None = None, labels_index: int = 0, n_samples: int = 1000, n_features: int = 2,
                 centers: int = 3, noise: float = 0.05, **kwargs) -> None:
        super().__init__(**kwargs)
        if (name is None) == (path is None):
            raise ValueError("give exactly one of `name` (a known data set) or `path` (a file).")
        self.dataset_name = name
        self.path = path
        self.labels_path = labels_path
        self.root = root
        self.labels_index = labels_index
        self.n_samples_synthetic = n_samples
        self.n_features_synthetic = n_features
        self.centers = centers
        self.noise = noise

    @property
    def name(self) -> str:
        return self.dataset_name or Path(self.path).name

    def load(self) -> tuple[Tensor, Tensor | None]:
        if self.path is not None:
            path = Path(self.path).expanduser()
            if path.name.endswith(".data.gz"):
                x, y = load_benchmark(path.name[: -len(".data.gz")], path.parent, self.labels_index)
            else:
                x, y = load_array_file(path), None
            if self.labels_path is not None:
                y = load_array_file(Path(self.labels_path).expanduser()).ravel().astype(np.int64)
            if y is not None and len(y) != len(x):
                raise ValueError(f"{len(x)} samples but {len(y)} labels; the label file must have one per row.")
            return torch.as_tensor(np.asarray(x, np.float32)), None if y is None else torch.as_tensor(y)
        name = self.dataset_name
        if name in SKLEARN_SETS:
            x, y = load_sklearn(name)
        elif name == "blobs":
            from sklearn.datasets import make_blobs

            x, y = make_blobs(n_samples=self.n_samples_synthetic, n_features=self.n_features_synthetic,
                              centers=self.centers, random_state=self.seed)
        elif name == "moons":
            from sklearn.datasets import make_moons

            x, y = make_moons(n_samples=self.n_samples_synthetic, noise=self.noise, random_state=self.seed)
        elif "/" in name:
            battery, set_name = name.rsplit("/", 1)
            x, y = load_benchmark(set_name, resolve_root(self.root, "clustering") / battery, self.labels_index)
        else:
            raise ValueError(
                f"unknown tabular data set {name!r}; valid: {list(SKLEARN_SETS + SYNTHETIC_SETS)} or "
                "'BATTERY/NAME' of the clustering benchmark suite (e.g. 'fcps/hepta'), or give `path=`."
            )
        return torch.as_tensor(np.asarray(x, np.float32)), None if y is None else torch.as_tensor(y)
