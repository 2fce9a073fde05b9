import json
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch

from pyagc.callbacks import ThroughputMonitor
from pyagc.callbacks import throughput as throughput_module
from pyagc.callbacks.throughput import batch_size_of
from pyagc.clusters import KMeansClusterHead
from pyagc.data import TabularDataModule
from pyagc.encoders import MLPAutoencoder
from pyagc.models import ClusteringModule


class FakeModule:
    def __init__(self) -> None:
        self.logged: list[tuple[str, float, bool]] = []

    def log(self, name, value, on_step, on_epoch, **kwargs) -> None:
        self.logged.append((name, value, on_step))


def test_batch_size_of_dicts_tensors_tuples_and_subgraphs():
    x = torch.zeros(7, 3)
    assert batch_size_of({"x": x, "index": torch.arange(7)}) == 7
    assert batch_size_of(x) == 7
    assert batch_size_of((x, torch.zeros(7))) == 7
    assert batch_size_of({"x": torch.zeros(50, 3), "num_seed_nodes": torch.tensor(12)}) == 12
    with pytest.raises(TypeError, match="cannot tell the size"):
        batch_size_of({"features": x})


def test_rate_by_hand_with_a_fake_clock(monkeypatch):
    # clock readings, in call order: start of batch 0, ends of batches 0..3 (warm-up: batch 0),
    # then epoch 2: start of batch 0, ends of batches 0..1
    readings = iter([10.0, 11.0, 13.0, 14.0, 18.0, 100.0, 102.0, 103.0])
    monkeypatch.setattr(throughput_module, "perf_counter", lambda: next(readings))
    cb = ThroughputMonitor(warmup_steps=1, log_every_n_steps=2)
    trainer = SimpleNamespace(world_size=1, current_epoch=0, global_step=4)
    module = FakeModule()
    batches = [{"x": torch.zeros(n, 2)} for n in (8, 4, 4, 6)]
    cb.on_train_epoch_start(trainer, module)
    for i, b in enumerate(batches):
        cb.on_train_batch_start(trainer, module, b, i)
        cb.on_train_batch_end(trainer, module, None, b, i)
    cb.on_train_epoch_end(trainer, module)
    # batch 0 is warm-up; batches 1..3 take 2, 1, 4 s for 4 + 4 + 6 samples
    assert cb.history[0]["samples"] == 14
    assert cb.history[0]["seconds"] == pytest.approx(7.0)
    step_logs = [v for name, v, on_step in module.logged if on_step]
    epoch_logs = [v for name, v, on_step in module.logged if not on_step]
    assert step_logs == [pytest.approx(8 / 3)]  # window of batches 1 and 2
    assert epoch_logs == [pytest.approx(2.0)]
    assert module.logged[-1][0] == "train/samples_per_sec"
    # second epoch: no warm-up left; the first batch is timed from its start (102 - 100)
    trainer.current_epoch = 1
    cb.on_train_epoch_start(trainer, module)
    for i, b in enumerate(batches[:2]):
        cb.on_train_batch_start(trainer, module, b, i)
        cb.on_train_batch_end(trainer, module, None, b, i)
    cb.on_train_epoch_end(trainer, module)
    assert cb.history[1]["samples"] == 12 and cb.history[1]["seconds"] == pytest.approx(3.0)
    assert module.logged[-1][1] == pytest.approx(4.0)


def test_an_epoch_of_warm_up_batches_logs_nothing():
    cb = ThroughputMonitor(warmup_steps=5)
    trainer, module = SimpleNamespace(world_size=1, current_epoch=0, global_step=2), FakeModule()
    cb.on_train_epoch_start(trainer, module)
    for i in range(2):
        cb.on_train_batch_start(trainer, module, torch.zeros(3, 2), i)
        cb.on_train_batch_end(trainer, module, None, torch.zeros(3, 2), i)
    cb.on_train_epoch_end(trainer, module)
    assert module.logged == [] and cb.history == []


@pytest.mark.parametrize("kwargs", [{"warmup_steps": -1}, {"log_every_n_steps": 0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ThroughputMonitor(**kwargs)


def test_trainer_on_digits_logs_positive_samples_per_second(one_thread, tmp_path):
    torch.manual_seed(0)
    dm = TabularDataModule("digits", batch_size=256, scaling="minmax", seed=0)
    model = ClusteringModule(
        MLPAutoencoder(64, hidden_dims=(32,), latent_dim=10),
        KMeansClusterHead(10, 10, n_init=1),
        pretrain_epochs=1,
        epochs=1,
    )
    monitor = ThroughputMonitor(warmup_steps=1, log_every_n_steps=3)
    logger = pl.loggers.CSVLogger(tmp_path, name="tp")
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=logger,
        callbacks=[monitor],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(model, datamodule=dm)
    assert len(monitor.history) == 2  # one entry per epoch (pretrain, joint)
    # 1797 samples, batches of 256 (the last has 5): the first batch of the fit is warm-up
    assert monitor.history[0]["samples"] == 1797 - 256
    assert monitor.history[1]["samples"] == 1797
    assert all(h["samples_per_sec"] > 0 for h in monitor.history)
    assert float(trainer.callback_metrics["train/samples_per_sec"]) > 0
    logger.save()
    text = (tmp_path / "tp" / "version_0" / "metrics.csv").read_text()
    assert "train/samples_per_sec" in text and "train/samples_per_sec_step" in text


def test_cli_callbacks_throughput_config_logs_the_rate(one_thread, tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from pyagc.cli.build import config_dir
    from pyagc.cli.train import run

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                f"paths.output_dir={tmp_path}",
                "callbacks=throughput",
                "callbacks.throughput.warmup_steps=1",
                "data.limit=300",
                "data.batch_size=64",
                "encoder.hidden_dims=[32]",
                "model.pretrain_epochs=1",
                "model.epochs=1",
                "plot=false",
                "trainer.enable_progress_bar=false",
            ],
        )
    assert "progress_bar" in cfg.callbacks and "model_checkpoint" in cfg.callbacks  # defaults kept
    run(cfg)
    metrics = list(tmp_path.rglob("metrics.csv"))
    assert metrics and "train/samples_per_sec" in metrics[0].read_text()
    # the per-epoch rates also land in metrics.json (two epochs of 5 batches, the first one a warm-up)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert len(saved["samples_per_sec_by_epoch"]) == 2 and saved["samples_per_sec_median"] > 0
