"""What cluster launches and hyperparameter sweeps need from ``pyagc-train`` (light: no torch at import).

- Resolvers for the launcher configs (``configs/hydra/launcher/submitit_*.yaml``), which take their resources from
  the trainer so that there is one source of truth: ``${pyagc.tasks_per_node:${trainer.devices}}`` (one task per
  device: Lightning's ``SLURMEnvironment`` expects every process it trains with to be a SLURM task) and
  ``${pyagc.gpus_per_node:${trainer.accelerator},${trainer.devices}}`` (0 for a CPU trainer).
- :func:`resume_requeued_job`: a SLURM job that was requeued (``SLURM_RESTART_COUNT`` > 0) and names no
  checkpoint resumes from its run folder's newest checkpoint (``ckpt_path=auto``): Lightning's
  ``hpc_ckpt_*.ckpt`` (written on the requeue signal) or ``checkpoints/last.ckpt``, whichever is newer.
- :func:`sweep_objective`: the value ``pyagc-train`` returns to a sweeper (``optimized_metric``), with the metrics'
  directions (:data:`HIGHER_IS_BETTER`, :data:`LOWER_IS_BETTER`) that the sweep's summary and the check of
  ``hydra.sweeper.direction`` use.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger("pyagc")
# optuna imports alembic, whose plugin registry logs 7 "setup plugin ..." lines at the start of every Optuna sweep
logging.getLogger("alembic").setLevel(logging.WARNING)

__all__ = [
    "DEFAULT_OBJECTIVE",
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "LABEL_METRICS",
    "metric_direction",
    "tasks_per_node",
    "gpus_per_node",
    "slurm_restart_count",
    "resume_requeued_job",
    "is_optuna_sweep",
    "sweep_objective",
]

# The default objective of a sweep: the silhouette of the run's clusters on the *input* features (a fixed space,
# the same for every trial whatever its embedding size; no labels needed). See README "Hyperparameter search".
DEFAULT_OBJECTIVE = "input_silhouette"
LABEL_METRICS = frozenset({"acc", "nmi", "ari", "f1"})
HIGHER_IS_BETTER = frozenset(
    {*LABEL_METRICS, "silhouette", "calinski_harabasz", "input_silhouette", "input_calinski_harabasz", "modularity"}
)
LOWER_IS_BETTER = frozenset({"davies_bouldin", "input_davies_bouldin", "conductance"})


def metric_direction(name: str) -> str | None:
    """``"maximize"`` / ``"minimize"`` for a metric pyagc writes, ``None`` for one it does not know."""
    if name in HIGHER_IS_BETTER:
        return "maximize"
    if name in LOWER_IS_BETTER:
        return "minimize"
    return None


# ---------------------------------------------------------------------------------------------------- launchers
def _device_count(devices: Any) -> int | None:
    """How many devices (processes) ``trainer.devices`` asks for; ``None`` for -1 / auto (all of the machine's)."""
    if devices is None or str(devices).strip().lower() in ("-1", "auto"):
        return None
    if isinstance(devices, (list, tuple)) or OmegaConf.is_list(devices):
        return len(devices)
    text = str(devices).strip()
    if "," in text:
        return len([p for p in text.split(",") if p.strip()])
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"trainer.devices={devices!r} is not a number of devices.") from None
    if n < 1:
        raise ValueError(f"trainer.devices={devices!r}: give the number of devices (>= 1).")
    return n


def tasks_per_node(devices: Any) -> int:
    """``hydra.launcher.tasks_per_node`` of ``submitit_slurm``: one SLURM task per device (``trainer.devices``)."""
    n = _device_count(devices)
    if n is None:
        raise ValueError(
            f"hydra/launcher=submitit_slurm starts one SLURM task per device, so trainer.devices must be a number, "
            f"not {devices!r}: set trainer.devices=<GPUs per node> (trainer=slurm trainer.devices=4) or "
            "hydra.launcher.tasks_per_node / gpus_per_node yourself."
        )
    return n


