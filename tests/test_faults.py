"""Runs survive faults and bad input (issue 23).

- checkpoints at epoch ends (every epoch with ``min_interval_s=0``, else at most every ``min_interval_s`` seconds,
  always at the phase boundary and the end), written atomically: a run killed with SIGKILL in joint training and resumed
  with ``ckpt_path=auto`` ends with exactly the assignments of an uninterrupted run;
- SIGTERM stops after the current step, writes a checkpoint, prints the command that resumes and exits 143;
  the resumed run (from the middle of an epoch) again matches the uninterrupted one;
- one run per folder (a lock), default folders unique and named after what ran;
- nothing is left behind by a run that fails validation; a later failure keeps its checkpoints and says why;
- ``--multirun`` writes its summary when a job fails, listing the failed jobs;
- a clear error, naming the config key, for each raw library error of the issue;
- ``PYAGC_NO_SHARED=1`` turns off the ``../shared`` data fallback.

Subprocess runs use ``python -m pyagc.cli.train`` on 300 digits with a 32-unit MLP and one thread.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from pyagc.cli.build import config_dir
from pyagc.cli.train import run

CONFIGS = Path(config_dir())
# 300 digits in batches of 16 (19 steps an epoch, so a signal lands in the middle of an epoch), DEC without its
# stopping rule so that the run lasts its 10 + 250 epochs; a checkpoint at every epoch's end (the kill test expects a
# joint-training checkpoint 0.6 s after pretraining)
RUN = [
    "data=digits",
    "data.limit=300",
    "data.batch_size=16",
    "encoder.hidden_dims=[32]",
    "model.pretrain_epochs=10",
    "model.epochs=250",
    "head.tol=0",
    "trainer.enable_progress_bar=false",
    "plot=false",
    "threads=1",
    "callbacks.model_checkpoint.min_interval_s=0",
]
TINY = [
    "data=iris",
    "encoder.hidden_dims=[16]",
    "model.pretrain_epochs=1",
    "model.epochs=1",
    "trainer.enable_progress_bar=false",
    "plot=false",
]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def _start(cwd: Path, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pyagc.cli.train", *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _cli(cwd: Path, args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pyagc.cli.train", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(
                f"the run ended (rc {proc.returncode}) before {path.name} appeared:\n{out[-2000:]}\n{err[-3000:]}"
            )
        if time.monotonic() > end:
            proc.kill()
            pytest.fail(f"{path} did not appear within {timeout} s")
        time.sleep(0.02)


def _assignments(run_dir: Path) -> np.ndarray:
    """``(index, cluster)`` rows of ``assignments.csv`` (read by column name)."""
    import csv

    with open(run_dir / "assignments.csv", newline="") as f:
        return np.array([(int(r["index"]), int(r["cluster"])) for r in csv.DictReader(f)])


def _with(base: list[str], overrides: list[str]) -> list[str]:
    """``base`` with ``overrides`` replacing its keys (a group override also drops the base's keys of that group)."""
    keys = {o.split("=", 1)[0].lstrip("+") for o in overrides}
    groups = {k for k in keys if "." not in k}
    kept = [o for o in base if o.split("=", 1)[0] not in keys and o.split("=", 1)[0].split(".")[0] not in groups]
    return [*kept, *overrides]


def make_cfg(out: Path, overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name="train", overrides=[f"paths.output_dir={out}", *overrides])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The uninterrupted run, started in the background once for the module's resume tests."""
    root = tmp_path_factory.mktemp("uninterrupted")
    proc = _start(root, [*RUN, f"hydra.run.dir={root / 'run'}"])

    def result() -> np.ndarray:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, out[-2000:] + err[-3000:]
        return _assignments(root / "run")

    yield result
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


# ------------------------------------------------------------------------------------------------ 1. checkpoints
def test_sigkill_in_joint_training_then_ckpt_path_auto_resumes_to_the_same_assignments(tmp_path, uninterrupted):
    from pyagc.utils.checkpoint_io import load_checkpoint

    run_dir = tmp_path / "run"
    proc = _start(tmp_path, [*RUN, f"hydra.run.dir={run_dir}"])
    _wait_for(run_dir / "checkpoints" / "pretrained.ckpt", proc)  # pretraining is over
    time.sleep(0.6)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    last = run_dir / "checkpoints" / "last.ckpt"
    ckpt = load_checkpoint(last, require_training_state=True)  # intact, whatever the moment of the kill
    assert 10 <= ckpt["epoch"] < 260, ckpt["epoch"]  # a checkpoint of joint training, before the end
    assert bool(ckpt["state_dict"]["cluster_head._initialized"])
    lock = json.loads((run_dir / ".pyagc.lock").read_text())  # left by the dead process: taken over below
    assert lock["pid"] == proc.pid

    resumed = _cli(tmp_path, [*RUN, f"hydra.run.dir={run_dir}", "ckpt_path=auto"])
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert not (run_dir / ".pyagc.lock").exists()
    assert np.array_equal(_assignments(run_dir), uninterrupted())


def test_checkpoint_callback_keeps_epoch_files_and_writes_every_epoch_atomically(tmp_path):
    from pyagc.callbacks import RunCheckpoint

    args = [
        *TINY,
        "model.pretrain_epochs=2",
        "model.epochs=3",
        "logger=none",
        "callbacks.model_checkpoint.keep=2",
        "callbacks.model_checkpoint.min_interval_s=0",
    ]
    m = run(make_cfg(tmp_path, args))
    ckpts = tmp_path / "checkpoints"
    names = sorted(p.name for p in ckpts.iterdir())
    assert names == ["epoch=0003.ckpt", "epoch=0004.ckpt", "last.ckpt", "pretrained.ckpt"], names
    assert Path(m["checkpoint"]) == ckpts / "last.ckpt"
    assert torch.load(ckpts / "pretrained.ckpt", weights_only=True)["epoch"] == 1  # end of pretraining
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["epoch"] == 4
    assert not list(ckpts.glob(".*"))  # no temporary files left
    with pytest.raises(ValueError, match="keep"):
        RunCheckpoint(keep=-1)


def test_checkpoint_interval_skips_epoch_ends_but_keeps_the_phase_boundary_and_the_end(tmp_path):
    from pyagc.callbacks import RunCheckpoint

    # an hour between epoch-end checkpoints: of 2 + 4 epochs only the end of pretraining and the last epoch are written
    args = [
        *TINY,
        "model.pretrain_epochs=2",
        "model.epochs=4",
        "logger=none",
        "callbacks.model_checkpoint.keep=10",
        "callbacks.model_checkpoint.min_interval_s=3600",
    ]
    run(make_cfg(tmp_path / "hour", args))
    ckpts = tmp_path / "hour" / "checkpoints"
    names = sorted(p.name for p in ckpts.iterdir())
    assert names == ["epoch=0001.ckpt", "epoch=0005.ckpt", "last.ckpt", "pretrained.ckpt"], names
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["epoch"] == 5

    # the default (30 s) with DEC's stopping rule firing early: the stopping epoch is written
    args = [
        *TINY,
        "model.pretrain_epochs=1",
        "model.epochs=200",
        "logger=none",
        "head.tol=0.5",
        "head.update_interval=1",
        "callbacks.model_checkpoint.keep=10",
    ]
    m = run(make_cfg(tmp_path / "early", args))
    ckpts = tmp_path / "early" / "checkpoints"
    last = torch.load(ckpts / "last.ckpt", weights_only=True)
    assert m["epochs_run"] < 201 and last["epoch"] == m["epochs_run"] - 1, (m["epochs_run"], last["epoch"])
    assert sorted(p.name for p in ckpts.iterdir()) == [
        "epoch=0000.ckpt",
        f"epoch={last['epoch']:04d}.ckpt",
        "last.ckpt",
        "pretrained.ckpt",
    ]
    for bad in (-1, float("inf"), "30"):
        with pytest.raises(ValueError, match="min_interval_s"):
            RunCheckpoint(min_interval_s=bad)


# ------------------------------------------------------------------------------------------------ 2 + 4. SIGTERM, lock
def test_sigterm_stops_with_143_and_a_checkpoint_and_a_second_run_into_the_folder_is_refused(tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    proc = _start(tmp_path, [*RUN, f"hydra.run.dir={run_dir}"])
    _wait_for(run_dir / ".hydra" / "overrides.yaml", proc)  # Hydra writes config.yaml, hydra.yaml, overrides.yaml
    hydra_config = (run_dir / ".hydra" / "config.yaml").read_text()
    assert hydra_config.startswith("task_name:")

    # 4. a second run into the same folder stops at once and writes nothing there
    second = _cli(tmp_path, [*TINY, f"hydra.run.dir={run_dir}"])
    assert second.returncode != 0
    assert "in use by another pyagc run" in second.stderr and f"pid {proc.pid}" in second.stderr, second.stderr[-2000:]
    assert (run_dir / ".hydra" / "config.yaml").read_text() == hydra_config
    _wait_for(run_dir / "checkpoints" / "pretrained.ckpt", proc)
    assert proc.poll() is None, "the run ended before it could be stopped"

    # 2. SIGTERM: the current step ends, last.ckpt is written, the resume command is printed, exit 128 + 15
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, out[-2000:] + err[-3000:]
    assert "stopped by SIGTERM" in err and "checkpoint written" in err, err[-3000:]
    command = next(line.split("resume with: ", 1)[1] for line in err.splitlines() if "resume with: " in line)
    assert "stopped by SIGTERM" in (run_dir / "train.log").read_text()
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] > 0 and not (run_dir / "metrics.json").exists()
    assert not (run_dir / ".pyagc.lock").exists()

    # the printed command resumes (typically from the middle of an epoch) and ends like the uninterrupted run
    import shlex

    args = shlex.split(command)
    assert args[:3] == ["python", "-m", "pyagc.cli.train"] and args[-2:] == ["hydra.run.dir=run", "ckpt_path=auto"]
    resumed = _cli(tmp_path, args[3:])
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert np.array_equal(_assignments(run_dir), uninterrupted())


def test_sigint_outside_training_raises_run_interrupted_with_130():
    from pyagc.callbacks.fault_tolerance import GracefulStop, RunInterrupted

    stop = GracefulStop().install()
    try:
        with pytest.raises(RunInterrupted) as info:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    finally:
        stop.uninstall()
    assert info.value.code == 130 and info.value.signal_name == "SIGINT"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_signal_sync_takes_over_sigterm_only_and_leaves_the_slurm_requeue_signal_alone():
    # Lightning's SLURMEnvironment(auto_requeue=True) requeues on SIGUSR1: training routes SIGTERM through pyagc's
    # handler and leaves SIGUSR1 (and every other signal) as Lightning set it
    from types import SimpleNamespace

    from pyagc.callbacks.fault_tolerance import INTERRUPT, SignalSync

    def requeue(signum, frame):  # stands for Lightning's SIGUSR1 handler
        pass

    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1)}
    signal.signal(signal.SIGUSR1, requeue)
    INTERRUPT.install()
    try:
        connector = SimpleNamespace(received_sigterm=False)
        trainer = SimpleNamespace(world_size=1, _signal_connector=connector)
        SignalSync().on_train_start(trainer, None)
        assert signal.getsignal(signal.SIGUSR1) is requeue
        assert signal.getsignal(signal.SIGTERM) == INTERRUPT._handle
        assert not connector.received_sigterm
    finally:
        INTERRUPT.uninstall()
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_lock_is_exclusive_and_a_dead_owners_lock_is_taken_over(tmp_path):
    from pyagc.callbacks.run_folder import LOCK_NAME, RunFolderLockedError, RunLock

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    import socket

    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead_pid, "host": socket.gethostname()}))
    lock = RunLock(tmp_path).acquire()  # stale: taken over
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / LOCK_NAME).write_text(
            json.dumps({"pid": live.pid, "host": socket.gethostname(), "command": "pyagc-train other"})
        )
        with pytest.raises(RunFolderLockedError, match=f"pid {live.pid}"):
            RunLock(tmp_path).acquire()
        (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "another-host"}))
        with pytest.raises(RunFolderLockedError, match="another-host"):
            RunLock(tmp_path).acquire()
    finally:
        live.kill()
        live.wait()


