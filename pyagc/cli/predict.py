"""``pyagc-predict ckpt=PATH data=... [out=DIR]``: assign new data of any size to the clusters of a trained model.

    pyagc-predict ckpt=outputs/.../checkpoints/last.ckpt data=file data.path=new.csv out=predictions
    pyagc-predict ckpt=... data=file data.path=big.npy soft=true embeddings=true   # + soft_assignments.npy, embeddings.npy
    pyagc-predict ckpt=... data=imagefolder data.root=photos/                      # one image file after another

The Hydra entry point; the work (and torch) is in :mod:`pyagc.cli.prediction`, imported once Hydra has answered
``--help`` and checked the overrides. ``from pyagc.cli.predict import load_trained`` (and the other names of
:mod:`pyagc.cli.prediction`) still works.
"""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from pyagc.cli.build import config_dir

__all__ = ["TrainedModel", "load_trained", "datamodule_for", "resolve_device", "explicit_data_keys", "run", "main"]


def _first_set(*values: Any) -> Any:
    """``${pyagc.first_set:a,b,...}``: the first value that is set (not null / empty); configs/predict.yaml puts its
    run folder at ``out`` when given.
    """
    return next((v for v in values if v is not None and str(v).strip() not in ("", "null", "None")), None)


if not OmegaConf.has_resolver("pyagc.first_set"):
    OmegaConf.register_new_resolver("pyagc.first_set", _first_set)


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "main":
        from pyagc.cli import prediction

        return getattr(prediction, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="predict")
def main(cfg: DictConfig) -> None:
    """``pyagc-predict``: assign new data with a saved model (see the module docstring)."""
    from pyagc.cli.prediction import run

    run(cfg)


if __name__ == "__main__":
    main()
