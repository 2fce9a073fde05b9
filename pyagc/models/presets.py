"""Named presets: the usual encoder/head pairing and loss weights of each method.

Each returns a :class:`~pyagc.models.ClusteringModule`; its ``cluster_head`` can be replaced
by any :class:`~pyagc.clusters.BaseClusterHead`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from pyagc.clusters import DECClusterHead, DMoNClusterHead, IDECClusterHead
from pyagc.encoders import GCN, MLPAutoencoder
from pyagc.models.clustering_module import ClusteringModule


def _encoder(encoder: nn.Module | None, n_features: int | None, hidden_dims: Sequence[int], latent_dim: int) -> nn.Module:
    if encoder is not None:
        return encoder
    if n_features is None:
        raise ValueError("give either an encoder or n_features (the input dimension) to build the default MLP autoencoder.")
    return MLPAutoencoder(n_features, hidden_dims=hidden_dims, latent_dim=latent_dim)


def DEC(n_features: int | None = None, n_clusters: int = 10, encoder: nn.Module | None = None,
        hidden_dims: Sequence[int] = (500, 500, 2000), latent_dim: int = 10, pretrain_epochs: int = 200,
        epochs: int = 100, alpha: float = 1.0, update_interval: int = 140, tol: float = 0.001,
        pretrain_optimizer: dict[str, Any] | None = None, optimizer: dict[str, Any] | None = None,
        seed: int = 0) -> ClusteringModule:
    """DEC (Xie et al., ICML 2016): MLP autoencoder pretraining, then KL(P||Q) on the encoder only
    (the decoder is dropped), SGD(lr 0.01, momentum 0.9) as in the paper."""
    enc = _encoder(encoder, n_features, hidden_dims, latent_dim)
    head = DECClusterHead(n_clusters, getattr(enc, "latent_dim", latent_dim), alpha=alpha,
                          update_interval=update_interval, tol=tol, seed=seed)
    return ClusteringModule(enc, head, pretrain_epochs=pretrain_epochs, epochs=epochs,
                            pretrain_optimizer=pretrain_optimizer or {"name": "adam", "lr": 1e-3},
                            optimizer=optimizer or {"name": "sgd", "lr": 0.01, "momentum": 0.9})


def IDEC(n_features: int | None = None, n_clusters: int = 10, encoder: nn.Module | None = None,
         hidden_dims: Sequence[int] = (500, 500, 2000), latent_dim: int = 10, pretrain_epochs: int = 200,
         epochs: int = 100, gamma: float = 0.1, alpha: float = 1.0, update_interval: int = 140,
         tol: float = 0.001, pretrain_optimizer: dict[str, Any] | None = None,
         optimizer: dict[str, Any] | None = None, seed: int = 0) -> ClusteringModule:
    """IDEC (Guo et al., IJCAI 2017): DEC that keeps the decoder, loss L_r + gamma KL(P||Q), Adam."""
    enc = _encoder(encoder, n_features, hidden_dims, latent_dim)
    head = IDECClusterHead(n_clusters, getattr(enc, "latent_dim", latent_dim), gamma=gamma, alpha=alpha,
                           update_interval=update_interval, tol=tol, seed=seed)
    return ClusteringModule(enc, head, pretrain_epochs=pretrain_epochs, epochs=epochs,
                            pretrain_optimizer=pretrain_optimizer or {"name": "adam", "lr": 1e-3},
                            optimizer=optimizer or {"name": "adam", "lr": 1e-3})


def DMoN(encoder: nn.Module | None = None, n_features: int | None = None, n_clusters: int = 16,
         hidden_channels: int = 64, collapse_regularization: float = 1.0, dropout: float = 0.5,
         epochs: int = 1000, optimizer: dict[str, Any] | None = None) -> ClusteringModule:
    """DMoN (Tsitsulin et al., JMLR 2023): a one-layer SeLU GCN and the DMoN head, Adam(1e-3).

    ``model.cluster_head`` can be replaced by any :class:`~pyagc.clusters.BaseClusterHead`.
    """
    if encoder is None:
        if n_features is None:
            raise ValueError("give either an encoder or n_features (the node feature size) to build the default GCN.")
        encoder = GCN(n_features, hidden_channels, hidden_channels, num_layers=1, activation="selu", act_last=True,
                      cached=True)
    head = DMoNClusterHead(n_clusters, encoder.latent_dim, collapse_regularization=collapse_regularization,
                           dropout=dropout)
    return ClusteringModule(encoder, head, pretrain_epochs=0, epochs=epochs,
                            optimizer=optimizer or {"name": "adam", "lr": 1e-3})
