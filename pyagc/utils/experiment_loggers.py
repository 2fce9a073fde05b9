"""Experiment loggers (``logger=csv|tensorboard|mlflow|wandb|none``, several at once with
``logger=[csv,tensorboard]``): the packages they need, checked before training, and the run's results, recorded
after evaluation.

During training the module's ``self.log`` calls (``{phase}/loss_epoch``, ``{phase}/{term}``, ``{phase}/loss_step``)
reach every Lightning logger of the trainer. After evaluation :func:`log_run_results` adds to each of them the
resolved config (flattened: ``model.optimizer.lr``), the final metrics (``final/acc``, ``final/nmi``,
``final/time_s/fit``, ...) at the last training step, and the plots that ``save_outputs`` wrote (every ``*.png``,
named by its file: ``plots/embedding``).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["LOGGER_EXTRAS", "check_experiment_loggers", "flatten", "final_scalars", "log_run_results"]

log = logging.getLogger("pyagc")

# Lightning logger class -> (modules any one of which it needs, the pyagc extra, the pip package)
LOGGER_EXTRAS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "TensorBoardLogger": (("tensorboard", "tensorboardX"), "tensorboard", "tensorboard"),
    "MLFlowLogger": (("mlflow",), "mlflow", "mlflow-skinny"),
    "WandbLogger": (("wandb",), "wandb", "wandb"),
}

FINAL_PREFIX = "final"


def _entries(logger_cfg: Any) -> list[tuple[str, Any]]:
    """``(key, entry)`` for each logger in the config's ``logger`` node that has a ``_target_``."""
    if not isinstance(logger_cfg, Mapping):
        return []
    return [(str(k), v) for k, v in logger_cfg.items() if isinstance(v, Mapping) and "_target_" in v]


def _is_local_store(uri: str | None) -> bool:
    """Whether an MLflow tracking URI is a folder (``file:...``, a plain path, or unset: Lightning's ``save_dir``)."""
    if not uri:
        return True
    uri = str(uri)
    return uri.startswith("file:") or "://" not in uri and not uri.startswith(("databricks", "sqlite:", "uc:"))


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported (looked up, not imported)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent that is not a package; a loaded module without a spec
        return module in sys.modules and sys.modules[module] is not None


