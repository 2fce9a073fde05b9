"""Build data, encoder, head and model from a composed Hydra config."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import numpy as np
from hydra.errors import InstantiationException
from hydra.utils import instantiate as hydra_instantiate
from omegaconf import DictConfig, OmegaConf, open_dict


def instantiate(cfg: Any, *args: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` that re-raises the component's own error (not Hydra's wrapper),
    so a bad value gives the component's message and exception type.
    """
    try:
        return hydra_instantiate(cfg, *args, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, Exception) and not isinstance(cause, InstantiationException):
            raise cause from None
        raise


def config_dir() -> str:
    """Absolute path of the shipped configs (works for editable and regular installs)."""
    return str(Path(str(importlib.resources.files("pyagc.configs"))).resolve())


def _group_choice(group: str) -> str | None:
    """The config name chosen for ``group`` in the running Hydra job (``encoder=resnet18`` -> ``resnet18``)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            return HydraConfig.get().runtime.choices.get(group)
    except Exception:
        pass
    return None


def encoder_kind(encoder_cfg: Any) -> str:
    """What an encoder config takes: ``"graph"`` (needs ``edge_index``), ``"image"`` (``(C, H, W)`` inputs) or
    ``"vector"`` (flat features: tables, flattened images, node features).
    """
    from hydra.utils import get_class

    try:
        cls = get_class(str(encoder_cfg.get("_target_")))
    except Exception:
        cls = None
    if cls is not None and getattr(cls, "requires_graph", False) is True:
        return "graph"
    if "in_channels" in encoder_cfg or "image_size" in encoder_cfg:
        return "image"
    return "vector"


def data_kind(datamodule: Any) -> str:
    """``"graph"``, ``"image"`` (``(C, H, W)`` samples) or ``"table"`` (flat samples)."""
    if getattr(datamodule, "is_graph", False):
        return "graph"
    return "image" if len(tuple(datamodule.input_shape)) == 3 else "table"


_FITS = {"table": ("vector",), "image": ("image", "vector"), "graph": ("graph", "vector")}


def encoders_for(kind: str) -> list[str]:
    """Names of the shipped encoder configs (``configs/encoder``) that take data of ``kind``."""
    names = []
    for path in sorted((Path(config_dir()) / "encoder").glob("*.yaml")):
        try:
            if encoder_kind(OmegaConf.load(path)) in _FITS[kind]:
                names.append(path.stem)
        except Exception:
            continue
    return names


def _encoder_config_name(encoder_cfg: Any) -> str:
    """The shipped encoder config an encoder config came from (same ``_target_`` and variant keys), else its class."""
    target = str(encoder_cfg.get("_target_", "?"))
    for path in sorted((Path(config_dir()) / "encoder").glob("*.yaml")):
        try:
            shipped = OmegaConf.load(path)
        except Exception:
            continue
        if str(shipped.get("_target_")) == target and all(
            shipped.get(k) == encoder_cfg.get(k) for k in ("arch", "conv", "variational") if k in shipped
        ):
            return path.stem
    return target.rsplit(".", 1)[-1]


def check_encoder_fits_data(encoder_cfg: DictConfig, datamodule: Any) -> None:
    """A ``ValueError`` naming the encoders that fit when the encoder cannot take the data (a graph encoder on a
    table, an image encoder on a table or a graph), before the encoder is built.
    """
    kind, data = encoder_kind(encoder_cfg), data_kind(datamodule)
    if kind in _FITS[data]:
        return
    name = _group_choice("encoder") or _encoder_config_name(encoder_cfg)
    shape = tuple(datamodule.input_shape)
    what = {
        "table": f"a table ({shape[0] if shape else '?'} features per sample)",
        "image": f"images of shape {shape}",
        "graph": "a graph",
    }[data]
    need = {"graph": "needs a graph (edge_index)", "image": "takes images (C, H, W)"}[kind]
    fit = ", ".join(encoders_for(data))
    extra = {
        "graph": " Or use graph data (data=cora, citeseer, karateclub).",
        "image": " Or use image data that is not flattened (data=mnist, usps, fashion_mnist, imagefolder).",
    }[kind]
    raise ValueError(
        f"encoder={name} {need}, but the data {getattr(datamodule, 'name', '')!r} is {what}. "
        f"Encoders that fit it: {fit} (encoder=NAME).{extra}"
    )


def _check_missing(cfg: DictConfig) -> None:
    missing = sorted(k for k in OmegaConf.missing_keys(cfg) if not str(k).startswith("hydra"))
    if not missing:
        return
    key = missing[0]
    if key == "data.path":
        raise ValueError(
            "data.path is not set: data=file reads your own features. Give the file with "
            "data.path=/path/to/features.npy (.npy, .csv, .txt or .data.gz) and, to score the clusters, "
            "data.labels_path=/path/to/labels.npy."
        )
    others = f" (also unset: {', '.join(missing[1:])})" if len(missing) > 1 else ""
    raise ValueError(f"{key} is not set (it is ??? in its config){others}: give it on the command line, {key}=VALUE.")


def _check_optimizers(cfg: DictConfig) -> None:
    import math

    import torch

    from pyagc.models.optimizers import build_optimizer

    for key in ("model.optimizer", "model.pretrain_optimizer"):
        node = OmegaConf.select(cfg, key, default=None)
        if node is None:
            continue
        spec = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
        if not isinstance(spec, dict):
            raise ValueError(f"{key} must be a mapping such as {{name: adam, lr: 0.001}}, got {spec!r}.")
        lr = spec.get("lr")
        if lr is not None:
            if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
                raise ValueError(
                    f"{key}.lr must be a positive number (the learning rate), got {lr!r}; e.g. {key}.lr=0.001."
                )
        try:
            build_optimizer([torch.nn.Parameter(torch.zeros(1))], spec)
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"{key} is not a valid optimizer setting ({e}); fix the key under {key} (now {spec})."
            ) from None


def _check_data_files(cfg: DictConfig) -> None:
    data = cfg.get("data")
    if not isinstance(data, DictConfig):
        return
    for key, what in (("path", "features"), ("labels_path", "labels")):
        value = data.get(key) if key in data else None
        if value is None:
            continue
        path = Path(str(value)).expanduser()
        if not path.exists():
            where = "" if path.is_absolute() else f"; a relative path is read from the working directory {Path.cwd()}"
            raise FileNotFoundError(
                f"data.{key}={value}: no such file ({path.resolve()}{where}). Give the path of your {what} file."
            )
        if path.is_dir():
            raise FileNotFoundError(f"data.{key}={value} is a folder; give the {what} file inside it.")


def validate_config(cfg: DictConfig) -> None:
    """Checks of the composed config that need neither data nor model, run before anything is built or written:
    unset mandatory values (``???``), the optimizers' settings (``model.optimizer``, ``model.pretrain_optimizer``),
    the trainer's accelerator on this machine, that data files named by the config exist, and that the packages of
    the chosen loggers are installed. Raises ``ValueError`` / ``FileNotFoundError`` naming the config key and what
    to do, ``ModuleNotFoundError`` naming the extra to install (``pip install -e '.[tensorboard]'``).
    """
    from pyagc.utils.accelerator import check_accelerator
    from pyagc.utils.experiment_loggers import check_experiment_loggers

    _check_missing(cfg)
    _check_optimizers(cfg)
    trainer = cfg.get("trainer")
    if isinstance(trainer, DictConfig):
        check_accelerator(trainer.get("accelerator"), trainer.get("devices"))
    _check_data_files(cfg)
    check_experiment_loggers(cfg.get("logger"))


def fill_encoder_dims(encoder_cfg: DictConfig, datamodule: Any) -> DictConfig:
    """Fill ``null`` input sizes of the encoder config from the data (after checking that the encoder fits it)."""
    check_encoder_fits_data(encoder_cfg, datamodule)
    cfg = encoder_cfg.copy()
    shape = tuple(datamodule.input_shape)
    with open_dict(cfg):
        if "in_features" in cfg and cfg.in_features is None:
            cfg.in_features = int(np.prod(shape))
        if "in_channels" in cfg and cfg.in_channels is None:
            cfg.in_channels = int(shape[0])
        if "image_size" in cfg and cfg.image_size is None:
            if len(shape) != 3:
                raise ValueError(
                    f"encoder {cfg.get('_target_')} needs images (C, H, W) but the data has shape {shape}; "
                    "use an image data set without flatten, or an MLP encoder."
                )
            cfg.image_size = int(shape[-1])
        if "output_size" in cfg and cfg.output_size is None and len(shape) == 3:
            cfg.output_size = int(shape[-1])
    return cfg


def resolve_n_clusters(cfg: DictConfig, datamodule: Any) -> int:
    """``cfg.n_clusters`` when set, else the data's number of classes."""
    if cfg.get("n_clusters") is not None:
        return int(cfg.n_clusters)
    k = datamodule.n_classes
    if k is None:
        raise ValueError("the data has no labels to infer the number of clusters from; set n_clusters=K.")
    return int(k)


