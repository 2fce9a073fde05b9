"""A compact progress bar: one bar over all epochs, showing the phase and the epoch's loss.

Deep-clustering runs have many short epochs (digits: 8 batches an epoch, 100+ epochs), so a
bar per epoch scrolls; this one advances once per epoch and works in logs (non-TTY) too.
"""

from __future__ import annotations

from typing import Any

from pytorch_lightning.callbacks import ProgressBar
from tqdm.auto import tqdm


class EpochProgressBar(ProgressBar):
    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self._bar: tqdm | None = None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if not self._enabled or trainer.global_rank != 0:
            return
        total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        self._bar = tqdm(total=total, initial=trainer.current_epoch, desc="training", unit="epoch",
                         dynamic_ncols=True, mininterval=0.5)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._bar is None:
            return
        metrics = trainer.callback_metrics
        phase = getattr(pl_module, "phase", "train")
        loss = metrics.get(f"{phase}/loss_epoch", metrics.get(f"{phase}/loss"))
        self._bar.set_description(phase)
        if loss is not None:
            self._bar.set_postfix(loss=f"{float(loss):.4f}")
        self._bar.update(1)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
