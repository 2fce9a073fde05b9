r"""Breaking the reclustering barrier (BRB): soft weight resets + momentum reset + reclustering.

Miklautz, Klein, Sidak, Leiber, Lang, Shkabrii, Tschiatschek & Plant, *Breaking the Reclustering
Barrier in Centroid-based Deep Clustering*, ICLR 2025, https://arxiv.org/abs/2411.02275
(code: https://github.com/Probabilistic-and-Interactive-ML/breaking-the-reclustering-barrier).

Centroid-based deep clustering (DEC, IDEC, DCN, ...) saturates early: the embedding compresses
around the first clustering and re-running k-means alone finds the same clusters again. BRB
perturbs the encoder before reclustering. Every :math:`T` joint-training epochs:

1. **soft reset** of the chosen encoder layers towards a freshly initialised copy
   :math:`\boldsymbol\phi` (drawn from a seeded generator):

   .. math:: \boldsymbol\theta \leftarrow \alpha\,\boldsymbol\theta + (1 - \alpha)\,\boldsymbol\phi ,

   after which the encoder's batch-norm layers get running statistics that match the new weights
   (:func:`recalibrate_batch_norm`, one pass over the training set): the
   old ones would make the evaluation-mode embeddings that the reclustering sees differ from the
   batch-statistics embeddings that training sees,

2. **momentum reset**: the optimizer state (Adam moments, SGD momentum buffers) is cleared,
3. **reclustering**: the head is re-initialised from the embeddings of the whole training set
   (:meth:`~pyagc.models.ClusteringModule.initialize_head`: k-means for DEC / IDEC / DCN / k-means
   heads, gathered and de-duplicated under DDP; DEC's target distribution is refreshed with it).

The paper's defaults for feed-forward autoencoders are :math:`T = 20`, :math:`\alpha = 0.8`, all
encoder layers reset except the embedding (last) layer.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor, nn

from pyagc.data.batches import iter_batches
from pyagc.utils.distributed import average_tensors_

if TYPE_CHECKING:
    from pyagc.models.clustering_module import ClusteringModule

_INITS = ("xavier", "default", "kaiming")
_MOMENTUM = ("all", "head", "none")


def encoder_layers(encoder: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every module that owns parameters on the encoding path, in order.

    The encoding path is ``encoder.encoder`` when the model has such a submodule (pyagc's
    autoencoders keep the decoder apart), else the whole module. Names are relative to ``encoder``.
    """
    root = getattr(encoder, "encoder", None)
    prefix = "encoder."
    if not isinstance(root, nn.Module):
        root, prefix = encoder, ""
    return [
        (prefix + name if name else prefix.rstrip("."), m)
        for name, m in root.named_modules()
        if any(True for _ in m.parameters(recurse=False))
    ]


