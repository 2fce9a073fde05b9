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


def _encoder(
    encoder: nn.Module | None, in_features: int | None, hidden_dims: Sequence[int], n_features: int | None
) -> nn.Module:
    if encoder is not None:
        return encoder
    if in_features is None:
        raise ValueError(
            "give either an encoder or in_features (the input dimension) to build the default MLP autoencoder."
        )
    return MLPAutoencoder(in_features, hidden_dims=hidden_dims, latent_dim=10 if n_features is None else n_features)


def _embedding_size(encoder: nn.Module, n_features: int | None) -> int:
    """The head's ``n_features``: the encoder's embedding size, checked against ``n_features`` when both are known."""
    latent = getattr(encoder, "latent_dim", None)
    if latent is None:
        if n_features is None:
            raise ValueError(
                f"cannot tell the embedding size of {type(encoder).__name__} (it has no latent_dim): "
                "give n_features, the size of the embeddings it returns."
            )
        return int(n_features)
    if n_features is not None and int(n_features) != int(latent):
        raise ValueError(
            f"n_features={n_features} (the embedding size the head is built for) does not match the "
            f"encoder's embedding size {latent} ({type(encoder).__name__}.latent_dim); give "
            f"n_features={latent} or leave it out."
        )
    return int(latent)


def DEC(
    in_features: int | None = None,
    n_clusters: int = 10,
    encoder: nn.Module | None = None,
    hidden_dims: Sequence[int] = (500, 500, 2000),
    n_features: int | None = None,
    pretrain_epochs: int = 200,
    epochs: int = 100,
    alpha: float = 1.0,
    update_interval: int = 140,
    tol: float = 0.001,
    pretrain_optimizer: dict[str, Any] | None = None,
    optimizer: dict[str, Any] | None = None,
    seed: int = 0,
) -> ClusteringModule:
    """DEC (Xie et al., ICML 2016): MLP autoencoder pretraining, then KL(P||Q) on the encoder only
    (the decoder is dropped), SGD(lr 0.01, momentum 0.9) as in the paper.
    """
    enc = _encoder(encoder, in_features, hidden_dims, n_features)
    head = DECClusterHead(
        n_clusters, _embedding_size(enc, n_features), alpha=alpha, update_interval=update_interval, tol=tol, seed=seed
    )
    return ClusteringModule(
        enc,
        head,
        pretrain_epochs=pretrain_epochs,
        epochs=epochs,
        pretrain_optimizer=pretrain_optimizer or {"name": "adam", "lr": 1e-3},
        optimizer=optimizer or {"name": "sgd", "lr": 0.01, "momentum": 0.9},
    )


def IDEC(
    in_features: int | None = None,
    n_clusters: int = 10,
    encoder: nn.Module | None = None,
    hidden_dims: Sequence[int] = (500, 500, 2000),
    n_features: int | None = None,
    pretrain_epochs: int = 200,
    epochs: int = 100,
    gamma: float = 0.1,
    alpha: float = 1.0,
    update_interval: int = 140,
    tol: float = 0.001,
    pretrain_optimizer: dict[str, Any] | None = None,
    optimizer: dict[str, Any] | None = None,
    seed: int = 0,
) -> ClusteringModule:
    """IDEC (Guo et al., IJCAI 2017): DEC that keeps the decoder, loss L_r + gamma KL(P||Q), Adam."""
    enc = _encoder(encoder, in_features, hidden_dims, n_features)
    head = IDECClusterHead(
        n_clusters,
        _embedding_size(enc, n_features),
        gamma=gamma,
        alpha=alpha,
        update_interval=update_interval,
        tol=tol,
        seed=seed,
    )
    return ClusteringModule(
        enc,
        head,
        pretrain_epochs=pretrain_epochs,
        epochs=epochs,
        pretrain_optimizer=pretrain_optimizer or {"name": "adam", "lr": 1e-3},
        optimizer=optimizer or {"name": "adam", "lr": 1e-3},
    )


