r"""The fitted map from raw input to the model's input, saved with the model.

Everything that turns raw data into what the encoder takes is fitted **once, on the training data**, and saved
in the checkpoint next to the weights: the scaling statistics (scikit-learn transformers), the feature count and
column names of a table, the channels, size, resizing, padding and flattening of images, the row normalisation
of a graph's features. Evaluation and prediction apply the saved preprocessing to new data and never refit it, so
a sample's cluster does not depend on which other samples are in the file.

* :class:`TablePreprocessor`, :class:`ImagePreprocessor`, :class:`GraphPreprocessor`: ``fit(x)`` on raw training
  data, ``transform(x)`` any batch of raw data (checked against what the model was trained on, with an error that
  says what it expects), ``state_dict()`` / :func:`preprocessor_from_state` to and from plain containers and
  tensors (checkpoints load with ``torch.load(weights_only=True)``).
* A :class:`~pyagc.data.ClusteringDataModule` fits one in ``setup`` (or applies one it was given with
  :meth:`~pyagc.data.ClusteringDataModule.use_preprocessor`); Lightning saves ``datamodule.state_dict()`` in every
  checkpoint under the DataModule's class name, and :func:`preprocessor_from_checkpoint` finds it again.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from torch import Tensor

__all__ = [
    "SCALINGS",
    "DATA_KINDS",
    "GlobalStandardScaler",
    "make_scaler",
    "Preprocessor",
    "TablePreprocessor",
    "ImagePreprocessor",
    "GraphPreprocessor",
    "preprocessor_from_state",
    "preprocessor_from_checkpoint",
    "DataMismatchError",
    "STATE_VERSION",
]

SCALINGS = ("none", "standard", "minmax", "global_z", "unit")
DATA_KINDS = ("table", "image", "graph")
STATE_VERSION = 1
_CHUNK_ROWS = 65536  # rows scaled at a time (bounds the float64 working copy)


class DataMismatchError(ValueError):
    """The data is not what the model was trained on (another kind, feature count, column names, image size or
    channel count); the message says what the model expects.
    """


# ---------------------------------------------------------------------------------------------------- scalers
class GlobalStandardScaler(TransformerMixin, BaseEstimator):
    """One mean and one standard deviation over all values of all features (``global_z``): ``(x - mean_) / scale_``.

    A scikit-learn transformer (``fit`` / ``partial_fit`` / ``transform`` / ``inverse_transform``); the standard
    deviation is the population one (``ddof=0``), and 1 when all values are equal.
    """

    def __init__(self, copy: bool = True) -> None:
        self.copy = copy

    def fit(self, X: Any, y: Any = None) -> GlobalStandardScaler:
        for attr in ("n_samples_seen_", "mean_", "scale_", "var_"):
            self.__dict__.pop(attr, None)
        return self.partial_fit(X)

    def partial_fit(self, X: Any, y: Any = None) -> GlobalStandardScaler:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"GlobalStandardScaler takes a 2-D array (samples, features), got shape {X.shape}.")
        if getattr(self, "n_samples_seen_", 0) and X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but GlobalStandardScaler was fitted with {self.n_features_in_}."
            )
        n, mean, var = X.size, float(X.mean()) if X.size else 0.0, float(X.var()) if X.size else 0.0
        if getattr(self, "n_samples_seen_", 0):  # Chan et al.'s parallel update of mean and variance
            m = self.n_samples_seen_ * self.n_features_in_
            total = m + n
            delta = mean - self.mean_
            mean_all = self.mean_ + delta * n / total
            var = (self.var_ * m + var * n + delta**2 * m * n / total) / total
            mean = mean_all
        else:
            self.n_features_in_ = X.shape[1]
        self.n_samples_seen_ = getattr(self, "n_samples_seen_", 0) + X.shape[0]
        self.mean_, self.var_ = mean, var
        std = math.sqrt(var)
        self.scale_ = std if std > 0 else 1.0
        return self

    def transform(self, X: Any, copy: bool | None = None) -> np.ndarray:
        copy = self.copy if copy is None else copy
        X = np.array(X, dtype=np.float64, copy=True) if copy else np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has shape {X.shape}, but GlobalStandardScaler was fitted with {self.n_features_in_} features."
            )
        X -= self.mean_
        X /= self.scale_
        return X

    def inverse_transform(self, X: Any, copy: bool | None = None) -> np.ndarray:
        X = np.array(X, dtype=np.float64, copy=True)
        return X * self.scale_ + self.mean_


_SCALER_CLASSES: dict[str, type] = {
    "StandardScaler": StandardScaler,
    "MinMaxScaler": MinMaxScaler,
    "GlobalStandardScaler": GlobalStandardScaler,
}


def make_scaler(method: str) -> TransformerMixin | None:
    """The (unfitted) scikit-learn transformer of a scaling: ``standard`` -> ``StandardScaler``, ``minmax`` ->
    ``MinMaxScaler``, ``global_z`` -> :class:`GlobalStandardScaler`; ``none`` / ``unit`` -> ``None`` (identity:
    ``unit`` means images already in [0, 1]).
    """
    if method not in SCALINGS:
        raise ValueError(f"unknown scaling {method!r}; valid: {list(SCALINGS)}")
    if method == "standard":
        return StandardScaler(copy=False)
    if method == "minmax":
        return MinMaxScaler(copy=False)
    if method == "global_z":
        return GlobalStandardScaler(copy=False)
    return None


def _to_plain(value: Any) -> Any:
    """Numpy values -> tensors and Python scalars (what ``torch.load(weights_only=True)`` reads back)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fiub":
            return torch.from_numpy(np.ascontiguousarray(value).copy())
        return [str(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    return value


def _from_plain(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.numpy().copy()
    return value


def scaler_state(scaler: Any) -> dict[str, Any] | None:
    """A fitted scaler as ``{"class", "params", "attributes"}`` of plain values and tensors (``None`` for none)."""
    if scaler is None:
        return None
    name = type(scaler).__name__
    if name not in _SCALER_CLASSES:
        raise TypeError(f"cannot save a {name} as preprocessing; use one of {sorted(_SCALER_CLASSES)}.")
    attributes = {k: _to_plain(v) for k, v in vars(scaler).items() if k.endswith("_") and not k.startswith("_")}
    params = {k: _to_plain(v) for k, v in scaler.get_params().items()}
    return {"class": name, "params": params, "attributes": attributes}


def scaler_from_state(state: dict[str, Any] | None) -> Any:
    """The fitted scaler saved by :func:`scaler_state`."""
    if state is None:
        return None
    cls = _SCALER_CLASSES.get(state.get("class"))
    if cls is None:
        raise ValueError(
            f"the saved preprocessing names an unknown scaler {state.get('class')!r}; valid: {sorted(_SCALER_CLASSES)}."
        )
    params = dict(state.get("params", {}))
    if "feature_range" in params:
        params["feature_range"] = tuple(params["feature_range"])
    scaler = cls(**params)
    for k, v in state.get("attributes", {}).items():
        setattr(scaler, k, _from_plain(v))
    return scaler


# ---------------------------------------------------------------------------------------------------- base
def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)


class Preprocessor:
    """Fitted preprocessing of one data kind: structural steps (no statistics) then a scaler fitted on the training
    data. Subclasses set :attr:`kind` and implement ``_structure`` / ``_check`` / ``_extra_state``.

    Args:
        scaling: ``none``, ``standard``, ``minmax``, ``global_z`` or ``unit``.
        source: the name of the data it is fitted on (for messages).
    """

    kind: ClassVar[str] = ""
    #: data config keys whose values this preprocessing fixes (the model's, not the new data's)
    config_keys: ClassVar[tuple[str, ...]] = ("scaling",)

    def __init__(self, scaling: str = "none", source: str | None = None) -> None:
        if scaling not in SCALINGS:
            raise ValueError(f"unknown scaling {scaling!r}; valid: {list(SCALINGS)}")
        self.scaling = scaling
        self.source = source
        self.scaler: Any = None
        self.input_shape: tuple[int, ...] | None = None  # per-sample shape of the raw input
        self.output_shape: tuple[int, ...] | None = None  # per-sample shape of what the model takes
        self.n_fit_samples: int | None = None

    # -------------------------------------------------------------- fitting and applying
    @property
    def fitted(self) -> bool:
        return self.input_shape is not None

    def fit(self, x: Tensor | np.ndarray, source: str | None = None) -> Preprocessor:
        """Fit on the raw training data ``x`` (samples first); returns ``self``."""
        x = torch.as_tensor(x)
        if x.shape[0] < 1:
            raise ValueError("cannot fit the preprocessing on no samples.")
        self.source = source if source is not None else self.source
        self._check_raw(x)
        self.input_shape = tuple(int(s) for s in x.shape[1:])
        structured = self._structure(x)
        self.output_shape = tuple(int(s) for s in structured.shape[1:])
        self.n_fit_samples = int(x.shape[0])
        self.scaler = make_scaler(self.scaling)
        if self.scaler is not None:
            flat = structured.reshape(structured.shape[0], -1)
            for part in flat.split(_CHUNK_ROWS):
                self.scaler.partial_fit(part.numpy().astype(np.float64, copy=True))
        return self

    def transform(self, x: Tensor | np.ndarray, what: str = "the data") -> Tensor:
        """Raw samples -> the model's input (float32), with the fitted statistics; ``what`` names the data in
        errors. Raises :class:`DataMismatchError` when ``x`` is not what the model was trained on.
        """
        if not self.fitted:
            raise RuntimeError("the preprocessing is not fitted yet: call fit() on the training data first.")
        x = torch.as_tensor(x)
        self.check(x, what)
        structured = self._structure(x)
        if self.scaler is None:
            return structured if structured.dtype == torch.float32 else structured.float()
        flat = structured.reshape(structured.shape[0], -1)
        out = torch.empty(flat.shape, dtype=torch.float32)
        start = 0
        for part in flat.split(_CHUNK_ROWS):
            scaled = self.scaler.transform(part.numpy().astype(np.float64, copy=True))
            out[start : start + len(part)] = torch.from_numpy(np.asarray(scaled, dtype=np.float32))
            start += len(part)
        return out.reshape(structured.shape)

    def fit_transform(self, x: Tensor | np.ndarray, source: str | None = None) -> Tensor:
        return self.fit(x, source).transform(x, what=source or "the training data")

    def check(self, x: Tensor, what: str = "the data") -> None:
        """Raise :class:`DataMismatchError` when raw samples ``x`` do not fit the fitted preprocessing."""
        self._check_raw(x)
        self._check(x, what)

    # -------------------------------------------------------------- for subclasses
    def _check_raw(self, x: Tensor) -> None:
        pass

    def _structure(self, x: Tensor) -> Tensor:
        return x

    def _check(self, x: Tensor, what: str) -> None:
        pass

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def config_values(self) -> dict[str, Any]:
        """The data config values this preprocessing fixes (``{"scaling": "global_z", ...}``)."""
        return {"scaling": self.scaling}

    # -------------------------------------------------------------- description
    def expects(self) -> str:
        """What the model takes, in words (for error messages)."""
        return "data"

    def describe(self) -> str:
        """One line: kind, input, scaling and where it was fitted."""
        fitted = f", fitted on {self.source!r}" if self.source else ""
        n = f" ({self.n_fit_samples} samples)" if self.n_fit_samples else ""
        return f"{self.expects()}, scaling={self.scaling}{fitted}{n}"

    # -------------------------------------------------------------- saving
    def state_dict(self) -> dict[str, Any]:
        """Plain containers and tensors only: loads with ``torch.load(weights_only=True)``."""
        return {
            "pyagc_preprocessing": STATE_VERSION,
            "kind": self.kind,
            "scaling": self.scaling,
            "source": self.source,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "n_fit_samples": self.n_fit_samples,
            "scaler": scaler_state(self.scaler),
            **self._extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scaling = state["scaling"]
        self.source = state.get("source")
        self.input_shape = None if state.get("input_shape") is None else tuple(state["input_shape"])
        self.output_shape = None if state.get("output_shape") is None else tuple(state["output_shape"])
        self.n_fit_samples = state.get("n_fit_samples")
        self.scaler = scaler_from_state(state.get("scaler"))
        self._load_extra_state(state)

    def same_as(self, other: Preprocessor) -> bool:
        """Whether ``other`` is the same fitted preprocessing (same settings, shapes and statistics)."""
        return _equal(self.state_dict(), other.state_dict(), ignore=("source",))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


def _equal(a: Any, b: Any, ignore: tuple[str, ...] = ()) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (set(a) | set(b)) - set(ignore)
        return all(_equal(a.get(k), b.get(k)) for k in keys)
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


# ---------------------------------------------------------------------------------------------------- kinds
class TablePreprocessor(Preprocessor):
    """Rows of ``n_features`` numbers (optionally named: ``columns``, the header of a CSV file)."""

    kind = "table"

    def __init__(self, scaling: str = "standard", columns: list[str] | None = None, source: str | None = None) -> None:
        super().__init__(scaling, source)
        self.columns = None if columns is None else [str(c) for c in columns]

    @property
    def n_features(self) -> int | None:
        return None if self.input_shape is None else int(np.prod(self.input_shape))

    def _check_raw(self, x: Tensor) -> None:
        if x.dim() != 2:
            raise DataMismatchError(
                f"a table has one row per sample and one column per feature; got an array of shape {tuple(x.shape)}."
            )
        if self.columns is not None and not self.fitted and len(self.columns) != x.shape[1]:
            raise ValueError(f"{len(self.columns)} column names for {x.shape[1]} features.")

    def _check(self, x: Tensor, what: str) -> None:
        if x.shape[1] != self.n_features:
            raise DataMismatchError(
                f"the model takes {self.expects()}; {what} has {x.shape[1]} features per row. "
                f"Give data with the same columns as the training data."
            )

    def expects(self) -> str:
        n = self.n_features
        if self.columns:
            shown = ", ".join(self.columns[:8]) + (", ..." if len(self.columns) > 8 else "")
            return f"a table of {n} features (columns {shown})"
        return f"a table of {n} features"

    def _extra_state(self) -> dict[str, Any]:
        return {"columns": self.columns}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.columns = state.get("columns")

    def match_columns(self, names: list[str] | None, what: str) -> list[int] | None:
        """Positions, in a file with header ``names``, of the model's columns in the model's order (the file may
        order them otherwise); ``None`` when either side has no names (then the count must match). Raises
        :class:`DataMismatchError` naming the missing and the unknown columns.
        """
        if names is None or self.columns is None:
            return None
        if list(names) == self.columns:
            return None
        where = {n: i for i, n in enumerate(names)}
        missing = [c for c in self.columns if c not in where]
        extra = [n for n in names if n not in set(self.columns)]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing: {missing[:10]}")
            if extra:
                parts.append(f"not in the model: {extra[:10]}")
            hint = " An identifier column is not a feature: name it with data.id_column=NAME." if extra else ""
            raise DataMismatchError(
                f"the model takes {self.expects()}; {what} has {len(names)} feature columns with other names "
                f"({'; '.join(parts)}). Give a file with the training data's columns (in any order).{hint}"
            )
        return [where[c] for c in self.columns]


class ImagePreprocessor(Preprocessor):
    r"""Images ``(N, C, H, W)``: optional resize to ``resize x resize`` (bilinear, antialiased when shrinking),
    ``pad`` pixels of black border, ``flatten`` to vectors, then the scaling. Images read from files (an image
    folder) are first converted to RGB (``grayscale``: then to one channel) and resized to ``file_size``.
    """

    kind = "image"
    config_keys = ("scaling", "resize", "pad", "flatten", "image_size", "grayscale")

    def __init__(
        self,
        scaling: str = "unit",
        resize: int | None = None,
        pad: int = 0,
        flatten: bool = False,
        file_size: int | None = None,
        grayscale: bool = False,
        source: str | None = None,
    ) -> None:
        super().__init__(scaling, source)
        self.resize = None if resize is None else int(resize)
        self.pad = int(pad)
        self.flatten = bool(flatten)
        self.file_size = None if file_size is None else int(file_size)
        self.grayscale = bool(grayscale)

    @property
    def channels(self) -> int | None:
        return None if self.input_shape is None else int(self.input_shape[0])

    def _check_raw(self, x: Tensor) -> None:
        if x.dim() != 4:
            raise DataMismatchError(
                f"images come as (N, channels, height, width); got an array of shape {tuple(x.shape)}."
            )

    def _check(self, x: Tensor, what: str) -> None:
        c, h, w = (int(s) for s in x.shape[1:])
        if c != self.channels:
            raise DataMismatchError(
                f"the model takes {self.expects()}; {what} has {c}-channel images. "
                + ("Convert them to grayscale." if self.channels == 1 else f"Give {self.channels}-channel images.")
            )
        if self.resize is None and (h, w) != tuple(self.input_shape[1:]):
            raise DataMismatchError(
                f"the model takes {self.expects()}; {what} has {h}x{w} images. The model was trained without "
                f"resizing: give {self.input_shape[1]}x{self.input_shape[2]} images (or train with data.resize=N, "
                "which resizes any input to N x N)."
            )

    def _structure(self, x: Tensor) -> Tensor:
        from pyagc.data.images import resize_images

        if not torch.is_floating_point(x):
            x = x.float()
        if self.resize is not None and tuple(x.shape[-2:]) != (self.resize, self.resize):
            x = resize_images(x, self.resize)
        if self.pad:
            x = torch.nn.functional.pad(x, (self.pad,) * 4, value=0.0)
        if self.flatten:
            x = x.reshape(x.shape[0], -1)
        return x

    def expects(self) -> str:
        if self.input_shape is None:
            return "images"
        c, h, w = self.input_shape
        size = f"any size resized to {self.resize}x{self.resize}" if self.resize else f"{h}x{w}"
        if self.file_size is not None:
            size = f"image files resized to {self.file_size}x{self.file_size}"
        steps = "".join([f", padded by {self.pad}" if self.pad else "", ", flattened" if self.flatten else ""])
        return f"{c}-channel images ({size}{steps})"

    def config_values(self) -> dict[str, Any]:
        values = {"scaling": self.scaling, "resize": self.resize, "pad": self.pad, "flatten": self.flatten}
        if self.file_size is not None:
            values.update(image_size=self.file_size, grayscale=self.grayscale)
        return values

    def _extra_state(self) -> dict[str, Any]:
        return {
            "resize": self.resize,
            "pad": self.pad,
            "flatten": self.flatten,
            "file_size": self.file_size,
            "grayscale": self.grayscale,
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.resize, self.pad, self.flatten = state.get("resize"), int(state.get("pad", 0)), bool(state.get("flatten"))
        self.file_size, self.grayscale = state.get("file_size"), bool(state.get("grayscale"))


class GraphPreprocessor(Preprocessor):
    """Node features ``(N, F)`` of a graph: optional row normalisation (each node's features divided by their sum),
    then the scaling.
    """

    kind = "graph"
    config_keys = ("scaling", "normalize_features")

    def __init__(self, scaling: str = "none", normalize_features: bool = False, source: str | None = None) -> None:
        super().__init__(scaling, source)
        self.normalize_features = bool(normalize_features)

    def _check_raw(self, x: Tensor) -> None:
        if x.dim() != 2:
            raise DataMismatchError(f"node features come as (nodes, features); got shape {tuple(x.shape)}.")

    def _check(self, x: Tensor, what: str) -> None:
        if x.shape[1] != self.input_shape[0]:
            raise DataMismatchError(f"the model takes {self.expects()}; {what} has {x.shape[1]} node features.")

    def _structure(self, x: Tensor) -> Tensor:
        x = x.float()
        if self.normalize_features:
            x = x / x.sum(1, keepdim=True).clamp_min(1e-12)
        return x

    def expects(self) -> str:
        n = "?" if self.input_shape is None else self.input_shape[0]
        return f"a graph with {n} features per node" + (" (row-normalised)" if self.normalize_features else "")

    def config_values(self) -> dict[str, Any]:
        return {"scaling": self.scaling, "normalize_features": self.normalize_features}

    def _extra_state(self) -> dict[str, Any]:
        return {"normalize_features": self.normalize_features}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.normalize_features = bool(state.get("normalize_features"))


_KINDS: dict[str, type[Preprocessor]] = {
    "table": TablePreprocessor,
    "image": ImagePreprocessor,
    "graph": GraphPreprocessor,
}


def preprocessor_from_state(state: dict[str, Any]) -> Preprocessor:
    """Rebuild a fitted preprocessor from :meth:`Preprocessor.state_dict`."""
    if not isinstance(state, dict) or "pyagc_preprocessing" not in state:
        raise ValueError("not a saved pyagc preprocessing (no 'pyagc_preprocessing' marker).")
    if int(state["pyagc_preprocessing"]) > STATE_VERSION:
        raise ValueError(
            f"the saved preprocessing has format version {state['pyagc_preprocessing']}, newer than "
            f"this pyagc reads ({STATE_VERSION}); update pyagc."
        )
    cls = _KINDS.get(state.get("kind"))
    if cls is None:
        raise ValueError(f"the saved preprocessing is of unknown kind {state.get('kind')!r}; valid: {DATA_KINDS}.")
    p = cls.__new__(cls)
    Preprocessor.__init__(p, state["scaling"])
    if cls is TablePreprocessor:
        p.columns = None
    p.load_state_dict(state)
    return p


def preprocessor_from_checkpoint(checkpoint: dict[str, Any]) -> Preprocessor | None:
    """The preprocessing saved in a checkpoint (Lightning stores ``datamodule.state_dict()`` under the DataModule's
    class name), or ``None`` for a checkpoint written before pyagc saved it.
    """
    for _key, value in checkpoint.items():
        if isinstance(value, dict) and isinstance(value.get("preprocessing"), dict):
            state = value["preprocessing"]
            if "pyagc_preprocessing" in state:
                return preprocessor_from_state(state)
    return None