@torch.no_grad()
def fresh_copy(module: nn.Module, seed: int, init: str = "xavier") -> nn.Module:
    r"""A freshly initialised CPU copy of ``module`` and its submodules, deterministic for ``seed``.

    ``init="default"``: every submodule's ``reset_parameters`` (PyTorch's default initialisation).
    ``init="xavier"``: in addition, Xavier-uniform weights (parameters with 2+ dims) and zero biases,
    as pyagc's autoencoders initialise themselves (normalisation layers keep their default).
    ``init="kaiming"``: in addition, ``nn.init.kaiming_uniform_`` weights with its defaults,
    :math:`\mathcal U(\pm\sqrt{6/\text{fan\_in}})`, biases keep PyTorch's default
    :math:`\mathcal U(\pm 1/\sqrt{\text{fan\_in}})` (the BRB authors' code).
    """
    if init not in _INITS:
        raise ValueError(f"unknown init {init!r}; valid: {list(_INITS)}")
    fresh = copy.deepcopy(module).to("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for m in fresh.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
            if init == "xavier":
                for name, p in m.named_parameters(recurse=False):
                    if p.dim() >= 2:
                        nn.init.xavier_uniform_(p)
                    elif name == "bias" and not isinstance(m, nn.modules.batchnorm._NormBase):
                        nn.init.zeros_(p)
            elif init == "kaiming":
                for p in m.parameters(recurse=False):
                    if p.dim() >= 2:
                        nn.init.kaiming_uniform_(p)
    return fresh


@torch.no_grad()
def soft_reset_(module: nn.Module, alpha: float, seed: int, init: str = "xavier") -> None:
    r"""In place: :math:`\theta \leftarrow \alpha\theta + (1-\alpha)\phi` for every parameter of ``module``
    (recursively), :math:`\phi` from :func:`fresh_copy`.
    """
    fresh = dict(fresh_copy(module, seed, init).named_parameters())
    for name, p in module.named_parameters():
        p.mul_(alpha).add_(fresh[name].to(device=p.device, dtype=p.dtype), alpha=1.0 - alpha)


def reset_optimizer_state(optimizer: torch.optim.Optimizer, params: Sequence[torch.Tensor] | None = None) -> None:
    """Forget the optimizer's per-parameter state.

    ``params=None``: all of it (momentum buffers, Adam moments and step counts). Otherwise only the state of
    ``params`` is zeroed (momentum buffers, Adam moments) and their step counts are kept, as the BRB authors'
    code does for the cluster centres.
    """
    if params is None:
        optimizer.state.clear()
        return
    for p in params:
        for key, value in optimizer.state.get(p, {}).items():
            if key != "step" and torch.is_tensor(value):
                value.zero_()


@torch.no_grad()
def recalibrate_batch_norm(model: ClusteringModule, data: Any | None = None) -> int:
    r"""Re-estimate the running mean and variance of every batch-norm layer of the encoder from ``data``
    (default: the trainer's DataModule, the whole training set); return how many layers were recalibrated
    (those the embedding passes through: a decoder's keep theirs). Its time counts to
    ``phase_times["initialize"]``.

    Running statistics belong to the weights they were accumulated under. After the weights change
    outside the optimizer (e.g. a soft reset :math:`\theta \leftarrow \alpha\theta + (1-\alpha)\phi`,
    :class:`~pyagc.callbacks.ReclusteringBarrier`) they are stale, and evaluation-mode embeddings no longer
    match the batch-statistics embeddings that training sees. This forward pass in training mode, with
    the layers' momentum set to a cumulative average, makes them match again (as
    ``torch.optim.swa_utils.update_bn`` does for averaged weights). Under DDP every process estimates them
    on its shard and all end with the average. Nothing else changes.
    """
    norms = [m for m in model.encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    start = time.perf_counter()
    momenta = {m: m.momentum for m in norms}
    used: list[nn.Module] = []

    def start_fresh(module: nn.Module, _inputs: Any) -> None:  # only layers on the embedding path
        if module not in used:
            used.append(module)
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the pass

    hooks = [m.register_forward_pre_hook(start_fresh) for m in norms]
    was_training = model.training
    model.train()
    try:
        for batch in iter_batches(data if data is not None else model._full_data()):
            if batch["x"].shape[0] < 2:  # batch statistics need two samples (a last batch of one)
                continue
            batch = {k: (v.to(model.device) if isinstance(v, Tensor) else v) for k, v in batch.items()}
            with model._precision_context():
                model.embed_batch(batch)
    finally:
        for hook in hooks:
            hook.remove()
        for m, momentum in momenta.items():
            m.momentum = momentum
        model.train(was_training)
    tracked = [m for m in used if m.track_running_stats]
    average_tensors_([t for m in tracked for t in (m.running_mean, m.running_var)])
    model.phase_times["initialize"] += time.perf_counter() - start  # part of re-initialising the head
    if not used:
        rank_zero_warn(
            "recalibrate_batch_norm: no batch of two or more samples reached a batch-norm layer of the "
            "encoder; its running statistics were left as they were."
        )
    return len(tracked)


class ReclusteringBarrier(Callback):
    r"""BRB for any centroid head: every ``reset_interval`` joint epochs soft-reset the encoder,
    clear the optimizer state and re-initialise the head on the whole training set.

    Runs at the start of joint epochs :math:`T, 2T, \dots` (counted from the first joint epoch, so
    pretraining epochs do not count); nothing happens during pretraining. Deterministic for a
    ``seed``: the fresh weights of reset ``r`` of layer ``l`` come from ``seed``, the epoch and
    ``l`` (identical on every DDP process and after resuming from a checkpoint).

    Args:
        reset_interval: :math:`T`, joint epochs between two applications (paper: 20).
        alpha: interpolation factor :math:`\alpha \in [0, 1]` (1: no reset, 0: full re-initialisation;
            paper: 0.8 for MLP autoencoders).
        layers: names of the encoder's submodules to reset (relative to ``pl_module.encoder``, e.g.
            ``["encoder.0", "encoder.2"]``); ``None``: every parameterised layer of the encoding path
            (``encoder.encoder`` when present), without the last one unless ``reset_embedding``.
        reset_embedding: also reset the embedding (last encoder) layer when ``layers`` is ``None``
            (paper default: no).
        init: initialisation of the fresh weights: ``"xavier"`` (pyagc's autoencoders), ``"default"``
            (each layer's ``reset_parameters``, PyTorch's default; use it for ResNets) or ``"kaiming"``
            (Kaiming-uniform weights, the BRB authors' code).
        reset_momentum: which optimizer state to reset: ``"all"`` / ``True`` (every optimizer of the
            trainer is cleared), ``"head"`` (only the cluster head's parameters, e.g. DEC's centres: their
            moments are zeroed and their step counts kept, the BRB authors' code), ``"none"`` / ``False``.
        recluster: re-initialise the head (k-means on the whole training set).
        recalibrate_batch_norm: after a soft reset, re-estimate the running statistics of the encoder's
            batch-norm layers on the training set before reclustering (no effect without batch norm).
        seed: seed of the fresh weights.
    """

    def __init__(
        self,
        reset_interval: int = 20,
        alpha: float = 0.8,
        layers: Sequence[str] | None = None,
        reset_embedding: bool = False,
        init: str = "xavier",
        reset_momentum: bool | str = True,
        recluster: bool = True,
        recalibrate_batch_norm: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if int(reset_interval) < 1:
            raise ValueError(f"reset_interval must be >= 1 epoch, got {reset_interval}.")
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must be in [0, 1] (1 keeps the weights, 0 re-initialises them), got {alpha}.")
        if init not in _INITS:
            raise ValueError(f"unknown init {init!r}; valid: {list(_INITS)}")
        if layers is not None and isinstance(layers, str):
            layers = [layers]
        self.reset_interval = int(reset_interval)
        self.alpha = float(alpha)
        self.layers = None if layers is None else [str(name) for name in layers]
        self.reset_embedding = bool(reset_embedding)
        self.init = init
        if isinstance(reset_momentum, bool):
            reset_momentum = "all" if reset_momentum else "none"
        if reset_momentum not in _MOMENTUM:
            raise ValueError(f"reset_momentum must be True, False or one of {list(_MOMENTUM)}, got {reset_momentum!r}.")
        self.reset_momentum = reset_momentum
        self.recluster = bool(recluster)
        self.recalibrate_batch_norm = bool(recalibrate_batch_norm)
        self.seed = int(seed)
        self.applied_at: list[int] = []  # trainer epochs at which BRB ran (this process, this fit)

    # ------------------------------------------------------------------ selection
    def select_layers(self, encoder: nn.Module) -> list[tuple[str, nn.Module]]:
        """The ``(name, module)`` pairs that a reset touches."""
        if self.layers is not None:
            valid = [
                name for name, m in encoder.named_modules() if name and any(True for _ in m.parameters(recurse=False))
            ]
            chosen = []
            for name in self.layers:
                try:
                    module = encoder.get_submodule(name)
                except AttributeError:
                    raise ValueError(
                        f"ReclusteringBarrier: the encoder has no submodule {name!r}; layers with parameters: {valid}"
                    ) from None
                chosen.append((name, module))
            return chosen
        found = encoder_layers(encoder)
        if not found:
            raise ValueError(f"ReclusteringBarrier: {type(encoder).__name__} has no layers with parameters to reset.")
        return found if self.reset_embedding or len(found) == 1 else found[:-1]

    def layer_seed(self, epoch: int, index: int) -> int:
        return (self.seed * 1_000_003 + int(epoch) * 7919 + int(index)) % (2**63 - 1)

    # ------------------------------------------------------------------ the three steps
    @torch.no_grad()
    def apply(
        self, pl_module: Any, optimizers: Sequence[torch.optim.Optimizer] = (), epoch: int = 0, data: Any | None = None
    ) -> list[str]:
        """Run BRB once (soft reset, momentum reset, reclustering); return the names of the reset layers.

        Usable without a Trainer: ``data`` is passed to ``pl_module.initialize_head`` (a tensor,
        DataLoader or DataModule; ``None`` = the trainer's DataModule).
        """
        names = []
        if self.alpha < 1.0:
            for index, (name, module) in enumerate(self.select_layers(pl_module.encoder)):
                soft_reset_(module, self.alpha, self.layer_seed(epoch, index), self.init)
                names.append(name)
            if names and self.recalibrate_batch_norm and hasattr(pl_module, "embed_batch"):
                recalibrate_batch_norm(pl_module, data)
        if self.reset_momentum != "none":
            params = None if self.reset_momentum == "all" else list(pl_module.cluster_head.parameters())
            for opt in optimizers:
                reset_optimizer_state(getattr(opt, "optimizer", opt), params)  # LightningOptimizer wraps the torch one
        if self.recluster:
            pl_module.initialize_head(data)
        return names

    # ------------------------------------------------------------------ Lightning hook
    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        joint_epoch = int(trainer.current_epoch) - int(getattr(pl_module, "pretrain_epochs", 0))
        if joint_epoch <= 0 or joint_epoch % self.reset_interval != 0:
            return
        head = pl_module.cluster_head
        if head.requires_initialization and not head.is_initialized:
            return  # the module initialises the head itself at the first joint epoch
        names = self.apply(pl_module, trainer.optimizers, epoch=int(trainer.current_epoch))
        self.applied_at.append(int(trainer.current_epoch))
        rank_zero_info(
            f"ReclusteringBarrier: epoch {trainer.current_epoch}: soft reset (alpha={self.alpha}) of "
            f"{names}, optimizer state reset: {self.reset_momentum}, "
            f"head {'re-initialised' if self.recluster else 'kept'}."
        )

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return f"reset_interval={self.reset_interval}, alpha={self.alpha}"
