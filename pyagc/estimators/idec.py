"""IDEC as a scikit-learn estimator."""

from __future__ import annotations

from typing import Any

from pyagc.estimators.base import BaseDeepClusterer, mlp_encoder_config, model_config


class IDEC(BaseDeepClusterer):
    """IDEC (Guo et al., IJCAI 2017): DEC that keeps the decoder, loss reconstruction + gamma KL(P || Q)
    (:class:`~pyagc.clusters.IDECClusterHead`), Adam.

    Defaults follow the command line, ``configs/model/idec.yaml`` (50 + 50 epochs, Adam 1e-3; the preset
    :func:`pyagc.models.IDEC` has 200 + 100) and ``configs/head/idec.yaml``.

    Shared parameters (:class:`~pyagc.estimators.base.BaseDeepClusterer`): ``pretrain_epochs`` (50), ``epochs`` (50),
    ``batch_size`` (256), ``pretrain_optimizer`` / ``optimizer`` (``None``: Adam 1e-3), ``scaling`` (``"standard"``),
    ``random_state``, ``accelerator``, ``devices``, ``precision``, ``verbose``, ``checkpoint_dir``.

    Parameters
    ----------
    n_clusters : int, default 10
    hidden_dims : tuple of int, default (500, 500, 2000)
        Widths of the encoder's hidden layers (the decoder mirrors them).
    n_features : int, default 10
        Embedding size (what :meth:`transform` returns).
    gamma : float, default 0.1
        Weight of the clustering loss against the reconstruction.
    alpha, update_interval, tol, n_init :
        As :class:`~pyagc.estimators.DEC` (1.0, 140 steps, 0.001, 20).
    """

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        n_features: int = 10,
        gamma: float = 0.1,
        alpha: float = 1.0,
        update_interval: int | None = 140,
        tol: float = 0.001,
        n_init: int = 20,
        pretrain_epochs: int = 50,
        epochs: int = 50,
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
        self.gamma = gamma
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

    def _component_configs(self, n_samples: int, batches_per_epoch: int, seed: int) -> dict[str, Any]:
        return {
            "encoder": mlp_encoder_config(self.hidden_dims, self.n_features),
            "head": {
                "_target_": "pyagc.clusters.IDECClusterHead",
                "n_clusters": int(self.n_clusters),
                "n_features": int(self.n_features),
                "gamma": float(self.gamma),
                "alpha": float(self.alpha),
                "update_interval": self.update_interval,
                "tol": float(self.tol),
                "n_init": int(self.n_init),
                "augmentation_invariance": False,
                "seed": int(seed),
            },
            "model": model_config(
                self.pretrain_epochs, self.epochs, self.pretrain_optimizer, self.optimizer, self._default_optimizer
            ),
        }
