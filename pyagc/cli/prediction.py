"""The body of ``pyagc-predict ckpt=PATH data=... [out=DIR]`` (entry point: :mod:`pyagc.cli.predict`): assign new data of any size to the clusters of a trained model.

    pyagc-predict ckpt=outputs/.../checkpoints/last.ckpt data=file data.path=new.csv out=predictions
    pyagc-predict ckpt=... data=file data.path=big.npy soft=true embeddings=true   # + soft_assignments.npy, embeddings.npy
    pyagc-predict ckpt=... data=imagefolder data.root=photos/                      # one image file after another

The data goes through the preprocessing saved in the checkpoint (fitted on the training data: scaling statistics,
columns, image size and channels), never refitted, and is read in batches of ``batch_size`` samples (a ``.npy``
through a memory map, a CSV in chunks, an image folder file by file), so memory stays flat as the data grows.
Outputs in ``out`` (default: Hydra's run folder): ``assignments.csv`` (``index[,<id>],cluster[,label]``),
``metrics.json`` (cluster sizes; ACC / NMI / ARI / F1 when the data has labels), and on request
``soft_assignments.npy`` / ``embeddings.npy`` / ``embedding.png`` (+ ``confusion.png`` with labels).

This module also holds what ``pyagc-eval`` shares: loading a trained model with its preprocessing
(:func:`load_trained`) and a DataModule of new data that applies it (:func:`datamodule_for`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from pyagc.cli.build import instantiate
from pyagc.data.preprocessing import Preprocessor, preprocessor_from_checkpoint

__all__ = ["TrainedModel", "load_trained", "datamodule_for", "resolve_device", "explicit_data_keys", "run"]


def resolve_device(name: str) -> torch.device:
    """``auto`` = the first GPU when CUDA is available, else the CPU; otherwise a torch device name."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"device={name!r} is not a device; use auto, cpu, cuda or cuda:N.") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but this machine has no usable CUDA GPU; use device=cpu or auto.")
    return device


@dataclass
class TrainedModel:
    """A model rebuilt from a ``pyagc-train`` checkpoint, with the preprocessing it was trained with."""

    model: Any
    preprocessor: Preprocessor
    data_config: dict[str, Any]
    path: str
    preprocessing_saved: bool = True


def _read_checkpoint(path: str | os.PathLike, key: str) -> dict[str, Any]:
    """The checkpoint dict, its tensors mapped to the CPU whatever device they were saved from."""
    try:
        from pyagc.utils.checkpoint_io import load_checkpoint
    except ImportError:  # pragma: no cover - older trees without checkpoint_io
        load_checkpoint = None
    if load_checkpoint is not None:
        return load_checkpoint(path, map_location="cpu", key=key)
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"{key}={path}: no such checkpoint file ({p.resolve()}); pass {key}=<run dir>/checkpoints/last.ckpt."
        )
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same advice
        raise ValueError(f"{key}={path} cannot be read as a checkpoint ({type(e).__name__}: {e}).") from None
    if not isinstance(ckpt, dict) or "pyagc_config" not in ckpt:
        raise ValueError(f"{key}={path} was not written by pyagc-train (no 'pyagc_config' inside).")
    return ckpt


def load_trained(path: str | os.PathLike, key: str = "ckpt") -> TrainedModel:
    """Rebuild the model saved by ``pyagc-train`` at ``path`` (on the CPU: ``map_location="cpu"``, so a checkpoint
    written on a GPU loads anywhere) and restore its preprocessing.

    A checkpoint written before pyagc saved the preprocessing has none: it is then fitted again on the training
    data the checkpoint names (with a warning), which gives the same statistics as long as that data is unchanged.
    """
    ckpt = _read_checkpoint(path, key)
    conf = ckpt["pyagc_config"]
    encoder = instantiate(OmegaConf.create(conf["encoder"]))
    head = instantiate(OmegaConf.create(conf["head"]))
    model = instantiate(OmegaConf.create(conf["model"]), encoder=encoder, head=head, _convert_="all")
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise ValueError(
            f"{key}={path}: the weights do not fit the model its config describes "
            f"({str(e).splitlines()[0]}); the file may come from another pyagc version."
        ) from None
    model.pyagc_config = conf
    model.eval()
    preprocessor = preprocessor_from_checkpoint(ckpt)
    saved = preprocessor is not None
    data_config = dict(conf.get("data") or {})
    del ckpt
    if preprocessor is None:
        preprocessor = _refit_on_training_data(data_config, path)
    return TrainedModel(model, preprocessor, data_config, str(path), saved)


