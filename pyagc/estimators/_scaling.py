"""The preprocessing an estimator fits on its training data and applies, never refitted, to new rows."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils.validation import check_is_fitted

#: ``scaling`` names and what they fit (pyagc's data scalings, ``pyagc.data.base.SCALINGS``, as scikit-learn
#: transformers)
SCALING_NAMES = ("standard", "minmax", "global_z", "none", "unit")


class GlobalStandardScaler(TransformerMixin, BaseEstimator):
    """One mean and one standard deviation over all values of the training data (pyagc's ``global_z`` scaling:
    the setting of ``data=digits`` in the command line, where per-feature z-scores would blow up nearly constant
    border pixels).
    """

    def fit(self, X: Any, y: Any = None) -> GlobalStandardScaler:
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = float(X.mean())
        std = float(X.std())
        self.scale_ = std if std > 0 else 1.0
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = np.asarray(X)
        return (X - self.mean_) / self.scale_


def make_scaler(scaling: Any) -> Any:
    """A fresh, unfitted transformer for ``scaling``: ``"standard"`` (:class:`~sklearn.preprocessing.StandardScaler`,
    per-feature z-score), ``"minmax"`` (:class:`~sklearn.preprocessing.MinMaxScaler`, per feature to [0, 1]),
    ``"global_z"`` (:class:`GlobalStandardScaler`), ``"none"`` / ``"unit"`` / ``None`` (no scaling: ``None`` is
    returned), or any scikit-learn transformer (cloned, so the given one is never fitted).
    """
    if scaling is None:
        return None
    if isinstance(scaling, str):
        name = scaling.lower()
        if name == "standard":
            return StandardScaler()
        if name == "minmax":
            return MinMaxScaler()
        if name == "global_z":
            return GlobalStandardScaler()
        if name in ("none", "unit"):
            return None
        raise ValueError(
            f"unknown scaling {scaling!r}; valid: {', '.join(SCALING_NAMES)}, None, or a scikit-learn "
            "transformer such as sklearn.preprocessing.RobustScaler()."
        )
    if hasattr(scaling, "fit") and hasattr(scaling, "transform"):
        return clone(scaling)
    raise ValueError(
        f"scaling must be one of {', '.join(SCALING_NAMES)}, None, or a scikit-learn transformer "
        f"(with fit and transform), got {type(scaling).__name__}."
    )
