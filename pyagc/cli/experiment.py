"""The body of a ``pyagc-train`` run: build the data, model and trainer from a composed config, train, evaluate
and write the outputs.

Kept apart from :mod:`pyagc.cli.train` (the Hydra entry point) so that ``pyagc-train --help`` and config errors are
answered before torch and Lightning are imported; this module imports them.
"""

from __future__ import annotations

import logging
import signal
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, open_dict
from pytorch_lightning.callbacks import Callback, Checkpoint, ProgressBar
from pytorch_lightning.utilities.exceptions import SIGTERMException

from pyagc.callbacks.fault_tolerance import INTERRUPT, RunInterrupted, SignalSync, save_checkpoint_atomic
from pyagc.callbacks.throughput import ThroughputMonitor
from pyagc.cli.build import build_components, instantiate, validate_config
from pyagc.evaluation import evaluate, is_rank_zero, save_outputs
from pyagc.metrics.internal import input_space_metrics
from pyagc.models.validation import validate_pairing
from pyagc.utils.checkpoint_io import check_checkpoint_matches_model, find_resume_checkpoint, load_checkpoint
from pyagc.utils.experiment_loggers import log_run_results
from pyagc.utils.logs import report
from pyagc.utils.memory import peak_memory_mb
from pyagc.utils.plotting import check_projection

__all__ = ["RunState", "resolve_ckpt_path", "run", "throughput_summary"]

log = logging.getLogger("pyagc")

# Lightning's notes that do not apply to clustering runs (few batches per epoch, no val loop).
for _pattern in (
    ".*smaller than the logging interval.*",
    ".*does not have many workers.*",
    ".*LeafSpec.*is deprecated.*",
    ".*dirpath has changed.*",
):
    warnings.filterwarnings("ignore", _pattern)
logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(
    lambda record: "litlogger" not in record.getMessage()
)


def throughput_summary(callbacks: list) -> dict[str, Any]:
    """Training throughput per epoch from a :class:`~pyagc.callbacks.ThroughputMonitor` (``callbacks=throughput``)."""
    for cb in callbacks:
        if isinstance(cb, ThroughputMonitor) and cb.history:
            rates = [round(h["samples_per_sec"], 1) for h in cb.history]
            return {"samples_per_sec_by_epoch": rates, "samples_per_sec_median": float(np.median(rates))}
    return {}


def _instantiate_list(cfg: DictConfig | None) -> list[Any]:
    if not cfg:
        return []
    return [instantiate(c) for c in cfg.values() if c is not None and "_target_" in c]


