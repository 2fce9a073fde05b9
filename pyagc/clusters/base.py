"""The cluster-head contract shared by every head in :mod:`pyagc.clusters`."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

#: The context a training pipeline can give a head, by name (a head's ``forward`` names what it needs).
KNOWN_CONTEXT: dict[str, str] = {
    "index": "dataset indices of the batch's samples (N,)",
    "x": "the input batch",
    "x_hat": "the autoencoder's reconstruction of x (needs an autoencoder)",
    "edge_index": "the graph's edges (2, E) (needs graph data)",
    "edge_weight": "the graph's edge weights (E,), when the data has them",
    "views": "embeddings of two augmented views (z_a, z_b) (needs an augmentation)",
    "mu": "the mean of a variational encoder's q(z|x) (needs a variational encoder)",
    "logvar": "the log-variance of a variational encoder's q(z|x) (needs a variational encoder)",
}

# class flags that only say which context a head needs: they follow from forward's signature
_CONTEXT_FLAGS = ("requires_graph", "uses_reconstruction", "uses_views", "uses_variational")


@dataclass
class LossOutput:
    r"""A training loss with its named terms.

    ``total`` is what is back-propagated; ``components`` maps a term's name to its
    (already weighted or unweighted, as the head documents) value so that each term is
    logged separately, e.g. ``{"kl": ..., "reconstruction": ...}``.

    Where a number is expected it behaves like ``total``: ``f"{loss:.4f}"``, ``float(loss)``,
    ``loss.item()``, ``loss.backward()``, ``loss + other`` and ``2 * loss``.
    """

    total: Tensor
    components: dict[str, Tensor] = field(default_factory=dict)

    def __format__(self, spec: str) -> str:
        return format(float(self.total), spec) if spec else format(self.total)

    def __float__(self) -> float:
        return float(self.total)

    def item(self) -> float:
        return self.total.item()

    def backward(self, *args: Any, **kwargs: Any) -> None:
        self.total.backward(*args, **kwargs)

    def detach(self) -> Tensor:
        return self.total.detach()

    def __add__(self, other: Any) -> Tensor:
        return self.total + (other.total if isinstance(other, LossOutput) else other)

    __radd__ = __add__

    def __mul__(self, other: Any) -> Tensor:
        return self.total * other

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tensor:
        return self.total / other


def _forward_context(forward: Callable) -> tuple[dict[str, bool], bool]:
    """The context names ``forward(self, z, ...)`` takes, each mapped to whether it is required (no default),
    and whether it takes ``**context`` (then it receives every context the pipeline has).
    """
    params = list(inspect.signature(forward).parameters.values())[2:]  # skip self and z
    names = {
        p.name: p.default is inspect.Parameter.empty
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def _flags_of(names: dict[str, bool] | frozenset[str], required: frozenset[str]) -> dict[str, bool]:
    return {
        "requires_graph": "edge_index" in required,
        "uses_reconstruction": "x_hat" in names,
        "uses_views": "views" in names,
        "uses_variational": bool({"mu", "logvar"} & set(names)),
    }


class _ContextFlag:
    """A read-only flag derived from a head's context (``head.uses_views``) or, on the class, from its
    ``forward`` signature (``ContrastiveClusterHead.uses_views``).
    """

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type) -> bool:
        if obj is None:
            names = frozenset(owner._forward_names)
            required = frozenset(n for n, req in owner._forward_names.items() if req)
        else:
            names, required = obj.context_names, obj.required_context
        return _flags_of(names, required)[self.name]

    def __set__(self, obj: Any, value: Any) -> None:
        raise AttributeError(
            f"{type(obj).__name__}.{self.name} follows from forward()'s signature and cannot be set; name the "
            "context in forward(self, z, ...), or override the head's context_names property."
        )


class BaseClusterHead(nn.Module):
    r"""Base class of every cluster head.

    A cluster head turns embeddings :math:`\mathbf{Z} \in \mathbb{R}^{N \times F}` into a
    clustering loss (:meth:`forward`) and into cluster assignments (:meth:`cluster`), as in the public
    PyAGC tutorial "Creating Custom Cluster Heads"::

        class SimpleClusterHead(BaseClusterHead):
            def __init__(self, n_clusters, n_features):
                super().__init__()
                self.n_clusters = n_clusters
                self.cluster_centers = nn.Parameter(torch.empty(n_clusters, n_features))
                nn.init.xavier_uniform_(self.cluster_centers)

            def forward(self, z):                       # or forward(self, z, edge_index), ...
                return torch.cdist(z, self.cluster_centers).min(1).values.mean()

            @torch.no_grad()
            def cluster(self, z, soft=False):
                d = torch.cdist(z, self.cluster_centers)
                return torch.softmax(-d, -1) if soft else d.argmin(-1)

    **Context by signature.** ``forward(z, ...)`` receives exactly the context its signature names, and
    nothing else: ``index``, ``x``, ``x_hat``, ``edge_index``, ``edge_weight``, ``views``, ``mu``, ``logvar``
    (:data:`KNOWN_CONTEXT`); ``**context`` receives all the pipeline has. A parameter without a default is
    required: training fails before it starts when the data or the model cannot give it (``edge_index`` on a
    table). The signature is read once per class, as torch-geometric reads ``MessagePassing.message``. What
    the pipeline computes for a head follows from it: naming ``x_hat`` makes the model decode (an autoencoder
    is needed), ``views`` makes it embed two augmented views, ``mu`` / ``logvar`` sample from a variational
    encoder. The read-only flags ``requires_graph`` (``edge_index`` is required), ``uses_reconstruction``
    (``x_hat``), ``uses_views`` (``views``) and ``uses_variational`` (``mu`` / ``logvar``) say the same thing;
    a head whose needs depend on its settings overrides :attr:`context_names`.

    ``forward`` returns a scalar tensor or a :class:`LossOutput` (several named terms).

    ``n_clusters`` may be given to ``__init__`` or set afterwards (``super().__init__()`` then
    ``self.n_clusters = K``); it is checked when set (an int >= 2) and at first use (set at all).

    Lifecycle (all optional): :meth:`initialize` (once before joint training, with the embeddings of the
    whole training set, identical on every process), :meth:`refresh` (every :attr:`refresh_interval` joint
    steps, e.g. DEC's target distribution), :meth:`finalize` (once after joint training when
    ``requires_finalization``). A head with ``requires_initialization`` that is used before
    :meth:`initialize` (called directly on embeddings) initialises itself from the first embeddings it sees,
    with a warning.

    Other class attributes: ``views_include_clean`` (with ``views``: the first view is the clean batch),
    ``requires_initialization``, ``refresh_interval``, ``requires_finalization``.

    State that must survive a checkpoint is an ``nn.Parameter`` or a registered buffer.
    Buffers whose shape is only known at run time (e.g. one row per training sample)
    are listed in ``_resizable_buffers`` and are resized when a checkpoint is loaded.
    """

    views_include_clean: bool = False
    requires_initialization: bool = False
    refresh_interval: int | None = None
    requires_finalization: bool = False
    _resizable_buffers: tuple[str, ...] = ()
    _forward_names: dict[str, bool] = {}
    _forward_takes_all: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names, takes_all = _forward_context(cls.forward)
        cls._forward_names, cls._forward_takes_all = names, takes_all
        derived = _flags_of(names, frozenset(n for n, req in names.items() if req))
        for flag in _CONTEXT_FLAGS:
            if flag in cls.__dict__ and not isinstance(cls.__dict__[flag], _ContextFlag):
                if bool(cls.__dict__[flag]) != derived[flag]:
                    hint = {
                        "requires_graph": "a required `edge_index` parameter",
                        "uses_reconstruction": "an `x_hat` parameter",
                        "uses_views": "a `views` parameter",
                        "uses_variational": "`mu` / `logvar` parameters",
                    }[flag]
                    raise TypeError(
                        f"{cls.__name__} sets {flag} = {cls.__dict__[flag]!r}, but a head's context follows from "
                        f"its forward() signature: give forward(self, z, ...) {hint} "
                        f"({'add' if cls.__dict__[flag] else 'remove'} it) and drop the flag."
                    )
                delattr(cls, flag)  # agrees with the signature: the derived property answers
        for method in ("forward", "cluster"):
            if method in cls.__dict__ and not getattr(cls.__dict__[method], "_pyagc_checked", False):
                setattr(cls, method, _checked(cls.__dict__[method]))
        if "initialize" in cls.__dict__ and not getattr(cls.__dict__["initialize"], "_pyagc_checked", False):
            cls.initialize = _marking(cls.__dict__["initialize"])

    def __init__(self, n_clusters: int | None = None) -> None:
        super().__init__()
        self._n_clusters: int | None = None
        if n_clusters is not None:
            self.n_clusters = n_clusters
        # Whether initialize() has run; a buffer so it survives checkpoints.
        self.register_buffer("_initialized", torch.tensor(False))

    # ------------------------------------------------------------------ n_clusters
    @property
    def n_clusters(self) -> int | None:
        """The number of clusters ``K`` (an int >= 2)."""
        return self.__dict__.get("_n_clusters")

    @n_clusters.setter
    def n_clusters(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or int(value) < 2:
            raise ValueError(
                f"n_clusters must be an integer of at least 2, got {value!r}. "
                "Set n_clusters to the number of groups you expect in the data."
            )
        self.__dict__["_n_clusters"] = int(value)

    # ------------------------------------------------------------------ context
    @property
    def context_names(self) -> frozenset[str]:
        """The context names ``forward`` receives (besides ``z``); by default those its signature names."""
        return frozenset(self._forward_names)

    @property
    def required_context(self) -> frozenset[str]:
        """The context names ``forward`` cannot do without (parameters without a default)."""
        return frozenset(n for n, required in self._forward_names.items() if required) & self.context_names

    @property
    def receives_all_context(self) -> bool:
        """Whether ``forward`` takes ``**context`` (it then receives every context the pipeline has)."""
        return self._forward_takes_all

    requires_graph = _ContextFlag("``forward`` requires ``edge_index``.")
    uses_reconstruction = _ContextFlag("``forward`` takes ``x_hat``: the model decodes each batch (an autoencoder).")
    uses_views = _ContextFlag("``forward`` takes ``views``: the model embeds two augmented views of each batch.")
    uses_variational = _ContextFlag("``forward`` takes ``mu`` / ``logvar``: ``z`` is a sample of q(z|x).")

    def select_context(self, context: dict[str, Any]) -> dict[str, Any]:
        """The part of ``context`` that ``forward`` receives; a clear error when a required name is missing."""
        names = self.context_names
        missing = sorted(n for n in self.required_context if context.get(n) is None)
        if missing:
            what = "; ".join(f"{n}: {KNOWN_CONTEXT.get(n, 'not a context name pyagc knows')}" for n in missing)
            raise ValueError(
                f"{type(self).__name__}.forward needs {', '.join(missing)}, which this batch does not give ({what}). "
                f"The context pyagc gives: {', '.join(KNOWN_CONTEXT)}."
            )
        if self.receives_all_context:
            return {k: v for k, v in context.items() if v is not None or k in names}
        return {k: v for k, v in context.items() if k in names}

    def forward_with_context(self, z: Tensor, context: dict[str, Any]) -> Tensor | LossOutput:
        """Call the head on ``z`` with the part of ``context`` its ``forward`` names (what the pipeline does)."""
        return self(z, **self.select_context(context))

    # ------------------------------------------------------------------ contract
    def forward(self, z: Tensor, **context: Any) -> Tensor | LossOutput:  # pragma: no cover
        """Return the clustering loss of the batch ``z`` (a scalar or a :class:`LossOutput`)."""
        raise NotImplementedError

    @torch.no_grad()
    def cluster(self, z: Tensor, soft: bool = False) -> Tensor:  # pragma: no cover
        """Return hard labels ``(N,)`` int64 in ``0..K-1`` or, with ``soft``, ``(N, K)`` rows summing to 1."""
        raise NotImplementedError

    @torch.no_grad()
    def initialize(self, z: Tensor, **context: Any) -> None:
        """Initialise the head from the embeddings of the whole training set (optional)."""

    @torch.no_grad()
    def refresh(self, z: Tensor, **context: Any) -> None:
        """Update full-dataset state (e.g. a target distribution) from all embeddings (optional)."""

    @torch.no_grad()
    def finalize(self, z: Tensor, **context: Any) -> None:
        """Derive the final assignment rule from the embeddings of the whole training set after joint training
        (optional; called when ``requires_finalization``).
        """

    def _check_call(self, names: dict[str, bool], args: tuple, kwargs: dict[str, Any]) -> None:
        """A clear error when a ``forward`` with parameters ``names`` is called without context it requires."""
        given = set(list(names)[: len(args)]) | {k for k, v in kwargs.items() if v is not None}
        missing = [n for n, required in names.items() if required and n not in given]
        if missing:
            what = "; ".join(f"{n}: {KNOWN_CONTEXT.get(n, 'not a context name pyagc knows')}" for n in missing)
            raise ValueError(
                f"{type(self).__name__} needs the graph / context {', '.join(missing)} ({what}): call "
                f"head(z, {', '.join(f'{n}={n}' for n in missing)}); the training pipeline passes it automatically."
            )

    # ------------------------------------------------------------------ first use
    def _ensure_ready(self, z: Any) -> None:
        """At the first ``forward`` / ``cluster``: ``n_clusters`` is set, and a head that needs an
        initialisation is initialised (from ``z``, with a warning, when nobody called :meth:`initialize`).
        """
        if self.__dict__.get("_pyagc_ready") or self.__dict__.get("_pyagc_initializing"):
            return
        if self.n_clusters is None:
            raise ValueError(
                f"{type(self).__name__}.n_clusters was never set: pass it to BaseClusterHead.__init__"
                "(n_clusters) or set self.n_clusters = K in your __init__."
            )
        if self.requires_initialization and not self.is_initialized:
            if not isinstance(z, Tensor) or z.dim() != 2 or not bool(torch.isfinite(z).all()):
                return  # the head's own checks explain what is wrong with z
            warnings.warn(
                f"{type(self).__name__} was used before initialize(): it initialises itself now from these "
                f"{z.shape[0]} embeddings. Call head.initialize(z_all) with the embeddings of the whole data set "
                "first (the training pipeline does) for a better start.",
                UserWarning,
                stacklevel=4,
            )
            self.initialize(z.detach())
        self.__dict__["_pyagc_ready"] = True

    # ------------------------------------------------------------------ helpers
    # ------------------------------------------------------------------ helpers
    @property
    def is_initialized(self) -> bool:
        return bool(self._initialized.item())

    def mark_initialized(self) -> None:
        self._initialized.fill_(True)

    @staticmethod
    def check_n_features(n_features: Any) -> int:
        """``n_features`` as a positive int, or a clear error (heads call it in ``__init__``)."""
        if (
            isinstance(n_features, bool)
            or not isinstance(n_features, (int, float))
            or int(n_features) < 1
            or int(n_features) != n_features
        ):
            raise ValueError(
                f"n_features must be a positive integer, got {n_features!r}. Set it to the encoder's latent "
                "size (from the command line, `n_features: null` in a head config is filled from the encoder)."
            )
        return int(n_features)

    def check_embeddings(self, z: Tensor, expected_dim: int | None = None) -> None:
        """Raise a clear error for embeddings of the wrong shape or with NaN/inf."""
        if z.dim() != 2:
            raise ValueError(f"{type(self).__name__} expects embeddings of shape (N, F), got {tuple(z.shape)}.")
        if expected_dim is not None and z.shape[1] != expected_dim:
            raise ValueError(
                f"{type(self).__name__} was built for {expected_dim}-dimensional embeddings but "
                f"got {z.shape[1]}. Make the encoder's latent size equal the head's n_features."
            )
        if not torch.isfinite(z).all():
            raise FloatingPointError(
                f"{type(self).__name__} received NaN or inf embeddings. Check the input data for "
                "NaN/inf and lower the learning rate if training diverged."
            )

    def check_initialization_input(self, z: Tensor, expected_dim: int | None = None) -> None:
        """:meth:`check_embeddings` plus: at least ``n_clusters`` samples to initialise from."""
        self.check_embeddings(z, expected_dim)
        if z.shape[0] < self.n_clusters:
            raise ValueError(
                f"n_clusters={self.n_clusters} is larger than the number of samples ({z.shape[0]}); "
                "lower n_clusters or use more data."
            )

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):  # noqa: D401 - torch hook
        for name in self._resizable_buffers:
            key = prefix + name
            if key in state_dict:
                current = self._buffers.get(name)
                incoming = state_dict[key]
                if current is None or current.shape != incoming.shape:
                    self._buffers[name] = torch.empty_like(incoming)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        return f"n_clusters={self.n_clusters}"


def as_loss_output(loss: Tensor | LossOutput) -> LossOutput:
    """Normalise a head's return value to a :class:`LossOutput`."""
    if isinstance(loss, LossOutput):
        return loss
    if not isinstance(loss, Tensor) or loss.dim() != 0:
        raise TypeError(
            "A cluster head's forward() must return a scalar tensor or a LossOutput, got "
            f"{type(loss).__name__}{'' if not isinstance(loss, Tensor) else tuple(loss.shape)}."
        )
    return LossOutput(total=loss, components={})


