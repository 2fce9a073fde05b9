"""``pyagc-eval ckpt=PATH [data=NAME]``: assign clusters with a saved model and score them.

Without ``data=...`` the data set the model was trained on is used. The data goes through the preprocessing saved
in the checkpoint (fitted on the training data), never refitted: a sample's cluster does not depend on the other
samples evaluated with it. A data setting that the saved preprocessing fixes (``scaling``, an image's ``resize``,
...) is the model's: a config default that differs is replaced with a warning, a value given on the command line
that differs is an error. For data too large to hold in memory, use ``pyagc-predict``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from pyagc.cli.build import config_dir

__all__ = ["run", "main", "resolve_device"]


def __getattr__(name: str) -> Any:
    if name == "resolve_device":
        from pyagc.cli.prediction import resolve_device

        return resolve_device
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run(cfg: DictConfig, overrides: list[str] | None = None) -> dict[str, Any]:
    """Evaluate ``cfg.ckpt`` on ``cfg.data`` (default: the training data); returns the metrics. ``overrides``: the
    command line's (default: the running Hydra job's), to tell the data settings a user asked for from defaults.
    """
    if not cfg.get("ckpt"):
        raise ValueError(
            "pass ckpt=<path to a checkpoint written by pyagc-train>, e.g. outputs/.../checkpoints/last.ckpt"
        )
    # imported here, not at the top: ``pyagc-eval --help`` and config errors answer without loading torch
    import pytorch_lightning as pl

    from pyagc.cli.prediction import datamodule_for, explicit_data_keys, load_trained, resolve_device
    from pyagc.data.preprocessing import DataMismatchError
    from pyagc.evaluation import evaluate, save_outputs
    from pyagc.utils.logs import report
    from pyagc.utils.plotting import check_projection

    plot = bool(cfg.get("plot", True))
    projection = check_projection(cfg.get("plot_projection") or "pca") if plot else "pca"
    pl.seed_everything(int(cfg.seed), verbose=False)
    device = resolve_device(cfg.get("device", "auto"))
    trained = load_trained(cfg.ckpt)
    model = trained.model.to(device)
    datamodule = datamodule_for(trained, cfg.get("data"), explicit_data_keys(overrides))
    datamodule.setup("predict")
    in_features = getattr(model.encoder, "in_features", None)
    if in_features is not None and len(tuple(datamodule.input_shape)) == 1 and datamodule.n_features != in_features:
        raise DataMismatchError(
            f"the model was trained on {in_features} features but {datamodule.what} has {datamodule.n_features}; "
            "evaluate it on data of the same kind."
        )
    result = evaluate(model, datamodule)
    out = Path(cfg.paths.output_dir)
    paths = save_outputs(
        result,
        out,
        extra={
            "checkpoint": str(cfg.ckpt),
            "data": datamodule.name,
            "preprocessing": datamodule.preprocessor.describe(),
        },
        plot=plot,
        projection=projection,
        title=f"{type(model.cluster_head).__name__} on {datamodule.name}",
    )
    m = result["metrics"]
    shown = "  ".join(f"{k.upper()} {m[k]:.4f}" for k in ("acc", "nmi", "ari", "f1") if k in m)
    report(f"[pyagc] {datamodule.name}: {shown or 'no labels to score'}")  # printed, and logged to eval.log
    for name, path in paths.items():
        report(f"  {name:<12}{path}")
    return m


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="eval")
def main(cfg: DictConfig) -> None:
    """``pyagc-eval``: evaluate a saved model (see the module docstring)."""
    run(cfg)


if __name__ == "__main__":
    main()
