"""Experiment loggers (``logger=tensorboard|mlflow|wandb|csv``, several at once): a tiny run writes each backend's
files (no network: MLflow's local file store, W&B offline) and the test reads them back -- per-term losses, the
final metrics, the hyperparameters and the plot; a missing package fails before training, naming the extra."""

import csv
import importlib.util
import struct
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from pyagc.cli.build import config_dir
from pyagc.cli.experiment import run
from pyagc.utils.experiment_loggers import check_experiment_loggers, final_scalars

TINY = [
    "data=iris",
    "encoder.hidden_dims=[16]",
    "encoder.latent_dim=4",
    "model.pretrain_epochs=2",
    "model.epochs=2",
    "trainer.enable_progress_bar=false",
    "callbacks=none",
    "threads=1",
    "plot=true",
    "task_name=logger_test",
]


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def make_cfg(out: Path, overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose(config_name="train", overrides=[f"paths.output_dir={out}", *overrides])


def tiny_run(out: Path, logger: str):
    return run(make_cfg(out, [*TINY, f"logger={logger}"]))


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    """W&B offline, quiet, and writing nothing outside ``tmp_path``."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb_home"))
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    monkeypatch.delenv("WANDB_ENTITY", raising=False)


@pytest.fixture
def local_mlflow(monkeypatch):
    """No tracking server from the environment; MLFLOW_ALLOW_FILE_STORE unset (pyagc sets it for a local store)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "x")  # so that the variable pyagc sets is removed afterwards
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")