@dataclass
class RunState:
    """What the entry point needs to know about a run that stopped: its trainer (once built), how many epochs it
    finished in this process, the checkpoint it resumed from.
    """

    trainer: pl.Trainer | None = None
    epochs_finished: int = 0
    resumed_from: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class _EpochCounter(Callback):
    """Counts the epochs finished in this process (the entry point keeps the folder of a run that finished one)."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.state.epochs_finished += 1


def resolve_ckpt_path(value: Any, output_dir: Path, model: torch.nn.Module) -> str | None:
    """The checkpoint to resume from for ``ckpt_path=value``, checked to be a pyagc training checkpoint of this
    model: ``None`` / ``null`` -> none; ``auto`` -> the newest checkpoint in the run folder, or none (a fresh
    start) when it has none; a path -> that file. Raises ``FileNotFoundError`` / ``ValueError`` with the reason.
    """
    if value is None or str(value).strip().lower() in ("", "null", "none"):
        return None
    if str(value).strip().lower() == "auto":
        found = find_resume_checkpoint(output_dir)
        if found is None:
            log.info("ckpt_path=auto: no checkpoint in %s yet; training from the start", output_dir)
            return None
        log.info("ckpt_path=auto: resuming from %s", found)
        path: str | Path = found
    else:
        path = str(value)
    ckpt = load_checkpoint(path, require_training_state=True, key="ckpt_path")
    check_checkpoint_matches_model(ckpt, model, path, key="ckpt_path")
    del ckpt
    return str(Path(path).expanduser())


def run(cfg: DictConfig, state: RunState | None = None) -> dict[str, Any]:
    """Train and evaluate one experiment; returns the metrics (written to ``metrics.json``).

    Everything that can be checked is checked before training starts (the config's values, the data, the
    encoder / head / data pairing, the accelerator, the checkpoint to resume from). ``state`` (optional) is filled
    in as the run goes, for the entry point's clean-up. A stop signal during training (with
    :data:`~pyagc.callbacks.fault_tolerance.INTERRUPT` installed, as ``pyagc-train`` does) ends in
    :class:`~pyagc.callbacks.fault_tolerance.RunInterrupted` after the checkpoint is written.
    """
    state = state if state is not None else RunState()
    start = time.perf_counter()
    validate_config(cfg)
    plot = bool(cfg.get("plot", True))
    projection = check_projection(cfg.get("plot_projection") or "pca") if plot else "pca"  # before training
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    output_dir = Path(cfg.paths.output_dir)

    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    model, _, _ = build_components(cfg, datamodule)
    validate_pairing(model, datamodule)  # fails before anything is written
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), output_dir, model)
    state.resumed_from = ckpt_path

    trainer_cfg = cfg.trainer.copy()
    with open_dict(trainer_cfg):
        if trainer_cfg.get("max_epochs") is None:
            trainer_cfg.max_epochs = model.pretrain_epochs + model.epochs
    callbacks = _instantiate_list(cfg.get("callbacks"))
    if trainer_cfg.get("enable_progress_bar") is False:
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    if not any(isinstance(c, Checkpoint) for c in callbacks):
        with open_dict(trainer_cfg):
            trainer_cfg.enable_checkpointing = False  # no silent default checkpoints in the cwd
    callbacks += [_EpochCounter(state), SignalSync()]
    loggers = _instantiate_list(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(trainer_cfg, callbacks=callbacks, logger=loggers or False)
    state.trainer = trainer

    INTERRUPT.attach(trainer)
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    except SIGTERMException:
        ckpt_cb = trainer.checkpoint_callback
        raise RunInterrupted(
            INTERRUPT.signum or signal.SIGTERM,
            checkpoint=getattr(ckpt_cb, "interrupted_path", None) or None,
            during_training=True,
        ) from None
    finally:
        INTERRUPT.attach(None)
    fit_time = time.perf_counter() - start
    ckpt_cb = getattr(trainer, "checkpoint_callback", None)
    last_ckpt = getattr(ckpt_cb, "last_model_path", "") if ckpt_cb is not None else ""
    if last_ckpt and model.head_changed_after_training:
        # last.ckpt (the point to resume from) was written at the last epoch's end, before the module's
        # on_train_end changed the head (initialisation, final re-clustering, a head's finalize): the state this
        # run evaluates goes to final.ckpt, which metrics.json names as the checkpoint to evaluate
        last_ckpt = str(save_checkpoint_atomic(trainer, Path(last_ckpt).with_name("final.ckpt")))

    # Lightning's teardown moves the model back to the CPU after fit: evaluate where it trained
    model.to(trainer.strategy.root_device)
    result = evaluate(model, datamodule)
    if is_rank_zero():  # the clusters scored on the input features too: a sweep's default objective
        result["metrics"].update(input_space_metrics(getattr(datamodule, "x", None), result["labels"]))
    extra = {
        "experiment": cfg.get("task_name"),
        "seed": int(cfg.seed),
        "data": datamodule.name,
        "head": type(model.cluster_head).__name__,
        "encoder": type(model.encoder).__name__,
        "epochs_run": int(trainer.current_epoch),
        "joint_steps": int(model.joint_steps),
        "world_size": int(trainer.world_size),
        "ddp_init_max_abs_diff": model.ddp_init_max_abs_diff,
        "time_s": {
            **{k: round(v, 3) for k, v in model.phase_times.items()},
            "fit": round(fit_time, 3),
            "total": round(time.perf_counter() - start, 3),
        },
        **peak_memory_mb(),
        **throughput_summary(callbacks),
        "checkpoint": str(last_ckpt) if last_ckpt else None,
    }
    paths = save_outputs(
        result, output_dir, extra=extra, plot=plot, projection=projection, title=f"{extra['head']} on {datamodule.name}"
    )
    metrics = {**result["metrics"], **extra}
    # hyperparameters, final metrics and plots to every logger (the losses reached them during training)
    log_run_results(trainer.loggers, cfg, metrics, paths, step=int(trainer.global_step))
    if is_rank_zero():  # printed as it is and logged (train.log); report() leaves other ranks out too
        shown = "  ".join(f"{k.upper()} {metrics[k]:.4f}" for k in ("acc", "nmi", "ari", "f1") if k in metrics)
        lines = [
            f"[pyagc] {extra['head']} on {datamodule.name}: {shown or 'no labels to score'}"
            f"  ({metrics['time_s']['total']:.1f} s)",
            f"[pyagc] outputs in {output_dir}:",
        ]
        lines += [f"  {name:<12}{path}" for name, path in {**paths, "checkpoint": last_ckpt}.items() if path]
        print(flush=True)  # a blank line after the progress bar
        for line in lines:
            report(line)
    return metrics