def check_experiment_loggers(logger_cfg: Any) -> None:
    """Check, before anything is built, that each logger of ``logger_cfg`` (the config's ``logger`` node) can be
    created: a ``ModuleNotFoundError`` names the pyagc extra that installs a missing package
    (``logger=tensorboard needs the tensorboard package: pip install -e '.[tensorboard]' ...``).

    For an MLflow logger with a local store (the default, ``<run folder>/mlruns``) it also sets
    ``MLFLOW_ALLOW_FILE_STORE=true`` unless the environment already sets it: MLflow 3 refuses file stores
    without it (older MLflow ignores it).
    """
    for key, entry in _entries(logger_cfg):
        cls = str(entry.get("_target_")).rsplit(".", 1)[-1]
        if cls not in LOGGER_EXTRAS:
            continue
        modules, extra, package = LOGGER_EXTRAS[cls]
        if not any(_installed(m) for m in modules):
            raise ModuleNotFoundError(
                f"logger={key} needs the {package} package: pip install -e '.[{extra}]' (from a pyagc checkout; "
                f"else pip install 'pyagc[{extra}]' or pip install {package}), or choose another logger "
                f"(logger=csv, logger=none)."
            )
        if cls == "MLFlowLogger":
            try:
                uri = entry.get("tracking_uri")
            except Exception:  # an interpolation that only resolves later: leave the store to MLflow
                continue
            if _is_local_store(uri):
                os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def flatten(tree: Mapping[str, Any], sep: str = ".", prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (``sep`` between the levels); lists and other values are kept."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, sep, name))
        else:
            flat[name] = value
    return flat


def _hyperparams(cfg: Any) -> dict[str, Any]:
    """The config, resolved (as written if an interpolation does not resolve here), without ``hydra`` and the
    loggers' own settings, flattened with ``.`` (``model.optimizer.lr``); values that are not numbers, strings or
    booleans become strings.
    """
    from omegaconf import DictConfig, OmegaConf

    tree: dict[Any, Any]
    if isinstance(cfg, DictConfig):
        try:
            tree = dict(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
        except Exception:
            tree = dict(OmegaConf.to_container(cfg, resolve=False))  # type: ignore[arg-type]
    else:
        tree = dict(cfg)
    tree.pop("hydra", None)
    tree.pop("logger", None)
    # MLflow takes letters, digits and _ - . / : and spaces in a parameter's name
    return {
        re.sub(r"[^\w\-./: ]", "_", k): v if isinstance(v, (bool, int, float, str)) else str(v)
        for k, v in flatten(tree).items()
    }


def final_scalars(metrics: Mapping[str, Any], prefix: str = FINAL_PREFIX) -> dict[str, float]:
    """The numbers of a run's ``metrics.json`` as ``{prefix}/{name}`` scalars (``final/acc``,
    ``final/time_s/fit``); strings, lists and ``None`` are left out, booleans become 0 / 1.
    """
    out: dict[str, float] = {}
    for name, value in flatten(metrics, sep="/").items():
        if isinstance(value, (bool, int, float)):
            out[f"{prefix}/{name}"] = float(value)
        elif hasattr(value, "item") and getattr(value, "size", 1) == 1:  # numpy / torch scalars
            try:
                out[f"{prefix}/{name}"] = float(value.item())
            except (TypeError, ValueError):
                pass
    return out


def _plots(files: Mapping[str, Any]) -> dict[str, Path]:
    """``plots/{file stem}`` -> path for every ``*.png`` among ``files`` that exists."""
    plots: dict[str, Path] = {}
    for value in files.values():
        if value and str(value).lower().endswith(".png") and Path(value).is_file():
            plots[f"plots/{Path(value).stem}"] = Path(value)
    return plots


def _read_png(path: Path) -> Any:
    """An image file as an ``(H, W, 3)`` uint8 array."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _log_tensorboard(
    logger: Any, params: dict[str, Any], scalars: dict[str, float], plots: dict[str, Path], step: int
) -> None:
    """Scalars and the HPARAMS tab (the hyperparameters with the final metrics), the plots as images; the event
    file is closed again and ``hparams.yaml`` rewritten with the hyperparameters.
    """
    logger.log_hyperparams(params, metrics=scalars, step=step)
    writer = logger.experiment
    for tag, path in plots.items():
        writer.add_image(tag, _read_png(path), global_step=step, dataformats="HWC")
    # Lightning wrote an empty hparams.yaml when training ended and only writes one that is missing
    Path(logger.log_dir, logger.NAME_HPARAMS_FILE).unlink(missing_ok=True)
    logger.finalize("success")  # flush and close the event file, write hparams.yaml


def _log_mlflow(
    logger: Any, params: dict[str, Any], scalars: dict[str, float], plots: dict[str, Path], step: int
) -> None:
    """Parameters, metrics, and the plots as artifacts under ``plots/`` (the run may already be marked finished:
    MLflow still takes them).
    """
    logger.log_hyperparams(params)
    logger.log_metrics(scalars, step=step)
    for path in plots.values():
        logger.experiment.log_artifact(logger.run_id, str(path), artifact_path="plots")


def _log_wandb(
    logger: Any, params: dict[str, Any], scalars: dict[str, float], plots: dict[str, Path], step: int
) -> None:
    """The config, the metrics and ``wandb.Image`` plots in one step (the metrics also in the summary); then the
    W&B run is finished: without that, the next run in this process (a ``--multirun``'s jobs, tests) would
    reuse it.
    """
    import wandb

    logger.log_hyperparams(params)
    run = logger.experiment
    images = {tag: wandb.Image(str(path), caption=path.name) for tag, path in plots.items()}
    run.log({**scalars, **images, "trainer/global_step": step})
    run.summary.update(scalars)
    run.finish()


def _log_generic(logger: Any, params: dict[str, Any], scalars: dict[str, float], step: int) -> None:
    """CSV and any other Lightning logger: hyperparameters and metrics, then ``save()``."""
    logger.log_hyperparams(params)
    logger.log_metrics(scalars, step=step)
    logger.save()


def log_run_results(
    loggers: Sequence[Any], cfg: Any, metrics: Mapping[str, Any], files: Mapping[str, Any], step: int = 0
) -> None:
    """Record a finished run in each of the trainer's ``loggers`` (rank zero only): the resolved ``cfg``
    (flattened) as hyperparameters, the numbers of ``metrics`` as ``final/...`` scalars at ``step``, and the
    ``*.png`` files among ``files`` (what :func:`pyagc.evaluation.save_outputs` returned) as images.

    TensorBoard: scalars, HPARAMS (hyperparameters with the final metrics) and images; MLflow: parameters,
    metrics and the plots as artifacts under ``plots/``; W&B: config, metrics (also in the summary) and
    ``wandb.Image`` plots, then the W&B run is finished; CSV and other loggers: hyperparameters and metrics.
    A logger that fails is reported as a warning: the run's own outputs are already written.
    """
    from pyagc.evaluation import is_rank_zero

    if not loggers or not is_rank_zero():
        return
    from pytorch_lightning.loggers import MLFlowLogger, TensorBoardLogger, WandbLogger

    params = _hyperparams(cfg)
    scalars = {
        k: v for k, v in final_scalars({k: v for k, v in metrics.items() if k != "seed"}).items() if math.isfinite(v)
    }  # the seed is a hyperparameter
    plots = _plots(files)
    for logger in loggers:
        try:
            if isinstance(logger, TensorBoardLogger):
                _log_tensorboard(logger, params, scalars, plots, step)
            elif isinstance(logger, MLFlowLogger):
                _log_mlflow(logger, params, scalars, plots, step)
            elif isinstance(logger, WandbLogger):
                _log_wandb(logger, params, scalars, plots, step)
            else:
                _log_generic(logger, params, scalars, step)
        except Exception as e:  # noqa: BLE001 -- one logger's failure does not undo the run
            log.warning(
                "logger %s could not record the run's results: %s: %s", type(logger).__name__, type(e).__name__, e
            )
