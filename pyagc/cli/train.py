"""``pyagc-train``: run an experiment from the command line.

    pyagc-train                                   # default: MLP autoencoder + DEC on digits
    pyagc-train experiment=idec_mnist seed=1
    pyagc-train --multirun experiment=dec_usps seed=0,1,2
    pyagc-train head._target_=my_package.MyHead   # any BaseClusterHead subclass
    pyagc-train hydra.run.dir=outputs/my_run ckpt_path=auto   # resume the run in that folder, if it has a checkpoint

Faults: the config, data and model are checked before anything is trained; a run that fails before its first
epoch removes the folder Hydra made for it; a later failure keeps the checkpoints and says why in ``train.log``.
SIGTERM / SIGINT stop after the current step with a checkpoint and exit with ``128 + signal``; a second run into
a folder in use stops at once (``.pyagc.lock``).
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, open_dict
from pytorch_lightning.callbacks import Callback, Checkpoint, ProgressBar
from pytorch_lightning.utilities.exceptions import SIGTERMException

from pyagc.callbacks import ThroughputMonitor
from pyagc.callbacks.fault_tolerance import INTERRUPT, RunInterrupted, SignalSync, save_checkpoint_atomic
from pyagc.callbacks.run_folder import (acquire_run_lock, folder_is_fresh, is_launching_process, release_run_lock,
                                        remove_run_folder)
from pyagc.cli.build import build_components, config_dir, instantiate, validate_config
from pyagc.evaluation import evaluate, is_rank_zero, save_outputs
from pyagc.models.clustering_module import peak_memory_mb, validate_pairing
from pyagc.utils.checkpoint_io import check_checkpoint_matches_model, find_resume_checkpoint, load_checkpoint

log = logging.getLogger("pyagc")

# Lightning's notes that do not apply to clustering runs (few batches per epoch, no val loop).
for _pattern in (".*smaller than the logging interval.*", ".*does not have many workers.*",
                 ".*LeafSpec.*is deprecated.*", ".*dirpath has changed.*"):
    warnings.filterwarnings("ignore", _pattern)
logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(
    lambda record: "litlogger" not in record.getMessage())


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
    finished in this process, the checkpoint it resumed from."""

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
    start) when it has none; a path -> that file. Raises ``FileNotFoundError`` / ``ValueError`` with the reason."""
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
        raise RunInterrupted(INTERRUPT.signum or signal.SIGTERM,
                             checkpoint=getattr(ckpt_cb, "interrupted_path", None) or None,
                             during_training=True) from None
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
        "time_s": {**{k: round(v, 3) for k, v in model.phase_times.items()}, "fit": round(fit_time, 3),
                   "total": round(time.perf_counter() - start, 3)},
        **peak_memory_mb(),
        **throughput_summary(callbacks),
        "checkpoint": str(last_ckpt) if last_ckpt else None,
    }
    paths = save_outputs(result, output_dir, extra=extra, plot=bool(cfg.get("plot", True)),
                         title=f"{extra['head']} on {datamodule.name}")
    metrics = {**result["metrics"], **extra}
    if is_rank_zero():
        shown = "  ".join(f"{k.upper()} {metrics[k]:.4f}" for k in ("acc", "nmi", "ari", "f1") if k in metrics)
        print(f"\n[pyagc] {extra['head']} on {datamodule.name}: {shown or 'no labels to score'}"
              f"  ({metrics['time_s']['total']:.1f} s)")
        print(f"[pyagc] outputs in {output_dir}:")
        for name, path in {**paths, "checkpoint": last_ckpt}.items():
            if path:
                print(f"  {name:<12}{path}")
    return metrics


def _log_to_files(message: str, level: int = logging.ERROR) -> None:
    """Write ``message`` to the job's log files only (``train.log``): the console already shows the error."""
    record = logging.LogRecord("pyagc", level, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def resume_command(run_dir: Path) -> str:
    """The command that resumes the run in ``run_dir``: this run's overrides with ``hydra.run.dir=<run_dir>`` and
    ``ckpt_path=auto``."""
    from hydra.core.hydra_config import HydraConfig

    overrides: list[str] = []
    try:
        overrides = [str(o) for o in HydraConfig.get().overrides.task]
    except Exception:
        pass
    drop = ("ckpt_path", "hydra.run.dir", "hydra.sweep.dir", "hydra.sweep.subdir", "hydra.job.num")
    kept = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in drop]
    rel = os.path.relpath(run_dir)
    where = rel if not rel.startswith("..") else str(run_dir.resolve())
    prog = "pyagc-train" if Path(sys.argv[0]).name == "pyagc-train" else "python -m pyagc.cli.train"
    return " ".join([prog, *(shlex.quote(o) for o in kept), shlex.quote(f"hydra.run.dir={where}"), "ckpt_path=auto"])


