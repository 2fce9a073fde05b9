r"""Self-organising map (Kohonen map) in PyTorch, trained by vectorised mini-batch updates."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ._validation import (
    as_float_array,
    as_float_tensor,
    check_option,
    check_positive_float,
    check_positive_int,
)
from .grid import TOPOLOGIES, adjacency_radius, grid_neighbors, grid_positions
from .neighborhood import (
    DECAY_FUNCTIONS,
    DISTANCE_FUNCTIONS,
    NEIGHBORHOOD_FUNCTIONS,
    decay,
    neighborhood,
    pairwise_distance,
)

ArrayLike = np.ndarray | torch.Tensor | list[list[float]]

INITIALIZATION_MODES = ("random", "sample", "pca")
CLUSTER_METHODS = ("kmeans", "gmm", "hdbscan", "tsk", "densom", "autosom")
FEATURE_SPACES = ("weights", "positions", "combined")
MAP_TYPES = ("hit", "distance", "bmus_data", "metric", "score", "rank", "classification")

_CHUNK = 4096  # samples per chunk when computing BMUs of large inputs
_MAX_DENSE_GRID = 2500  # neurons up to which the (M, M) grid distance matrix is cached
_ERROR_SUBSAMPLE = 10000  # samples used for the per-epoch quantisation / topographic error
_EPOCH_COPY_MAX = 2**26  # up to this many values, each epoch's shuffled data is copied at once


class SOM(nn.Module):
    r"""The self-organising map of `Kohonen (1990), "The self-organizing map"
    <https://doi.org/10.1109/5.58325>`_, trained with the vectorised mini-batch (batch-SOM)
    rule.

    The map holds :math:`M = x \cdot y` prototypes :math:`w_j \in \mathbb{R}^F` at fixed grid
    positions :math:`p_j` (rectangular or hexagonal). For a mini-batch :math:`X \in
    \mathbb{R}^{B \times F}` the best matching unit (BMU) of sample :math:`b` is
    :math:`c_b = \arg\min_j \operatorname{dist}(x_b, w_j)`, the neighbourhood weights are
    :math:`H_{bj} = h(\lVert p_{c_b} - p_j\rVert; \sigma(t))` and the update is

    .. math::
        W \leftarrow W + \frac{\eta(t)}{B}\left(H^\top X - \operatorname{diag}(H^\top \mathbf 1)\, W\right),

    i.e. every prototype moves towards the :math:`H`-weighted batch samples. (With the
    ``mexican_hat`` function :math:`H` has a negative rim; a prototype whose column sum
    :math:`\sum_b H_{bj}` is negative would be repelled without bound, so it is left unchanged
    for that batch.) This is the
    gradient step of the SOM energy :math:`\frac1B\sum_b\sum_j H_{bj}\lVert x_b - w_j\rVert^2`
    used by DESOM (`Forest et al., 2019 <https://doi.org/10.1007/s00521-021-06331-w>`_),
    exposed as :meth:`loss`. :math:`\sigma(t)` and :math:`\eta(t)` follow the chosen decay
    schedules (see :mod:`pyagc.som.neighborhood`).

    Quality measures: the quantisation error :math:`QE = \frac1n\sum_i \operatorname{dist}(x_i,
    w_{c_i})` and the topographic error :math:`TE = \frac1n\sum_i \mathbb 1[c_i, c'_i \text{ not
    adjacent}]` (:math:`c'_i` the second BMU; adjacent = grid distance :math:`\le 1` on
    hexagonal, :math:`\le\sqrt2` on rectangular grids), recorded once per epoch in
    :attr:`history`.

    Args:
        x (int): number of grid columns.
        y (int): number of grid rows.
        num_features (int): dimension :math:`F` of the input.
        epochs (int, optional): training epochs. (default: :obj:`100`)
        batch_size (int, optional): mini-batch size :math:`B`. (default: :obj:`32`)
        topology (str, optional): :obj:`"rectangular"` or :obj:`"hexagonal"`.
            (default: :obj:`"rectangular"`)
        initialization_mode (str, optional): :obj:`"random"` (uniform in the data's bounding
            box), :obj:`"sample"` (random data points) or :obj:`"pca"` (plane spanned by the two
            leading principal components, :math:`\pm 2` standard deviations).
            (default: :obj:`"pca"`)
        sigma (float, optional): initial neighbourhood radius in grid units; :obj:`None` means
            :math:`\max(x, y)/4` (at least 1). (default: :obj:`None`)
        learning_rate (float, optional): initial learning rate :math:`\eta_0 \le 1`.
            (default: :obj:`0.5`)
        sigma_decay (str, optional): schedule of :math:`\sigma`, one of
            :obj:`"asymptotic"`, :obj:`"linear"`, :obj:`"exponential"`, :obj:`"inverse"`.
            (default: :obj:`"exponential"`)
        lr_decay (str, optional): schedule of :math:`\eta`. (default: :obj:`"asymptotic"`)
        sigma_end (float, optional): final :math:`\sigma`; :obj:`None` means
            :math:`\min(0.5, \sigma_0)`. (default: :obj:`None`)
        learning_rate_end (float, optional): final :math:`\eta`; :obj:`None` means
            :math:`\eta_0/100`. (default: :obj:`None`)
        neighborhood_function (str, optional): :obj:`"gaussian"`, :obj:`"bubble"`,
            :obj:`"mexican_hat"` or :obj:`"triangle"`. (default: :obj:`"gaussian"`)
        distance_function (str, optional): :obj:`"euclidean"`, :obj:`"cosine"` or
            :obj:`"manhattan"` (used for BMUs, errors and the U-matrix).
            (default: :obj:`"euclidean"`)
        random_seed (int, optional): seed of initialisation, shuffling and post-hoc
            clustering. (default: :obj:`0`)
        device (str or torch.device, optional): device of the weights. (default: :obj:`"cpu"`)
        verbose (bool, optional): show a tqdm progress bar during :meth:`fit`.
            (default: :obj:`False`)

    Example:
        >>> som = SOM(25, 15, num_features=5, topology="hexagonal", epochs=100, batch_size=16)
        >>> som.fit(X)
        >>> result = som.cluster(method="kmeans", n_clusters=4, feature_space="weights")
        >>> labels = som.predict(X)
    """

    weights: nn.Parameter
    positions: torch.Tensor

    def __init__(
        self,
        x: int,
        y: int,
        num_features: int,
        epochs: int = 100,
        batch_size: int = 32,
        topology: str = "rectangular",
        initialization_mode: str = "pca",
        sigma: float | None = None,
        learning_rate: float = 0.5,
        sigma_decay: str = "exponential",
        lr_decay: str = "asymptotic",
        sigma_end: float | None = None,
        learning_rate_end: float | None = None,
        neighborhood_function: str = "gaussian",
        distance_function: str = "euclidean",
        random_seed: int | None = 0,
        device: str | torch.device = "cpu",
        verbose: bool = False,
    ) -> None:
        super().__init__()
        self.x = check_positive_int(x, "x")
        self.y = check_positive_int(y, "y")
        if self.x * self.y < 2:
            raise ValueError(
                f"The SOM grid is too small: x={x}, y={y} gives {self.x * self.y} neuron(s). "
                "Use a grid with at least 2 neurons (typically about 5*sqrt(n_samples); see pyagc.som.suggest_grid_size)."
            )
        self.num_features = check_positive_int(num_features, "num_features")
        self.epochs = check_positive_int(epochs, "epochs")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.topology = check_option(topology, TOPOLOGIES, "topology")
        self.initialization_mode = check_option(initialization_mode, INITIALIZATION_MODES, "initialization_mode")
        self.sigma = max(max(self.x, self.y) / 4.0, 1.0) if sigma is None else check_positive_float(sigma, "sigma")
        self.learning_rate = check_positive_float(learning_rate, "learning_rate")
        if self.learning_rate > 1.0:
            warnings.warn(
                f"learning_rate={learning_rate} > 1 can make the batch update overshoot; values in (0, 1] are stable.",
                stacklevel=2,
            )
        self.sigma_decay = check_option(sigma_decay, DECAY_FUNCTIONS, "sigma_decay")
        self.lr_decay = check_option(lr_decay, DECAY_FUNCTIONS, "lr_decay")
        self.sigma_end = min(0.5, self.sigma) if sigma_end is None else check_positive_float(sigma_end, "sigma_end")
        self.learning_rate_end = (
            self.learning_rate / 100.0
            if learning_rate_end is None
            else check_positive_float(learning_rate_end, "learning_rate_end")
        )
        self.neighborhood_function = check_option(
            neighborhood_function, NEIGHBORHOOD_FUNCTIONS, "neighborhood_function"
        )
        self.distance_function = check_option(distance_function, DISTANCE_FUNCTIONS, "distance_function")
        self.random_seed = random_seed
        self.verbose = bool(verbose)

        pos = grid_positions(self.x, self.y, self.topology)
        self.register_buffer("positions", torch.as_tensor(pos, dtype=torch.float32))
        self._neighbors = grid_neighbors(pos, self.topology)  # (M, deg) numpy, -1 padded
        self._grid_d2: torch.Tensor | None = None
        gen = torch.Generator().manual_seed(0 if random_seed is None else int(random_seed))
        self.weights = nn.Parameter(torch.rand(self.x * self.y, self.num_features, generator=gen) * 2 - 1)
        self._data_initialized = False
        self.history: dict[str, list[float]] = {
            "quantization_error": [],
            "topographic_error": [],
            "sigma": [],
            "learning_rate": [],
        }
        self._data: np.ndarray | None = None
        self._data_bmus: np.ndarray | None = None
        self.cluster_result_: dict[str, Any] | None = None
        self._predictor: dict[str, Any] | None = None
        self.to(device)

    # ------------------------------------------------------------------ basics
    @property
    def n_neurons(self) -> int:
        r"""Number of neurons :math:`M = x \\cdot y`."""
        return self.x * self.y

    @property
    def device(self) -> torch.device:
        return self.weights.device

    @property
    def neighbors(self) -> np.ndarray:
        """``(M, max_degree)`` neighbour indices on the grid, padded with ``-1``."""
        return self._neighbors

    @property
    def is_fitted(self) -> bool:
        return self._data_initialized and len(self.history["quantization_error"]) > 0

    def extra_repr(self) -> str:
        return (
            f"x={self.x}, y={self.y}, num_features={self.num_features}, topology={self.topology!r}, "
            f"sigma={self.sigma:g}, learning_rate={self.learning_rate:g}, "
            f"neighborhood_function={self.neighborhood_function!r}, distance_function={self.distance_function!r}"
        )

    def to_grid(self, values: np.ndarray | torch.Tensor) -> np.ndarray:
        """Reshape per-neuron values ``(M, ...)`` to the grid layout ``(y, x, ...)``."""
        v = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
        if v.shape[0] != self.n_neurons:
            raise ValueError(f"Expected {self.n_neurons} per-neuron values (one per neuron); got {v.shape[0]}.")
        return v.reshape(self.y, self.x, *v.shape[1:])

    def _tensor(self, data: ArrayLike, name: str = "data") -> torch.Tensor:
        return as_float_tensor(data, self.num_features, self.device, name)

    def _grid_sq_dist_rows(self, bmu: torch.Tensor) -> torch.Tensor:
        """Squared grid distances ``(B, M)`` from each BMU to every neuron."""
        if self.n_neurons <= _MAX_DENSE_GRID:
            if self._grid_d2 is None or self._grid_d2.device != self.positions.device:
                p = self.positions
                self._grid_d2 = ((p[:, None, :] - p[None, :, :]) ** 2).sum(-1)
            return self._grid_d2[bmu]
        p = self.positions
        return ((p[bmu][:, None, :] - p[None, :, :]) ** 2).sum(-1)

    def _grid_d2_matrix(self) -> torch.Tensor | None:
        """The cached ``(M, M)`` squared grid distances, or ``None`` above ``_MAX_DENSE_GRID`` neurons."""
        if self.n_neurons > _MAX_DENSE_GRID:
            return None
        self._grid_sq_dist_rows(torch.zeros(1, dtype=torch.long, device=self.positions.device))
        return self._grid_d2

    def neighborhood_matrix(self, sigma: float, bmus: torch.Tensor | None = None) -> torch.Tensor:
        r"""Neighbourhood weights :math:`h(c, j; \sigma)`.

        Args:
            sigma (float): neighbourhood radius in grid units.
            bmus (torch.Tensor, optional): ``(B,)`` BMU indices. If :obj:`None`, returns the full
                ``(M, M)`` matrix (row ``c`` = neighbourhood of neuron ``c``).

        Returns:
            torch.Tensor: ``(B, M)`` or ``(M, M)`` on the device of the map.
        """
        sigma = check_positive_float(sigma, "sigma")
        idx = torch.arange(self.n_neurons, device=self.device) if bmus is None else bmus.to(self.device).long()
        return neighborhood(self._grid_sq_dist_rows(idx), sigma, self.neighborhood_function)

    # ------------------------------------------------------------------ forward / BMU
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Distances ``(B, M)`` from each input row to every prototype (differentiable).

        Squared Euclidean for ``distance_function="euclidean"`` (the DESOM loss uses it),
        otherwise the chosen distance.
        """
        return pairwise_distance(x, self.weights, self.distance_function, squared=True)

    def loss(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        r"""DESOM's SOM loss :math:`\frac1B\sum_b\sum_j h(c_b, j; \sigma)\lVert x_b - w_j\rVert^2`.

        Differentiable with respect to both ``x`` and the prototypes; the BMUs and the
        neighbourhood weights are treated as constants.
        """
        d = self.forward(x)
        with torch.no_grad():
            h = self.neighborhood_matrix(sigma, d.argmin(dim=1))
        return (h * d).sum(dim=1).mean()

    @torch.no_grad()
    def _topk_bmus(self, x: torch.Tensor, k: int = 1):
        """The ``k`` nearest prototypes of every row of ``x``: (distances, indices), each ``(N, k)``.

        Euclidean: the squared distances are ``|x|^2 - 2 s`` with the scores
        ``s = x . w - |w|^2 / 2`` (one matrix product per chunk, the largest scores are the BMUs).
        """
        w = self.weights.detach()
        dists, idxs = [], []
        if self.distance_function == "euclidean":
            half_w2 = 0.5 * (w * w).sum(1)
        for s in range(0, x.shape[0], _CHUNK):
            xc = x[s : s + _CHUNK]
            if self.distance_function == "euclidean":
                score = (xc @ w.T).sub_(half_w2)
                v, i = score.max(1, keepdim=True) if k == 1 else torch.topk(score, k, dim=1)
                v = ((xc * xc).sum(1, keepdim=True) - 2.0 * v).clamp_(min=0.0)
            else:
                d = pairwise_distance(xc, w, self.distance_function, squared=True)
                v, i = d.min(1, keepdim=True) if k == 1 else torch.topk(d, k, dim=1, largest=False)
            dists.append(v)
            idxs.append(i)
        return torch.cat(dists), torch.cat(idxs)

    @torch.no_grad()
    def bmus(self, data: ArrayLike, return_tensor: bool = False) -> np.ndarray | torch.Tensor:
        """Index of the best matching unit of every sample.

        Accepts numpy arrays, lists or tensors on any device (moved to the map's device).
        Returns a numpy int array, or a ``LongTensor`` on the map's device if ``return_tensor``.
        """
        _, idx = self._topk_bmus(self._tensor(data), 1)
        idx = idx[:, 0]
        return idx if return_tensor else idx.cpu().numpy()

    # ------------------------------------------------------------------ initialisation
    @torch.no_grad()
    def initialize_weights(self, data: ArrayLike | None = None, mode: str | None = None) -> SOM:
        r"""Initialise the prototypes from ``data``.

        ``mode``: :obj:`"random"` (uniform in the bounding box of ``data``; standard uniform in
        :math:`[-1, 1]` without data), :obj:`"sample"` (distinct random samples, drawn with
        replacement if there are fewer samples than neurons) or :obj:`"pca"` (regular grid in
        the plane of the two leading principal components, spanning :math:`\\pm 2` standard
        deviations, the longer grid side along the first component).
        """
        mode = (
            self.initialization_mode
            if mode is None
            else check_option(mode, INITIALIZATION_MODES, "initialization mode")
        )
        gen = np.random.default_rng(None if self.random_seed is None else int(self.random_seed))
        m = self.n_neurons
        if data is None:
            if mode != "random":
                raise ValueError(
                    f"initialization mode {mode!r} needs data: call initialize_weights(data, mode={mode!r})."
                )
            w = gen.uniform(-1, 1, size=(m, self.num_features))
        else:
            X = as_float_array(data, self.num_features)
            if mode == "random":
                lo, hi = X.min(0), X.max(0)
                w = lo + gen.random((m, self.num_features)) * (hi - lo)
            elif mode == "sample":
                idx = gen.choice(len(X), m, replace=len(X) < m)
                w = X[idx] + (1e-6 * gen.standard_normal((m, self.num_features)) if len(X) < m else 0.0)
            else:  # pca
                if len(X) < 2:
                    raise ValueError(
                        "PCA initialisation needs at least 2 samples; use initialization_mode='random' or 'sample'."
                    )
                sub = X if len(X) <= 50000 else X[gen.choice(len(X), 50000, replace=False)]
                mean = sub.mean(0)
                cov = np.atleast_2d(np.cov(sub - mean, rowvar=False))
                ev, evec = np.linalg.eigh(cov)
                order = np.argsort(ev)[::-1]
                ev, evec = np.clip(ev[order], 0, None), evec[:, order]
                pos = self.positions.cpu().numpy().astype(np.float64)
                span = pos.max(0) - pos.min(0)
                coords = np.where(span > 0, (pos - pos.min(0)) / np.where(span > 0, span, 1) * 2 - 1, 0.0)
                long_axis = 0 if span[0] >= span[1] else 1
                w = np.tile(mean, (m, 1))
                w = w + coords[:, [long_axis]] * 2 * np.sqrt(ev[0]) * evec[:, 0][None, :]
                if self.num_features > 1:
                    w = w + coords[:, [1 - long_axis]] * 2 * np.sqrt(ev[1]) * evec[:, 1][None, :]
        self.weights.data.copy_(torch.as_tensor(w, dtype=torch.float32, device=self.device))
        self._data_initialized = data is not None
        return self

    # ------------------------------------------------------------------ training
    def fit(
        self,
        data: ArrayLike,
        epochs: int | None = None,
        batch_size: int | None = None,
        progress: bool | None = None,
        keep_data: bool = True,
        verbose: bool | None = None,
    ) -> SOM:
        r"""Train the map on ``data`` (n_samples, num_features) with mini-batch updates.

        The prototypes are initialised with ``initialization_mode`` unless
        :meth:`initialize_weights` was already called with data or the map was already fitted
        (a second call continues training and appends to :attr:`history`). Quantisation and topographic
        errors (on at most 10 000 fixed samples), :math:`\\sigma` and :math:`\\eta` are recorded
        once per epoch in :attr:`history`. With ``keep_data`` the data are stored for
        :meth:`cluster` and the hit map. ``progress`` (or its TorchSOM name ``verbose``) shows a
        progress bar; by default the constructor's ``verbose`` decides.

        Returns:
            SOM: ``self`` (TorchSOM returns the per-epoch error lists instead; here they are in
            ``som.history["quantization_error"]`` and ``som.history["topographic_error"]``).
        """
        X = self._tensor(data)
        n = X.shape[0]
        epochs = self.epochs if epochs is None else check_positive_int(epochs, "epochs")
        bs = min(self.batch_size if batch_size is None else check_positive_int(batch_size, "batch_size"), n)
        if progress is None:
            progress = verbose
        show = self.verbose if progress is None else bool(progress)
        if not self._data_initialized:
            self.initialize_weights(X.cpu().numpy(), self.initialization_mode)
        gen = torch.Generator().manual_seed(0 if self.random_seed is None else int(self.random_seed))
        if n > _ERROR_SUBSAMPLE:
            eval_idx = torch.randperm(n, generator=gen)[:_ERROR_SUBSAMPLE].to(self.device)
            X_eval = X[eval_idx]
        else:
            X_eval = X
        steps = math.ceil(n / bs)
        total = float(epochs * steps)
        W = self.weights.data
        iterator = range(epochs)
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(iterator, desc="SOM training", unit="epoch")
            iterator = bar
        # The loop is dispatch-bound for small batches, so each step is a handful of fused ops and
        # never waits for the device: Euclidean BMUs from one matrix product with the augmented
        # batch [x, 1] and prototypes [w, -|w|^2/2] (largest score = nearest prototype); the
        # Gaussian from one gather of the cached grid distances (exponent clamped at -80, which
        # avoids the slow denormal range of exp and changes weights by < 1e-34); the update
        # W <- W (1 - c sum_b h) + c H^T X from one product with the same augmented batch.
        euclid = self.distance_function == "euclidean"
        gauss = self.neighborhood_function == "gaussian"
        mexican = self.neighborhood_function == "mexican_hat"
        F = self.num_features
        G = self._grid_d2_matrix()  # None for very large maps (rows computed on the fly)
        ones = torch.ones(n, 1, device=X.device, dtype=X.dtype)
        with torch.no_grad():
            for epoch in iterator:
                perm = torch.randperm(n, generator=gen).to(self.device)
                # (n, F + 1) in this epoch's order; very large data are gathered batch by batch
                Xe = torch.cat([X[perm], ones], 1) if n * (F + 1) <= _EPOCH_COPY_MAX else None
                for s in range(steps):
                    if Xe is not None:
                        xa = Xe[s * bs : (s + 1) * bs]
                    else:
                        idx = perm[s * bs : (s + 1) * bs]
                        xa = torch.cat([X[idx], ones[: idx.shape[0]]], 1)
                    xb = xa[:, :F]
                    t = float(epoch * steps + s)
                    sig = decay(self.sigma_decay, self.sigma, self.sigma_end, t, total)
                    lr = decay(self.lr_decay, self.learning_rate, self.learning_rate_end, t, total)
                    if euclid:
                        Wa = torch.cat([W, (W * W).sum(1, keepdim=True).mul_(-0.5)], 1)
                        bmu = (xa @ Wa.T).max(1).indices
                    else:
                        bmu = pairwise_distance(xb, W, self.distance_function, squared=True).min(1).indices
                    g = G.index_select(0, bmu) if G is not None else self._grid_sq_dist_rows(bmu)
                    if gauss:
                        h = g.mul_(-0.5 / (sig * sig)).clamp_(min=-80.0).exp_()
                    else:
                        h = neighborhood(g, sig, self.neighborhood_function)
                    if mexican:
                        # a neuron with net negative weight sum(h) < 0 would be pushed away without
                        # bound (w grows like (1 + lr|sum h|)^t); such neurons are left unchanged
                        h = h * (h.sum(0, keepdim=True) >= 0)
                    c = lr / xa.shape[0]
                    S = h.T @ xa  # (M, F + 1): [H^T X, H^T 1]
                    W.mul_(S[:, F:].mul(-c).add_(1.0)).add_(S[:, :F], alpha=c)
                qe, te = self._errors(X_eval)
                self.history["quantization_error"].append(qe)
                self.history["topographic_error"].append(te)
                self.history["sigma"].append(sig)
                self.history["learning_rate"].append(lr)
                if bar is not None:
                    bar.set_postfix(qe=f"{qe:.4f}", te=f"{te:.3f}", sigma=f"{sig:.2f}")
        if bar is not None:
            bar.close()
        self._data_initialized = True
        if keep_data:
            self._data = X.cpu().numpy().astype(np.float64)
            self._data_bmus = self.bmus(X)
        self.cluster_result_ = None
        self._predictor = None
        return self

    # ------------------------------------------------------------------ quality
    @torch.no_grad()
    def _errors(self, X: torch.Tensor):
        d, idx = self._topk_bmus(X, 2 if self.n_neurons > 1 else 1)
        if self.distance_function == "euclidean":
            qe = torch.sqrt(d[:, 0]).mean().item()
        else:
            qe = d[:, 0].mean().item()
        p = self.positions
        gd = torch.sqrt(((p[idx[:, 0]] - p[idx[:, 1]]) ** 2).sum(-1))
        te = (gd > adjacency_radius(self.topology)).float().mean().item()
        return qe, te

    def _data_or_fitted(self, data: ArrayLike | None) -> torch.Tensor:
        if data is None:
            if self._data is None:
                raise RuntimeError("No data stored on the map: call fit(data) first or pass data explicitly.")
            return torch.as_tensor(self._data, dtype=torch.float32, device=self.device)
        return self._tensor(data)

    def quantization_error(self, data: ArrayLike | None = None) -> float:
        """Mean distance between each sample and its BMU's prototype (fitted data by default)."""
        return self._errors(self._data_or_fitted(data))[0]

    def topographic_error(self, data: ArrayLike | None = None) -> float:
        """Share of samples whose first and second BMUs are not grid neighbours."""
        return self._errors(self._data_or_fitted(data))[1]

    def hits(self, data: ArrayLike | None = None) -> np.ndarray:
        """Number of samples per neuron, shape ``(M,)`` (fitted data by default)."""
        if data is None and self._data_bmus is not None:
            b = self._data_bmus
        else:
            b = self.bmus(self._data_or_fitted(data))
        return np.bincount(b, minlength=self.n_neurons)

    def hit_map(self, data: ArrayLike | None = None) -> np.ndarray:
        """Hit counts on the grid, shape ``(y, x)``."""
        return self.to_grid(self.hits(data))

    def neighbors_within(self, order: int = 1) -> scipy.sparse.csr_matrix:  # noqa: F821
        """Neurons at most ``order`` steps apart on the grid graph, as a sparse boolean matrix.

        One step joins grid neighbours (6 on hexagonal maps, 8 on rectangular maps, see
        :attr:`neighbors`), so order ``k`` gives the hexagonal rings, or the Chebyshev squares,
        of radius ``k`` around each neuron. The diagonal (a neuron itself) is excluded.

        Returns:
            scipy.sparse.csr_matrix: ``(M, M)``; row ``j`` marks the neighbours of neuron ``j``.
        """
        from scipy import sparse

        order = check_positive_int(order, "neighborhood_order")
        m = self.n_neurons
        nb = self._neighbors
        rows = np.repeat(np.arange(m), nb.shape[1])
        cols = nb.ravel()
        keep = cols >= 0
        A = sparse.csr_matrix((np.ones(int(keep.sum()), dtype=np.int8), (rows[keep], cols[keep])), shape=(m, m))
        R = A.copy()
        for _ in range(order - 1):
            R = ((R + R @ A) > 0).astype(np.int8)
        R = R.tolil()
        R.setdiag(0)
        R = R.tocsr()
        R.eliminate_zeros()
        return R.astype(bool)

    @torch.no_grad()
    def distance_map(
        self,
        scaling: str = "mean",
        distance_metric: str | None = None,
        neighborhood_order: int | None = None,
    ) -> np.ndarray:
        """U-matrix: mean (``scaling="mean"``) or summed (``"sum"``) distance of every
        prototype to its grid neighbours up to ``neighborhood_order`` steps away (default 1),
        measured with ``distance_metric`` (default: the map's ``distance_function``) and
        normalised to ``[0, 1]``; shape ``(y, x)``.
        """
        scaling = check_option(scaling, ("mean", "sum"), "scaling")
        metric = (
            self.distance_function
            if distance_metric is None
            else check_option(distance_metric, DISTANCE_FUNCTIONS, "distance_metric")
        )
        order = 1 if neighborhood_order is None else check_positive_int(neighborhood_order, "neighborhood_order")
        if order == 1:
            nb = self._neighbors
            rows = np.repeat(np.arange(self.n_neurons), nb.shape[1])
            cols = nb.ravel()
            keep = cols >= 0
            rows, cols = rows[keep], cols[keep]
        else:
            rows, cols = self.neighbors_within(order).nonzero()
        w = self.weights.detach()
        r = torch.as_tensor(rows, device=self.device, dtype=torch.long)
        c = torch.as_tensor(cols, device=self.device, dtype=torch.long)
        a, b = w[r], w[c]
        if metric == "euclidean":
            d = torch.linalg.norm(a - b, dim=-1)
        elif metric == "manhattan":
            d = (a - b).abs().sum(-1)
        else:
            d = 1 - torch.nn.functional.cosine_similarity(a, b, dim=-1)
        u = np.bincount(rows, weights=d.cpu().numpy().astype(np.float64), minlength=self.n_neurons)
        if scaling == "mean":
            u = u / np.maximum(np.bincount(rows, minlength=self.n_neurons), 1)
        if u.max() > 0:
            u = u / u.max()
        return self.to_grid(u)

    def u_matrix(self) -> np.ndarray:
        """Alias of :meth:`distance_map`."""
        return self.distance_map()

    # ------------------------------------------------------------------ TorchSOM-style maps
    def _neuron_of(self, row: int, col: int) -> int:
        if not (0 <= row < self.y and 0 <= col < self.x):
            raise ValueError(
                f"bmus_data_map key ({row}, {col}) is off the {self.y} x {self.x} (rows x columns) grid; "
                "build the mapping with som.build_map('bmus_data', data=..., return_indices=True)."
            )
        return int(row) * self.x + int(col)

    def _sample_neurons(
        self, data: ArrayLike | None, bmus_data_map: Mapping[Any, Any] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(sample_index, neuron_index)`` pairs from ``bmus_data_map``, ``data`` or the fitted data."""
        if bmus_data_map is not None:
            samples, neurons = [], []
            for key, idx in bmus_data_map.items():
                if isinstance(key, (tuple, list)) and len(key) == 2:
                    j = self._neuron_of(*key)
                else:
                    j = int(key)
                arr = idx.detach().cpu().numpy() if isinstance(idx, torch.Tensor) else np.asarray(idx)
                if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
                    raise ValueError(
                        "bmus_data_map must map each BMU to a list of sample indices; build it with "
                        "som.build_map('bmus_data', data=..., return_indices=True)."
                    )
                samples.append(arr.astype(np.int64))
                neurons.append(np.full(arr.size, j, dtype=np.int64))
            if not samples:
                return np.zeros(0, np.int64), np.zeros(0, np.int64)
            return np.concatenate(samples), np.concatenate(neurons)
        if data is None and self._data_bmus is not None:
            b = self._data_bmus
        else:
            b = self.bmus(self._data_or_fitted(data))
        return np.arange(len(b), dtype=np.int64), np.asarray(b, dtype=np.int64)

    def build_map(
        self,
        map_type: str,
        data: ArrayLike | None = None,
        target: ArrayLike | None = None,
        bmus_data_map: Mapping[Any, Any] | None = None,
        **kwargs: Any,
    ) -> np.ndarray | dict[tuple[int, int], Any]:
        r"""Per-neuron maps with TorchSOM's names (grids have pyagc's ``(y, x)`` layout).

        ``map_type``:

        * ``"hit"``: samples per neuron (:meth:`hit_map`);
        * ``"distance"``: the U-matrix (:meth:`distance_map`; keywords ``scaling``, default
          ``"sum"`` as in TorchSOM, ``distance_metric``, ``neighborhood_order``);
        * ``"bmus_data"``: a dict ``{(row, col): sample indices}`` (``return_indices=True``) or
          ``{(row, col): samples}`` of the neurons that have hits;
        * ``"metric"``: mean (``reduction_parameter="mean"``) or standard deviation (``"std"``)
          of ``target`` per neuron;
        * ``"score"``: :math:`\max(\epsilon, \frac{s_j}{\sqrt{n_j}}\log\frac{N}{n_j})` with
          :math:`s_j` the standard deviation of ``target`` over the :math:`n_j` samples of
          neuron :math:`j` and :math:`N` = ``total_samples`` (:math:`\epsilon` for one sample);
        * ``"rank"``: neurons ranked by that standard deviation (1 = largest);
        * ``"classification"``: the most frequent ``target`` label per neuron (ties broken by
          the labels of the neighbours up to ``neighborhood_order`` steps away).

        Neurons without samples are NaN. The sample-to-neuron assignment comes from
        ``bmus_data_map`` if given, else from ``data``, else from the fitted data.
        """
        map_type = check_option(map_type, MAP_TYPES, "map_type")
        allowed = {
            "hit": {"batch_size"},
            "distance": {"scaling", "distance_metric", "neighborhood_order"},
            "bmus_data": {"return_indices", "batch_size"},
            "metric": {"reduction_parameter", "batch_size"},
            "score": {"total_samples", "batch_size"},
            "rank": {"batch_size"},
            "classification": {"neighborhood_order", "batch_size"},
        }[map_type]
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise TypeError(
                f"build_map({map_type!r}) got unexpected keyword(s) {unknown}; it accepts {sorted(allowed) or 'none'}."
            )
        if map_type == "distance":
            return self.distance_map(
                scaling=kwargs.pop("scaling", "sum"),
                distance_metric=kwargs.pop("distance_metric", None),
                neighborhood_order=kwargs.pop("neighborhood_order", None),
            )
        kwargs.pop("batch_size", None)  # BMUs are computed in fixed chunks here
        if map_type == "hit":
            if bmus_data_map is not None and data is None:
                _, nj = self._sample_neurons(None, bmus_data_map)
                return self.to_grid(np.bincount(nj, minlength=self.n_neurons).astype(np.float64))
            return self.hit_map(data).astype(np.float64)
        if map_type == "bmus_data":
            return_indices = bool(kwargs.pop("return_indices", False))
            si, nj = self._sample_neurons(data, bmus_data_map)
            X = None if return_indices else self._data_or_fitted(data).cpu().numpy()
            out: dict[tuple[int, int], Any] = {}
            order = np.argsort(nj, kind="stable")
            si, nj = si[order], nj[order]
            bounds = np.flatnonzero(np.diff(nj)) + 1
            for s_grp, j in zip(np.split(si, bounds), nj[np.r_[0, bounds]] if len(nj) else []):
                key = (int(j) // self.x, int(j) % self.x)
                out[key] = s_grp.tolist() if return_indices else X[s_grp]
            return out
        if target is None:
            raise ValueError(f"map_type={map_type!r} needs target= (one value or label per sample).")
        t = target.detach().cpu().numpy() if isinstance(target, torch.Tensor) else np.asarray(target)
        t = t.reshape(len(t), -1)[:, 0] if t.ndim > 1 else t
        si, nj = self._sample_neurons(data, bmus_data_map)
        if len(si) and si.max() >= len(t):
            raise ValueError(f"target has {len(t)} entries but the BMU mapping refers to sample {int(si.max())}.")
        m = self.n_neurons
        n = np.bincount(nj, minlength=m).astype(np.float64)
        eps = 1e-8
        if map_type == "classification":
            order = kwargs.pop("neighborhood_order", None)
            codes, inv = np.unique(t[si], return_inverse=True)
            counts = np.zeros((m, len(codes)))
            np.add.at(counts, (nj, inv), 1.0)
            out_map = np.full(m, np.nan)
            nb = None
            for j in np.flatnonzero(n > 0):
                top = np.flatnonzero(counts[j] == counts[j].max())
                if len(top) > 1:
                    if nb is None:
                        nb = self.neighbors_within(1 if order is None else order)
                    around = counts[nb[j].indices].sum(0)[top]
                    top = top[around == around.max()]
                out_map[j] = codes[top[0]]
            return self.to_grid(out_map)
        tv = t[si].astype(np.float64)
        s1 = np.bincount(nj, weights=tv, minlength=m)
        s2 = np.bincount(nj, weights=tv * tv, minlength=m)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / n
            std = np.sqrt(np.clip((s2 - n * mean * mean) / (n - 1), 0.0, None))
        if map_type == "metric":
            red = check_option(kwargs.pop("reduction_parameter", "mean"), ("mean", "std"), "reduction_parameter")
            if red == "mean":
                v = np.where(n > 0, mean, np.nan)
            else:
                v = np.where(n > 1, std, np.where(n == 1, eps, np.nan))
            return self.to_grid(v)
        if map_type == "score":
            total = float(kwargs.pop("total_samples", None) or len(si))
            with np.errstate(invalid="ignore", divide="ignore"):
                sc = np.maximum(std / np.sqrt(n) * np.log(total / n), eps)
            return self.to_grid(np.where(n > 1, sc, np.where(n == 1, eps, np.nan)))
        # rank: 1 = largest standard deviation
        active = np.flatnonzero(n > 0)
        sd = np.where(n > 1, std, 0.0)[active]
        ranks = np.empty(len(active))
        ranks[np.argsort(-sd, kind="stable")] = np.arange(1, len(active) + 1)
        v = np.full(m, np.nan)
        v[active] = ranks
        return self.to_grid(v)

    def component_planes(self) -> np.ndarray:
        """Prototype values per feature on the grid, shape ``(num_features, y, x)``."""
        return np.moveaxis(self.to_grid(self.weights.detach()), -1, 0)

    # ------------------------------------------------------------------ clustering
    def cluster(
        self,
        method: str = "kmeans",
        n_clusters: int | None = None,
        feature_space: str | None = None,
        data: ArrayLike | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        r"""Post-hoc clustering of the trained map.

        Methods: :obj:`"kmeans"`, :obj:`"gmm"`, :obj:`"hdbscan"` on the neurons in
        ``feature_space`` (:obj:`"weights"`, :obj:`"positions"` or :obj:`"combined"`;
        default :obj:`"weights"`). Without ``n_clusters``, k-means and GMM choose k themselves
        (silhouette / BIC); HDBSCAN and DenSOM always find k themselves and ignore
        ``n_clusters`` with a warning;
        :obj:`"tsk"` (topology-seeded k-means on the data, :func:`~pyagc.som.tsk.som_tsk`),
        :obj:`"densom"` (density watershed on the map, :func:`~pyagc.som.densom.densom`),
        :obj:`"autosom"` (:func:`~pyagc.som.autosom.autosom`). Extra keyword arguments go to the
        method's function.

        Returns:
            dict: ``labels`` (one per neuron, ``-1`` = noise), ``sample_labels`` (for ``data``,
            the fitted data by default), ``method``, ``n_clusters``, ``feature_space``,
            ``metrics`` (silhouette, Davies-Bouldin, Calinski-Harabasz on the data, noise
            excluded) and method-specific findings (``k_selection``, ``noise_fraction``,
            ``centers`` and, for k-means, ``inertia`` of the neurons, ``route``...). Pass it
            to :class:`~pyagc.som.SOMVisualizer` (``plot_cluster_map(cluster_result=...)``). The result is also stored as :attr:`cluster_result_` and used by
            :meth:`predict`.
        """
        from .neuron_clustering import cluster_neurons, clustering_metrics

        method = check_option(method, CLUSTER_METHODS, "clustering method")
        if method in ("hdbscan", "densom") and n_clusters is not None:
            warnings.warn(
                f"{'HDBSCAN' if method == 'hdbscan' else 'DenSOM'} finds the number of clusters itself; "
                f"n_clusters={n_clusters!r} is ignored"
                + (" (use min_cluster_size to influence it)." if method == "hdbscan" else "."),
                stacklevel=2,
            )
            n_clusters = None
        if n_clusters is not None:
            n_clusters = check_positive_int(n_clusters, "n_clusters", minimum=2)
            if n_clusters > self.n_neurons:
                raise ValueError(
                    f"n_clusters={n_clusters} exceeds the number of neurons ({self.n_neurons}); "
                    "use fewer clusters or a larger map."
                )
        X = self._data_or_fitted(data).cpu().numpy().astype(np.float64)
        if data is None and self._data_bmus is not None:
            bmus = self._data_bmus
        else:
            bmus = self.bmus(X)
        hits = np.bincount(bmus, minlength=self.n_neurons)
        W = self.weights.detach().cpu().numpy().astype(np.float64)
        seed = kwargs.pop("random_state", self.random_seed)
        if method in ("kmeans", "gmm", "hdbscan"):
            fs = check_option(feature_space or "weights", FEATURE_SPACES, "feature_space")
            res = cluster_neurons(
                method,
                W,
                self.positions.cpu().numpy().astype(np.float64),
                fs,
                n_clusters,
                random_state=seed,
                data=X,
                hits=hits,
                **kwargs,
            )
            sample_labels = res["labels"][bmus]
            predictor = {"kind": "neurons", "labels": res["labels"]}
        else:
            if feature_space is not None:
                warnings.warn(f"feature_space is not used by method {method!r}; ignoring it.", stacklevel=2)
            if method == "tsk":
                from .tsk import som_tsk

                res = som_tsk(X, W, bmus, n_clusters, random_state=seed, **kwargs)
                res["feature_space"] = "data"
            elif method == "densom":
                from .densom import densom

                res = densom(hits, self.x, self.y, self.topology, data=X, weights=W, **kwargs)
                res["feature_space"] = "grid density"
            else:
                from .autosom import autosom

                res = autosom(
                    X, W, bmus, self.x, self.y, self.topology, n_clusters=n_clusters, random_state=seed, **kwargs
                )
            sample_labels = res.pop("sample_labels", None)
            if sample_labels is None:
                sample_labels = res["labels"][bmus]
            if res.get("centroids") is not None:
                predictor = {"kind": "centroids", "centroids": res["centroids"], "labels": res["labels"]}
            else:
                predictor = {"kind": "neurons", "labels": res["labels"]}
        result = dict(res)
        result["method"] = method
        result["sample_labels"] = np.asarray(sample_labels, dtype=np.int64)
        result["labels"] = np.asarray(result["labels"], dtype=np.int64)
        found = np.unique(result["sample_labels"][result["sample_labels"] >= 0])
        result.setdefault("n_clusters", int(len(np.unique(result["labels"][result["labels"] >= 0]))))
        result["noise_fraction"] = float(np.mean(result["sample_labels"] < 0))
        result["metrics"] = clustering_metrics(X, result["sample_labels"], random_state=seed)
        result["n_clusters_in_data"] = int(len(found))
        self.cluster_result_ = result
        self._predictor = predictor
        return result

    @property
    def labels_(self) -> np.ndarray:
        """Neuron cluster labels of the last :meth:`cluster` call."""
        if self.cluster_result_ is None:
            raise RuntimeError("The map is not clustered yet: call som.cluster(method=...) first.")
        return self.cluster_result_["labels"]

    def predict(self, data: ArrayLike) -> np.ndarray:
        """Cluster label of every sample (0-based; ``-1`` = noise) from the last :meth:`cluster`.

        Neuron-based methods label a sample with its BMU's cluster; :obj:`"tsk"` (and
        :obj:`"autosom"` when it picks TSK) uses the nearest final k-means centroid, which
        reproduces ``sample_labels`` on the fitted data.

        Raises:
            RuntimeError: if the map has not been clustered yet.
        """
        if self._predictor is None:
            raise RuntimeError(
                "The map is not clustered yet: call som.cluster(method=...) after fit() before predict()."
            )
        if self._predictor["kind"] == "centroids":
            X = self._tensor(data)
            c = torch.as_tensor(self._predictor["centroids"], dtype=torch.float32, device=self.device)
            out = []
            for s in range(0, X.shape[0], _CHUNK):
                out.append(pairwise_distance(X[s : s + _CHUNK], c, "euclidean", squared=True).argmin(1))
            return torch.cat(out).cpu().numpy().astype(np.int64)
        return self._predictor["labels"][self.bmus(data)].astype(np.int64)