def gpus_per_node(accelerator: Any, devices: Any) -> int:
    """GPUs to ask the launcher for: 0 for a CPU trainer, else ``trainer.devices`` (``-1`` / ``auto``: the GPUs
    this machine has, for ``submitit_local``).
    """
    if str(accelerator or "auto").lower() == "cpu":
        return 0
    n = _device_count(devices)
    if n is None:
        try:
            import torch

            n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        except Exception:  # pragma: no cover
            n = 0
    return n


for _name, _fn in (("pyagc.tasks_per_node", tasks_per_node), ("pyagc.gpus_per_node", gpus_per_node)):
    if not OmegaConf.has_resolver(_name):
        OmegaConf.register_new_resolver(_name, _fn)
# configs/hydra/launcher/submitit_{slurm,local}.yaml replace the plugin's configs of the same names (so that
# hydra/launcher=submitit_slurm gets pyagc's settings); Hydra still checks them against the plugin's schema and says
# that this check is deprecated, on every run: not a problem of the user's command
warnings.filterwarnings(
    "ignore",
    message=r"(?s).*'hydra/launcher/submitit_(slurm|local)' is validated against "
    r"ConfigStore schema",
)


# ---------------------------------------------------------------------------------------------------- requeue
def slurm_restart_count() -> int:
    """How many times SLURM has restarted (requeued) this job: ``SLURM_RESTART_COUNT``, 0 outside SLURM."""
    try:
        return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    except ValueError:
        return 0


def resume_requeued_job(cfg: DictConfig) -> bool:
    """In a requeued SLURM job whose config names no checkpoint, set ``ckpt_path=auto``: the job runs again in the
    same run folder (a fixed ``hydra.run.dir``, or its sweep subfolder under ``submitit_slurm``) and resumes from
    its newest checkpoint. Returns whether it did.
    """
    if cfg.get("ckpt_path") is not None or slurm_restart_count() < 1:
        return False
    with open_dict(cfg):
        cfg.ckpt_path = "auto"
    log.info(
        "SLURM job %s was requeued (restart %d): ckpt_path=auto, resuming from the run folder's newest checkpoint",
        os.environ.get("SLURM_JOB_ID", "?"),
        slurm_restart_count(),
    )
    return True


# ---------------------------------------------------------------------------------------------------- objective
def is_optuna_sweep(hydra_cfg: Any) -> bool:
    """Whether the Hydra config (``HydraConfig.get()`` or ``cfg.hydra``) runs the Optuna sweeper."""
    try:
        target = OmegaConf.select(hydra_cfg, "sweeper._target_", default="") if hydra_cfg is not None else ""
    except Exception:
        return False
    return "optuna" in str(target or "").lower()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def sweep_objective(
    cfg: DictConfig, metrics: dict[str, Any], hydra_cfg: Any = None, raise_on_missing: bool = False
) -> float | None:
    """The value of ``optimized_metric`` (default :data:`DEFAULT_OBJECTIVE`) in ``metrics``.

    A value that is missing (``acc`` without labels) or not finite (a silhouette of one cluster) is ``None`` in a
    plain run; under the Optuna sweeper (``raise_on_missing`` or an Optuna ``hydra_cfg``) it raises a
    ``ValueError`` that says why, so that Optuna records the trial as failed (the sweep goes on:
    ``hydra.sweeper.max_failure_rate``) and the sweep's summary lists it with the reason.
    """
    name = str(cfg.get("optimized_metric") or DEFAULT_OBJECTIVE)
    value = metrics.get(name)
    if _is_number(value):
        return float(value)
    if not (raise_on_missing or is_optuna_sweep(hydra_cfg)):
        return None
    if name not in metrics:
        numeric = sorted(k for k, v in metrics.items() if _is_number(v) and k not in ("seed", "world_size"))
        why = f"the run's metrics have no {name!r}"
        if name in LABEL_METRICS:
            why += " (the data has no labels)"
        why += f"; metrics it has: {', '.join(numeric)}"
    else:
        why = f"{name} is {value} (for an internal score: the run ended with fewer than 2 clusters)"
    raise ValueError(f"optimized_metric={name}: {why}. The trial counts as failed.")
