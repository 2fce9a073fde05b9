"""Contrastive Clustering as a scikit-learn estimator."""

from __future__ import annotations

from typing import Any

from pyagc.estimators.base import BaseDeepClusterer, mlp_encoder_config, model_config


class ContrastiveClustering(BaseDeepClusterer):
    """Contrastive Clustering (Li et al., AAAI 2021): every step embeds two random views of the batch and trains the
    encoder with instance-level NT-Xent + cluster-level contrast - assignment entropy
    (:class:`~pyagc.clusters.ContrastiveClusterHead`), Adam(3e-4). The views of feature vectors are
    :class:`~pyagc.augmentations.TabularAugmentation` (entries masked with probability ``mask_p``, then Gaussian
    noise of std ``noise_std`` in the scaled data's units). Labels are the argmax of the cluster projection.

    Defaults follow the command line, ``configs/model/contrastive.yaml`` (no pretraining, 1000 epochs, Adam 3e-4),
    ``configs/model/augmentation/tabular.yaml``, ``configs/head/contrastive.yaml`` and the default encoder
    (``configs/encoder/mlp_autoencoder.yaml``; its decoder is unused unless ``pretrain_epochs > 0``).

    Shared parameters (:class:`~pyagc.estimators.base.BaseDeepClusterer`): ``pretrain_epochs`` (0), ``epochs``
    (1000), ``batch_size`` (256), ``pretrain_optimizer`` (``None``: Adam 1e-3), ``optimizer`` (``None``: Adam
    3e-4), ``scaling`` (``"standard"``), ``random_state``, ``accelerator``, ``devices``, ``precision``,
    ``verbose``, ``checkpoint_dir``.

    Parameters
    ----------
    n_clusters : int, default 10
    hidden_dims : tuple of int, default (500, 500, 2000)
    n_features : int, default 10
        Embedding size (what :meth:`transform` returns; the projections' input).
    instance_dim : int, default 128
    hidden_dim : int or None, default None
        Hidden width of both projections (``None``: ``n_features``).
    tau_i, tau_c : float, default 0.5, 1.0
        Instance- and cluster-level temperatures.
    entropy_weight : float, default 1.0
    overclusters : int or None, default None
        Train this many columns (> n_clusters) and merge the most confused ones after training (imbalanced data).
    noise_std : float, default 0.1
    mask_p : float, default 0.2
    """

    _default_optimizer = {"name": "adam", "lr": 0.0003}

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        n_features: int = 10,
        instance_dim: int = 128,
        hidden_dim: int | None = None,
        tau_i: float = 0.5,
        tau_c: float = 1.0,
        entropy_weight: float = 1.0,
        overclusters: int | None = None,
        noise_std: float = 0.1,
        mask_p: float = 0.2,
        pretrain_epochs: int = 0,
        epochs: int = 1000,
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
        self.instance_dim = instance_dim
        self.hidden_dim = hidden_dim
        self.tau_i = tau_i
        self.tau_c = tau_c
        self.entropy_weight = entropy_weight
        self.overclusters = overclusters
        self.noise_std = noise_std
        self.mask_p = mask_p
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
        augmentation = {
            "_target_": "pyagc.augmentations.TabularAugmentation",
            "noise_std": float(self.noise_std),
            "mask_p": float(self.mask_p),
        }
        return {
            "encoder": mlp_encoder_config(self.hidden_dims, self.n_features),
            "head": {
                "_target_": "pyagc.clusters.ContrastiveClusterHead",
                "n_clusters": int(self.n_clusters),
                "n_features": int(self.n_features),
                "instance_dim": int(self.instance_dim),
                "hidden_dim": self.hidden_dim,
                "tau_i": float(self.tau_i),
                "tau_c": float(self.tau_c),
                "entropy_weight": float(self.entropy_weight),
                "overclusters": self.overclusters,
            },
            "model": model_config(
                self.pretrain_epochs,
                self.epochs,
                self.pretrain_optimizer,
                self.optimizer,
                self._default_optimizer,
                augmentation=augmentation,
            ),
        }
