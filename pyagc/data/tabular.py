"""Tabular data: scikit-learn's bundled sets, synthetic blobs/moons, NumPy/CSV files and the
``NAME.data.gz`` + ``NAME.labels0.gz`` clustering-benchmark format.

Files are read by :class:`~pyagc.data.tables.TableFile`: a CSV header names the columns (kept with the model),
an ID column identifies the rows (carried into ``assignments.csv``), and for prediction files are read in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pyagc.data.base import ClusteringDataModule, check_finite
from pyagc.data.paths import missing_file_error, resolve_root
from pyagc.data.preprocessing import DataMismatchError, Preprocessor, TablePreprocessor
from pyagc.data.tables import TableFile, load_labels

SKLEARN_SETS = ("digits", "iris", "wine", "breast_cancer")
SYNTHETIC_SETS = ("blobs", "moons")


def load_sklearn(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of a data set bundled with scikit-learn (``iris``, ``digits``, ...)."""
    from sklearn import datasets

    loader = {
        "digits": datasets.load_digits,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
    }[name]
    bunch = loader()
    return bunch.data.astype(np.float32), bunch.target.astype(np.int64)


def load_array_file(path: Path, header: Any = "auto") -> np.ndarray:
    """The numbers of a ``.npy`` / ``.npz`` / ``.csv`` / text file as a float32 array ``(rows, columns)``."""
    x, _ = TableFile(path, header=header).read_all()
    return x


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
    * ``path``: a ``.npy``/``.npz``/``.csv``/``.tsv``/``.txt``/``.data.gz`` file of features, with optional
      ``labels_path`` (a ``NAME.data.gz`` file picks up ``NAME.labels0.gz`` beside it). Text files may start with
      a header row (``header``: ``auto`` = a first row that does not parse as numbers, ``true``, ``false``); its
      column names are saved with the model, and new files are matched to them by name (in any order).
      ``id_column`` (a header name or a 0-based position) identifies the rows: it is not a feature, and it is
      written into ``assignments.csv``.
    """

    def __init__(
        self,
        name: str | None = "digits",
        path: str | None = None,
        labels_path: str | None = None,
        root: str | None = None,
        labels_index: int = 0,
        n_samples: int = 1000,
        n_features: int = 2,
        centers: int = 3,
        noise: float = 0.05,
        header: Any = "auto",
        id_column: str | int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if (name is None) == (path is None):
            raise ValueError("give exactly one of `name` (a known data set) or `path` (a file).")
        from pyagc.data.tables import parse_header_option

        self.header = parse_header_option(header)
        self.id_column = id_column
        self._columns: list[str] | None = None
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

    @property
    def what(self) -> str:
        return f"data file {self.path}" if self.path is not None else f"data {self.name!r}"

    def make_preprocessor(self) -> Preprocessor:
        return TablePreprocessor(self.scaling, columns=self._columns)

    # -------------------------------------------------------------- files
    def open_table(self) -> TableFile:
        """The features file, checked against the model's preprocessing when one is given (same number of features;
        with column names on both sides, the model's columns in the model's order).
        """
        table = TableFile(self.path, header=self.header, id_column=self.id_column, what=self.what)
        self.id_name = table.id_name
        self._columns = table.columns
        p = self.preprocessor if self.preprocessor_given else None
        if isinstance(p, TablePreprocessor):
            order = p.match_columns(table.columns, self.what)
            if order is None and table.n_features != p.n_features:
                names = (
                    f" ({', '.join(table.columns[:8])}{', ...' if table.n_features > 8 else ''})"
                    if table.columns
                    else ""
                )
                id_note = f" besides the ID column {table.id_name!r}" if table.id_name else ""
                raise DataMismatchError(
                    f"the model takes {p.expects()}; {self.what} has {table.n_features} feature columns{id_note}"
                    f"{names}. Give data with the training data's columns"
                    + (
                        " (name an identifier column with data.id_column=NAME so that it is not read as a feature)."
                        if table.n_features > p.n_features and not table.id_name
                        else "."
                    )
                )
            table.use_order(order)
        return table

    def _labels_for_file(self, n_rows: int | None) -> np.ndarray | None:
        path = Path(self.path).expanduser()
        if self.labels_path is not None:
            return load_labels(self.labels_path, n_rows, what="labels file")
        if path.name.endswith(".data.gz"):
            lab = path.parent / f"{path.name[: -len('.data.gz')]}.labels{self.labels_index}.gz"
            if lab.is_file():
                return np.loadtxt(lab, dtype=np.int64) - 1
        return None

    def load(self) -> tuple[Tensor, Tensor | None]:
        if self.path is not None:
            table = self.open_table()
            x, ids = table.read_all()
            self.ids = ids
            y = self._labels_for_file(None)
            if y is not None and len(y) != len(x):
                raise ValueError(
                    f"{len(x)} samples in {self.path} but {len(y)} labels; the label file must have one per row."
                )
            return torch.as_tensor(np.asarray(x, np.float32)), None if y is None else torch.as_tensor(y)
        name = self.dataset_name
        if name in SKLEARN_SETS:
            x, y = load_sklearn(name)
        elif name == "blobs":
            from sklearn.datasets import make_blobs

            x, y = make_blobs(
                n_samples=self.n_samples_synthetic,
                n_features=self.n_features_synthetic,
                centers=self.centers,
                random_state=self.seed,
            )
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

    # -------------------------------------------------------------- prediction
    @property
    def streams(self) -> bool:
        """Whether prediction reads the file in chunks (a file, no ``limit``) rather than all of it at once."""
        return self.path is not None and self.limit is None

    def predict_size(self) -> int | None:
        if not self.streams:
            return super().predict_size()
        return self.open_table().n_rows  # also checks the columns against the model's, before any row is read

    def predict_batches(self, batch_size: int | None = None) -> Iterator[dict[str, Any]]:
        """The file in chunks of ``batch_size`` rows (a ``.npy`` through a memory-mapped window per chunk, text
        line by line), each transformed with the model's preprocessing (:meth:`use_preprocessor`): memory stays
        flat whatever the file's size. Batches ``{x, index, ids?, y?}``, ``index`` the 0-based row number.
        """
        if not self.streams:
            yield from super().predict_batches(batch_size)
            return
        if not self.preprocessor_given:
            raise RuntimeError(
                "predict_batches on a file needs the model's preprocessing: call use_preprocessor() "
                "with the preprocessing saved in the checkpoint first."
            )
        table = self.open_table()
        y = self._labels_for_file(table.n_rows)
        p = self.preprocessor
        rows = int(batch_size or self.eval_batch_size)
        n = 0
        for chunk in table.chunks(rows):
            x = torch.from_numpy(chunk.x.astype(np.float32))  # as read_all does for training
            check_finite(x, self.what, offset=chunk.start)
            batch: dict[str, Any] = {
                "x": p.transform(x, what=self.what),
                "index": torch.arange(chunk.start, chunk.start + len(x)),
            }
            if chunk.ids is not None:
                batch["ids"] = chunk.ids
            if y is not None:
                if chunk.start + len(x) > len(y):
                    raise ValueError(
                        f"{self.path} has more rows than the {len(y)} labels of its labels file; the "
                        "label file must have one per row."
                    )
                batch["y"] = torch.as_tensor(y[chunk.start : chunk.start + len(x)])
            n = chunk.start + len(x)
            yield batch
        if y is not None and n != len(y):
            raise ValueError(f"{n} samples in {self.path} but {len(y)} labels; the label file must have one per row.")
