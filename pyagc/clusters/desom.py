r"""Deep Embedded Self-Organizing Map (DESOM) head.

Forest, Lebbah, Azzag & Lacaille, *Deep Embedded Self-Organizing Map: Joint Representation
Learning and Self-Organization*, Pattern Recognition Letters 2019 (ESANN 2019),
https://arxiv.org/abs/1903.00926.

A self-organising map with :math:`M = x \cdot y` prototypes :math:`\mathbf w_k` at grid
positions :math:`\mathbf p_k` (a :class:`pyagc.som.SOM`) is trained on the encoder's embeddings
:math:`\mathbf z_i` jointly with the autoencoder, by gradient descent on

.. math::
    \mathcal L = \underbrace{\frac{1}{B}\sum_i \lVert \mathbf x_i - \hat{\mathbf x}_i \rVert^2 / d}_{\mathcal L_r}
    \; + \; \gamma\, \underbrace{\frac{1}{B}\sum_{i} \sum_{k=1}^{M}
        h_{b(i),k}(T)\, \lVert \mathbf z_i - \mathbf w_k \rVert^2}_{\mathcal L_{som}},
    \qquad b(i) = \arg\min_k \lVert \mathbf z_i - \mathbf w_k \rVert^2,

where the best matching unit :math:`b(i)` is chosen on the *current* prototypes and the
neighbourhood weights :math:`h_{b,k}(T) = \exp\!\left(-\lVert \mathbf p_b - \mathbf p_k\rVert^2 / 2T^2\right)`
(both treated as constants in the gradient) use the temperature :math:`T` in grid units. (DESOM
writes the kernel as :math:`\exp(-d^2/T^2)`; its :math:`T` is :math:`\sqrt2` times the one here.)
The gradient reaches both the embeddings and the prototypes. :math:`T` decays from
:math:`T_{max}` to :math:`T_{min}` over ``decay_steps`` training calls of :meth:`forward`
(paper: exponential, :math:`T(t) = T_{max}(T_{min}/T_{max})^{t/t_{max}}`); the step counter is a
registered buffer, so a resumed checkpoint continues the schedule exactly. Once :math:`T` is
small, :math:`\mathcal L_{som}` is the k-means loss of the :math:`M` prototypes.

For :math:`K` clusters the map is clustered afterwards (two-level clustering, Vesanto &
Alhoniemi 2000): the prototypes are grouped with ``map_clustering`` (by default k-means on the
prototypes weighted by their hits :math:`n_k`, the number of training samples whose BMU is
:math:`k`, recounted on the whole training set in :meth:`initialize` and every ``hits_interval``
steps by :meth:`refresh`; or ``"gmm"``/``"tsk"`` of :meth:`pyagc.som.SOM.cluster`), and each sample
takes the cluster of its BMU. The map's clustering is cached and recomputed whenever the
prototypes or the hits changed. Soft assignments are

.. math::
    q_{ic} = \operatorname{softmax}_c\!\Big(-\min_{k \in C_c} \lVert \mathbf z_i - \mathbf w_k \rVert^2 / \tau\Big),

whose arg-max is the hard label (the cluster of the BMU); :math:`\tau` is the mean squared
distance between prototypes of adjacent neurons (or ``soft_temperature``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pyagc.clusters.base import BaseClusterHead, LossOutput
from pyagc.functional.kmeans import kmeans_numpy
from pyagc.som import SOM
from pyagc.som.neighborhood import DECAY_FUNCTIONS, decay, pairwise_distance

INIT_MODES = ("fit", "pca", "sample", "random")
MAP_CLUSTERING = ("kmeans", "gmm", "tsk")


def _check_choice(value: str, valid: Sequence[str], name: str) -> str:
    if not isinstance(value, str) or value.lower() not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}.")
    return value.lower()


class SOMClusterHead(BaseClusterHead):
    r"""DESOM: reconstruction + :math:`\gamma` times the SOM loss on the embeddings, with a
    decaying temperature; clusters = groups of map neurons. Needs ``x`` and ``x_hat``.

    Args:
        n_clusters: number of clusters :math:`K` the map is grouped into (at most :math:`M`).
        n_features: dimension :math:`F` of the embeddings (the prototypes' size).
        map_size: grid size ``(x, y)`` (paper: 8 x 8 on MNIST).
        topology: ``"rectangular"`` or ``"hexagonal"`` grid.
        gamma: weight :math:`\gamma` of the SOM loss (paper: 0.001).
        T_max: temperature in grid units at the start of joint training. The paper starts hot
            (its :math:`T_{max}=10`, i.e. 7 here, on an 8 x 8 map) and trains 10 000 iterations;
            with Adam a prototype moves at most about ``lr`` per step, so after a hot start a
            short run cannot unfold the map again. The default starts from the ordered map that
            :meth:`initialize` fitted down to this radius.
        T_min: final temperature (paper: 0.1).
        decay_steps: training steps (calls of :meth:`forward` in training mode) over which
            :math:`T` decays from ``T_max`` to ``T_min``; set it to the number of joint-training
            steps (epochs x batches per epoch). After that :math:`T = T_{min}`.
        decay_schedule: ``"exponential"`` (paper), ``"linear"``, ``"inverse"`` or ``"asymptotic"``
            (see :mod:`pyagc.som.neighborhood`).
        neighborhood_function: kernel :math:`h` of the map (``"gaussian"``: paper).
        init: prototype initialisation in :meth:`initialize`: ``"fit"`` (PCA plane, then
            ``init_epochs`` epochs of batch-SOM training on the embeddings, the radius shrinking
            to ``T_max`` so that joint training starts from an ordered map at its own
            temperature), ``"pca"``, ``"sample"`` (random embeddings) or ``"random"``.
        init_epochs: epochs of the ``"fit"`` initialisation.
        map_clustering: how the neurons are grouped into :math:`K` clusters: ``"kmeans"``
            (hits-weighted k-means on the prototypes, 10 restarts), ``"gmm"`` or ``"tsk"``
            (topology-seeded k-means) of :meth:`pyagc.som.SOM.cluster` on the prototypes.
        soft_temperature: :math:`\tau` of the soft assignments; ``None``: the mean squared distance
            between the prototypes of adjacent neurons.
        hits_interval: joint-training steps between recounts of the hits on the whole training
            set (:meth:`refresh`); ``None``: only in :meth:`initialize`.
        seed: seed of the initialisation and of the map clustering.

    Example::

        head = SOMClusterHead(10, n_features=10, map_size=(10, 10), decay_steps=epochs * steps)
        head.initialize(encoder(x_all))                      # PCA + short batch-SOM fit on z
        out = head(encoder(x), x=x, x_hat=decoder(encoder(x)))  # LossOutput: reconstruction + som
        labels = head.cluster(encoder(x_all))                # map neurons grouped into K clusters
    """

    uses_reconstruction = True
    requires_initialization = True

    def __init__(
        self,
        n_clusters: int,
        n_features: int,
        map_size: Sequence[int] = (10, 10),
        topology: str = "rectangular",
        gamma: float = 0.001,
        T_max: float = 1.0,
        T_min: float = 0.1,
        decay_steps: int = 1000,
        decay_schedule: str = "exponential",
        neighborhood_function: str = "gaussian",
        init: str = "fit",
        init_epochs: int = 10,
        map_clustering: str = "kmeans",
        soft_temperature: float | None = None,
        hits_interval: int | None = 100,
        seed: int = 0,
    ) -> None:
        super().__init__(n_clusters)
        try:
            mx, my = (int(v) for v in map_size)
        except (TypeError, ValueError):
            raise ValueError(f"map_size must be two integers (x, y), got {map_size!r}.") from None
        if mx < 1 or my < 1:
            raise ValueError(f"map_size must be positive, got {tuple(map_size)}.")
        if mx * my < self.n_clusters:
            raise ValueError(
                f"n_clusters={self.n_clusters} is larger than the map's {mx * my} neurons ({mx}x{my}); "
                "use a larger map_size."
            )
        if gamma < 0:
            raise ValueError(f"gamma must be non-negative, got {gamma}.")
        T_max = float(T_max)
        if not (T_min > 0 and T_max >= T_min):
            raise ValueError(f"need 0 < T_min <= T_max, got T_min={T_min}, T_max={T_max}.")
        if int(decay_steps) < 1:
            raise ValueError(f"decay_steps must be >= 1, got {decay_steps}.")
        if int(init_epochs) < 1:
            raise ValueError(f"init_epochs must be >= 1, got {init_epochs}.")
        if hits_interval is not None and int(hits_interval) < 1:
            raise ValueError(f"hits_interval must be >= 1 step or None, got {hits_interval}.")
        if soft_temperature is not None and not soft_temperature > 0:
            raise ValueError(f"soft_temperature must be positive, got {soft_temperature}.")
        self.n_features = self.check_n_features(n_features)
        self.gamma = float(gamma)
        self.T_max = float(T_max)
        self.T_min = float(T_min)
        self.decay_steps = int(decay_steps)
        self.decay_schedule = _check_choice(decay_schedule, DECAY_FUNCTIONS, "decay_schedule")
        self.init = _check_choice(init, INIT_MODES, "init")
        self.init_epochs = int(init_epochs)
        self.map_clustering = _check_choice(map_clustering, MAP_CLUSTERING, "map_clustering")
        self.soft_temperature = None if soft_temperature is None else float(soft_temperature)
        self.seed = int(seed)
        self.refresh_interval = None if hits_interval is None else int(hits_interval)
        init_sigma = max(max(mx, my) / 2.0, self.T_max)
        self.som = SOM(
            mx,
            my,
            self.n_features,
            epochs=self.init_epochs,
            batch_size=64,
            topology=topology,
            initialization_mode="pca" if self.init == "fit" else self.init,
            sigma=init_sigma,
            sigma_end=self.T_max,
            learning_rate=0.5,
            neighborhood_function=neighborhood_function,
            random_seed=self.seed,
        )
        # training calls of forward() so far: drives the temperature, survives checkpoints
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        # samples of the whole training set per neuron (initialize / refresh): weights of the map clustering
        self.register_buffer("hits", torch.zeros(mx * my))
        self._map_cache: dict[str, Any] | None = None

    # ------------------------------------------------------------------ schedule
    @property
    def map_size(self) -> tuple[int, int]:
        return self.som.x, self.som.y

    @property
    def prototypes(self) -> Tensor:
        """The map's prototypes ``(M, F)`` (a view of ``som.weights``)."""
        return self.som.weights

    def temperature_at(self, step: int) -> float:
        """:math:`T` after ``step`` training steps (constant ``T_min`` after ``decay_steps``)."""
        t = float(min(max(int(step), 0), self.decay_steps))
        if self.T_max == self.T_min:
            return self.T_max
        return float(decay(self.decay_schedule, self.T_max, self.T_min, t, float(self.decay_steps)))

    @property
    def temperature(self) -> float:
        """The current temperature :math:`T` (used by the next training step)."""
        return self.temperature_at(int(self.steps))

    # ------------------------------------------------------------------ contract
    @torch.no_grad()
    def initialize(self, z: Tensor, **context: Any) -> None:
        """Initialise the prototypes from the embeddings of the whole training set."""
        self.check_initialization_input(z, self.n_features)
        z = z.detach().float()
        if self.init == "fit":
            self.som.initialize_weights(z.cpu().numpy(), "pca" if z.shape[0] >= 2 else "sample")
            self.som.fit(z, keep_data=False)
        else:
            self.som.initialize_weights(z.cpu().numpy(), self.init)
        self._map_cache = None
        self.refresh(z)
        self.mark_initialized()

    @torch.no_grad()
    def refresh(self, z: Tensor, **context: Any) -> None:
        """Recount the hits (training samples per neuron) from the embeddings of the whole training set."""
        self.check_embeddings(z, self.n_features)
        bmus = self.som.bmus(z.detach(), return_tensor=True)
        self.hits.copy_(torch.bincount(bmus, minlength=self.som.n_neurons).to(self.hits))

    def som_loss(self, z: Tensor, temperature: float | None = None) -> Tensor:
        r""":math:`\mathcal L_{som}` of the batch at temperature :math:`T` (default: the current one)."""
        return self.som.loss(z, self.temperature if temperature is None else temperature)

    def forward(self, z: Tensor, x: Tensor | None = None, x_hat: Tensor | None = None, **context: Any) -> LossOutput:
        self.check_embeddings(z, self.n_features)
        if x is None or x_hat is None:
            raise ValueError(
                "SOMClusterHead needs the input `x` and its reconstruction `x_hat` in the context: "
                "use an autoencoder (e.g. MLPAutoencoder) and call head(z, x=x, x_hat=decoder(z))."
            )
        if x_hat.shape != x.shape:
            x_hat = x_hat.reshape(x.shape)
        som = self.som_loss(z)
        if self.training:
            self.steps += 1
        recon = F.mse_loss(x_hat, x)
        return LossOutput(total=recon + self.gamma * som, components={"reconstruction": recon, "som": som})

    # ------------------------------------------------------------------ map clustering
    def _map_clusters(self) -> dict[str, Any]:
        r"""Neuron labels ``(M,)`` and :math:`\\tau`, cached on the prototypes and hit counts."""
        w_cpu = self.som.weights.detach().float().cpu()
        hits = self.hits.detach().double().cpu()
        cache = self._map_cache
        if cache is not None and torch.equal(cache["weights"], w_cpu) and torch.equal(cache["hits"], hits):
            return cache
        W = w_cpu.numpy().astype(np.float64)
        if self.map_clustering == "kmeans":
            weight = hits.numpy() + 1e-3 if float(hits.sum()) > 0 else None
            raw = kmeans_numpy(W, self.n_clusters, self.seed, sample_weight=weight, n_init=10).labels
        else:
            raw = self.som.cluster(
                method=self.map_clustering, n_clusters=self.n_clusters, data=W, random_state=self.seed
            )["labels"]
        raw = np.asarray(raw)
        uniq = np.unique(raw[raw >= 0])
        labels = torch.as_tensor(np.searchsorted(uniq, np.maximum(raw, uniq[0])), dtype=torch.long)
        nb = torch.as_tensor(self.som.neighbors)
        valid = nb >= 0
        i = torch.arange(len(nb))[:, None].expand_as(nb)[valid]
        j = nb[valid]
        if self.soft_temperature is not None:
            tau = self.soft_temperature
        else:
            tau = float(((w_cpu[i] - w_cpu[j]) ** 2).sum(1).mean()) if len(j) else 1.0
            tau = tau if math.isfinite(tau) and tau > 1e-12 else 1.0
        self._map_cache = {"weights": w_cpu.clone(), "hits": hits.clone(), "labels": labels, "tau": tau}
        return self._map_cache

    @property
    def neuron_labels(self) -> Tensor:
        """Cluster of every map neuron ``(M,)`` (computed on demand, cached)."""
        return self._map_clusters()["labels"].clone()

    @torch.no_grad()
    def cluster(self, z: Tensor, soft: bool = False) -> Tensor:
        self.check_embeddings(z, self.n_features)
        if not self.is_initialized:
            raise RuntimeError(
                "SOMClusterHead is not initialised: call initialize(z) with the training embeddings "
                "(ClusteringModule does it before joint training) before cluster()."
            )
        cache = self._map_clusters()
        labels = cache["labels"].to(z.device)
        w = self.som.weights.detach().to(z)
        d = torch.cat([pairwise_distance(c, w, "euclidean", squared=True) for c in z.split(4096)])
        if not soft:
            return labels[d.argmin(1)]
        # min over each cluster's prototypes of the squared distance: (N, K)
        big = torch.full((z.shape[0], self.n_clusters), float("inf"), device=z.device, dtype=d.dtype)
        dmin = big.scatter_reduce(1, labels.expand(z.shape[0], -1), d, reduce="amin", include_self=True)
        return torch.softmax(-dmin / cache["tau"], dim=1)

    def extra_repr(self) -> str:
        return (
            f"n_clusters={self.n_clusters}, n_features={self.n_features}, map_size={self.map_size}, "
            f"gamma={self.gamma}, T_max={self.T_max}, T_min={self.T_min}, decay_steps={self.decay_steps}, "
            f"map_clustering={self.map_clustering!r}"
        )