def _report_interrupt(stop: RunInterrupted, run_dir: Path, state: RunState) -> None:
    trainer = state.trainer
    where = (f" at epoch {trainer.current_epoch} (step {trainer.global_step})"
             if trainer is not None and stop.during_training else " before training" if trainer is None else "")
    ckpts = sorted((run_dir / "checkpoints").glob("*.ckpt")) if run_dir.is_dir() else []
    lines = [f"[pyagc] stopped by {stop.signal_name}{where}; exit code {stop.code}."]
    if stop.checkpoint:
        lines.append(f"[pyagc] checkpoint written: {stop.checkpoint}")
    if ckpts:
        lines.append(f"[pyagc] resume with: {resume_command(run_dir)}")
    elif stop.during_training:
        lines.append("[pyagc] no checkpoint was written (no checkpoint callback: callbacks=none?); rerun from the start.")
    message = "\n".join(lines)
    print(message, file=sys.stderr, flush=True)
    _log_to_files(message, logging.WARNING)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """``pyagc-train``: lock the run folder, train and evaluate; on a failure before the first epoch remove the
    folder Hydra created for this run, on a later one say why in ``train.log``; on SIGTERM / SIGINT exit with
    ``128 + signal`` after writing a checkpoint."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    launching = is_launching_process()
    fresh = launching and folder_is_fresh(run_dir)
    if launching:
        acquire_run_lock(run_dir)
    INTERRUPT.install()
    state = RunState()
    try:
        metrics = run(cfg, state)
    except BaseException as e:
        stop = e if isinstance(e, RunInterrupted) else None
        if stop is None and isinstance(e, (SystemExit, KeyboardInterrupt)) and INTERRUPT.signum is not None:
            stop = RunInterrupted(INTERRUPT.signum, during_training=state.trainer is not None)
        early = state.epochs_finished == 0 and not any(run_dir.glob("checkpoints/*.ckpt"))
        if launching and stop is not None:
            _report_interrupt(stop, run_dir, state)
        elif launching and isinstance(e, Exception) and not (fresh and early):
            _log_to_files(f"run failed after {state.epochs_finished} epoch(s) in this process: "
                          f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
            ckpt = run_dir / "checkpoints" / "last.ckpt"
            if ckpt.is_file():
                print(f"[pyagc] run failed: its checkpoints and logs are kept in {run_dir}; after fixing the cause, "
                      f"resume with: {resume_command(run_dir)}", file=sys.stderr, flush=True)
        if launching and fresh and early:
            multirun = hydra_cfg.mode == RunMode.MULTIRUN
            remove_run_folder(run_dir, stop_at=None if multirun else cfg.paths.get("log_dir"))
        if stop is not None and stop is not e:
            raise stop from None
        raise
    finally:
        INTERRUPT.uninstall()
        release_run_lock(run_dir)
    return metrics.get(cfg.get("optimized_metric") or "acc")


if __name__ == "__main__":
    main()