def test_default_run_folders_are_unique_and_named_after_what_ran(tmp_path):
    from omegaconf import OmegaConf

    import pyagc.callbacks.run_folder  # noqa: F401  (registers the resolver)

    def run_dir(overrides: list[str]) -> str:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
        return str(OmegaConf.select(cfg, "hydra.run.dir"))

    assert "/dec_digits/runs/" in run_dir([])
    assert "/idec_digits/runs/" in run_dir(["experiment=idec_digits"])
    assert "/file_dec/runs/" in run_dir(["data=file", "head=dec"])
    assert "/wine_idec/runs/" in run_dir(["head=idec", "model=idec", "data=wine"])
    assert "/mine/runs/" in run_dir(["data=wine", "task_name=mine"])
    a, b = run_dir([]), run_dir([])
    assert a != b  # same second, different folders (microseconds)


# ------------------------------------------------------------------------------------------------ 5 + 6. failures
def test_validation_error_leaves_no_run_folder(tmp_path):
    proc = _cli(tmp_path, ["data=iris", "model.optimizer.lr=-0.01"])
    assert proc.returncode != 0
    assert "model.optimizer.lr must be a positive number" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").rglob("*")), sorted(
        map(str, (tmp_path / "outputs").rglob("*"))
    )


def test_multirun_with_failed_jobs_writes_its_summary_and_keeps_the_later_failure(tmp_path):
    # job 0 trains; job 1 diverges in joint training (a late failure: folder, checkpoints and train.log kept);
    # job 2 fails validation (its folder is removed)
    sweep = tmp_path / "sweep"
    proc = _cli(
        tmp_path,
        [
            "--multirun",
            "model.optimizer.lr=0.01,1e30,-1",
            "hydra.sweep.dir=sweep",
            "data=iris",
            "encoder.hidden_dims=[16]",
            "model.pretrain_epochs=2",
            "model.epochs=3",
            "trainer.enable_progress_bar=false",
            "plot=false",
            "logger=none",
        ],
    )
    assert proc.returncode != 0  # the sweep had failures
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["n_runs"] == 1 and summary["n_failed"] == 2, summary
    assert summary["runs"][0]["run_dir"] == "0"
    failed = {f["run_dir"]: f for f in summary["failed"]}
    assert "FloatingPointError" in failed["1"]["error"] and "model.optimizer.lr=1e+30" in failed["1"]["overrides"]
    assert "model.optimizer.lr" in failed["2"]["error"]
    md = (sweep / "summary.md").read_text()
    assert "2 failed run(s)" in md and "FloatingPointError" in md
    assert (sweep / "1" / "checkpoints" / "last.ckpt").is_file()
    assert "FloatingPointError" in (sweep / "1" / "train.log").read_text()
    assert not (sweep / "2").exists()