def read_tensorboard(logdir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def check_tensorboard(out: Path, metrics: dict) -> None:
    acc = read_tensorboard(out / "tensorboard")
    tags = acc.Tags()
    # the per-term losses of both phases, logged during training
    for tag in ("pretrain/loss_epoch", "pretrain/reconstruction", "joint/loss_epoch", "joint/kl"):
        assert tag in tags["scalars"], tags["scalars"]
    assert acc.Scalars("final/acc")[-1].value == pytest.approx(metrics["acc"], rel=1e-6)
    assert acc.Scalars("final/time_s/total")[-1].value == pytest.approx(metrics["time_s"]["total"])
    image = acc.Images("plots/embedding")[-1]
    assert image.width > 100 and image.height > 100 and image.encoded_image_string.startswith(b"\x89PNG")
    # the HPARAMS tab: the config with the final metrics
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    hparams = acc.PluginTagToContent("hparams")
    start, experiment = HParamsPluginData(), HParamsPluginData()
    start.ParseFromString(hparams["_hparams_/session_start_info"])
    experiment.ParseFromString(hparams["_hparams_/experiment"])
    assert start.session_start_info.hparams["model.optimizer.lr"].number_value == pytest.approx(0.01)
    assert "final/acc" in {m.name.tag for m in experiment.experiment.metric_infos}
    assert "model.optimizer.lr" in (out / "tensorboard" / "hparams.yaml").read_text()


@pytest.mark.skipif(
    not installed("tensorboard"), reason="tensorboard is not installed (pip install -e '.[tensorboard]')"
)
def test_tensorboard_event_files_hold_losses_final_metrics_hparams_and_the_plot(tmp_path):
    metrics = tiny_run(tmp_path, "tensorboard")
    check_tensorboard(tmp_path, metrics)
    assert not (tmp_path / "logs").exists()  # logger=tensorboard replaces the default csv


@pytest.mark.skipif(not installed("mlflow"), reason="mlflow is not installed (pip install -e '.[mlflow]')")
def test_mlflow_local_file_store_holds_params_metrics_and_the_plot(tmp_path, local_mlflow):
    from mlflow.tracking import MlflowClient

    metrics = tiny_run(tmp_path, "mlflow")
    client = MlflowClient(f"file:{tmp_path / 'mlruns'}")
    experiment = client.get_experiment_by_name("logger_test")  # the experiment is the task name
    assert experiment is not None
    (found,) = client.search_runs([experiment.experiment_id])
    data = client.get_run(found.info.run_id).data
    assert data.params["model.optimizer.lr"] == "0.01" and data.params["data.name"] == "iris"
    assert data.params["encoder.hidden_dims"] == "[16]"
    assert data.metrics["final/acc"] == pytest.approx(metrics["acc"])
    assert data.metrics["final/nmi"] == pytest.approx(metrics["nmi"])
    assert "pretrain/reconstruction" in data.metrics and "joint/kl" in data.metrics
    history = client.get_metric_history(found.info.run_id, "pretrain/loss_epoch")
    assert history and history[-1].value > 0
    artifacts = [a.path for a in client.list_artifacts(found.info.run_id, "plots")]
    # every plot of the run folder (the embedding map, the confusion matrix where one is drawn)
    assert "plots/embedding.png" in artifacts
    assert sorted(artifacts) == sorted(f"plots/{p.name}" for p in tmp_path.glob("*.png"))


def wandb_records(path: Path):
    """The protobuf records of an offline W&B run's ``.wandb`` file (a LevelDB-style log: 32 KiB blocks of
    records with a 7-byte header: CRC32, length, type FULL / FIRST / MIDDLE / LAST)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # the rest of the block is padding
            pos += left
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL, LAST
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def read_wandb_offline(run_dir: Path) -> tuple[dict, dict, list[str]]:
    """``(config, summary, media files)`` of the one offline run under ``run_dir``."""
    import json

    (offline,) = sorted(run_dir.glob("offline-run-*"))
    (log_file,) = sorted(offline.glob("run-*.wandb"))
    config, summary = {}, {}
    for record in wandb_records(log_file):
        kind = record.WhichOneof("record_type")
        if kind == "config":
            config.update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "summary":
            summary.update(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.summary.update}
            )
    media = sorted(p.name for p in (offline / "files" / "media").rglob("*.png"))
    return config, summary, media


@pytest.mark.skipif(not installed("wandb"), reason="wandb is not installed (pip install -e '.[wandb]')")
def test_wandb_offline_run_holds_config_final_metrics_and_the_plot(tmp_path, offline_wandb):
    metrics = tiny_run(tmp_path, "wandb")
    config, summary, media = read_wandb_offline(tmp_path / "wandb")
    assert config["model.optimizer.lr"] == 0.01 and config["data.name"] == "iris"
    assert summary["final/acc"] == pytest.approx(metrics["acc"])
    assert "pretrain/reconstruction" in summary and "joint/kl" in summary  # the per-term losses
    assert summary["plots/embedding/_type"] == "image-file"  # nested keys joined with /
    assert len(media) == len(list(tmp_path.glob("*.png"))) and any(m.startswith("embedding") for m in media)


@pytest.mark.skipif(
    not installed("tensorboard"), reason="tensorboard is not installed (pip install -e '.[tensorboard]')"
)
def test_several_loggers_at_once_each_get_the_run(tmp_path):
    metrics = tiny_run(tmp_path, "[csv,tensorboard]")
    check_tensorboard(tmp_path, metrics)
    with open(tmp_path / "logs" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"pretrain/reconstruction", "joint/kl", "final/acc"} <= set(rows[0])
    final = [r for r in rows if r["final/acc"]]
    assert len(final) == 1 and float(final[0]["final/acc"]) == pytest.approx(metrics["acc"])
    assert "model.optimizer.lr" in (tmp_path / "logs" / "hparams.yaml").read_text()


@pytest.mark.parametrize("backend, extra", [("tensorboard", "tensorboard"), ("mlflow", "mlflow"), ("wandb", "wandb")])
def test_a_missing_logger_package_fails_before_training_naming_the_extra(tmp_path, monkeypatch, backend, extra):
    real = importlib.util.find_spec
    gone = {"tensorboard", "tensorboardX"} if backend == "tensorboard" else {backend}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in gone else real(name, *a))
    out = tmp_path / "run"
    with pytest.raises(ModuleNotFoundError, match=rf"logger={backend} needs .*pip install -e '\.\[{extra}\]'"):
        run(make_cfg(out, [*TINY, f"logger=[csv,{backend}]"]))
    assert not out.exists()  # nothing was written


def test_logger_none_and_the_default_csv_compose():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        assert not compose(config_name="train", overrides=["logger=none"]).logger
        assert list(compose(config_name="train").logger) == ["csv"]
        both = compose(config_name="train", overrides=["logger=[csv,tensorboard,mlflow,wandb]"]).logger
        assert list(both) == ["csv", "tensorboard", "mlflow", "wandb"]
    check_experiment_loggers(None)  # no logger: nothing to check


def test_final_scalars_flatten_numbers_and_leave_out_the_rest():
    scalars = final_scalars(
        {
            "acc": 0.5,
            "time_s": {"fit": 1.25},
            "data": "iris",
            "checkpoint": None,
            "samples_per_sec_by_epoch": [1.0, 2.0],
            "world_size": 1,
            "flag": True,
        }
    )
    assert scalars == {"final/acc": 0.5, "final/time_s/fit": 1.25, "final/world_size": 1.0, "final/flag": 1.0}