def DMoN(
    encoder: nn.Module | None = None,
    n_features: int | None = None,
    n_clusters: int = 16,
    in_features: int | None = None,
    collapse_regularization: float = 1.0,
    dropout: float = 0.5,
    epochs: int = 1000,
    optimizer: dict[str, Any] | None = None,
) -> ClusteringModule:
    """DMoN (Tsitsulin et al., JMLR 2023): a one-layer SeLU GCN and the DMoN head, Adam(1e-3).

    ``n_features`` is the embedding size (the GCN's output, 64 by default); ``in_features`` the node feature size,
    needed only to build the default GCN when no ``encoder`` is given. ``model.cluster_head`` can be replaced by any
    :class:`~pyagc.clusters.BaseClusterHead`::

        model = DMoN(encoder=GCN(in_channels=1433, hidden_channels=64, num_layers=2), n_features=64, n_clusters=7)
        model.cluster_head = MyHead(n_clusters=7, n_features=64)
    """
    if encoder is None:
        if in_features is None:
            raise ValueError("give either an encoder or in_features (the node feature size) to build the default GCN.")
        size = 64 if n_features is None else int(n_features)
        encoder = GCN(in_features, size, size, num_layers=1, activation="selu", act_last=True, cached=True)
    head = DMoNClusterHead(
        n_clusters,
        _embedding_size(encoder, n_features),
        collapse_regularization=collapse_regularization,
        dropout=dropout,
    )
    return ClusteringModule(
        encoder, head, pretrain_epochs=0, epochs=epochs, optimizer=optimizer or {"name": "adam", "lr": 1e-3}
    )


def DCN(
    in_features: int | None = None,
    n_clusters: int = 10,
    encoder: nn.Module | None = None,
    hidden_dims: Sequence[int] = (500, 500, 2000),
    n_features: int | None = None,
    pretrain_epochs: int = 200,
    epochs: int = 100,
    lambda_: float = 1.0,
    initial_count: int | None = 100,
    n_init: int = 20,
    pretrain_optimizer: dict[str, Any] | None = None,
    optimizer: dict[str, Any] | None = None,
    seed: int = 0,
) -> ClusteringModule:
    """DCN (Yang et al., ICML 2017): MLP autoencoder pretraining, then reconstruction + lambda/2 k-means
    loss with count-based centre updates (centres are buffers, not trained by the optimizer), Adam.
    """
    from pyagc.clusters import DCNClusterHead

    enc = _encoder(encoder, in_features, hidden_dims, n_features)
    head = DCNClusterHead(
        n_clusters,
        _embedding_size(enc, n_features),
        lambda_=lambda_,
        initial_count=initial_count,
        n_init=n_init,
        seed=seed,
    )
    return ClusteringModule(
        enc,
        head,
        pretrain_epochs=pretrain_epochs,
        epochs=epochs,
        pretrain_optimizer=pretrain_optimizer or {"name": "adam", "lr": 1e-3},
        optimizer=optimizer or {"name": "adam", "lr": 1e-3},
    )


def DeepECT(
    in_features: int | None = None,
    n_clusters: int = 10,
    encoder: nn.Module | None = None,
    hidden_dims: Sequence[int] = (500, 500, 2000),
    n_features: int | None = None,
    pretrain_epochs: int = 50,
    epochs: int = 50,
    max_leaves: int = 20,
    split_interval: int = 500,
    prune_threshold: float = 0.1,
    clustering_weight: float = 1.0,
    reconstruction_weight: float = 1.0,
    center_lr: float = 1e-4,
    pretrain_optimizer: dict[str, Any] | None = None,
    optimizer: dict[str, Any] | None = None,
    seed: int = 0,
) -> ClusteringModule:
    """DeepECT (Mautz et al., ICDM 2019 / DSE 2020): MLP autoencoder pretraining (Adam 1e-3), then a cluster tree
    grown every ``split_interval`` steps up to ``max_leaves`` leaves; loss: the squared reconstruction error summed
    over the features + node-centre + projection loss, leaf centres learned by Adam steps of ``center_lr``, the
    network by Adam 1e-4 (the paper's settings). ``split_interval`` counts steps: about 2 epochs is clustpy's
    schedule. Score it flat with ``model.cluster_head.cluster(z, n_clusters=k)``.
    """
    from pyagc.clusters.deepect import DeepECTClusterHead

    enc = _encoder(encoder, in_features, hidden_dims, n_features)
    head = DeepECTClusterHead(
        n_clusters,
        _embedding_size(enc, n_features),
        max_leaves=max_leaves,
        split_interval=split_interval,
        prune_threshold=prune_threshold,
        clustering_weight=clustering_weight,
        reconstruction_weight=reconstruction_weight,
        center_lr=center_lr,
        seed=seed,
    )
    return ClusteringModule(
        enc,
        head,
        pretrain_epochs=pretrain_epochs,
        epochs=epochs,
        pretrain_optimizer=pretrain_optimizer or {"name": "adam", "lr": 1e-3},
        optimizer=optimizer or {"name": "adam", "lr": 1e-4},
    )


