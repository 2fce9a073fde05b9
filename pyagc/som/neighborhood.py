r"""Neighbourhood functions, decay schedules and distance functions of a SOM.

With :math:`d_{cj} = \lVert p_c - p_j \rVert` the grid distance between the best matching
unit :math:`c` and neuron :math:`j`:

* ``gaussian``:    :math:`h = \exp(-d^2 / 2\sigma^2)`
* ``bubble``:      :math:`h = \mathbb 1[d \le \sigma]`
* ``mexican_hat``: :math:`h = (1 - d^2/\sigma^2)\exp(-d^2 / 2\sigma^2)`
* ``triangle``:    :math:`h = \max(0, 1 - d/\sigma)`

Decay schedules map the training progress :math:`t \in [0, T]` to a value between the start
value :math:`v_0` and the end value :math:`v_T`:

* ``asymptotic``:  :math:`v_0 / (1 + 2t/T)` (MiniSom's ``asymptotic_decay``; ignores :math:`v_T`)
* ``linear``:      :math:`v_0 + (v_T - v_0)\, t/T`
* ``exponential``: :math:`v_0 (v_T / v_0)^{t/T}`
* ``inverse``:     :math:`v_0 / (1 + (v_0/v_T - 1)\, t/T)` (reaches :math:`v_T` at :math:`t = T`)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

NEIGHBORHOOD_FUNCTIONS = ("gaussian", "bubble", "mexican_hat", "triangle")
DECAY_FUNCTIONS = ("asymptotic", "linear", "exponential", "inverse")
DISTANCE_FUNCTIONS = ("euclidean", "cosine", "manhattan")


def neighborhood(d2: torch.Tensor, sigma: float, kind: str = "gaussian") -> torch.Tensor:
    """Evaluate the neighbourhood function on *squared* grid distances ``d2``."""
    s2 = float(sigma) ** 2
    if kind == "gaussian":
        return torch.exp(-d2 / (2.0 * s2))
    if kind == "bubble":
        return (d2 <= s2 + 1e-9).to(d2.dtype)
    if kind == "mexican_hat":
        return (1.0 - d2 / s2) * torch.exp(-d2 / (2.0 * s2))
    if kind == "triangle":
        return torch.clamp(1.0 - torch.sqrt(d2) / float(sigma), min=0.0)
    raise ValueError(f"Unknown neighborhood_function {kind!r}. Valid options are: {', '.join(NEIGHBORHOOD_FUNCTIONS)}.")


def _asymptotic(v0: float, v_end: float, t: float, total: float) -> float:
    return v0 / (1.0 + 2.0 * t / total)


def _linear(v0: float, v_end: float, t: float, total: float) -> float:
    return v0 + (v_end - v0) * t / total


def _exponential(v0: float, v_end: float, t: float, total: float) -> float:
    return v0 * (v_end / v0) ** (t / total)


def _inverse(v0: float, v_end: float, t: float, total: float) -> float:
    return v0 / (1.0 + (v0 / v_end - 1.0) * t / total)


DECAYS: dict[str, Callable[[float, float, float, float], float]] = {
    "asymptotic": _asymptotic,
    "linear": _linear,
    "exponential": _exponential,
    "inverse": _inverse,
}


def decay(kind: str, v0: float, v_end: float, t: float, total: float) -> float:
    """Value of the schedule ``kind`` at step ``t`` of ``total``."""
    return DECAYS[kind](v0, v_end, t, max(total, 1.0))


def pairwise_distance(x: torch.Tensor, w: torch.Tensor, kind: str = "euclidean", squared: bool = False) -> torch.Tensor:
    r"""Distances between rows of ``x`` (B, F) and prototypes ``w`` (M, F), shape (B, M).

    ``euclidean`` (optionally squared), ``cosine`` (:math:`1 - \cos(x, w)`) or ``manhattan``.
    """
    if kind == "euclidean":
        d2 = (x * x).sum(1, keepdim=True) - 2.0 * (x @ w.T) + (w * w).sum(1)[None, :]
        d2 = torch.clamp(d2, min=0.0)
        return d2 if squared else torch.sqrt(d2)
    if kind == "cosine":
        xn = torch.nn.functional.normalize(x, dim=1, eps=1e-12)
        wn = torch.nn.functional.normalize(w, dim=1, eps=1e-12)
        return torch.clamp(1.0 - xn @ wn.T, min=0.0)
    if kind == "manhattan":
        return torch.cdist(x, w, p=1.0)
    raise ValueError(f"Unknown distance_function {kind!r}. Valid options are: {', '.join(DISTANCE_FUNCTIONS)}.")
