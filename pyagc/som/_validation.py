"""Input validation helpers shared by the SOM components.

Every error message says *what* is wrong and *what to do* about it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch


def check_option(value: Any, valid: Iterable[str], name: str) -> str:
    """Return ``value`` lower-cased if it is one of ``valid``, else raise a clear ``ValueError``."""
    valid = list(valid)
    if not isinstance(value, str) or value.lower() not in valid:
        raise ValueError(f"Unknown {name} {value!r}. Valid options are: {', '.join(repr(v) for v in valid)}.")
    return value.lower()


def as_float_array(data: Any, num_features: int | None = None, name: str = "data") -> np.ndarray:
    """Convert ``data`` (numpy array, torch tensor or nested list) to a finite 2-D float64 array.

    Raises:
        TypeError: when ``data`` cannot be converted to numbers.
        ValueError: for wrong dimensionality, an empty array, a feature-count mismatch
            or non-finite values (NaN / inf).
    """
    if isinstance(data, torch.Tensor):
        arr = data.detach().cpu().numpy()
    else:
        try:
            arr = np.asarray(data)
        except Exception as exc:  # pragma: no cover - very exotic inputs
            raise TypeError(
                f"{name} must be array-like (numpy array, torch tensor or list); got {type(data).__name__}."
            ) from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(
            f"{name} must contain numbers; got dtype {arr.dtype}. Convert categorical columns to numbers first."
        )
    if arr.ndim == 1:
        hint = " If it holds a single feature, pass data.reshape(-1, 1)." if num_features in (None, 1) else ""
        raise ValueError(f"{name} must be 2-D with shape (n_samples, n_features); got shape {arr.shape}.{hint}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (n_samples, n_features); got shape {arr.shape}. "
            "Flatten each sample first, e.g. data.reshape(len(data), -1)."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 samples); pass at least one sample.")
    if num_features is not None and arr.shape[1] != num_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features but the map was built with num_features={num_features}. "
            f"Pass data with {num_features} columns or create the SOM with num_features={arr.shape[1]}."
        )
    arr = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr)
    if not finite.all():
        bad_rows = np.where(~finite.all(axis=1))[0]
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(np.isinf(arr).sum())
        raise ValueError(
            f"{name} contains non-finite values ({n_nan} NaN, {n_inf} inf) in {len(bad_rows)} rows "
            f"(first bad row: {int(bad_rows[0])}). Remove or impute them (e.g. sklearn.impute.SimpleImputer) before using the SOM."
        )
    return arr


def as_float_tensor(data: Any, num_features: int | None, device: torch.device, name: str = "data") -> torch.Tensor:
    """Like :func:`as_float_array` but returns a float32 tensor on ``device``.

    Tensors already on a device are validated there (no host round trip).
    """
    if isinstance(data, torch.Tensor):
        if data.ndim != 2:
            raise ValueError(f"{name} must be 2-D with shape (n_samples, n_features); got shape {tuple(data.shape)}.")
        if data.shape[0] == 0:
            raise ValueError(f"{name} is empty (0 samples); pass at least one sample.")
        if num_features is not None and data.shape[1] != num_features:
            raise ValueError(
                f"{name} has {data.shape[1]} features but the map was built with num_features={num_features}. "
                f"Pass data with {num_features} columns or create the SOM with num_features={data.shape[1]}."
            )
        if not (
            data.is_floating_point() or data.dtype in (torch.int32, torch.int64, torch.int16, torch.uint8, torch.bool)
        ):
            raise TypeError(f"{name} must be a real-valued tensor; got dtype {data.dtype}.")
        t = data.detach().to(device=device, dtype=torch.float32)
        if not torch.isfinite(t).all():
            bad = (~torch.isfinite(t)).any(dim=1).nonzero().flatten()
            raise ValueError(
                f"{name} contains non-finite values (NaN or inf) in {len(bad)} rows (first bad row: {int(bad[0])}). "
                "Remove or impute them before using the SOM."
            )
        return t
    arr = as_float_array(data, num_features, name)
    return torch.as_tensor(arr, dtype=torch.float32, device=device)


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def check_positive_float(value: Any, name: str, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}.") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}.")
    return v
