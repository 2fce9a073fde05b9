r"""Training throughput (samples per second) as a logged metric.

Throughput of epoch :math:`e` over its timed batches :math:`\mathcal T_e` (every batch after the
fit's first ``warmup_steps``):

.. math::
    \text{samples/s}_e = \frac{\sum_{b \in \mathcal T_e} |b|}{\sum_{b \in \mathcal T_e} t_b},

where :math:`t_b` is the wall time from the end of the previous batch of the same epoch to the end
of batch :math:`b` (loading the batch, the training step and every per-step hook), or, for the
epoch's first timed batch, from its start to its end. The time between epochs (the head's
initialisation, full-dataset refreshes at an epoch start, checkpointing, validation) is not counted:
the metric is the speed of the training steps themselves, comparable across runs with different
epoch lengths. Reading the clock is two ``time.perf_counter()`` calls per batch and no device
synchronisation, so the callback costs nothing measurable; on a GPU the rate is exact over an
epoch (the steps are throttled by the queue), but a window of a few steps can be off by the
asynchronous tail.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import pytorch_lightning as pl
from torch import Tensor


def batch_size_of(batch: Any) -> int:
    """Number of samples of a training batch: ``num_seed_nodes`` of a sampled subgraph, else the
    leading size of ``x`` (dict batches), of the tensor, or of the first element of a tuple.
    """
    if isinstance(batch, dict):
        if batch.get("num_seed_nodes") is not None:
            return int(batch["num_seed_nodes"])
        batch = batch.get("x")
    elif isinstance(batch, (list, tuple)) and batch:
        batch = batch[0]
    if isinstance(batch, Tensor) and batch.dim() > 0:
        return int(batch.shape[0])
    raise TypeError(
        f"ThroughputMonitor cannot tell the size of a {type(batch).__name__} batch; give dict batches "
        "with an `x` tensor, a tensor, or a tuple whose first element is a tensor."
    )


class ThroughputMonitor(pl.Callback):
    r"""Log training samples (images, nodes, rows) per second, per epoch and every N steps.

    Logs ``{prefix}/samples_per_sec`` once per epoch (the epoch's timed batches) and, with
    ``log_every_n_steps``, ``{prefix}/samples_per_sec_step`` over the last ``log_every_n_steps``
    timed batches. Under DDP the per-process rates are summed (the total rate of the job). The
    values are also kept in :attr:`history` (a list of ``{"epoch", "step", "samples",
    "seconds", "samples_per_sec"}`` per epoch).

    Args:
        warmup_steps: the fit's first training batches that are not timed (lazy initialisation,
            allocator and cuDNN warm-up).
        log_every_n_steps: also log the rate over windows of this many timed batches
            (``None``: per epoch only).
        prefix: metric name prefix.
    """

    def __init__(self, warmup_steps: int = 2, log_every_n_steps: int | None = None, prefix: str = "train") -> None:
        super().__init__()
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}.")
        if log_every_n_steps is not None and log_every_n_steps < 1:
            raise ValueError(f"log_every_n_steps must be >= 1 or null, got {log_every_n_steps}.")
        self.warmup_steps = int(warmup_steps)
        self.log_every_n_steps = None if log_every_n_steps is None else int(log_every_n_steps)
        self.prefix = str(prefix)
        self.history: list[dict[str, float]] = []
        self._batches_seen = 0
        self._last: float | None = None
        self._epoch_samples = 0
        self._epoch_seconds = 0.0
        self._window_samples = 0
        self._window_seconds = 0.0
        self._window_batches = 0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._last = None
        self._epoch_samples, self._epoch_seconds = 0, 0.0
        self._window_samples, self._window_seconds, self._window_batches = 0, 0.0, 0

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._last is None:  # the epoch's first batch: its loading time is not seen
            self._last = perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        now = perf_counter()
        start, self._last = self._last, now
        self._batches_seen += 1
        if start is None or self._batches_seen <= self.warmup_steps:
            return
        n, seconds = batch_size_of(batch), now - start
        self._epoch_samples += n
        self._epoch_seconds += seconds
        if self.log_every_n_steps is None:
            return
        self._window_samples += n
        self._window_seconds += seconds
        self._window_batches += 1
        if self._window_batches >= self.log_every_n_steps:
            rate = self._window_samples / max(self._window_seconds, 1e-12)
            self._log(trainer, pl_module, f"{self.prefix}/samples_per_sec_step", rate, on_step=True)
            self._window_samples, self._window_seconds, self._window_batches = 0, 0.0, 0

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._epoch_samples == 0:  # every batch of this epoch was a warm-up batch
            return
        rate = self._epoch_samples / max(self._epoch_seconds, 1e-12)
        self.history.append(
            {
                "epoch": trainer.current_epoch,
                "step": trainer.global_step,
                "samples": self._epoch_samples,
                "seconds": self._epoch_seconds,
                "samples_per_sec": rate,
            }
        )
        self._log(trainer, pl_module, f"{self.prefix}/samples_per_sec", rate, on_step=False)

    @staticmethod
    def _log(trainer: pl.Trainer, pl_module: pl.LightningModule, name: str, value: float, on_step: bool) -> None:
        distributed = trainer.world_size > 1
        pl_module.log(
            name,
            float(value),
            on_step=on_step,
            on_epoch=not on_step,
            batch_size=1,
            sync_dist=distributed,
            reduce_fx="sum" if distributed else "mean",
        )