def _refit_on_training_data(data_config: dict[str, Any], path: str | os.PathLike) -> Preprocessor:
    if not data_config:
        raise ValueError(
            f"ckpt={path} holds no preprocessing and no data config to rebuild it from; retrain the "
            "model with this pyagc version, which saves it in the checkpoint."
        )
    warnings.warn(
        f"ckpt={path} was written by an older pyagc that did not save the preprocessing; fitting it again "
        f"on the training data the checkpoint names ({data_config.get('name') or data_config.get('path')}). "
        "Retrain to make the checkpoint self-contained.",
        UserWarning,
        stacklevel=3,
    )
    dm = instantiate(OmegaConf.create(data_config))
    dm.setup("fit")
    return dm.preprocessor


def explicit_data_keys(overrides: list[str] | None = None) -> set[str]:
    """The ``data.*`` keys set on the command line (``data.scaling=standard`` -> ``{"scaling"}``); ``overrides``
    default to the running Hydra job's (none outside one).
    """
    if overrides is None:
        try:
            from hydra.core.hydra_config import HydraConfig

            overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
        except Exception:
            overrides = []
    keys = set()
    for o in overrides:
        name = o.split("=", 1)[0].lstrip("+~")
        if name.startswith("data."):
            keys.add(name[len("data.") :].split(".", 1)[0])
    return keys


def _same(a: Any, b: Any) -> bool:
    norm = lambda v: None if v is None or str(v).lower() in ("null", "none") else v  # noqa: E731
    return norm(a) == norm(b)


def _check_missing_data_keys(data_cfg: DictConfig) -> None:
    missing = sorted(k[len("data.") :] if k.startswith("data.") else k for k in OmegaConf.missing_keys(data_cfg))
    if not missing:
        return
    key = missing[0]
    if key == "path":
        raise ValueError("data.path is not set: give the file to assign, data.path=FILE (.csv, .npy, .txt).")
    if key == "root":
        raise ValueError("data.root is not set: give the folder of images, data.root=DIR.")
    raise ValueError(f"data.{key} is not set (it is ??? in its config): give it on the command line, data.{key}=VALUE.")


def _check_kind(cfg: DictConfig, pre: Preprocessor) -> None:
    """The kind check of :meth:`~pyagc.data.ClusteringDataModule.use_preprocessor`, before the config is touched (so
    that data of another kind gets that error, not warnings about its settings).
    """
    from hydra.utils import get_class

    try:
        cls = get_class(str(cfg._target_))
    except Exception:  # noqa: BLE001 - instantiate reports a bad _target_ with its own message
        return
    kind = getattr(cls, "data_kind", None)
    if kind is not None and kind != pre.kind:
        from pyagc.data.base import kind_mismatch_error

        name = cfg.get("name")
        what = (
            f"data file {cfg.path}"
            if cfg.get("path")
            else f"image folder {cfg.root}"
            if name == "imagefolder"
            else f"data {name!r}"
        )
        raise kind_mismatch_error(pre, kind, what)


def datamodule_for(trained: TrainedModel, data_cfg: DictConfig | dict | None, explicit: set[str] | None = None) -> Any:
    """A DataModule of ``data_cfg`` (default: the training data) that applies the model's saved preprocessing.

    Settings of ``data_cfg`` that the preprocessing fixes (``scaling``; for images ``resize``, ``pad``, ``flatten``,
    an image folder's ``image_size`` and ``grayscale``; for graphs ``normalize_features``) are the model's: a config
    default that differs is replaced, with a warning; a value set on the command line (``explicit``: the keys of
    ``data.KEY=VALUE``) that differs is an error, since the model only works on data preprocessed its way.
    """
    pre = trained.preprocessor
    given = data_cfg is not None
    cfg = (
        OmegaConf.create(trained.data_config)
        if not given
        else (data_cfg.copy() if isinstance(data_cfg, DictConfig) else OmegaConf.create(dict(data_cfg)))
    )
    if "_target_" not in cfg:
        raise ValueError("the data config has no _target_; pick one with data=NAME (e.g. data=file data.path=FILE).")
    _check_missing_data_keys(cfg)
    _check_kind(cfg, pre)
    explicit = set(explicit or ())
    source = f"fitted on {pre.source!r}" if pre.source else "fitted on the training data"
    with open_dict(cfg):
        for key, saved in pre.config_values().items():
            if key not in cfg or _same(cfg.get(key), saved):
                continue
            if key in explicit:
                raise ValueError(
                    f"data.{key}={cfg.get(key)} asks for other preprocessing than the model's: it was trained with "
                    f"data.{key}={saved} ({source}, saved in the checkpoint) and takes new data only that way. Drop "
                    f"data.{key}=... (the model's preprocessing is applied), or train a model with data.{key}="
                    f"{cfg.get(key)}."
                )
            warnings.warn(
                f"the data config sets {key}={cfg.get(key)} (its default), but the model was trained with "
                f"{key}={saved} ({source}); the model's preprocessing is applied, not refitted on this data.",
                UserWarning,
                stacklevel=2,
            )
            cfg[key] = saved
    datamodule = instantiate(cfg)
    datamodule.use_preprocessor(pre)
    return datamodule


