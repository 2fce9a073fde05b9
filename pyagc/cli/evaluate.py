"""``pyagc-eval ckpt=PATH [data=NAME]``: assign clusters with a saved model and score them.

Without ``data=...`` the data set the model was trained on is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from pyagc.cli.build import config_dir, instantiate, model_from_checkpoint
from pyagc.evaluation import evaluate, save_outputs


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


def run(cfg: DictConfig) -> dict[str, Any]:
    if not cfg.get("ckpt"):
        raise ValueError("pass ckpt=<path to a checkpoint written by pyagc-train>, e.g. outputs/.../checkpoints/last.ckpt")
    pl.seed_everything(int(cfg.seed), verbose=False)
    model = model_from_checkpoint(cfg.ckpt).to(resolve_device(cfg.get("device", "auto")))
    data_cfg = cfg.get("data") or OmegaConf.create(model.pyagc_config["data"])
    datamodule = instantiate(data_cfg)
    datamodule.setup("predict")
    if tuple(datamodule.input_shape) and hasattr(model.encoder, "in_features"):
        if datamodule.n_features != model.encoder.in_features:
            raise ValueError(
                f"the model was trained on {model.encoder.in_features} features but data {datamodule.name!r} "
                f"has {datamodule.n_features}; evaluate it on data of the same kind."
            )
    result = evaluate(model, datamodule)
    out = Path(cfg.paths.output_dir)
    paths = save_outputs(result, out, extra={"checkpoint": str(cfg.ckpt), "data": datamodule.name},
                         title=f"{type(model.cluster_head).__name__} on {datamodule.name}")
    m = result["metrics"]
    shown = "  ".join(f"{k.upper()} {m[k]:.4f}" for k in ("acc", "nmi", "ari", "f1") if k in m)
    print(f"[pyagc] {datamodule.name}: {shown or 'no labels to score'}")
    for name, path in paths.items():
        print(f"  {name:<12}{path}")
    return m


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="eval")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