# ------------------------------------------------------------------------------------------------ 7. messages
@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (
            ["encoder=resnet18"],
            ValueError,
            r"encoder=resnet18 takes images.*Encoders that fit it: mlp_autoencoder, mlp_vae",
        ),
        (
            ["encoder=gcn", "model.pretrain_epochs=0"],
            ValueError,
            r"needs a graph.*Encoders that fit it: mlp_autoencoder",
        ),
        (["model.optimizer.lr=0"], ValueError, r"model\.optimizer\.lr must be a positive number"),
        (["model.pretrain_optimizer.lr=-1e-3"], ValueError, r"model\.pretrain_optimizer\.lr must be a positive"),
        (["+model.optimizer.momentun=0.9"], ValueError, r"model\.optimizer is not a valid optimizer setting"),
        (["data=file"], ValueError, r"data\.path is not set.*data\.path=/path/to/features"),
        (["data=file", "data.path=nowhere/x.csv"], FileNotFoundError, r"data\.path=nowhere/x\.csv: no such file"),
        (["trainer.accelerator=gpu"], ValueError, r"needs a CUDA GPU.*trainer=cpu"),
        (["trainer.accelerator=tpuu"], ValueError, r"not an accelerator"),
    ],
)
def test_bad_values_fail_with_a_message_naming_the_key(overrides, error, message, tmp_path):
    if "trainer.accelerator=gpu" in overrides and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(error, match=message) as info:
        run(make_cfg(tmp_path, _with(TINY, overrides)))
    assert "PYAGC_DATA" not in str(info.value)
    assert not (tmp_path / "checkpoints").exists()


