"""The shared base of pyagc's scikit-learn-style estimators.

An estimator's ``__init__`` only stores its parameters (so ``get_params`` / ``set_params`` / ``clone`` work);
``fit`` does what ``pyagc-train`` does, through the same code:

1. validate ``X`` (:func:`sklearn.utils.validation.check_array` via ``validate_data``) and the parameters;
2. fit the preprocessing (``scaling``) on the training rows; ``predict`` / ``transform`` apply it, never refit;
3. seed everything from ``random_state`` (the global random states are restored afterwards);
4. build the encoder, head and :class:`~pyagc.models.ClusteringModule` from the same component configs as the
   command line (:func:`pyagc.cli.build.build_components`), and the data as a pyagc DataModule over the arrays;
5. train with Lightning's ``Trainer.fit`` (pretrain -> initialise the head -> joint training), quietly unless
   ``verbose``, writing no files unless ``checkpoint_dir`` is given;
6. keep the trained module (on the CPU, without the trainer: it pickles) and label the training rows with the
   same code as :meth:`predict`, so ``predict(X_train)`` equals ``labels_``.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
import os
import random
import signal
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from pyagc.estimators._data import ArrayDataModule, check_edge_index, graph_datamodule, split_graph_input
from pyagc.estimators._scaling import make_scaler

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def _sk_validate_data(estimator: Any, X: Any, reset: bool = True, **kwargs: Any) -> Any:
        return estimator._validate_data(X, reset=reset, **kwargs)


#: Lightning's notes that do not apply to these fits (few batches per epoch, no validation loop, no workers);
#: hidden unless ``verbose``
_LIGHTNING_NOTES = (
    ".*does not have many workers.*",
    ".*smaller than the logging interval.*",
    ".*LeafSpec.*is deprecated.*",
    ".*`training_step` returned.*",
    ".*The `srun` command is available.*",
    ".*litlogger.*",
    ".*litmodels.*",
    ".*GPU available but not used.*",
    ".*Checkpoint directory .* exists and is not empty.*",
)
_LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric")

#: optimizer of ``configs/model/default.yaml`` (pretraining, and joint training unless a method's config says other)
ADAM_1E3 = {"name": "adam", "lr": 0.001}

#: ``configs/model/default.yaml``: the ClusteringModule settings every method's model config starts from
MODEL_DEFAULTS: dict[str, Any] = {
    "_target_": "pyagc.models.ClusteringModule",
    "pretrain_epochs": 50,
    "epochs": 50,
    "pretrain_optimizer": ADAM_1E3,
    "optimizer": ADAM_1E3,
    "lr_schedule": None,
    "reconstruction_weight": 0.0,
    "pretrain_noise": 0.0,
    "pretrain_augmentation": False,
    "joint_augmentation": False,
    "gradient_clip": None,
    "reconstruction_loss": "mse",
    "final_reclustering": False,
}


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed Python, NumPy and torch from ``seed`` as ``pyagc-train`` does (``pl.seed_everything``), and give the
    caller its own random states back afterwards.
    """
    import pytorch_lightning as pl

    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    env = {k: os.environ.get(k) for k in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS")}
    pl.seed_everything(int(seed), workers=True, verbose=False)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.random.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _no_tips(record: logging.LogRecord) -> bool:
    """Lightning's advertisements for its cloud services ("Tip: ... litlogger")."""
    message = record.getMessage()
    return "litlogger" not in message and "litmodels" not in message


@contextlib.contextmanager
def lightning_quiet(verbose: bool) -> Iterator[None]:
    """Lightning's notes that do not apply here are hidden; without ``verbose`` also its info lines ("GPU available:
    ...", "`Trainer.fit` stopped ...") and its other possible-mistake warnings. Warnings of pyagc's own stay
    visible.
    """
    levels: dict[str, int] = {}
    tips = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    tips.addFilter(_no_tips)
    if not verbose:
        for name in _LIGHTNING_LOGGERS:
            log = logging.getLogger(name)
            levels[name] = log.level
            log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in _LIGHTNING_NOTES:
                warnings.filterwarnings("ignore", pattern)
            if not verbose:
                try:
                    from lightning_fabric.utilities.warnings import PossibleUserWarning
                except ImportError:  # pragma: no cover
                    PossibleUserWarning = None  # noqa: N806
                if PossibleUserWarning is not None:
                    warnings.filterwarnings("ignore", category=PossibleUserWarning)
            yield
    finally:
        tips.removeFilter(_no_tips)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def clear_caches(module: torch.nn.Module) -> None:
    """Drop what graph encoders cache about the last graph they saw (normalised adjacency, CSR features): it is not
    state, it would pin the graph in memory and travel with a pickle.
    """
    from pyagc.encoders.sparse import SparseAdjacencyCache, SparseFeatureCache

    for m in module.modules():
        for value in list(vars(m).values()):
            if isinstance(value, (SparseAdjacencyCache, SparseFeatureCache)):
                value.clear()
        if hasattr(m, "_cached_edge_index"):
            m._cached_edge_index = None
        if hasattr(m, "_cached_adj_t"):
            m._cached_adj_t = None
        if getattr(m, "_density_checked", None) is not None:
            m._density_checked = None


def fit_interruptible(trainer: Any, module: Any, datamodule: Any) -> None:
    """``trainer.fit`` where Ctrl-C raises ``KeyboardInterrupt``, as a scikit-learn fit does. (Lightning answers it
    with ``sys.exit(1)`` and ignores Ctrl-C from then on: in a notebook that would leave the kernel deaf to it.)
    """
    from pytorch_lightning.trainer.states import TrainerStatus

    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main else None
    try:
        trainer.fit(module, datamodule=datamodule)
    except SystemExit:
        if trainer.state.status == TrainerStatus.INTERRUPTED:
            raise KeyboardInterrupt("training was interrupted; the estimator is not fitted") from None
        raise
    finally:
        if main and handler is not None:
            signal.signal(signal.SIGINT, handler)


def _check_int(value: Any, name: str, minimum: int, hint: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.{hint}")
    return int(value)


def _check_hidden_dims(value: Any) -> list[int]:
    try:
        dims = [int(h) for h in value]
    except TypeError:
        raise ValueError(
            f"hidden_dims must be a sequence of layer widths such as (500, 500, 2000), got {value!r}."
        ) from None
    if any(h < 1 for h in dims):
        raise ValueError(f"hidden_dims must hold positive layer widths, got {value!r}.")
    return dims


def _has_soft_assignments(estimator: Any) -> bool:
    return bool(estimator._soft_assignments)


class BaseDeepClusterer(ClusterMixin, TransformerMixin, BaseEstimator):
    """Base class of the estimators in :mod:`pyagc.estimators`; a subclass declares its parameters in ``__init__``
    and the components it trains in :meth:`_component_configs` (or builds the module in :meth:`_build_module`).

    Attributes after ``fit``: ``labels_`` (int64, equal to ``predict`` on the training rows), ``n_features_in_``,
    ``cluster_centers_`` (heads with centres: ``(n_clusters, n_features)`` in the embedding space that
    :meth:`transform` returns), ``module_`` (the trained :class:`~pyagc.models.ClusteringModule`, on the CPU),
    ``scaler_`` (the fitted preprocessing or ``None``), ``n_iter_`` (epochs run), ``random_state_`` (the seed used).

    The parameters below are shared by every estimator; each subclass lists them in its own ``__init__``.

    Other Parameters
    ----------------
    n_clusters : int
        Number of clusters (at least 2, at most the number of training rows).
    pretrain_epochs, epochs : int
        Epochs of autoencoder pretraining, then of joint training (encoder + head).
    batch_size : int
        Training mini-batch size.
    pretrain_optimizer, optimizer : dict or None
        ``{"name": "adam" | "adamw" | "sgd", "lr": ..., ...}`` for pretraining and joint training; ``None``: the
        method's setting in ``configs/model/``.
    scaling : str, transformer or None
        Preprocessing fitted on the training rows and applied, never refitted, to the rows given to ``predict``
        / ``transform``: ``"standard"`` (:class:`~sklearn.preprocessing.StandardScaler`), ``"minmax"``
        (:class:`~sklearn.preprocessing.MinMaxScaler`), ``"global_z"`` (one mean and std over all values),
        ``"none"`` / ``None``, or any scikit-learn transformer (cloned, then fitted). Fitted: ``scaler_``.
    random_state : int, RandomState or None
        Seeds everything (weights, batches, k-means / GMM starts): the same value gives the same labels on a CPU.
        ``None``: a fresh seed each fit. The caller's global random states are left as they were.
    accelerator, devices, precision :
        Passed to :class:`pytorch_lightning.Trainer` (``"auto"`` uses a GPU when there is one).
    verbose : bool
        Show the progress bar over the epochs and Lightning's messages (default: quiet).
    checkpoint_dir : str or None
        Write Lightning checkpoints there (``last.ckpt`` every epoch, ``final.ckpt`` when the head changed after
        the last epoch). ``None`` (default): nothing is written to disk.
    """

    #: whether ``predict_proba`` is offered (the head gives soft assignments)
    _soft_assignments: bool = True
    #: the optimizer of the method's ``configs/model/*.yaml`` for joint training
    _default_optimizer: dict[str, Any] = ADAM_1E3
    #: whether ``fit`` always needs a graph (DMoN); the generic estimator takes one when given
    _takes_graph: bool = False

    # ------------------------------------------------------------------ scikit-learn plumbing
    def __sklearn_tags__(self):  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"preserves_dtype": [np.float64, np.float32]}

    def __sklearn_is_fitted__(self) -> bool:
        # not "any attribute ending in _": DCN's parameter lambda_ is one
        return "module_" in self.__dict__

    def __getstate__(self) -> dict[str, Any]:
        module = self.__dict__.get("module_")
        if module is not None:
            clear_caches(module)
        return super().__getstate__()

    # ------------------------------------------------------------------ hooks for subclasses
    def _component_configs(self, n_samples: int, batches_per_epoch: int, seed: int) -> dict[str, Any]:
        """``{"encoder": ..., "head": ..., "model": ...}``: the component configs (``_target_`` + arguments, as in
        ``configs/``) the command line would compose for this method, with the head's ``n_features`` (the
        encoder's output size) given; the encoder's ``in_features: None`` / ``in_channels: None`` is filled from the
        data by :func:`pyagc.cli.build.build_components`.
        """
        raise NotImplementedError

    def _build_module(self, datamodule: Any, seed: int) -> Any:
        """The :class:`~pyagc.models.ClusteringModule` to train, built as ``pyagc-train`` builds it."""
        from omegaconf import OmegaConf

        from pyagc.cli.build import build_components

        n = int(datamodule.n_samples)
        batches = 1 if getattr(datamodule, "is_graph", False) else max(1, -(-n // int(self.batch_size)))
        parts = self._component_configs(n, batches, seed)
        cfg = OmegaConf.create(
            {
                "seed": int(seed),
                "n_clusters": int(self._n_clusters()),
                **parts,
                # pyagc-eval reads the data from its own data=... argument (rows scaled as the estimator's scaler_ does)
                "data": {"_target_": "pyagc.data.TabularDataModule", "name": None, "path": "???", "scaling": "none"},
            }
        )
        module, _, _ = build_components(cfg, datamodule)
        return module

    def _n_clusters(self) -> Any:
        """The number of clusters to train for (``n_clusters``; the generic estimator may take it from its head)."""
        return self.n_clusters

    def _check_params(self, n_samples: int) -> None:
        """Clear errors for parameters that cannot work, before anything is built."""
        k = self._n_clusters()
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or int(k) < 2:
            raise ValueError(
                f"n_clusters must be an integer of at least 2, got {k!r}. Set n_clusters to the number "
                "of groups you expect in the data."
            )
        if int(k) > n_samples:
            raise ValueError(
                f"n_clusters={k} is larger than the number of samples ({n_samples}); lower n_clusters or use more data."
            )
        if getattr(self, "pretrain_epochs", None) is not None:
            _check_int(self.pretrain_epochs, "pretrain_epochs", 0)
        _check_int(self.epochs, "epochs", 0)
        if hasattr(self, "batch_size"):
            _check_int(self.batch_size, "batch_size", 1)
        if hasattr(self, "hidden_dims"):
            _check_hidden_dims(self.hidden_dims)
        if hasattr(self, "n_features") and self.n_features is not None:
            _check_int(self.n_features, "n_features", 1, " It is the embedding size (the encoder's output).")

    def _check_training_input(self, x: torch.Tensor) -> None:
        """Checks of the scaled training rows a method needs (VaDE's Bernoulli decoder: values in [0, 1])."""

    def _cluster_centers(self, head: Any) -> np.ndarray | None:
        """The head's centres in the embedding space ``(n_clusters, n_features)``, or ``None`` when it has none."""
        for name in ("cluster_centers", "centers", "means"):
            value = getattr(head, name, None)
            if (
                isinstance(value, torch.Tensor)
                and value.dim() == 2
                and value.shape[0] == head.n_clusters
                and value.shape[1] == getattr(head, "n_features", value.shape[1])
            ):
                return value.detach().cpu().double().numpy().copy()
        return None

    # ------------------------------------------------------------------ validation
    def _validate(self, X: Any, reset: bool) -> np.ndarray:
        return _sk_validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            accept_sparse=False,
            ensure_min_samples=2 if reset else 1,
        )

    def _seed(self) -> int:
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return int(rs) % (2**32)
        return int(check_random_state(rs).randint(0, 2**31 - 1))

    def _scaled(self, X: np.ndarray, fit: bool) -> torch.Tensor:
        if fit:
            self.scaler_ = make_scaler(self.scaling)
            if self.scaler_ is not None:
                self.scaler_.fit(X)
        out = X if self.scaler_ is None else self.scaler_.transform(X)
        out = np.asarray(out, dtype=np.float32)
        if not np.isfinite(out).all():
            raise ValueError(f"the scaling {self.scaling!r} produced NaN/inf values; check the input data.")
        # a private, writable copy: torch must not share (read-only) memory with the caller's array
        return torch.from_numpy(np.array(out, dtype=np.float32, order="C", copy=True))

    def _graph(self, n_nodes: int, edge_index: Any) -> torch.Tensor | None:
        if not self._fitted_on_graph():
            if edge_index is not None:
                raise ValueError(
                    f"{type(self).__name__} was fitted on a feature matrix without a graph; do not pass edge_index."
                )
            return None
        return check_edge_index(edge_index, n_nodes, type(self).__name__, "predict")

    def _fitted_on_graph(self) -> bool:
        return bool(getattr(self, "_graph_input_", False))

    # ------------------------------------------------------------------ fit
    def _fit(self, X: Any, edge_index: Any = None) -> BaseDeepClusterer:
        X, edge_index = split_graph_input(X, edge_index)
        X = self._validate(X, reset=True)
        n = X.shape[0]
        self._check_params(n)
        graph = self._takes_graph or edge_index is not None
        ei = check_edge_index(edge_index, n, type(self).__name__) if graph else None
        seed = self._seed()
        x = self._scaled(X, fit=True)
        self._check_training_input(x)
        with seeded(seed), lightning_quiet(bool(self.verbose)):
            dm = (
                graph_datamodule(x, ei, seed=seed)
                if graph
                else ArrayDataModule(x, batch_size=int(self.batch_size), seed=seed)
            )
            dm.setup("fit")
            module = self._build_module(dm, seed)
            trainer = self._make_trainer(module)
            fit_interruptible(trainer, module, dm)
            if self.checkpoint_dir is not None and module.head_changed_after_training:
                trainer.save_checkpoint(str(Path(self.checkpoint_dir) / "final.ckpt"))
            n_iter = int(trainer.current_epoch)
        module.trainer = None  # the Trainer (loggers, loops, strategy) is not kept: the module pickles alone
        module.cpu().eval()
        clear_caches(module)
        self.module_ = module
        self.random_state_ = seed
        self.n_iter_ = n_iter
        self._graph_input_ = graph
        data = {"x": x, "edge_index": ei} if graph else x
        self.labels_ = self._run(data, "labels")
        centers = self._cluster_centers(module.cluster_head)
        if centers is not None:
            self.cluster_centers_ = centers
        elif "cluster_centers_" in self.__dict__:
            del self.cluster_centers_
        return self

    def _make_trainer(self, module: Any) -> Any:
        import pytorch_lightning as pl

        callbacks: list[Any] = []
        if self.verbose:
            from pyagc.callbacks.epoch_progress import EpochProgressBar

            callbacks.append(EpochProgressBar())
        ckpt = self.checkpoint_dir
        if ckpt is not None:
            from pytorch_lightning.callbacks import ModelCheckpoint

            callbacks.append(ModelCheckpoint(dirpath=str(ckpt), save_last=True, save_top_k=0, every_n_epochs=1))
        return pl.Trainer(
            max_epochs=int(module.pretrain_epochs) + int(module.epochs),
            accelerator=self.accelerator,
            devices=self.devices,
            precision=self.precision,
            logger=False,
            callbacks=callbacks,
            enable_checkpointing=ckpt is not None,
            enable_progress_bar=bool(self.verbose),
            enable_model_summary=False,
            num_sanity_val_steps=0,
            log_every_n_steps=10,
            default_root_dir=str(ckpt) if ckpt is not None else None,
        )

    # ------------------------------------------------------------------ inference
    def _inference_device(self) -> torch.device:
        acc = str(self.accelerator or "auto").lower()
        if acc in ("gpu", "cuda", "auto") and torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")

    def _input(self, X: Any, edge_index: Any) -> tuple[Any, np.dtype]:
        check_is_fitted(self, "module_")
        X, edge_index = split_graph_input(X, edge_index)
        X = self._validate(X, reset=False)
        x = self._scaled(X, fit=False)
        ei = self._graph(X.shape[0], edge_index)
        return ({"x": x, "edge_index": ei} if ei is not None else x), X.dtype

    @torch.no_grad()
    def _run(self, data: Any, what: str) -> np.ndarray:
        module = self.module_
        device = self._inference_device()
        try:
            module.to(device)
            if what == "embeddings":
                out = module.embed(data)
            else:
                out = module.infer_full(data, soft=what == "proba")
        finally:
            module.cpu()
            clear_caches(module)
        out = out.detach().cpu()
        if what == "labels":
            return out.long().numpy()
        return out.double().numpy()

    def _predict(self, X: Any, edge_index: Any = None) -> np.ndarray:
        data, _ = self._input(X, edge_index)
        return self._run(data, "labels")

    def _transform(self, X: Any, edge_index: Any = None) -> np.ndarray:
        data, dtype = self._input(X, edge_index)
        return self._run(data, "embeddings").astype(dtype if dtype == np.float32 else np.float64, copy=False)

    def _predict_proba(self, X: Any, edge_index: Any = None) -> np.ndarray:
        data, _ = self._input(X, edge_index)
        proba = self._run(data, "proba")
        if proba.ndim != 2:
            raise ValueError(
                f"{type(self.module_.cluster_head).__name__}.cluster(z, soft=True) returned an array of "
                f"shape {proba.shape}, not (n_samples, n_clusters): this head has no soft assignments."
            )
        return proba

    # ------------------------------------------------------------------ public API (feature matrices)
    def fit(self, X: Any, y: Any = None) -> BaseDeepClusterer:
        """Train on the rows of ``X`` ``(n_samples, n_features)``; ``y`` is ignored (labels never reach a loss)."""
        return self._fit(X)

    def predict(self, X: Any) -> np.ndarray:
        """Cluster of each row of ``X`` (int64), each row on its own: scaled by ``scaler_``, embedded, assigned."""
        return self._predict(X)

    def transform(self, X: Any) -> np.ndarray:
        """Embeddings ``(n_samples, n_features)`` of the rows of ``X`` (the encoder's output, float64, or float32
        for float32 input).
        """
        return self._transform(X)

    @available_if(_has_soft_assignments)
    def predict_proba(self, X: Any) -> np.ndarray:
        """Soft cluster assignments ``(n_samples, n_clusters)``, rows summing to 1."""
        return self._predict_proba(X)

    def fit_predict(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        """``fit(X)`` and return ``labels_``."""
        return self.fit(X, y, **kwargs).labels_

    def fit_transform(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        """``fit(X)`` and return the embeddings of ``X``."""
        return self.fit(X, y, **kwargs).transform(X)


def mlp_encoder_config(hidden_dims: Any, n_features: int, **extra: Any) -> dict[str, Any]:
    """``configs/encoder/mlp_autoencoder.yaml`` with the estimator's widths (``in_features`` from the data)."""
    return {
        "_target_": "pyagc.encoders.MLPAutoencoder",
        "in_features": None,
        "hidden_dims": _check_hidden_dims(hidden_dims),
        "latent_dim": int(n_features),
        "activation": "relu",
        "batch_norm": False,
        "dropout": 0.0,
        "init": "xavier",
        **extra,
    }


def model_config(
    pretrain_epochs: int,
    epochs: int,
    pretrain_optimizer: dict | None,
    optimizer: dict | None,
    default_optimizer: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """``configs/model/default.yaml`` updated by a method's model config and the estimator's settings."""
    return {
        **MODEL_DEFAULTS,
        "pretrain_epochs": int(pretrain_epochs),
        "epochs": int(epochs),
        "pretrain_optimizer": dict(pretrain_optimizer or ADAM_1E3),
        "optimizer": dict(optimizer or default_optimizer),
        **extra,
    }
