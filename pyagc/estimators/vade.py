"""VaDE as a scikit-learn estimator."""

from __future__ import annotations

from typing import Any

import torch

from pyagc.estimators.base import BaseDeepClusterer, mlp_encoder_config, model_config


class VaDE(BaseDeepClusterer):
    """VaDE (Jiang et al., IJCAI 2017): a variational MLP autoencoder with a Gaussian-mixture prior, pretrained as a
    plain autoencoder, the prior started from a GMM of the embeddings, then trained on the negative ELBO
    (:class:`~pyagc.clusters.VaDEClusterHead`), Adam(2e-3).

    Defaults follow the command line, ``configs/model/vade.yaml`` (50 + 50 epochs, Adam 2e-3; the preset
    :func:`pyagc.models.VaDE` has 200 + 300), ``configs/head/vade.yaml`` and ``configs/encoder/mlp_vae.yaml``
    (sigmoid decoder output for the Bernoulli reconstruction; with ``reconstruction="mse"`` the output is linear,
    as the preset). ``scaling="minmax"`` (the default here): the Bernoulli (``"bce"``) reconstruction needs
    training values in [0, 1].

    Shared parameters (:class:`~pyagc.estimators.base.BaseDeepClusterer`): ``pretrain_epochs`` (50), ``epochs`` (50),
    ``batch_size`` (256), ``pretrain_optimizer`` (``None``: Adam 1e-3), ``optimizer`` (``None``: Adam 2e-3),
    ``scaling`` (``"minmax"``), ``random_state``, ``accelerator``, ``devices``, ``precision``, ``verbose``,
    ``checkpoint_dir``.

    Parameters
    ----------
    n_clusters : int, default 10
    hidden_dims : tuple of int, default (500, 500, 2000)
    n_features : int, default 10
        Latent size (:meth:`transform` returns the mean of q(z|x)).
    reconstruction : {"bce", "mse"}, default "bce"
    reconstruction_weight : float, default 1.0
        Weight of the reconstruction term against the KL terms.
    init : {"gmm_full", "gmm", "kmeans"}, default "gmm_full"
        Start of the mixture prior.
    n_init : int, default 10
    mixture_weights : {"learned", "uniform"}, default "learned"
    """

    _default_optimizer = {"name": "adam", "lr": 0.002}

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        n_features: int = 10,
        reconstruction: str = "bce",
        reconstruction_weight: float = 1.0,
        init: str = "gmm_full",
        n_init: int = 10,
        mixture_weights: str = "learned",
        pretrain_epochs: int = 50,
        epochs: int = 50,
        batch_size: int = 256,
        pretrain_optimizer: dict | None = None,
        optimizer: dict | None = None,
        scaling: Any = "minmax",
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
        self.reconstruction = reconstruction
        self.reconstruction_weight = reconstruction_weight
        self.init = init
        self.n_init = n_init
        self.mixture_weights = mixture_weights
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

    def _check_training_input(self, x: torch.Tensor) -> None:
        if self.reconstruction == "bce" and x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
            raise ValueError(
                f"VaDE's reconstruction='bce' (a Bernoulli decoder) needs training values in [0, 1], but after "
                f"scaling={self.scaling!r} they lie in [{float(x.min()):.3g}, {float(x.max()):.3g}]: use "
                "scaling='minmax' (the default) or reconstruction='mse'."
            )

    def _component_configs(self, n_samples: int, batches_per_epoch: int, seed: int) -> dict[str, Any]:
        return {
            "encoder": mlp_encoder_config(
                self.hidden_dims,
                self.n_features,
                variational=True,
                output_activation="sigmoid" if self.reconstruction == "bce" else None,
            ),
            "head": {
                "_target_": "pyagc.clusters.VaDEClusterHead",
                "n_clusters": int(self.n_clusters),
                "n_features": int(self.n_features),
                "reconstruction": self.reconstruction,
                "reconstruction_weight": float(self.reconstruction_weight),
                "init": self.init,
                "n_init": int(self.n_init),
                "mixture_weights": self.mixture_weights,
                "seed": int(seed),
            },
            "model": model_config(
                self.pretrain_epochs, self.epochs, self.pretrain_optimizer, self.optimizer, self._default_optimizer
            ),
        }