def build_components(cfg: DictConfig, datamodule: Any) -> tuple[Any, DictConfig, DictConfig]:
    """Instantiate encoder, head and model; return ``(model, encoder_cfg, head_cfg)`` (filled-in configs)."""
    enc_cfg = fill_encoder_dims(cfg.encoder, datamodule)
    encoder = instantiate(enc_cfg)
    head_cfg = cfg.head.copy()
    with open_dict(head_cfg):
        if "n_clusters" not in head_cfg or head_cfg.n_clusters is None:
            head_cfg.n_clusters = resolve_n_clusters(cfg, datamodule)
        if "n_features" in head_cfg and head_cfg.n_features is None:
            head_cfg.n_features = int(encoder.latent_dim)
    head = instantiate(head_cfg)
    model = instantiate(cfg.model, encoder=encoder, head=head, _convert_="all")
    model.pyagc_config = {
        "encoder": OmegaConf.to_container(enc_cfg, resolve=True),
        "head": OmegaConf.to_container(head_cfg, resolve=True),
        "model": OmegaConf.to_container(cfg.model, resolve=True),
        "data": OmegaConf.to_container(cfg.data, resolve=True),
    }
    return model, enc_cfg, head_cfg


def model_from_checkpoint(path: str | Path) -> Any:
    """Rebuild a ``ClusteringModule`` saved by ``pyagc-train`` and load its weights."""
    import torch

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found; pass ckpt=<run dir>/checkpoints/last.ckpt.")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    conf = ckpt.get("pyagc_config")
    if conf is None:
        raise ValueError(f"{path} was not written by pyagc-train (no 'pyagc_config' inside).")
    encoder = instantiate(OmegaConf.create(conf["encoder"]))
    head = instantiate(OmegaConf.create(conf["head"]))
    model = instantiate(OmegaConf.create(conf["model"]), encoder=encoder, head=head, _convert_="all")
    model.load_state_dict(ckpt["state_dict"])
    model.pyagc_config = conf
    return model
