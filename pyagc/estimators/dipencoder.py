"""DipEncoder as a scikit-learn estimator."""

from __future__ import annotations

from typing import Any

from pyagc.estimators.base import BaseDeepClusterer, mlp_encoder_config, model_config


class DipEncoder(BaseDeepClusterer):
    """DipEncoder (Leiber et al., KDD 2022): MLP autoencoder pretraining, then pairwise dip losses on learnable
    projection axes plus the reconstruction (:class:`~pyagc.clusters.DipEncoderClusterHead`), Adam(1e-4).

    Defaults follow the command line, ``configs/model/dipencoder.yaml`` (50 + 50 epochs, Adam 1e-4; the preset
    :func:`pyagc.models.DipEncoder` has 100 + 150) and ``configs/head/dipencoder.yaml``, except
    ``update_interval=None``: relabel once per epoch (the paper; the config's 8 is one epoch of digits at batch 256).

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
    clustering_weight : float, default 1.0
    reconstruction_weight : float or None, default None
        ``None``: 1 / (4 L0), L0 the mean squared input of the first joint batch (the paper's calibration).
    update_interval : int or None, default None
        Joint steps between relabellings; ``None``: the number of batches per epoch.
    max_cluster_size_diff_factor : float, default 3.0
    min_cluster_points : int, default 10
    dip_weighting : bool, default False
    n_init : int, default 10
    """

    _default_optimizer = {"name": "adam", "lr": 0.0001}

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        n_features: int = 10,
        clustering_weight: float = 1.0,
        reconstruction_weight: float | None = None,
        update_interval: int | None = None,
        max_cluster_size_diff_factor: float = 3.0,
        min_cluster_points: int = 10,
        dip_weighting: bool = False,
        n_init: int = 10,
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
        self.clustering_weight = clustering_weight
        self.reconstruction_weight = reconstruction_weight
        self.update_interval = update_interval
        self.max_cluster_size_diff_factor = max_cluster_size_diff_factor
        self.min_cluster_points = min_cluster_points
        self.dip_weighting = dip_weighting
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
        interval = batches_per_epoch if self.update_interval is None else int(self.update_interval)
        return {
            "encoder": mlp_encoder_config(self.hidden_dims, self.n_features),
            "head": {
                "_target_": "pyagc.clusters.DipEncoderClusterHead",
                "n_clusters": int(self.n_clusters),
                "n_features": int(self.n_features),
                "clustering_weight": float(self.clustering_weight),
                "reconstruction_weight": self.reconstruction_weight,
                "update_interval": interval,
                "max_cluster_size_diff_factor": float(self.max_cluster_size_diff_factor),
                "min_cluster_points": int(self.min_cluster_points),
                "dip_weighting": bool(self.dip_weighting),
                "n_init": int(self.n_init),
                "seed": int(seed),
            },
            "model": model_config(
                self.pretrain_epochs, self.epochs, self.pretrain_optimizer, self.optimizer, self._default_optimizer
            ),
        }