def _checked(method: Callable) -> Callable:
    """Wrap a head's ``forward`` / ``cluster`` with the first-use checks of :meth:`BaseClusterHead._ensure_ready`."""
    # the names of *this* forward (a subclass's forward may call super().forward(z) with less context)
    names = _forward_context(method)[0] if method.__name__ == "forward" else None

    @functools.wraps(method)
    def wrapper(self: BaseClusterHead, z: Any, *args: Any, **kwargs: Any) -> Any:
        if names is not None:
            self._check_call(names, args, kwargs)
        self._ensure_ready(z)
        return method(self, z, *args, **kwargs)

    wrapper._pyagc_checked = True  # type: ignore[attr-defined]
    return wrapper


def _marking(method: Callable) -> Callable:
    """Wrap a head's ``initialize``: no first-use checks while it runs, and the head is marked initialised after."""

    @functools.wraps(method)
    def wrapper(self: BaseClusterHead, *args: Any, **kwargs: Any) -> Any:
        outer = self.__dict__.get("_pyagc_initializing", False)
        self.__dict__["_pyagc_initializing"] = True
        try:
            result = method(self, *args, **kwargs)
        finally:
            self.__dict__["_pyagc_initializing"] = outer
        if not outer:
            self.mark_initialized()
        return result

    wrapper._pyagc_checked = True  # type: ignore[attr-defined]
    return wrapper
