"""ACe/DeC as a scikit-learn estimator."""

from __future__ import annotations

from typing import Any

import numpy as np

from pyagc.estimators.base import BaseDeepClusterer, mlp_encoder_config, model_config


class ACeDeC(BaseDeepClusterer):
    """ACe/DeC (Miklautz et al., IJCAI 2021): MLP autoencoder pretraining, then reconstruction + the clustered-space
    and shared-space k-means losses under a learned rotation (:class:`~pyagc.clusters.ACeDeCClusterHead`),
    Adam(1e-4), and a final re-clustering of the trained embedding.

    Defaults follow the command line, ``configs/model/acedec.yaml`` (50 + 50 epochs, Adam 1e-4,
    ``final_reclustering``; the preset :func:`pyagc.models.ACeDeC` has 100 + 150) and ``configs/head/acedec.yaml``.
    No ``cluster_centers_``: the centres live in the rotated, clustered subspace
    (``module_.cluster_head.split_spaces(z)``).

    Shared parameters (:class:`~pyagc.estimators.base.BaseDeepClusterer`): ``pretrain_epochs`` (50), ``epochs`` (50),
    ``batch_size`` (256), ``pretrain_optimizer`` (``None``: Adam 1e-3), ``optimizer`` (``None``: Adam 1e-4),
    ``scaling`` (``"standard"``), ``random_state``, ``accelerator``, ``devices``, ``precision``, ``verbose``,
    ``checkpoint_dir``.

    Parameters
    ----------
    n_clusters : int, default 10
    hidden_dims : tuple of int, default (500, 500, 2000)
    n_features : int, default 10
        Embedding size (what :meth:`transform` returns).
    reconstruction_weight : float, default 1.0
    count_momentum : float, default 0.5
    beta_lr_multiplier : float, default 10.0
    shared_space_tolerance : float, default 0.05
    reinit_after : int, default 10
    n_init : int, default 10
    final_reclustering : bool, default True
    """

    _default_optimizer = {"name": "adam", "lr": 0.0001}

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        n_features: int = 10,
        reconstruction_weight: float = 1.0,
        count_momentum: float = 0.5,
        beta_lr_multiplier: float = 10.0,
        shared_space_tolerance: float = 0.05,
        reinit_after: int = 10,
        n_init: int = 10,
        final_reclustering: bool = True,
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
        self.reconstruction_weight = reconstruction_weight
        self.count_momentum = count_momentum
        self.beta_lr_multiplier = beta_lr_multiplier
        self.shared_space_tolerance = shared_space_tolerance
        self.reinit_after = reinit_after
        self.n_init = n_init
        self.final_reclustering = final_reclustering
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

    def _cluster_centers(self, head: Any) -> np.ndarray | None:
        return None

    def _component_configs(self, n_samples: int, batches_per_epoch: int, seed: int) -> dict[str, Any]:
        return {
            "encoder": mlp_encoder_config(self.hidden_dims, self.n_features),
            "head": {
                "_target_": "pyagc.clusters.ACeDeCClusterHead",
                "n_clusters": int(self.n_clusters),
                "n_features": int(self.n_features),
                "reconstruction_weight": float(self.reconstruction_weight),
                "count_momentum": float(self.count_momentum),
                "beta_lr_multiplier": float(self.beta_lr_multiplier),
                "shared_space_tolerance": float(self.shared_space_tolerance),
                "reinit_after": int(self.reinit_after),
                "n_init": int(self.n_init),
                "seed": int(seed),
            },
            "model": model_config(
                self.pretrain_epochs,
                self.epochs,
                self.pretrain_optimizer,
                self.optimizer,
                self._default_optimizer,
                final_reclustering=bool(self.final_reclustering),
            ),
        }
