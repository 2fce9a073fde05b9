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
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from omegaconf import DictConfig

from pyagc.callbacks.run_folder import (
    acquire_run_lock,
    folder_is_fresh,
    is_launching_process,
    release_run_lock,
    remove_run_folder,
)
from pyagc.cli.build import config_dir
from pyagc.cli.sweeps import resume_requeued_job, sweep_objective  # also the launchers' resolvers

if TYPE_CHECKING:
    from pyagc.callbacks.fault_tolerance import RunInterrupted
    from pyagc.cli.experiment import RunState

log = logging.getLogger("pyagc")

# torch, Lightning and the model code are imported by the run itself (pyagc.cli.experiment), after Hydra has
# answered --help and rejected bad overrides: ``pyagc-train --help`` answers in about a second.
_RUN_NAMES = ("run", "RunState", "resolve_ckpt_path", "throughput_summary")


def __getattr__(name: str) -> Any:
    if name in _RUN_NAMES:  # ``from pyagc.cli.train import run`` keeps working
        from pyagc.cli import experiment

        return getattr(experiment, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _log_to_files(message: str, level: int = logging.ERROR) -> None:
    """Write ``message`` to the job's log files only (``train.log``): the console already shows the error."""
    record = logging.LogRecord("pyagc", level, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def resume_command(run_dir: Path) -> str:
    """The command that resumes the run in ``run_dir``: this run's overrides with ``hydra.run.dir=<run_dir>`` and
    ``ckpt_path=auto``.
    """
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
    where = (
        f" at epoch {trainer.current_epoch} (step {trainer.global_step})"
        if trainer is not None and stop.during_training
        else " before training"
        if trainer is None
        else ""
    )
    ckpts = sorted((run_dir / "checkpoints").glob("*.ckpt")) if run_dir.is_dir() else []
    lines = [f"[pyagc] stopped by {stop.signal_name}{where}; exit code {stop.code}."]
    if stop.checkpoint:
        lines.append(f"[pyagc] checkpoint written: {stop.checkpoint}")
    if ckpts:
        lines.append(f"[pyagc] resume with: {resume_command(run_dir)}")
    elif stop.during_training:
        lines.append(
            "[pyagc] no checkpoint was written (no checkpoint callback: callbacks=none?); rerun from the start."
        )
    message = "\n".join(lines)
    print(message, file=sys.stderr, flush=True)
    _log_to_files(message, logging.WARNING)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """``pyagc-train``: lock the run folder, train and evaluate; on a failure before the first epoch remove the
    folder Hydra created for this run, on a later one say why in ``train.log``; on SIGTERM / SIGINT exit with
    ``128 + signal`` after writing a checkpoint.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from pyagc.callbacks.fault_tolerance import INTERRUPT, RunInterrupted
    from pyagc.cli.experiment import RunState, run

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    launching = is_launching_process()
    fresh = launching and folder_is_fresh(run_dir)
    if launching:
        acquire_run_lock(run_dir)
    INTERRUPT.install()
    state = RunState()
    resume_requeued_job(cfg)  # a requeued SLURM job resumes from its run folder's checkpoint
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
            _log_to_files(
                f"run failed after {state.epochs_finished} epoch(s) in this process: "
                f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
            )
            ckpt = run_dir / "checkpoints" / "last.ckpt"
            if ckpt.is_file():
                print(
                    f"[pyagc] run failed: its checkpoints and logs are kept in {run_dir}; after fixing the cause, "
                    f"resume with: {resume_command(run_dir)}",
                    file=sys.stderr,
                    flush=True,
                )
        if launching and fresh and early:
            multirun = hydra_cfg.mode == RunMode.MULTIRUN
            remove_run_folder(run_dir, stop_at=None if multirun else cfg.paths.get("log_dir"))
        if stop is not None and stop is not e:
            raise stop from None
        raise
    finally:
        INTERRUPT.uninstall()
        release_run_lock(run_dir)
    # the sweeper's objective (optimized_metric): under Optuna a missing / NaN value fails the trial, with the reason
    return sweep_objective(cfg, metrics, hydra_cfg) if launching else None


if __name__ == "__main__":
    main()
