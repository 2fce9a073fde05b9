"""Any encoder with any cluster head, the user's own included, as a scikit-learn estimator."""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np
import torch
from sklearn.utils.metaestimators import available_if
from torch import nn

from pyagc.estimators.base import ADAM_1E3, BaseDeepClusterer, _check_hidden_dims, _check_int, _has_soft_assignments


class DeepClustering(BaseDeepClusterer):
    """Any encoder and any :class:`~pyagc.clusters.BaseClusterHead`, trained as ``pyagc-train`` trains them
    (a :class:`~pyagc.models.ClusteringModule`: pretraining -> the head's initialisation -> joint training).

    Shared parameters (:class:`~pyagc.estimators.base.BaseDeepClusterer`): ``batch_size`` (256),
    ``pretrain_optimizer`` / ``optimizer`` (``None``: Adam 1e-3), ``scaling`` (``"standard"``), ``random_state``,
    ``accelerator``, ``devices``, ``precision``, ``verbose``, ``checkpoint_dir``. ``random_state`` seeds the weights,
    the batches and a head built from a class (its ``seed`` argument); a head instance keeps the seed it was built
    with.

    Parameters
    ----------
    encoder : nn.Module, callable or None, default None
        The encoder: a module (copied at each fit, so the given one is never trained), or a callable (a class, a
        module-level function) called as ``encoder(n_features_in)`` with the number of input features.
        ``None``: an :class:`~pyagc.encoders.MLPAutoencoder` with ``hidden_dims`` and ``n_features`` (as
        ``configs/encoder/mlp_autoencoder.yaml``). Graph encoders (e.g. :class:`~pyagc.encoders.GCN`) need
        ``fit(X, edge_index=...)``.
    head : BaseClusterHead, BaseClusterHead subclass or None, default None
        The cluster head: an instance (copied at each fit; its ``n_clusters`` is used when ``n_clusters`` is None,
        and must agree with it otherwise) or a class, built as ``head(n_clusters=..., n_features=..., seed=...,
        **head_params)`` (each argument only if its ``__init__`` takes it; ``n_features`` is the encoder's embedding
        size, its ``latent_dim`` or the width of its output). ``None``: :class:`~pyagc.clusters.KMeansClusterHead`
        (``configs/head/user.yaml``).
    n_clusters : int or None, default None
        ``None``: the head instance's ``n_clusters``, else 10.
    head_params : dict or None
        More arguments for a head given as a class.
    hidden_dims, n_features :
        Widths and embedding size of the default encoder ((500, 500, 2000), 10).
    pretrain_epochs : int or None, default None
        ``None``: 50 for an autoencoder (``configs/model/default.yaml``), 0 for an encoder without a decoder.
    epochs : int, default 50
    reconstruction_weight : float, default 0.0
        Weight of the reconstruction loss added in joint training for heads that do not add it themselves.
    augmentation : nn.Module or None
        Random views ``augmentation(x)`` for heads that train on two views (``forward(z, views=...)``), e.g.
        :class:`~pyagc.augmentations.TabularAugmentation`.
    final_reclustering : bool, default False
        Re-run the head's initialisation on the final embeddings after joint training.

    Examples:
    --------
    >>> from pyagc.estimators import DeepClustering
    >>> est = DeepClustering(head=MyHead, n_clusters=3, random_state=0).fit(X)        # doctest: +SKIP
    >>> est.predict(X_new)                                                             # doctest: +SKIP
    """

    def __init__(
        self,
        encoder: Any = None,
        head: Any = None,
        *,
        n_clusters: int | None = None,
        head_params: dict | None = None,
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        n_features: int = 10,
        pretrain_epochs: int | None = None,
        epochs: int = 50,
        batch_size: int = 256,
        pretrain_optimizer: dict | None = None,
        optimizer: dict | None = None,
        reconstruction_weight: float = 0.0,
        augmentation: Any = None,
        final_reclustering: bool = False,
        scaling: Any = "standard",
        random_state: Any = None,
        accelerator: str = "auto",
        devices: Any = 1,
        precision: Any = "32-true",
        verbose: bool = False,
        checkpoint_dir: str | None = None,
    ) -> None:
        self.encoder = encoder
        self.head = head
        self.n_clusters = n_clusters
        self.head_params = head_params
        self.hidden_dims = hidden_dims
        self.n_features = n_features
        self.pretrain_epochs = pretrain_epochs
        self.epochs = epochs
        self.batch_size = batch_size
        self.pretrain_optimizer = pretrain_optimizer
        self.optimizer = optimizer
        self.reconstruction_weight = reconstruction_weight
        self.augmentation = augmentation
        self.final_reclustering = final_reclustering
        self.scaling = scaling
        self.random_state = random_state
        self.accelerator = accelerator
        self.devices = devices
        self.precision = precision
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir

    # ------------------------------------------------------------------ parameters
    def _n_clusters(self) -> Any:
        from pyagc.clusters import BaseClusterHead

        if self.n_clusters is not None:
            return self.n_clusters
        if isinstance(self.head, BaseClusterHead) and self.head.n_clusters is not None:
            return self.head.n_clusters
        return 10

    def _check_params(self, n_samples: int) -> None:
        from pyagc.clusters import BaseClusterHead

        head = self.head
        if not (
            head is None
            or isinstance(head, BaseClusterHead)
            or (isinstance(head, type) and issubclass(head, BaseClusterHead))
        ):
            raise TypeError(
                f"head must be a pyagc.clusters.BaseClusterHead (an instance or a subclass) or None, got "
                f"{type(head).__name__}."
            )
        if (
            isinstance(head, BaseClusterHead)
            and self.n_clusters is not None
            and head.n_clusters is not None
            and int(head.n_clusters) != self.n_clusters
        ):
            raise ValueError(
                f"n_clusters={self.n_clusters} but the head was built for {head.n_clusters} clusters: "
                "leave n_clusters=None, or give the head as a class (head=MyHead) so that it is built "
                "for n_clusters."
            )
        if self.head_params is not None and not isinstance(self.head_params, dict):
            raise TypeError(
                f"head_params must be a dict of arguments for the head class, got {type(self.head_params).__name__}."
            )
        if self.head_params and not isinstance(head, type):
            raise ValueError(
                "head_params are arguments for a head given as a class (head=MyHead); pass a head class, "
                "or set its arguments on the instance."
            )
        enc = self.encoder
        if not (enc is None or isinstance(enc, nn.Module) or callable(enc)):
            raise TypeError(
                f"encoder must be a torch.nn.Module, a callable building one from the number of input "
                f"features, or None, got {type(enc).__name__}."
            )
        if enc is None:
            _check_hidden_dims(self.hidden_dims)
        super()._check_params(n_samples)

    # ------------------------------------------------------------------ components
    def _make_encoder(self, n_in: int) -> nn.Module:
        from pyagc.encoders import MLPAutoencoder

        enc = self.encoder
        if enc is None:
            return MLPAutoencoder(
                n_in,
                hidden_dims=_check_hidden_dims(self.hidden_dims),
                latent_dim=_check_int(self.n_features, "n_features", 1),
            )
        if isinstance(enc, nn.Module):
            return copy.deepcopy(enc)
        built = enc(n_in)
        if not isinstance(built, nn.Module):
            raise TypeError(f"encoder({n_in}) returned {type(built).__name__}, not a torch.nn.Module.")
        return built

    @staticmethod
    def _embedding_size(encoder: nn.Module, datamodule: Any) -> int:
        """The encoder's ``latent_dim``, else the width of its output on two training rows (the whole graph)."""
        from pyagc.models.clustering_model import encoder_takes_graph

        latent = getattr(encoder, "latent_dim", None)
        if isinstance(latent, int) and latent > 0:
            return latent
        was_training = encoder.training
        encoder.eval()
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                if getattr(datamodule, "is_graph", False):
                    z = encoder(datamodule.x, datamodule.edge_index)
                else:
                    x = datamodule.x[:2]
                    z = encoder(x, None) if encoder_takes_graph(encoder) else encoder(x)
        finally:
            encoder.train(was_training)
        if not isinstance(z, torch.Tensor) or z.dim() != 2:
            raise ValueError(
                f"{type(encoder).__name__} must return embeddings of shape (N, F), got "
                f"{getattr(z, 'shape', type(z).__name__)}."
            )
        return int(z.shape[1])

    def _make_head(self, encoder: nn.Module, datamodule: Any, seed: int) -> Any:
        from pyagc.clusters import KMeansClusterHead

        k = int(self._n_clusters())
        head = self.head
        if head is not None and not isinstance(head, type):
            head = copy.deepcopy(head)
            if head.n_clusters is None:
                head.n_clusters = k
            return head
        cls = KMeansClusterHead if head is None else head
        kwargs = dict(self.head_params or {})
        params = inspect.signature(cls.__init__).parameters
        takes_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
        for name, value in (("n_clusters", k), ("n_features", None), ("seed", int(seed))):
            if name not in kwargs and (name in params or (takes_all and name != "seed")):
                kwargs[name] = self._embedding_size(encoder, datamodule) if name == "n_features" else value
        built = cls(**kwargs)
        if built.n_clusters is None:
            built.n_clusters = k
        return built

    def _build_module(self, datamodule: Any, seed: int) -> Any:
        from pyagc.models import ClusteringModule

        encoder = self._make_encoder(int(datamodule.n_features))
        head = self._make_head(encoder, datamodule, seed)
        autoencoder = bool(getattr(encoder, "is_autoencoder", False)) and hasattr(encoder, "decode")
        pretrain = (50 if autoencoder else 0) if self.pretrain_epochs is None else int(self.pretrain_epochs)
        return ClusteringModule(
            encoder,
            head,
            pretrain_epochs=pretrain,
            epochs=int(self.epochs),
            pretrain_optimizer=dict(self.pretrain_optimizer or ADAM_1E3),
            optimizer=dict(self.optimizer or ADAM_1E3),
            reconstruction_weight=float(self.reconstruction_weight),
            augmentation=copy.deepcopy(self.augmentation),
            final_reclustering=bool(self.final_reclustering),
        )

    def _cluster_centers(self, head: Any) -> np.ndarray | None:
        from pyagc.clusters import ACeDeCClusterHead, DeepECTClusterHead

        if isinstance(head, (ACeDeCClusterHead, DeepECTClusterHead)):  # centres not in the embedding space / per leaf
            return None
        return super()._cluster_centers(head)

    # ------------------------------------------------------------------ public API (graphs too)
    def fit(self, X: Any, y: Any = None, edge_index: Any = None) -> DeepClustering:
        """Train on the rows of ``X`` (``y`` is ignored); on a graph with ``edge_index`` (or ``X`` a torch-geometric
        ``Data``) for graph encoders and heads.
        """
        return self._fit(X, edge_index)

    def fit_predict(self, X: Any, y: Any = None, edge_index: Any = None) -> np.ndarray:
        """``fit`` and return ``labels_``."""
        return self.fit(X, y, edge_index=edge_index).labels_

    def fit_transform(self, X: Any, y: Any = None, edge_index: Any = None) -> np.ndarray:
        """``fit`` and return the embeddings of ``X``."""
        return self.fit(X, y, edge_index=edge_index).transform(X, edge_index=edge_index)

    def predict(self, X: Any, edge_index: Any = None) -> np.ndarray:
        """Cluster of each row (node) of ``X``."""
        return self._predict(X, edge_index)

    def transform(self, X: Any, edge_index: Any = None) -> np.ndarray:
        """Embeddings ``(n_samples, n_features)`` of ``X``."""
        return self._transform(X, edge_index)

    @available_if(_has_soft_assignments)
    def predict_proba(self, X: Any, edge_index: Any = None) -> np.ndarray:
        """Soft assignments ``(n_samples, n_clusters)`` (the head's ``cluster(z, soft=True)``)."""
        return self._predict_proba(X, edge_index)
