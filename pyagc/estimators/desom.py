"""DESOM (a self-organising map on the embeddings) as a scikit-learn estimator."""

from __future__ import annotations

from typing import Any

from pyagc.estimators.base import BaseDeepClusterer, mlp_encoder_config, model_config


class DESOM(BaseDeepClusterer):
    """DESOM (Forest et al., 2019): an MLP autoencoder pretrained on reconstruction, then reconstruction + gamma times
    the SOM loss of a map on the embeddings, the map's temperature decaying from ``T_max`` to ``T_min``
    (:class:`~pyagc.clusters.SOMClusterHead`), Adam; the map's neurons are grouped into ``n_clusters`` clusters.
    The map is ``module_.cluster_head.som`` (prototypes: ``module_.cluster_head.prototypes``).

    Defaults follow the command line, ``configs/model/som.yaml`` (50 + 50 epochs, Adam 1e-3) and
    ``configs/head/som.yaml``, except ``decay_steps=None``: the number of joint steps (epochs x batches per
    epoch), which the config's comment asks for (its 1000 is a placeholder; ``som_digits`` sets 400).

    Shared parameters (:class:`~pyagc.estimators.base.BaseDeepClusterer`): ``pretrain_epochs`` (50), ``epochs`` (50),
    ``batch_size`` (256), ``pretrain_optimizer`` / ``optimizer`` (``None``: Adam 1e-3), ``scaling`` (``"standard"``),
    ``random_state``, ``accelerator``, ``devices``, ``precision``, ``verbose``, ``checkpoint_dir``.

    Parameters
    ----------
    n_clusters : int, default 10
        At most the number of neurons.
    hidden_dims : tuple of int, default (500, 500, 2000)
    n_features : int, default 10
        Embedding size (what :meth:`transform` returns; the prototypes' size).
    map_size : tuple of int, default (10, 10)
    topology : {"rectangular", "hexagonal"}, default "rectangular"
    gamma : float, default 0.001
        Weight of the SOM loss.
    T_max, T_min : float, default 1.0, 0.1
        Temperature (grid units) at the start and the end of joint training.
    decay_steps : int or None, default None
        Steps over which the temperature decays; ``None``: all joint steps.
    decay_schedule : str, default "exponential"
    neighborhood_function : str, default "gaussian"
    init : {"fit", "pca", "sample", "random"}, default "fit"
    init_epochs : int, default 10
    map_clustering : {"kmeans", "gmm", "tsk"}, default "kmeans"
    soft_temperature : float or None, default None
    hits_interval : int or None, default 100
    """

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        n_features: int = 10,
        map_size: tuple[int, int] = (10, 10),
        topology: str = "rectangular",
        gamma: float = 0.001,
        T_max: float = 1.0,
        T_min: float = 0.1,
        decay_steps: int | None = None,
        decay_schedule: str = "exponential",
        neighborhood_function: str = "gaussian",
        init: str = "fit",
        init_epochs: int = 10,
        map_clustering: str = "kmeans",
        soft_temperature: float | None = None,
        hits_interval: int | None = 100,
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
        self.map_size = map_size
        self.topology = topology
        self.gamma = gamma
        self.T_max = T_max
        self.T_min = T_min
        self.decay_steps = decay_steps
        self.decay_schedule = decay_schedule
        self.neighborhood_function = neighborhood_function
        self.init = init
        self.init_epochs = init_epochs
        self.map_clustering = map_clustering
        self.soft_temperature = soft_temperature
        self.hits_interval = hits_interval
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
        steps = max(1, int(self.epochs) * batches_per_epoch) if self.decay_steps is None else int(self.decay_steps)
        try:
            map_size = [int(v) for v in self.map_size]
        except (TypeError, ValueError):
            raise ValueError(f"map_size must be two integers (x, y), got {self.map_size!r}.") from None
        return {
            "encoder": mlp_encoder_config(self.hidden_dims, self.n_features),
            "head": {
                "_target_": "pyagc.clusters.SOMClusterHead",
                "n_clusters": int(self.n_clusters),
                "n_features": int(self.n_features),
                "map_size": map_size,
                "topology": self.topology,
                "gamma": float(self.gamma),
                "T_max": float(self.T_max),
                "T_min": float(self.T_min),
                "decay_steps": steps,
                "decay_schedule": self.decay_schedule,
                "neighborhood_function": self.neighborhood_function,
                "init": self.init,
                "init_epochs": int(self.init_epochs),
                "map_clustering": self.map_clustering,
                "soft_temperature": self.soft_temperature,
                "hits_interval": self.hits_interval,
                "seed": int(seed),
            },
            "model": model_config(
                self.pretrain_epochs, self.epochs, self.pretrain_optimizer, self.optimizer, self._default_optimizer
            ),
        }
