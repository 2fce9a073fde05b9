"""In-memory datasets and the base DataModule: batches are dicts ``{x, index, y?}``.

The DataModule fits its preprocessing (:mod:`pyagc.data.preprocessing`: scaling statistics, feature count and
column names, image size and channels) on the training data once, in ``setup``; ``state_dict()`` holds it, so
Lightning saves it in every checkpoint, and :meth:`ClusteringDataModule.use_preprocessor` makes a DataModule of
new data apply a saved one instead of fitting its own.

Batches are gathered with one tensor indexing per batch (``__getitems__``), not one Python
call per sample, so the loader costs next to nothing for in-memory data. Shuffling uses a
``DistributedSampler`` seeded by ``seed`` and the epoch, so a run resumed from a checkpoint
sees the same batches as an uninterrupted run, on 1 process or N.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from pyagc.data.preprocessing import SCALINGS, DataMismatchError, Preprocessor, TablePreprocessor

_KIND_WORDS = {"table": "a table", "image": "images", "graph": "a graph"}
_KIND_HINTS = {
    "table": "a table: data=file data.path=FILE (.csv, .npy, .txt)",
    "image": "images: data=imagefolder data.root=DIR, or data=mnist / fashion_mnist / usps",
    "graph": "a graph: data=cora / citeseer / karateclub",
}


def kind_mismatch_error(preprocessor: Preprocessor, kind: str, what: str) -> DataMismatchError:
    """The error for data of another kind (``table`` / ``image`` / ``graph``) than the model was trained on."""
    trained = f" ({preprocessor.source!r})" if preprocessor.source else ""
    return DataMismatchError(
        f"the model was trained on {_KIND_WORDS[preprocessor.kind]}{trained}: it takes {preprocessor.expects()}; "
        f"{what} is {_KIND_WORDS[kind]}. Give {_KIND_HINTS[preprocessor.kind]}."
    )


class IndexedTensorDataset(Dataset):
    """Rows of ``x`` with their dataset index and (optionally) their label."""

    def __init__(self, x: Tensor, y: Tensor | None = None) -> None:
        self.x = x
        self.y = y

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return self.__getitems__([i])

    def __getitems__(self, indices: list[int]) -> dict[str, Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        batch = {"x": self.x[index], "index": index}
        if self.y is not None:
            batch["y"] = self.y[index]
        return batch


def identity_collate(batch: Any) -> Any:
    """Batches come ready from ``__getitems__``; a single item gets a batch dimension of 1."""
    return batch


def scale_features(x: Tensor, method: str) -> Tensor:
    r"""Scale features: ``standard`` (per-feature z-score), ``minmax`` (per feature to [0, 1]),
    ``global_z`` (one mean and std for all values), ``unit`` / ``none`` (unchanged).
    """
    if method not in SCALINGS:
        raise ValueError(f"unknown scaling {method!r}; valid: {list(SCALINGS)}")
    if method in ("none", "unit"):
        return x
    flat = x.reshape(x.shape[0], -1).double()
    if method == "standard":
        std = flat.std(0, unbiased=False)
        flat = (flat - flat.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))
    elif method == "minmax":
        lo, hi = flat.min(0).values, flat.max(0).values
        rng = hi - lo
        flat = (flat - lo) / torch.where(rng > 0, rng, torch.ones_like(rng))
    elif method == "global_z":
        std = flat.std(unbiased=False)
        flat = (flat - flat.mean()) / (std if std > 0 else 1.0)
    return flat.to(torch.float32).reshape(x.shape)


def check_finite(x: Tensor, what: str, offset: int = 0) -> None:
    """Raise a clear error when ``x`` holds NaN or inf values (rows are reported from ``offset``: the position of
    ``x``'s first row in the whole data, for data read in chunks).
    """
    bad = ~torch.isfinite(x)
    if bad.any():
        rows = bad.reshape(bad.shape[0], -1).any(1).nonzero().flatten() + int(offset)
        raise ValueError(
            f"{what} contains {int(bad.sum())} NaN/inf values in {len(rows)} samples "
            f"(first rows: {rows[:5].tolist()}). Remove or impute them (e.g. "
            "sklearn.impute.SimpleImputer) before clustering."
        )


def subsample(n: int, limit: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of a seeded random subset of ``limit`` of ``n`` samples (``None``: keep all)."""
    if limit is None or limit >= n:
        return None
    if limit < 2:
        raise ValueError(f"limit must be at least 2 samples, got {limit}.")
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


class ClusteringDataModule(pl.LightningDataModule):
    """Base DataModule over an in-memory tensor ``x`` (and optional labels ``y``).

    Subclasses implement :meth:`load` returning the raw ``(x, y)`` and :meth:`make_preprocessor`; this class
    validates the data, fits the preprocessing on it (or applies the one given to :meth:`use_preprocessor`),
    batches and shards it. ``state_dict()`` holds the fitted preprocessing: Lightning saves it in checkpoints.

    Args:
        batch_size: training batch size (per process).
        eval_batch_size: batch size of full-dataset passes (initialisation, evaluation).
        scaling: one of ``none``, ``standard``, ``minmax``, ``global_z``, ``unit``.
        limit: keep a seeded random subset of this many samples (quick runs, tests).
        seed: seed of shuffling and subsampling.
        num_workers: DataLoader workers (in-memory data rarely needs any).
        drop_last: drop the last incomplete training batch.
    """

    is_graph: bool = False
    #: what the DataModule holds: ``table``, ``image`` or ``graph``
    data_kind: ClassVar[str] = "table"

    def __init__(
        self,
        batch_size: int = 256,
        eval_batch_size: int = 2048,
        scaling: str = "none",
        limit: int | None = None,
        seed: int = 0,
        num_workers: int = 0,
        drop_last: bool = False,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        if scaling not in SCALINGS:
            raise ValueError(f"unknown scaling {scaling!r}; valid: {list(SCALINGS)}")
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.scaling = scaling
        self.limit = limit
        self.seed = int(seed)
        self.num_workers = int(num_workers)
        self.drop_last = bool(drop_last)
        self.pin_memory = bool(pin_memory)
        self.x: Tensor | None = None
        self.y: Tensor | None = None
        self.edge_index: Tensor | None = None
        #: the fitted map from raw data to the model's input (fitted in setup, or given by use_preprocessor)
        self.preprocessor: Preprocessor | None = None
        #: one identifier per sample (an ID column, an image's path), and the name of that identifier
        self.ids: list[str] | None = None
        self.id_name: str | None = None

    # -------------------------------------------------------------- to implement
    def load(self) -> tuple[Tensor, Tensor | None]:  # pragma: no cover - abstract
        raise NotImplementedError

    def make_preprocessor(self) -> Preprocessor:
        """The (unfitted) preprocessing of this data, from the DataModule's settings."""
        return TablePreprocessor(self.scaling)

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def what(self) -> str:
        """How messages name this data."""
        return f"data {self.name!r}"

    # -------------------------------------------------------------- preprocessing
    def use_preprocessor(self, preprocessor: Preprocessor) -> None:
        """Apply this fitted preprocessing (a trained model's) instead of fitting one on this data: new data is
        transformed exactly as the training data was. Call it before :meth:`setup`. Raises
        :class:`~pyagc.data.preprocessing.DataMismatchError` when the model was trained on another kind of data.
        """
        if not preprocessor.fitted:
            raise ValueError("use_preprocessor needs a fitted preprocessing (a trained model's).")
        if preprocessor.kind != self.data_kind:
            raise kind_mismatch_error(preprocessor, self.data_kind, self.what)
        self.preprocessor = preprocessor
        self.x = None  # (re)transform with it at the next setup

    @property
    def preprocessor_given(self) -> bool:
        return self.preprocessor is not None and self.preprocessor.fitted

    def state_dict(self) -> dict[str, Any]:
        """The fitted preprocessing (plain containers and tensors), saved by Lightning in every checkpoint."""
        if self.preprocessor is None or not self.preprocessor.fitted:
            return {}
        return {"preprocessing": self.preprocessor.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the preprocessing saved in a checkpoint (Lightning calls this when training resumes). When the
        data is already set up with its own fit, the two must agree (the same data, the same settings).
        """
        from pyagc.data.preprocessing import preprocessor_from_state

        state = state_dict.get("preprocessing") if isinstance(state_dict, dict) else None
        if state is None:
            return
        saved = preprocessor_from_state(state)
        if self.x is not None and self.preprocessor is not None and self.preprocessor.fitted:
            if not self.preprocessor.same_as(saved):
                import warnings

                warnings.warn(
                    f"the checkpoint's preprocessing ({saved.describe()}) differs from the one fitted on "
                    f"{self.what} now ({self.preprocessor.describe()}): training resumes on data "
                    "preprocessed another way than before; resume with the same data settings.",
                    stacklevel=2,
                )
            return
        self.preprocessor = saved

    # -------------------------------------------------------------- lifecycle
    def setup(self, stage: str | None = None) -> None:
        if self.x is not None:
            return
        x, y = self.load()
        x = torch.as_tensor(x)
        if not torch.is_floating_point(x):
            x = x.float()
        x = x.float()
        check_finite(x, f"dataset {self.name}")
        keep = subsample(x.shape[0], self.limit, self.seed)
        if keep is not None:
            x = x[torch.as_tensor(keep)]
            y = None if y is None else torch.as_tensor(y)[torch.as_tensor(keep)]
            if self.ids is not None:
                self.ids = [self.ids[i] for i in keep.tolist()]
        if not self.preprocessor_given:
            self.preprocessor = self.make_preprocessor().fit(x, source=self.name)
        x = self.preprocessor.transform(x, what=self.what)
        check_finite(x, f"dataset {self.name} after {self.preprocessor.scaling!r} scaling")
        self.x = x.contiguous()
        self.y = None if y is None else torch.as_tensor(y).long()

    @property
    def n_samples(self) -> int:
        self._require_setup()
        return int(self.x.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        self._require_setup()
        return tuple(self.x.shape[1:])

    @property
    def n_features(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def n_classes(self) -> int | None:
        self._require_setup()
        return None if self.y is None else int(torch.unique(self.y[self.y >= 0]).numel())

    def _require_setup(self) -> None:
        if self.x is None:
            self.setup()

    def dataset(self) -> IndexedTensorDataset:
        self._require_setup()
        return IndexedTensorDataset(self.x, self.y)

    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.world_size > 1:
            return trainer.world_size, trainer.global_rank
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_world_size(), torch.distributed.get_rank()
        return 1, 0

    def _loader(self, shuffle: bool, batch_size: int, drop_last: bool) -> DataLoader:
        ds = self.dataset()
        world, rank = self._world()
        sampler = DistributedSampler(
            ds, num_replicas=world, rank=rank, shuffle=shuffle, seed=self.seed, drop_last=False
        )
        return DataLoader(
            ds,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=identity_collate,
            num_workers=self.num_workers,
            drop_last=drop_last,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(shuffle=True, batch_size=self.batch_size, drop_last=self.drop_last)

    def full_dataloader(self) -> DataLoader:
        """Sequential pass over this process's shard of the training set (for full-dataset steps)."""
        return self._loader(shuffle=False, batch_size=self.eval_batch_size, drop_last=False)

    def predict_dataloader(self) -> DataLoader:
        return self.full_dataloader()

    # -------------------------------------------------------------- prediction
    def predict_size(self) -> int | None:
        """How many samples :meth:`predict_batches` yields, when known before reading them (else ``None``)."""
        return self.n_samples

    def predict_batches(self, batch_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Batches ``{x, index, y?, ids?}`` of the whole data in order, preprocessed, for prediction.

        This base version holds the data in memory; DataModules of files override it to read them in chunks
        (tables) or file by file (image folders), so that memory stays flat however large the data is.
        """
        self._require_setup()
        loader = self._loader(shuffle=False, batch_size=int(batch_size or self.eval_batch_size), drop_last=False)
        for batch in loader:
            if self.ids is not None:
                batch["ids"] = [self.ids[i] for i in batch["index"].tolist()]
            yield batch
