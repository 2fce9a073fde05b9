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
    so a bad value gives the component's message and exception type."""
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


def fill_encoder_dims(encoder_cfg: DictConfig, datamodule: Any) -> DictConfig:
    """Fill ``null`` input sizes of the encoder config from the data."""
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
        if "embedding_dim" in head_cfg and head_cfg.embedding_dim is None:
            head_cfg.embedding_dim = int(getattr(encoder, "latent_dim"))
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