def ACeDeC(
    in_features: int | None = None,
    n_clusters: int = 10,
    encoder: nn.Module | None = None,
    hidden_dims: Sequence[int] = (500, 500, 2000),
    n_features: int | None = None,
    pretrain_epochs: int = 100,
    epochs: int = 150,
    reconstruction_weight: float = 1.0,
    beta_lr_multiplier: float = 10.0,
    n_init: int = 10,
    pretrain_optimizer: dict[str, Any] | None = None,
    optimizer: dict[str, Any] | None = None,
    final_reclustering: bool = True,
    refit_interval: int | None = None,
    seed: int = 0,
) -> ClusteringModule:
    """ACe/DeC (Miklautz et al., IJCAI 2021): MLP autoencoder pretraining, then reconstruction + the
    clustered-space and shared-space k-means losses under a learned orthogonal rotation V and weights beta
    (beta learned 10x faster), Adam(1e-3) pretraining and Adam(1e-4) joint training, and a final
    re-clustering of the trained embedding (``final_reclustering``; the authors' defaults).
    ``refit_interval``: steps between whole-data Lloyd re-fits of the centres (None: never).
    """
    from pyagc.clusters import ACeDeCClusterHead

    enc = _encoder(encoder, in_features, hidden_dims, n_features)
    head = ACeDeCClusterHead(
        n_clusters,
        _embedding_size(enc, n_features),
        reconstruction_weight=reconstruction_weight,
        beta_lr_multiplier=beta_lr_multiplier,
        refit_interval=refit_interval,
        n_init=n_init,
        seed=seed,
    )
    return ClusteringModule(
        enc,
        head,
        pretrain_epochs=pretrain_epochs,
        epochs=epochs,
        pretrain_optimizer=pretrain_optimizer or {"name": "adam", "lr": 1e-3},
        optimizer=optimizer or {"name": "adam", "lr": 1e-4},
        final_reclustering=final_reclustering,
    )


