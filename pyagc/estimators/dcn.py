"""DCN as a scikit-learn estimator."""

from __future__ import annotations

from typing import Any

from pyagc.estimators.base import BaseDeepClusterer, mlp_encoder_config, model_config


class DCN(BaseDeepClusterer):
    """DCN (Yang et al., ICML 2017): MLP autoencoder pretraining, then reconstruction + lambda/2 times the k-means
    loss, centres moved by count-based updates (:class:`~pyagc.clusters.DCNClusterHead`), Adam.

    Defaults follow the command line, ``configs/model/dcn.yaml`` (50 + 50 epochs, Adam 1e-3; the preset
    :func:`pyagc.models.DCN` has 200 + 100) and ``configs/head/dcn.yaml``.

    Shared parameters (:class:`~pyagc.estimators.base.BaseDeepClusterer`): ``pretrain_epochs`` (50), ``epochs`` (50),
    ``batch_size`` (256), ``pretrain_optimizer`` / ``optimizer`` (``None``: Adam 1e-3), ``scaling`` (``"standard"``),
    ``random_state``, ``accelerator``, ``devices``, ``precision``, ``verbose``, ``checkpoint_dir``.

    Parameters
    ----------
    n_clusters : int, default 10
    hidden_dims : tuple of int, default (500, 500, 2000)
    n_features : int, default 10
        Embedding size (what :meth:`transform` returns).
    lambda_ : float, default 1.0
        Weight of the k-means term (the reconstruction is a per-element mean).
    initial_count : int or None, default 100
        Count each centre starts with after initialisation (``None``: the initial cluster sizes).
    n_init : int, default 20
        k-means restarts at initialisation.
    temperature : float, default 1.0
        Soft assignments of :meth:`predict_proba`: softmax(-squared distance / temperature).
    """

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        n_features: int = 10,
        lambda_: float = 1.0,
        initial_count: int | None = 100,
        n_init: int = 20,
        temperature: float = 1.0,
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
        self.lambda_ = lambda_
        self.initial_count = initial_count
        self.n_init = n_init
        self.temperature = temperature
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
                "_target_": "pyagc.clusters.DCNClusterHead",
                "n_clusters": int(self.n_clusters),
                "n_features": int(self.n_features),
                "lambda_": float(self.lambda_),
                "initial_count": self.initial_count,
                "n_init": int(self.n_init),
                "temperature": float(self.temperature),
                "seed": int(seed),
            },
            "model": model_config(
                self.pretrain_epochs, self.epochs, self.pretrain_optimizer, self.optimizer, self._default_optimizer
            ),
        }