def _print_summary(metrics: dict[str, Any], paths: dict[str, Path], what: str, head: str) -> None:
    """The run's summary, printed and logged (``predict.log``)."""
    from pyagc.utils.logs import report

    shown = "  ".join(f"{k.upper()} {metrics[k]:.4f}" for k in ("acc", "nmi", "ari", "f1") if k in metrics)
    rate = metrics.get("samples_per_s")
    report(
        f"[pyagc] {head} assigned {metrics['n_samples']} samples of {what} to {metrics['n_clusters_found']} of "
        f"{metrics['n_clusters']} clusters in {metrics['time_s']:.1f} s"
        f"{f' ({rate:,.0f} samples/s)' if rate else ''}{': ' + shown if shown else ''}"
    )
    for name, path in paths.items():
        report(f"  {name:<17}{path}")


def run(cfg: DictConfig, overrides: list[str] | None = None) -> dict[str, Any]:
    """Predict with ``cfg.ckpt`` on ``cfg.data`` (default: the training data); returns the metrics written to
    ``metrics.json``. ``overrides``: the command line's (default: the running Hydra job's), to tell the data
    settings a user asked for from config defaults.
    """
    if not cfg.get("ckpt"):
        raise ValueError(
            "pass ckpt=<path to a checkpoint written by pyagc-train>, e.g. ckpt=outputs/.../checkpoints/last.ckpt"
        )
    batch_size = int(cfg.get("batch_size") or 4096)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if cfg.get("plot", False):
        from pyagc.utils.plotting import check_projection

        check_projection(cfg.get("plot_projection") or "pca")  # before any sample is read
    pl.seed_everything(int(cfg.seed), verbose=False)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    device = resolve_device(cfg.get("device", "auto"))
    trained = load_trained(cfg.ckpt)
    datamodule = datamodule_for(trained, cfg.get("data"), explicit_data_keys(overrides))
    out = Path(cfg.out).expanduser() if cfg.get("out") else Path(cfg.paths.output_dir)
    n_rows = datamodule.predict_size()
    model = trained.model
    result = _predict(model, datamodule, out, cfg, device, batch_size, n_rows)
    _print_summary(result["metrics"], result["paths"], datamodule.what, type(model.cluster_head).__name__)
    return result["metrics"]


def _predict(
    model: Any, datamodule: Any, out: Path, cfg: DictConfig, device: torch.device, batch_size: int, n_rows: int | None
) -> dict[str, Any]:
    from pyagc.evaluation import predict

    extra = {
        "checkpoint": str(cfg.ckpt),
        "data": datamodule.what,
        "head": type(model.cluster_head).__name__,
        "preprocessing": datamodule.preprocessor.describe(),
        "batch_size": batch_size,
        "device": str(device),
    }
    return predict(
        model,
        datamodule.predict_batches(batch_size),
        out,
        n_rows=n_rows,
        id_name=datamodule.id_name,
        soft=bool(cfg.get("soft", False)),
        embeddings=bool(cfg.get("embeddings", False)),
        device=device,
        sample_size=int(cfg.get("metrics_sample", 5000)),
        seed=int(cfg.seed),
        plot=bool(cfg.get("plot", False)),
        title=f"{extra['head']} on {datamodule.name}",
        extra=extra,
        projection=str(cfg.get("plot_projection") or "pca"),
    )
