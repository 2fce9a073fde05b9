"""``pyagc-train``: run an experiment from the command line.

    pyagc-train                                   # default: MLP autoencoder + DEC on digits
    pyagc-train experiment=idec_mnist seed=1
    pyagc-train --multirun experiment=dec_usps seed=0,1,2
    pyagc-train head._target_=my_package.MyHead   # any BaseClusterHead subclass
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, open_dict
from pytorch_lightning.callbacks import ModelCheckpoint, ProgressBar

from pyagc.callbacks import ThroughputMonitor
from pyagc.cli.build import build_components, config_dir, instantiate
from pyagc.evaluation import evaluate, is_rank_zero, save_outputs
from pyagc.models.clustering_module import peak_memory_mb, validate_pairing

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


def run(cfg: DictConfig) -> dict[str, Any]:
    """Train and evaluate one experiment; returns the metrics (written to ``metrics.json``)."""
    start = time.perf_counter()
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    output_dir = Path(cfg.paths.output_dir)

    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    model, _, _ = build_components(cfg, datamodule)
    validate_pairing(model, datamodule)  # fails before anything is written

    trainer_cfg = cfg.trainer.copy()
    with open_dict(trainer_cfg):
        if trainer_cfg.get("max_epochs") is None:
            trainer_cfg.max_epochs = model.pretrain_epochs + model.epochs
    callbacks = _instantiate_list(cfg.get("callbacks"))
    if trainer_cfg.get("enable_progress_bar") is False:
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    if not any(isinstance(c, ModelCheckpoint) for c in callbacks):
        with open_dict(trainer_cfg):
            trainer_cfg.enable_checkpointing = False  # no silent default checkpoints in the cwd
    loggers = _instantiate_list(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(trainer_cfg, callbacks=callbacks, logger=loggers or False)

    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    fit_time = time.perf_counter() - start
    ckpt_cb = getattr(trainer, "checkpoint_callback", None)
    last_ckpt = getattr(ckpt_cb, "last_model_path", "") if ckpt_cb is not None else ""
    if last_ckpt and model.head_changed_after_training:
        # last.ckpt (the point to resume from) was written at the last epoch's end, before the module's
        # on_train_end changed the head (initialisation, final re-clustering, a head's finalize): the state this
        # run evaluates goes to final.ckpt, which metrics.json names as the checkpoint to evaluate
        last_ckpt = str(Path(last_ckpt).with_name("final.ckpt"))
        trainer.save_checkpoint(last_ckpt)

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


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = run(cfg)
    return metrics.get(cfg.get("optimized_metric") or "acc")


if __name__ == "__main__":
    main()
