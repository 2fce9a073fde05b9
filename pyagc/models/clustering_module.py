r"""The Lightning module that composes an encoder and a cluster head.

Training runs in three phases inside one ``Trainer.fit``:

1. **pretrain** (the first ``pretrain_epochs`` epochs): reconstruction
   :math:`\mathcal L_r = \lVert \mathbf x - g(f(\mathbf x)) \rVert^2` for autoencoders, or the loss of
   ``pretrain_objective`` (e.g. a contrastive objective) for any encoder.
2. **initialise** (once, at the start of the first joint epoch, or when training ends if
   ``epochs=0``): the head's
   :meth:`~pyagc.clusters.BaseClusterHead.initialize` receives the embeddings of the whole
   training set, gathered and de-duplicated across processes, so every process initialises
   identically (checked, and rank 0's state is broadcast).
3. **joint** (``epochs`` epochs): the head's loss (plus ``reconstruction_weight`` times the
   reconstruction loss if the head does not add it itself; heads with ``uses_views`` get the
   embeddings of two augmented views, heads with ``uses_variational`` a reparametrised sample), with
   the head's
   :meth:`~pyagc.clusters.BaseClusterHead.refresh` called every ``head.refresh_interval`` steps on
   the whole training set.

Manual use works without Lightning::

    model = ClusteringModule(MLPAutoencoder(64), DECClusterHead(10, 10), pretrain_epochs=0)
    model.initialize_head(x)          # k-means on the embeddings
    loss = model({"x": x_batch})      # the current phase's loss
    labels = model.infer_full(x)
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor, nn

from pyagc.clusters.base import BaseClusterHead, LossOutput, as_loss_output
from pyagc.data.batches import iter_batches
from pyagc.models.clustering_model import ClusteringModel, batch_as_dict
from pyagc.models.optimizers import build_lr_schedule, build_optimizer, check_lr_schedule
from pyagc.models.validation import check_head, validate_pairing
from pyagc.utils.accelerator import remember_missing_cuda, slow_cpu_precision_message
from pyagc.utils.distributed import broadcast_module_state, gather_by_index
from pyagc.utils.memory import peak_memory_mb

__all__ = ["ClusteringModule", "build_optimizer", "peak_memory_mb", "validate_pairing"]  # the last three: moved,
# importable from here as before (pyagc.models.optimizers, pyagc.utils.memory, pyagc.models.validation)


class ClusteringModule(ClusteringModel, pl.LightningModule):
    r"""Encoder + cluster head, trained by phases (pretrain -> initialise -> joint).

    Args:
        encoder: maps a batch ``x`` (and ``edge_index`` for graph encoders) to ``z (N, F)``;
            an autoencoder also has ``decode``.
        head: a :class:`~pyagc.clusters.BaseClusterHead`.
        pretrain_epochs: epochs of pretraining (reconstruction for autoencoders, or ``pretrain_objective``).
        epochs: epochs of joint training.
        pretrain_optimizer: ``{"name": "adam", "lr": 1e-3, ...}`` for pretraining.
        optimizer: optimizer spec for joint training (encoder and head parameters).
        lr_schedule: learning-rate decay of the joint optimizer, stepped once per joint epoch:
            ``{"name": "step", "step_size": 10, "gamma": 0.9}`` (times ``gamma`` every ``step_size`` epochs, e.g.
            VaDE's schedule) or ``{"name": "cosine"}`` (cosine to 0 over ``epochs``); ``None``: constant.
        reconstruction_weight: weight of the reconstruction loss added in joint training for
            heads that do not add it themselves (0: encoder-only fine-tuning, as DEC).
        gradient_clip: clip the gradient norm at this value (``None``: no clipping).
        reconstruction_loss: ``"mse"`` (per-element mean squared error) or ``"bce"`` (per-element binary
            cross-entropy of a decoder with outputs in [0, 1], e.g. a sigmoid output, on inputs in [0, 1]: the
            Bernoulli likelihood that VaDE's decoder uses); the pretraining loss and the term added by
            ``reconstruction_weight``.
        pretrain_noise: denoising pretraining: each input value is dropped with this probability
            (inverted dropout) and the clean input is reconstructed, as the stacked denoising
            autoencoder of DEC (0.2 in the paper). 0 disables it.
        pretrain_objective: replaces reconstruction as the pretraining loss: a module called as
            ``objective(encoder, batch)`` returning a scalar or a :class:`~pyagc.clusters.LossOutput`
            (e.g. :class:`~pyagc.objectives.GraphContrastiveObjective`); its own parameters (projection
            heads) are trained with the encoder in the pretraining phase. Any encoder can be pretrained
            this way, autoencoder or not.
        augmentation: a module ``augmentation(x) -> x_aug`` drawing a random view of a batch (e.g.
            :class:`~pyagc.augmentations.ImageAugmentation`, :class:`~pyagc.augmentations.TabularAugmentation`),
            used in joint training by heads with ``uses_views`` (contrastive clustering).
        pretrain_augmentation: pretrain on augmented data: each pretraining batch is replaced by one random
            view ``augmentation(x)``, which the autoencoder reconstructs (DEC-DA: Guo, Zhu, Liu & Yin, *Deep
            Embedded Clustering with Data Augmentation*, ACML 2018, http://proceedings.mlr.press/v95/guo18b.html).
            Initialisation, clustering and evaluation see the clean data. Needs ``augmentation``.
        joint_augmentation: the same in joint training for heads without ``uses_views``: the head's loss (and
            the reconstruction) is computed on one random view of each batch instead of the batch, so the
            invariance learned in pretraining is kept (DEC-DA's fine-tuning on augmented samples). Targets kept
            per sample (DEC's P), initialisation, refreshes and evaluation use the clean data.
        final_reclustering: after joint training, run the head's :meth:`~pyagc.clusters.BaseClusterHead.initialize`
            once more on the final embeddings of the whole training set (e.g. k-means again; for ACe/DeC a new
            rotation, weights and centres), so the reported clusters are fitted to where the embedding ended up
            rather than dragged along from the start. The reference implementation of ACe/DeC (clustpy's
            ``final_reclustering``, by the paper's authors) does this by default. Needs a head with
            ``requires_initialization``.

    Heads with ``uses_views`` (e.g. :class:`~pyagc.clusters.ContrastiveClusterHead`) get two views in joint
    training: ``v1 = augmentation(x)`` and ``v2 = augmentation(x)`` (or the batch's own ``views=(v1, v2)`` when
    no augmentation is given), each embedded by the encoder, and the head is called as
    ``head(z1, views=(z1, z2), index=..., x=x, ...)``. Heads that also set ``views_include_clean``
    (augmentation-invariant DEC / IDEC) get the clean batch as the first view: ``v1 = x``,
    ``v2 = augmentation(x)``. Pretraining uses the clean batch unless ``pretrain_augmentation`` is set.

    Mini-batches of sampled subgraphs (``GraphDataModule(batch_size=...)``) carry
    ``num_seed_nodes``: the first that many nodes are the batch's seed nodes. Heads that need the graph
    get the whole sampled subgraph (its edges and degrees); other heads, embeddings and metrics use the
    seed nodes only.
    """

    def __init__(
        self,
        encoder: nn.Module,
        head: BaseClusterHead,
        pretrain_epochs: int = 0,
        epochs: int = 100,
        pretrain_optimizer: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        lr_schedule: dict[str, Any] | None = None,
        reconstruction_weight: float = 0.0,
        gradient_clip: float | None = None,
        reconstruction_loss: str = "mse",
        pretrain_noise: float = 0.0,
        pretrain_objective: nn.Module | None = None,
        augmentation: nn.Module | None = None,
        pretrain_augmentation: bool = False,
        joint_augmentation: bool = False,
        final_reclustering: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(head, BaseClusterHead):
            raise TypeError(f"head must be a BaseClusterHead, got {type(head).__name__}.")
        if pretrain_epochs < 0 or epochs < 0:
            raise ValueError(f"pretrain_epochs and epochs must be >= 0, got {pretrain_epochs}, {epochs}.")
        self.encoder = encoder
        self.cluster_head = head
        self.pretrain_epochs = int(pretrain_epochs)
        self.epochs = int(epochs)
        self.pretrain_optimizer_spec = dict(pretrain_optimizer or {"name": "adam", "lr": 1e-3})
        self.optimizer_spec = dict(optimizer or {"name": "adam", "lr": 1e-3})
        self.lr_schedule = check_lr_schedule(lr_schedule)
        self.reconstruction_weight = float(reconstruction_weight)
        self.gradient_clip = gradient_clip
        if reconstruction_loss not in ("mse", "bce"):
            raise ValueError(f"reconstruction_loss must be 'mse' or 'bce', got {reconstruction_loss!r}.")
        self.reconstruction_loss_name = reconstruction_loss
        if not 0.0 <= pretrain_noise < 1.0:
            raise ValueError(f"pretrain_noise must be in [0, 1), got {pretrain_noise}.")
        self.pretrain_noise = float(pretrain_noise)
        self.pretrain_objective = pretrain_objective
        self.augmentation = augmentation
        for flag, value in (
            ("pretrain_augmentation", pretrain_augmentation),
            ("joint_augmentation", joint_augmentation),
        ):
            if value and augmentation is None:
                raise ValueError(
                    f"{flag}=True needs an augmentation to draw the views from: give "
                    "ClusteringModule(augmentation=...), e.g. pyagc.augmentations.RandomAffine for digits."
                )
        self.pretrain_augmentation = bool(pretrain_augmentation)
        self.joint_augmentation = bool(joint_augmentation)
        self.final_reclustering = bool(final_reclustering)
        self.automatic_optimization = False
        self.register_buffer("joint_steps", torch.tensor(0, dtype=torch.long))
        self.head_changed_after_training = False  # set by on_train_end (final re-clustering, finalize)
        self.phase_times: dict[str, float] = {
            "pretrain": 0.0,
            "initialize": 0.0,
            "joint": 0.0,
            "refresh": 0.0,
            "recluster": 0.0,
        }
        self.ddp_init_max_abs_diff: float | None = None
        self._epoch_start = 0.0
        self._epoch_sums: dict[str, Tensor] = {}
        self._epoch_count = 0
        if self.pretrain_epochs > 0 and not self.is_autoencoder and pretrain_objective is None:
            raise ValueError(
                f"pretrain_epochs={self.pretrain_epochs} needs an autoencoder or a pretrain_objective, but "
                f"{type(encoder).__name__} has no decoder. Set pretrain_epochs=0, use an autoencoder encoder, "
                "or give model.pretrain_objective (e.g. a contrastive objective)."
            )
        self.check_head()

    def check_head(self) -> None:
        """Fail with a clear message when the head names context this model cannot give (called at construction
        and again before training, so a head swapped in with ``model.cluster_head = ...`` is checked too).
        """
        check_head(self)

    # ------------------------------------------------------------------ properties
    @property
    def is_autoencoder(self) -> bool:
        return bool(getattr(self.encoder, "is_autoencoder", False)) and hasattr(self.encoder, "decode")

    @property
    def encoder_needs_graph(self) -> bool:
        return bool(getattr(self.encoder, "requires_graph", False))

    @property
    def phase(self) -> str:
        """``pretrain`` or ``joint`` (from the trainer's epoch, or the head's state in manual use)."""
        if self._trainer is not None:
            return "pretrain" if self.current_epoch < self.pretrain_epochs else "joint"
        if self.cluster_head.requires_initialization and not self.cluster_head.is_initialized:
            return "pretrain" if self.is_autoencoder else "joint"
        return "joint"

    # ------------------------------------------------------------------ forward passes
    def embed_batch(self, batch: dict[str, Tensor]) -> Tensor:
        x = batch["x"]
        if self.encoder_needs_graph:
            if batch.get("edge_index") is None:
                raise ValueError(f"{type(self.encoder).__name__} needs a graph: the batch has no `edge_index`.")
            return self.encoder(x, batch["edge_index"])
        return self.encoder(x)

    def reconstruction_loss(self, x: Tensor, x_hat: Tensor) -> Tensor:
        """Per-element mean of the squared error or of the binary cross-entropy (``reconstruction_loss``)."""
        x_hat, x = x_hat.reshape(x.shape).float(), x.float()
        if self.reconstruction_loss_name == "mse":
            return F.mse_loss(x_hat, x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            if bool((x < 0).any() or (x > 1).any()):
                raise ValueError(
                    f"reconstruction_loss='bce' needs inputs in [0, 1], got values in [{float(x.min()):.3g}, "
                    f"{float(x.max()):.3g}]: scale the data to [0, 1] (data.scaling=minmax or unit) or use 'mse'."
                )
            if bool((x_hat < 0).any() or (x_hat > 1).any()):
                raise ValueError(
                    "reconstruction_loss='bce' needs reconstructions in [0, 1]: give the decoder a sigmoid output "
                    "(MLPAutoencoder(output_activation='sigmoid')) or use 'mse'."
                )
            return F.binary_cross_entropy(x_hat.clamp(1e-6, 1 - 1e-6), x)

    def variational_encoder(self) -> nn.Module:
        """The encoder, checked to be variational (``encode_distribution(x) -> (mu, logvar)``)."""
        enc = self.encoder
        if not callable(getattr(enc, "encode_distribution", None)) or not getattr(enc, "variational", True):
            raise ValueError(
                f"{type(self.cluster_head).__name__} needs a variational encoder with encode_distribution(x) -> "
                f"(mu, logvar), but {type(enc).__name__} is not variational: set encoder.variational=true "
                "(e.g. encoder=mlp_vae)."
            )
        return enc

    def compute_loss(self, batch: dict[str, Tensor], phase: str | None = None) -> LossOutput:
        """The loss of ``batch`` in ``phase`` (default: the current phase), with its terms."""
        phase = phase or self.phase
        x = batch["x"]
        if phase == "pretrain" and self.pretrain_objective is not None:
            out = as_loss_output(self.pretrain_objective(self.encoder, batch))
            return LossOutput(out.total, dict(out.components))
        if phase == "pretrain":
            if self.pretrain_augmentation and self.training:  # DEC-DA: reconstruct a random view of the batch
                x = self.augmentation(x)
                batch = dict(batch, x=x)
            noisy = (
                dict(batch, x=F.dropout(x, self.pretrain_noise)) if self.pretrain_noise > 0 and self.training else batch
            )
            rec = self.reconstruction_loss(x, self.encoder.decode(self.embed_batch(noisy)))
            return LossOutput(rec, {"reconstruction": rec})
        head = self.cluster_head
        if self.joint_augmentation and self.training and not head.uses_views:  # DEC-DA: a random view
            x = self.augmentation(x)
            batch = dict(batch, x=x)
        variational: dict[str, Tensor] = {}
        if head.uses_variational:
            # one reparametrised sample z = mu + eps * sigma of q(z|x); x_hat decodes the sample
            mu, logvar = self.variational_encoder().encode_distribution(x)
            z = mu.float() + torch.randn_like(mu, dtype=torch.float32) * torch.exp(0.5 * logvar.float())
            variational = {"mu": mu, "logvar": logvar}
        elif head.uses_views:  # two augmented views, each through the encoder; z is the first view's
            view_z = self.embed_views(batch)
            z = view_z[0]
        else:
            z = self.embed_batch(batch)
        seeds = batch.get("num_seed_nodes")
        graph_head = "edge_index" in head.context_names
        if seeds is not None and not graph_head:  # sampled subgraph: the loss is on the seed nodes
            seeds = int(seeds)
            z, x = z[:seeds], x[:seeds]
            if head.uses_views:
                view_z = (view_z[0][:seeds], view_z[1][:seeds])
            batch = {k: (v[:seeds] if k in ("index", "y") else v) for k, v in batch.items()}
        needs_rec = head.uses_reconstruction or self.reconstruction_weight > 0
        fresh_rec = head.uses_views and not head.views_include_clean and needs_rec and self.is_autoencoder
        z_rec = self.embed_batch(batch)[: x.shape[0]] if fresh_rec else z
        x_hat = self.encoder.decode(z_rec).reshape(x.shape) if needs_rec and self.is_autoencoder else None
        context: dict[str, Any] = {"index": batch.get("index"), "x": x, "x_hat": x_hat, **variational}
        for key in ("edge_index", "edge_weight", "views"):
            if batch.get(key) is not None and (graph_head or seeds is None or key == "views"):
                context[key] = batch[key]
        if head.uses_views:
            context["views"] = view_z
        out = as_loss_output(head.forward_with_context(z, context))
        total, comps = out.total, dict(out.components)
        if self.reconstruction_weight > 0 and not head.uses_reconstruction and x_hat is not None:
            rec = self.reconstruction_loss(x, x_hat)
            total = total + self.reconstruction_weight * rec
            comps["reconstruction"] = rec
        return LossOutput(total, comps)

    def embed_views(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Embeddings ``(z1, z2)`` of two random views of the batch (``augmentation``, or the batch's ``views``);
        for heads with ``views_include_clean`` the first view is the batch itself.
        """
        clean = getattr(self.cluster_head, "views_include_clean", False)
        if self.augmentation is not None:
            v1 = batch["x"] if clean else self.augmentation(batch["x"])
            v2 = self.augmentation(batch["x"])
        elif batch.get("views") is not None:
            v1, v2 = batch["views"]
            if clean:
                v1, v2 = batch["x"], v1
        else:
            raise ValueError(
                f"{type(self.cluster_head).__name__} trains on two augmented views, but ClusteringModule has no "
                "augmentation and the batch carries no 'views'. Give ClusteringModule(augmentation=...) "
                "(e.g. pyagc.augmentations.ImageAugmentation() for images, TabularAugmentation() for feature "
                "vectors; from the command line model=contrastive)."
            )
        return self.embed_batch(dict(batch, x=v1)), self.embed_batch(dict(batch, x=v2))

    def forward(self, batch: dict[str, Tensor] | Tensor) -> Tensor:
        """The current phase's training loss of a batch (a dict ``{x, index?, edge_index?}`` or ``x``)."""
        return self.compute_loss(batch_as_dict(batch)).total

    # ------------------------------------------------------------------ full-dataset passes
    @torch.no_grad()
    def embed(self, data: Any, with_labels: bool = False) -> Tensor | tuple[Tensor, Tensor | None]:
        """Embeddings of every sample of ``data`` ordered by dataset index (gathered under DDP)."""
        was_training = self.training
        self.eval()
        zs, idx, ys = [], [], []
        for batch in iter_batches(data):
            batch = {k: (v.to(self.device) if isinstance(v, Tensor) else v) for k, v in batch.items()}
            with self._precision_context():
                z = self.embed_batch(batch).float()
            seeds = int(batch.get("num_seed_nodes", z.shape[0]))  # sampled subgraphs: seed nodes only
            zs.append(z[:seeds])
            idx.append(batch["index"][:seeds])
            if "y" in batch:
                ys.append(batch["y"][:seeds])
        self.train(was_training)
        z, index = torch.cat(zs), torch.cat(idx)
        z, _ = gather_by_index(z, index)
        if not with_labels:
            return z
        y = gather_by_index(torch.cat(ys).reshape(-1, 1), index)[0].flatten() if ys else None
        return z, y

    def recalibrate_batch_norm(self, data: Any | None = None) -> int:
        """Re-estimate the encoder's batch-norm statistics from ``data``: see
        :func:`pyagc.callbacks.reclustering_barrier.recalibrate_batch_norm`.
        """
        from pyagc.callbacks.reclustering_barrier import recalibrate_batch_norm

        return recalibrate_batch_norm(self, data)

    def _full_data(self) -> Any:
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and hasattr(dm, "full_dataloader"):
            return dm.full_dataloader()
        raise RuntimeError(
            "full-dataset steps need a DataModule with full_dataloader() (any pyagc.data DataModule); "
            "pass datamodule=... to trainer.fit."
        )

    @torch.no_grad()
    def initialize_head(self, data: Any | None = None, timer: str = "initialize") -> None:
        """Run the head's initialisation on the embeddings of the whole training set (its time is added to
        ``phase_times[timer]``).
        """
        start = time.perf_counter()
        z = self.embed(data if data is not None else self._full_data())
        self.cluster_head.initialize(z)
        self.cluster_head.mark_initialized()
        self.ddp_init_max_abs_diff = broadcast_module_state(self.cluster_head)
        self.phase_times[timer] += time.perf_counter() - start
        if self.cluster_head.refresh_interval:
            self.refresh_head(data)

    @torch.no_grad()
    def finalize_head(self, data: Any | None = None) -> None:
        """Run the head's :meth:`~pyagc.clusters.BaseClusterHead.finalize` on the embeddings of the whole training
        set (its time is added to ``phase_times["recluster"]``); every process ends with rank 0's result.
        """
        start = time.perf_counter()
        z = self.embed(data if data is not None else self._full_data())
        self.cluster_head.finalize(z)
        broadcast_module_state(self.cluster_head)
        self.phase_times["recluster"] += time.perf_counter() - start

    @torch.no_grad()
    def refresh_head(self, data: Any | None = None) -> None:
        start = time.perf_counter()
        z = self.embed(data if data is not None else self._full_data())
        self.cluster_head.refresh(z)
        self.phase_times["refresh"] += time.perf_counter() - start

    @torch.no_grad()
    def infer_full(self, data: Any, soft: bool = False) -> Tensor:
        """Cluster labels (or probabilities with ``soft``) of every sample of ``data``, by index."""
        z = self.embed(data)
        return self.cluster_head.cluster(z, soft=soft)

    def _precision_context(self) -> contextlib.AbstractContextManager:
        """The trainer's autocast (``precision=bf16-mixed`` etc.) for passes outside ``training_step``
        (whole-data embeddings at initialisation, refresh and evaluation); none without a trainer.
        """
        trainer = self._trainer
        if trainer is None:
            return contextlib.nullcontext()
        return trainer.precision_plugin.forward_context()

    # ------------------------------------------------------------------ Lightning hooks
    def setup(self, stage: str) -> None:
        # encoders with channels_last=None (automatic) switch to NHWC when training runs on a GPU
        if getattr(self.encoder, "channels_last", False) is None and hasattr(self.encoder, "use_channels_last"):
            if self.trainer.strategy.root_device.type == "cuda":
                self.encoder.use_channels_last()

    def configure_optimizers(self):
        pre_params = list(self.encoder.parameters())
        if self.pretrain_objective is not None:
            pre_params += list(self.pretrain_objective.parameters())
        joint_params = list(self.encoder.parameters()) + list(self.cluster_head.parameters())
        optimizers = [
            build_optimizer(pre_params, self.pretrain_optimizer_spec),
            build_optimizer(joint_params, self.optimizer_spec),
        ]
        if not self.lr_schedule:
            return optimizers
        return optimizers, [build_lr_schedule(optimizers[1], self.lr_schedule, self.epochs)]

    def on_fit_start(self) -> None:
        remember_missing_cuda()
        message = slow_cpu_precision_message(self.trainer.strategy.root_device.type, str(self.trainer.precision))
        if message:
            rank_zero_warn(message)
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None:
            validate_pairing(self, dm)

    def on_train_start(self) -> None:
        # a run resumed after the head's stopping rule fired stops where the original stopped
        if bool(getattr(self.cluster_head, "converged", torch.tensor(False))):
            self.trainer.should_stop = True

    def on_train_epoch_start(self) -> None:
        self._epoch_start = time.perf_counter()
        head = self.cluster_head
        if self.phase == "joint" and head.requires_initialization and not head.is_initialized:
            self.initialize_head()

    def on_train_end(self) -> None:
        # epochs=0 (e.g. k-means on pretrained embeddings): the head still gets its initialisation
        head = self.cluster_head
        changed = True
        if head.requires_initialization and not head.is_initialized:
            self.initialize_head()
        elif self.final_reclustering and int(self.joint_steps) > 0:
            self.initialize_head(timer="recluster")
        else:
            changed = False
        if head.requires_finalization and int(self.joint_steps) > 0:
            self.finalize_head()
            changed = True
        # the head's state now differs from the last epoch's checkpoint (which stays the point to resume from)
        self.head_changed_after_training = changed

    def on_train_epoch_end(self) -> None:
        self.phase_times[self.phase] += time.perf_counter() - self._epoch_start
        if self.lr_schedule and self.phase == "joint":
            self.lr_schedulers().step()  # saved in checkpoints by Lightning: a resumed run continues the decay

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        phase = self.phase
        head = self.cluster_head
        if (
            phase == "joint"
            and head.refresh_interval
            and self.joint_steps > 0
            and int(self.joint_steps) % head.refresh_interval == 0
        ):
            self.refresh_head()
            if bool(getattr(head, "converged", torch.tensor(False))):
                self.trainer.should_stop = True
        pre_opt, joint_opt = self.optimizers()
        opt = pre_opt if phase == "pretrain" else joint_opt
        out = self.compute_loss(batch, phase)
        if not torch.isfinite(out.total):
            raise FloatingPointError(
                f"the {phase} loss became {float(out.total)} at epoch {self.current_epoch}; lower the "
                "learning rate or check the data scaling."
            )
        opt.zero_grad(set_to_none=True)
        self.manual_backward(out.total)
        if self.gradient_clip:
            if getattr(self.trainer.precision_plugin, "scaler", None) is None:
                # fp32 / bf16: the gradients are not scaled, clip them directly (also with fused optimizers,
                # which Lightning's clip_gradients rejects under mixed precision)
                params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
                torch.nn.utils.clip_grad_norm_(params, self.gradient_clip)
            else:
                self.clip_gradients(opt, gradient_clip_val=self.gradient_clip, gradient_clip_algorithm="norm")
        opt.step()
        if phase == "joint":
            self.joint_steps += 1
        self._log_losses(phase, out, int(batch["x"].shape[0]), batch_idx)
        return out.total.detach()

    def _log_losses(self, phase: str, out: LossOutput, batch_size: int, batch_idx: int) -> None:
        """Log the step loss every ``log_every_n_steps`` steps and the epoch means of every term once.

        Each ``self.log`` call, and each epoch-level metric at the epoch's end, runs Lightning's result
        bookkeeping (in a CPU profile of a full-batch graph model, comparable to a whole training step), so
        the terms are summed here and logged at the epoch's last batch as ``{phase}/loss_epoch`` and
        ``{phase}/{term}`` (means over the epoch) -- every epoch when an epoch has at least
        ``log_every_n_steps`` batches, else every ``ceil(log_every_n_steps / batches)`` epochs and at the
        last epoch of each phase (full-batch graphs: one step per epoch, 1000 epochs).
        """
        terms = {"loss": out.total, **out.components}
        if batch_idx == 0 or not self._epoch_sums:
            self._epoch_sums, self._epoch_count = {}, 0
        for name, value in terms.items():
            value = value.detach().float() * batch_size
            self._epoch_sums[name] = self._epoch_sums[name] + value if name in self._epoch_sums else value
        self._epoch_count += batch_size
        every = max(int(getattr(self.trainer, "log_every_n_steps", 50) or 1), 1)
        if self.global_step % every == 0:
            self.log(f"{phase}/loss_step", out.total.detach(), on_step=True, on_epoch=False, batch_size=batch_size)
        n_batches = getattr(self.trainer, "num_training_batches", float("inf"))
        if batch_idx + 1 >= n_batches and self._log_this_epoch(every, n_batches):
            means = {name: total / self._epoch_count for name, total in self._epoch_sums.items()}
            self.log(
                f"{phase}/loss_epoch",
                means.pop("loss"),
                prog_bar=True,
                on_step=False,
                on_epoch=True,
                batch_size=self._epoch_count,
            )
            for name, value in means.items():
                self.log(f"{phase}/{name}", value, on_step=False, on_epoch=True, batch_size=self._epoch_count)
            self._epoch_sums, self._epoch_count = {}, 0

    def _log_this_epoch(self, every: int, n_batches: float) -> bool:
        stride = 1 if n_batches >= every else math.ceil(every / max(n_batches, 1))
        epoch = self.current_epoch
        phase_end = self.pretrain_epochs - 1 if epoch < self.pretrain_epochs else self.trainer.max_epochs - 1
        return (epoch + 1) % stride == 0 or epoch == phase_end or bool(self.trainer.should_stop)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["pyagc_phase_times"] = dict(self.phase_times)
        if getattr(self, "pyagc_config", None) is not None:
            checkpoint["pyagc_config"] = self.pyagc_config

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.phase_times.update(checkpoint.get("pyagc_phase_times", {}))
