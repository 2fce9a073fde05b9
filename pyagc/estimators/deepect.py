"""DeepECT as a scikit-learn estimator."""

from __future__ import annotations

from typing import Any

import numpy as np

from pyagc.estimators.base import BaseDeepClusterer, mlp_encoder_config, model_config


class DeepECT(BaseDeepClusterer):
    """DeepECT (Mautz et al., ICDM 2019 / DSE 2020): MLP autoencoder pretraining, then a cluster tree grown every
    ``split_interval`` steps up to ``max_leaves`` leaves (:class:`~pyagc.clusters.DeepECTClusterHead`), Adam(1e-4).
    Labels are the flat cut of the tree at ``n_clusters`` clusters (fewer while the tree has fewer leaves); the
    whole tree is ``module_.cluster_head.tree()``. The assignment is hard: no ``predict_proba``.
    ``cluster_centers_``: the centres of the cut's nodes.

    Defaults follow the command line, ``configs/model/deepect.yaml`` (50 + 50 epochs, Adam 1e-4) and
    ``configs/head/deepect.yaml`` (the preset :func:`pyagc.models.DeepECT` splits every 500 steps), except
    ``split_interval=None``: every 2 epochs (the config's 16 is 2 epochs of digits at batch 256, clustpy's
    schedule).

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
    max_leaves : int, default 20
    split_interval : int or None, default None
        Joint steps between splits; ``None``: 2 epochs' worth of batches.
    prune_threshold : float, default 0.1
    clustering_weight, reconstruction_weight : float, default 1.0
    reconstruction_reduction : {"sum", "mean"}, default "sum"
    center_update : {"adam", "running_mean"}, default "adam"
    center_lr : float, default 1e-4
    projection_moves_centers : bool, default True
    n_init : int, default 20
    """

    _soft_assignments = False
    _default_optimizer = {"name": "adam", "lr": 0.0001}

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        n_features: int = 10,
        max_leaves: int = 20,
        split_interval: int | None = None,
        prune_threshold: float = 0.1,
        clustering_weight: float = 1.0,
        reconstruction_weight: float = 1.0,
        reconstruction_reduction: str = "sum",
        center_update: str = "adam",
        center_lr: float = 0.0001,
        projection_moves_centers: bool = True,
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
        self.max_leaves = max_leaves
        self.split_interval = split_interval
        self.prune_threshold = prune_threshold
        self.clustering_weight = clustering_weight
        self.reconstruction_weight = reconstruction_weight
        self.reconstruction_reduction = reconstruction_reduction
        self.center_update = center_update
        self.center_lr = center_lr
        self.projection_moves_centers = projection_moves_centers
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

    def _cluster_centers(self, head: Any) -> np.ndarray | None:
        if not head.is_initialized:
            return None
        groups = head.cut(min(int(head.n_clusters), int(head.n_leaves)))
        return head.centers[groups].detach().cpu().double().numpy().copy()

    def _component_configs(self, n_samples: int, batches_per_epoch: int, seed: int) -> dict[str, Any]:
        interval = 2 * batches_per_epoch if self.split_interval is None else int(self.split_interval)
        return {
            "encoder": mlp_encoder_config(self.hidden_dims, self.n_features),
            "head": {
                "_target_": "pyagc.clusters.DeepECTClusterHead",
                "n_clusters": int(self.n_clusters),
                "n_features": int(self.n_features),
                "max_leaves": int(self.max_leaves),
                "split_interval": interval,
                "prune_threshold": float(self.prune_threshold),
                "clustering_weight": float(self.clustering_weight),
                "reconstruction_weight": float(self.reconstruction_weight),
                "reconstruction_reduction": self.reconstruction_reduction,
                "center_update": self.center_update,
                "center_lr": float(self.center_lr),
                "projection_moves_centers": bool(self.projection_moves_centers),
                "n_init": int(self.n_init),
                "seed": int(seed),
            },
            "model": model_config(
                self.pretrain_epochs, self.epochs, self.pretrain_optimizer, self.optimizer, self._default_optimizer
            ),
        }
