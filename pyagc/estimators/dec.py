"""DEC as a scikit-learn estimator."""

from __future__ import annotations

from typing import Any

from pyagc.estimators.base import BaseDeepClusterer, mlp_encoder_config, model_config


class DEC(BaseDeepClusterer):
    """DEC (Xie et al., ICML 2016): an MLP autoencoder pretrained on reconstruction, then the encoder alone trained
    with KL(P || Q) between Student-t soft assignments Q and their sharpened target P
    (:class:`~pyagc.clusters.DECClusterHead`), SGD(lr 0.01, momentum 0.9).

    Defaults follow the command line, ``configs/model/dec.yaml`` and ``configs/head/dec.yaml`` (200 + 200
    epochs, ``n_init=20``; the preset :func:`pyagc.models.DEC` has 100 joint epochs); ``head.tol`` usually stops
    joint training early. ``scaling="standard"`` (per-feature z-scores) suits most tables; the command line's
    ``data=digits`` uses ``"global_z"``.

    The remaining parameters are shared by all estimators (:class:`~pyagc.estimators.base.BaseDeepClusterer`):
    ``pretrain_epochs`` (200), ``epochs`` (200), ``batch_size`` (256), ``pretrain_optimizer`` (``None``: Adam 1e-3),
    ``optimizer`` (``None``: SGD 0.01, momentum 0.9), ``scaling``, ``random_state``, ``accelerator``, ``devices``,
    ``precision``, ``verbose``, ``checkpoint_dir``.

    Parameters
    ----------
    n_clusters : int, default 10
    hidden_dims : tuple of int, default (500, 500, 2000)
        Widths of the encoder's hidden layers (the decoder mirrors them).
    n_features : int, default 10
        Embedding size (the encoder's output, what :meth:`transform` returns).
    alpha : float, default 1.0
        Degrees of freedom of the Student-t kernel.
    update_interval : int or None, default 140
        Joint steps between recomputations of the target distribution P on the whole training set.
    tol : float, default 0.001
        Stop when fewer than this share of labels changed between two target updates.
    n_init : int, default 20
        k-means restarts for the centres' initialisation.

    Examples:
    --------
    >>> from pyagc.estimators import DEC
    >>> labels = DEC(n_clusters=10, random_state=0).fit_predict(X)          # doctest: +SKIP
    """

    _default_optimizer = {"name": "sgd", "lr": 0.01, "momentum": 0.9}

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        n_features: int = 10,
        alpha: float = 1.0,
        update_interval: int | None = 140,
        tol: float = 0.001,
        n_init: int = 20,
        pretrain_epochs: int = 200,
        epochs: int = 200,
        batch_size: int = 256,
        pretrain_optimizer: dict | None = None,
        optimizer: dict | None = None,
        scaling: Any = "standard",
        random_state: Any = None,
        accelerator: str = "auto",
        devices: Any = 1,
        precision: Any = "32-true",
        verbose: bool = False,
        checkpoint_dir: str | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.hidden_dims = hidden_dims
        self.n_features = n_features
        self.alpha = alpha
        self.update_interval = update_interval
        self.tol = tol
        self.n_init = n_init
        self.pretrain_epochs = pretrain_epochs
        self.epochs = epochs
        self.batch_size = batch_size
        self.pretrain_optimizer = pretrain_optimizer
        self.optimizer = optimizer
        self.scaling = scaling
        self.random_state = random_state
        self.accelerator = accelerator
        self.devices = devices
        self.precision = precision
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir

    _head_target = "pyagc.clusters.DECClusterHead"

    def _head_config(self) -> dict[str, Any]:
        return {
            "alpha": float(self.alpha),
            "update_interval": self.update_interval,
            "tol": float(self.tol),
            "n_init": int(self.n_init),
            "augmentation_invariance": False,
        }

    def _component_configs(self, n_samples: int, batches_per_epoch: int, seed: int) -> dict[str, Any]:
        return {
            "encoder": mlp_encoder_config(self.hidden_dims, self.n_features),
            "head": {
                "_target_": self._head_target,
                "n_clusters": int(self.n_clusters),
                "n_features": int(self.n_features),
                **self._head_config(),
                "seed": int(seed),
            },
            "model": model_config(
                self.pretrain_epochs, self.epochs, self.pretrain_optimizer, self.optimizer, self._default_optimizer
            ),
        }
