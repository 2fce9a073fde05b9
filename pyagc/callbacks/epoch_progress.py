r"""A compact progress bar: one bar over all epochs, showing the phase and the epoch's loss.

Deep-clustering runs have many short epochs (digits: 8 batches an epoch, 100+ epochs), so a bar per epoch scrolls;
this one advances once per epoch. On a terminal (or in a notebook) it is a tqdm bar. When its stream is not a
terminal (a pipe, a log file, a batch job's output) a bar's ``\\r`` updates would pile up on one long line, so it
writes plain lines instead: one per epoch, or one per 10 % of the epochs when that is fewer, each short
(``[pyagc] epoch 30/100  joint  loss 0.0421  (12.3 s, 0.41 s/epoch)``). These lines also go to the ``pyagc``
logger, so that Hydra's job log (``train.log``) shows how training went.
"""

from __future__ import annotations

import math
import sys
import time
from typing import IO, Any

from pytorch_lightning.callbacks import ProgressBar
from tqdm.auto import tqdm

from pyagc.utils.logs import report

#: a line at most every this fraction of the epochs when the output is not a terminal
LINE_FRACTION = 0.1


def _in_notebook() -> bool:
    r"""Whether this runs in a Jupyter kernel (where tqdm draws a widget, not ``\\r`` updates)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
        return shell is not None and "IPKernelApp" in shell.config
    except Exception:  # noqa: BLE001 - an IPython without a usable shell: not a notebook
        return False


def is_interactive(stream: IO[str] | None) -> bool:
    """Whether a progress bar drawn on ``stream`` is seen as one: a terminal, or a notebook's output."""
    try:
        tty = bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        tty = False
    return tty or _in_notebook()


def line_epochs(total: int | None) -> int:
    """The number of epochs between two progress lines: 1, or 10 % of ``total`` when that gives fewer lines."""
    if not total or total <= 0:
        return 1
    return max(1, math.ceil(total * LINE_FRACTION))


class EpochProgressBar(ProgressBar):
    """One bar over all epochs (rank zero only); plain lines instead of a bar when the output is not a terminal.

    Args:
        plain: ``None`` (default): plain lines when ``stderr`` is not a terminal; ``True`` / ``False``: always /
            never.
    """

    def __init__(self, plain: bool | None = None) -> None:
        super().__init__()
        self._enabled = True
        self.plain = plain
        self._bar: tqdm | None = None
        self._lines = False
        self._start = 0.0
        self._first_epoch = 0
        self._last_line_epoch = -1
        self._total: int | None = None

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
        self._total = total
        self._lines = self.plain if self.plain is not None else not is_interactive(sys.stderr)
        if self._lines:
            self._start = time.perf_counter()
            self._first_epoch = self._last_line_epoch = int(trainer.current_epoch)
            return
        self._bar = tqdm(
            total=total,
            initial=trainer.current_epoch,
            desc="training",
            unit="epoch",
            dynamic_ncols=True,
            mininterval=0.5,
        )

    @staticmethod
    def _loss(trainer: Any, pl_module: Any) -> tuple[str, Any]:
        metrics = trainer.callback_metrics
        phase = getattr(pl_module, "phase", "train")
        return phase, metrics.get(f"{phase}/loss_epoch", metrics.get(f"{phase}/loss"))

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._lines:
            done = int(trainer.current_epoch) + 1
            if done % line_epochs(self._total) == 0 or done == self._total:
                self._write_line(done, *self._loss(trainer, pl_module))
            return
        if self._bar is None:
            return
        phase, loss = self._loss(trainer, pl_module)
        self._bar.set_description(phase)
        if loss is not None:
            self._bar.set_postfix(loss=f"{float(loss):.4f}")
        self._bar.update(1)

    def _write_line(self, done: int, phase: str, loss: Any) -> None:
        elapsed = time.perf_counter() - self._start
        ran = done - self._first_epoch
        of = f"/{self._total}" if self._total else ""
        shown = f"  loss {float(loss):.4f}" if loss is not None else ""
        rate = f", {elapsed / ran:.2f} s/epoch" if ran > 0 else ""
        report(f"[pyagc] epoch {done}{of}  {str(phase)[:20]}{shown}  ({elapsed:.1f} s{rate})", stream=sys.stderr)
        self._last_line_epoch = done

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self._lines:
            done = int(trainer.current_epoch)  # Lightning counts the last epoch as done by now
            if done > self._last_line_epoch:  # stopped before the next line was due (early stopping)
                self._write_line(done, *self._loss(trainer, pl_module))
            self._lines = False
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