def VaDE(
    in_features: int | None = None,
    n_clusters: int = 10,
    encoder: nn.Module | None = None,
    hidden_dims: Sequence[int] = (500, 500, 2000),
    n_features: int | None = None,
    pretrain_epochs: int = 200,
    epochs: int = 300,
    reconstruction: str = "bce",
    init: str = "gmm_full",
    n_init: int = 10,
    pretrain_optimizer: dict[str, Any] | None = None,
    optimizer: dict[str, Any] | None = None,
    pretrain_loss: str = "mse",
    activation: str = "relu",
    encoder_init: str = "xavier",
    mixture_weights: str = "learned",
    reconstruction_weight: float = 1.0,
    seed: int = 0,
) -> ClusteringModule:
    r"""VaDE (Jiang et al., IJCAI 2017): plain AE pretraining of a variational MLP autoencoder (on the
    mean), GMM initialisation of the prior (``init``), then the negative ELBO over VAE + prior with Adam
    (lr 0.002 constant; the paper decays it by 0.9 every 10 epochs). ``reconstruction="bce"`` (inputs
    in [0, 1]) gives the default encoder a sigmoid output; a given ``encoder`` must be variational.
    ``pretrain_loss``: the pretraining reconstruction loss, ``"mse"`` or ``"bce"`` (needs the sigmoid output).
    ``activation`` / ``encoder_init``: the default encoder's hidden activation and weight initialisation
    (:class:`~pyagc.encoders.MLPAutoencoder`; clustpy's VaDE uses ``"leaky_relu"`` / ``"default"``).
    ``mixture_weights``: ``"learned"`` (the paper) or ``"uniform"`` (fixed :math:`\pi_c = 1/K`).
    ``init``: the prior's start, ``"gmm_full"`` (a full-covariance GMM projected onto the diagonal prior, the
    default), ``"gmm"`` (a diagonal GMM, the paper's) or ``"kmeans"`` (:class:`~pyagc.clusters.VaDEClusterHead`).
    ``reconstruction_weight``: weight of the reconstruction term against the KL terms (1: the ELBO; clustpy's VaDE
    sums the reconstruction over the batch and averages the KL terms, i.e. weight = batch size).
    """
    from pyagc.clusters import VaDEClusterHead

    if encoder is None:
        if in_features is None:
            raise ValueError(
                "give either an encoder or in_features (the input dimension) to build the default "
                "variational MLP autoencoder."
            )
        encoder = MLPAutoencoder(
            in_features,
            hidden_dims=hidden_dims,
            latent_dim=10 if n_features is None else n_features,
            variational=True,
            activation=activation,
            init=encoder_init,
            output_activation="sigmoid" if reconstruction == "bce" else None,
        )
    head = VaDEClusterHead(
        n_clusters,
        _embedding_size(encoder, n_features),
        reconstruction=reconstruction,
        reconstruction_weight=reconstruction_weight,
        init=init,
        n_init=n_init,
        mixture_weights=mixture_weights,
        seed=seed,
    )
    model = ClusteringModule(
        encoder,
        head,
        pretrain_epochs=pretrain_epochs,
        epochs=epochs,
        pretrain_optimizer=pretrain_optimizer or {"name": "adam", "lr": 1e-3},
        optimizer=optimizer or {"name": "adam", "lr": 2e-3},
        reconstruction_loss=pretrain_loss,
    )
    model.variational_encoder()  # a non-variational encoder fails here, not after pretraining
    return model


def DipEncoder(
    in_features: int | None = None,
    n_clusters: int = 10,
    encoder: nn.Module | None = None,
    hidden_dims: Sequence[int] = (500, 500, 2000),
    n_features: int | None = None,
    pretrain_epochs: int = 100,
    epochs: int = 150,
    update_interval: int = 8,
    clustering_weight: float = 1.0,
    reconstruction_weight: float | None = None,
    max_cluster_size_diff_factor: float = 3.0,
    min_cluster_points: int = 10,
    pretrain_optimizer: dict[str, Any] | None = None,
    optimizer: dict[str, Any] | None = None,
    n_init: int = 10,
    seed: int = 0,
) -> ClusteringModule:
    """DipEncoder (Leiber et al., KDD 2022): MLP autoencoder pretraining (Adam 1e-3), then pairwise dip losses on
    learnable projection axes plus the reconstruction (weight 1/(4 L0)), Adam(1e-4); relabel every
    ``update_interval`` steps (the paper: once per epoch, i.e. the number of batches per epoch).
    """
    from pyagc.clusters.dipencoder import DipEncoderClusterHead

    enc = _encoder(encoder, in_features, hidden_dims, n_features)
    head = DipEncoderClusterHead(
        n_clusters,
        _embedding_size(enc, n_features),
        clustering_weight=clustering_weight,
        reconstruction_weight=reconstruction_weight,
        update_interval=update_interval,
        max_cluster_size_diff_factor=max_cluster_size_diff_factor,
        min_cluster_points=min_cluster_points,
        n_init=n_init,
        seed=seed,
    )
    return ClusteringModule(
        enc,
        head,
        pretrain_epochs=pretrain_epochs,
        epochs=epochs,
        pretrain_optimizer=pretrain_optimizer or {"name": "adam", "lr": 1e-3},
        optimizer=optimizer or {"name": "adam", "lr": 1e-4},
    )