def test_trainer_gpu_config_without_a_gpu_suggests_trainer_cpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match=r"trainer\.accelerator=gpu needs a CUDA GPU.*trainer=cpu"):
        run(make_cfg(tmp_path, _with(TINY, ["trainer=gpu"])))


def test_bad_checkpoints_are_named_as_such(tmp_path):
    from pyagc.utils.checkpoint_io import load_checkpoint

    good = run(make_cfg(tmp_path / "good", [*TINY, "logger=none"]))["checkpoint"]
    data = Path(good).read_bytes()
    files = {"random.ckpt": os.urandom(4096), "truncated.ckpt": data[: len(data) // 2], "empty.ckpt": b""}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.ckpt")
    torch.save({"state_dict": {}, "epoch": 1}, tmp_path / "lightning.ckpt")
    expected = {
        "random.ckpt": "not a PyTorch checkpoint",
        "truncated.ckpt": "truncated or corrupted",
        "empty.ckpt": "empty file",
        "foreign.ckpt": "not a training checkpoint",
        "lightning.ckpt": "not one written by pyagc-train",
    }
    for name, message in expected.items():
        with pytest.raises(ValueError, match=message):
            load_checkpoint(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_checkpoint(tmp_path / "missing.ckpt")
    with pytest.raises(FileNotFoundError, match="is a folder"):
        load_checkpoint(tmp_path)
    assert load_checkpoint(good)["epoch"] == 1  # the end of the second (last) epoch

    # through pyagc-train's ckpt_path: before anything is trained or written
    for name in ("random.ckpt", "truncated.ckpt"):
        with pytest.raises(ValueError, match=expected[name]):
            run(make_cfg(tmp_path / f"resume_{name}", [*TINY, f"ckpt_path={tmp_path / name}"]))
        assert not (tmp_path / f"resume_{name}").exists()
    with pytest.raises(ValueError, match="trained with another model"):
        run(make_cfg(tmp_path / "other", _with(TINY, ["encoder.hidden_dims=[8]", f"ckpt_path={good}"])))
    # ckpt_path=auto in a folder without checkpoints starts fresh
    m = run(make_cfg(tmp_path / "auto", [*TINY, "logger=none", "ckpt_path=auto"]))
    assert m["epochs_run"] == 2


# ------------------------------------------------------------------------------------------------ 8. no ../shared
def test_pyagc_no_shared_turns_off_the_shared_data_fallback(tmp_path, monkeypatch):
    from pyagc.data.paths import cache_dir, default_data_root

    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "clone").mkdir()
    monkeypatch.chdir(tmp_path / "clone")
    monkeypatch.delenv("PYAGC_DATA", raising=False)
    monkeypatch.delenv("PYAGC_NO_SHARED", raising=False)
    assert default_data_root() == tmp_path / "shared" / "data"
    monkeypatch.setenv("PYAGC_NO_SHARED", "1")
    assert default_data_root() == cache_dir() / "data"
    monkeypatch.setenv("PYAGC_DATA", str(tmp_path / "mine"))
    assert default_data_root() == tmp_path / "mine"  # an explicit PYAGC_DATA still wins


# what the tests that need ../shared/data (USPS) cover, on scikit-learn's digits as 8x8 images
def _digits_images(root: Path, limit: int) -> list[str]:
    return [
        "data=imagefolder",
        f"data.root={root}",
        "data.image_size=8",
        "data.grayscale=true",
        f"++data.limit={limit}",
    ]


@pytest.mark.parametrize(
    "encoder, extra",
    [
        ("conv_autoencoder", ["data.batch_size=32"]),
        ("resnet18", ["data.batch_size=32", "encoder.latent_dim=16", "head.n_init=1"]),
        ("resnet50", ["data.batch_size=16", "encoder.latent_dim=16", "head.n_init=1"]),
    ],
)
def test_image_encoders_run_on_bundled_digit_images(encoder, extra, tmp_path, digits_image_folder):
    m = run(
        make_cfg(
            tmp_path,
            [
                f"encoder={encoder}",
                "debug=fast",
                "model.pretrain_epochs=0",
                *_digits_images(digits_image_folder, 64),
                *extra,
            ],
        )
    )
    assert m["joint_steps"] == 1 and m["encoder"] in ("ConvAutoencoder", "ResNetEncoder") and m["n_samples"] == 64


def test_cpu_contrastive_experiment_on_bundled_digit_images(tmp_path, digits_image_folder):
    from hydra.utils import instantiate

    from pyagc.augmentations import ImageAugmentation, RandomAffine

    cfg = make_cfg(
        tmp_path,
        [
            "experiment=contrastive_usps_cpu",
            *_digits_images(digits_image_folder, 128),
            "data.batch_size=32",
            "model.epochs=1",
            "trainer.enable_progress_bar=false",
            "plot=false",
        ],
    )
    aug = instantiate(cfg.model.augmentation)
    assert [type(m) for m in aug] == [ImageAugmentation, RandomAffine]
    m = run(cfg)
    assert m["encoder"] == "ConvAutoencoder" and m["joint_steps"] == 4 and 0.0 <= m["acc"] <= 1.0
    assert cfg.head.overclusters == 11 and _assignments(tmp_path)[:, 1].max() < 10  # 11 columns merged into 10
    assert Path(m["checkpoint"]).name == "final.ckpt"
