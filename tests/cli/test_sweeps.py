"""Cluster launches and hyperparameter sweeps (issue 26, items 2 and 3).

- ``hydra/launcher=submitit_local``: a 2-job ``--multirun`` on iris completes in separate processes, both jobs write
  ``metrics.json``, the sweep folder's lock does not block the jobs and the summary lists both runs;
- ``hydra/launcher=submitit_slurm`` + ``trainer=slurm``: the resources follow the trainer (tasks per node = GPUs per
  node = ``trainer.devices``, ``trainer.num_nodes`` nodes) in the sbatch script submitit would submit, with
  Lightning's requeue signal; the trainer is built with ``SLURMEnvironment(auto_requeue=True)`` under (faked) SLURM;
- a SLURM requeue, simulated on one CPU process: SIGUSR1 makes Lightning write ``hpc_ckpt_1.ckpt`` and call
  ``scontrol requeue``, SLURM's SIGTERM stops the run with a checkpoint, and the same command run again with
  ``SLURM_RESTART_COUNT=1`` resumes from the run folder's newest checkpoint (taking over the old job's lock);
- ``hparams_search=dec_optuna``: 3 Optuna trials on iris complete and the summary names the best one, as Optuna's
  ``optimization_results.yaml`` does; the objective (``input_silhouette``) needs no labels, a missing or NaN
  objective fails the trial with its reason, and a sweep in the wrong direction is refused before it starts.

Subprocess runs use a 16-unit MLP on iris (or 300 digits) with one thread.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

import pyagc.callbacks.run_folder  # noqa: F401  (the ${pyagc.run_name:...} resolver)
import pyagc.cli.sweeps  # noqa: F401  (the launchers' resolvers)
from pyagc.cli.build import config_dir

TINY = [
    "data=iris",
    "encoder.hidden_dims=[16]",
    "model.pretrain_epochs=2",
    "model.epochs=2",
    "logger=none",
    "callbacks=none",
    "plot=false",
    "threads=1",
    "trainer=cpu",
    "trainer.enable_progress_bar=false",
]

# Hydra checks configs/hydra/launcher/submitit_*.yaml against the plugin's schema of the same name and says the check
# is deprecated (pyagc.cli.sweeps filters it for pyagc-train; pytest resets the filters for each test)
pytestmark = pytest.mark.filterwarnings("ignore:(?s).*is validated against ConfigStore schema:UserWarning")

needs_submitit = pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None,
    reason='hydra-submitit-launcher is not installed (pip install "pyagc[slurm]")',
)
needs_optuna = pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None,
    reason='hydra-optuna-sweeper is not installed (pip install "pyagc[optuna]")',
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return {**env, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}


def _cli(cwd: Path, args: list[str], timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pyagc.cli.train", *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _compose(overrides: list[str], hydra: bool = False):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=hydra)


# ------------------------------------------------------------------------------------------------ launchers
@needs_submitit
def test_submitit_local_runs_a_two_job_multirun_in_separate_processes(tmp_path):
    sweep = tmp_path / "sweep"
    proc = _cli(
        tmp_path, ["--multirun", "hydra/launcher=submitit_local", "seed=0,1", f"hydra.sweep.dir={sweep}", *TINY]
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for job in ("0", "1"):
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        assert metrics["seed"] == int(job) and metrics["world_size"] == 1
        assert -1.0 <= metrics["input_silhouette"] <= 1.0
        assert not (sweep / job / ".pyagc.lock").exists()
    assert any((sweep / ".submitit").rglob("*_result.pkl"))  # they ran as submitit jobs
    assert not (sweep / ".pyagc.lock").exists()  # the sweep's lock, held by the launching process, is released
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["n_runs"] == 2 and summary["n_failed"] == 0 and "best" not in summary
    md = (sweep / "summary.md").read_text()
    assert "| 0 | 0 |" in md and "| 1 | 1 |" in md and "mean ± std" in md


@needs_submitit
def test_submitit_slurm_asks_for_one_task_per_gpu_and_lightnings_requeue_signal(tmp_path, monkeypatch):
    cfg = _compose(
        [
            "hydra/launcher=submitit_slurm",
            "trainer=slurm",
            "trainer.devices=4",
            "trainer.num_nodes=2",
            "hydra.launcher.partition=gpu",
            f"hydra.sweep.dir={tmp_path}",
        ],
        hydra=True,
    )
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["nodes"] == 2 and launcher["tasks_per_node"] == 4 and launcher["gpus_per_node"] == 4
    assert launcher["additional_parameters"] == {"signal": "USR1@120", "requeue": True}
    # the sbatch script, as the plugin's SlurmLauncher.launch passes these values to submitit (a fake srun on PATH)
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    params = {k: v for k, v in launcher.items() if k != "_target_"}
    executor = submitit.AutoExecutor(
        cluster="slurm", folder=params.pop("submitit_folder"), slurm_max_num_timeout=params.pop("max_num_timeout")
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    script = executor._executor._make_submission_file_text("python -u -m submitit.core._submit x", "uid")
    for flag in (
        "--nodes=2",
        "--ntasks-per-node=4",
        "--gpus-per-node=4",
        "--signal=USR1@120",
        "--requeue",
        "--partition=gpu",
        "--time=240",
    ):
        assert f"#SBATCH {flag}\n" in script, (flag, script)
    assert "USR2" not in script  # submitit's own requeue signal is replaced by Lightning's

    # a CPU trainer asks for no GPU; all devices (-1) is refused with the fix
    cpu = _compose(["hydra/launcher=submitit_slurm", "trainer=ddp_cpu"], hydra=True)
    assert cpu.hydra.launcher.gpus_per_node == 0 and cpu.hydra.launcher.tasks_per_node == 2
    every = _compose(["hydra/launcher=submitit_slurm", "trainer=ddp"], hydra=True)
    with pytest.raises(Exception, match="trainer.devices must be a number"):
        OmegaConf.to_container(every.hydra.launcher, resolve=True)


SLURM_ENV = {
    "SLURM_NTASKS": "1",
    "SLURM_NTASKS_PER_NODE": "1",
    "SLURM_NNODES": "1",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "0",
    "SLURM_JOB_ID": "4242",
    "SLURM_JOB_NAME": "pyagc",
    "SLURM_NODELIST": "node1",
    "MASTER_ADDR": "127.0.0.1",
}
SLURM_CPU = [
    "trainer=slurm",
    "trainer.accelerator=cpu",
    "trainer.precision=32-true",
    "trainer.sync_batchnorm=false",
    "trainer.benchmark=false",
]


def test_trainer_slurm_builds_a_ddp_trainer_with_lightnings_slurm_environment(tmp_path, monkeypatch):
    from lightning_fabric.plugins.environments import SLURMEnvironment
    from pytorch_lightning.strategies import DDPStrategy

    from pyagc.cli.build import instantiate

    cfg = _compose(["trainer=slurm", "trainer.devices=4", "trainer.num_nodes=2"])
    assert (cfg.trainer.devices, cfg.trainer.num_nodes, cfg.trainer.precision) == (4, 2, "bf16-mixed")
    assert cfg.trainer.strategy.startswith("ddp") and cfg.trainer.plugins[0].auto_requeue is True
    for k, v in SLURM_ENV.items():
        monkeypatch.setenv(k, v)
    cfg = _compose([*SLURM_CPU, f"trainer.default_root_dir={tmp_path}"])
    trainer = instantiate(cfg.trainer, max_epochs=1, logger=False, enable_checkpointing=False)
    env = trainer._accelerator_connector.cluster_environment
    assert isinstance(env, SLURMEnvironment) and env.auto_requeue and env.requeue_signal == signal.SIGUSR1
    assert isinstance(trainer.strategy, DDPStrategy) and trainer.num_nodes == 1 and trainer.world_size == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def test_a_requeued_slurm_job_resumes_from_its_run_folder(tmp_path):
    # SLURM simulated on one CPU process: the same command, run again after the requeue, with SLURM_RESTART_COUNT=1
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "scontrol_calls"
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "scontrol").chmod(0o755)
    run_dir = tmp_path / "run"
    args = [
        *SLURM_CPU,
        "data=digits",
        "data.limit=300",
        "data.batch_size=16",
        "encoder.hidden_dims=[32]",
        "model.pretrain_epochs=5",
        "model.epochs=20",
        "head.tol=0",
        "trainer.enable_progress_bar=false",
        "plot=false",
        "logger=none",
        "threads=1",
        f"hydra.run.dir={run_dir}",
    ]
    env = _env(**SLURM_ENV, MASTER_PORT=str(_free_port()), PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyagc.cli.train", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(run_dir / "checkpoints" / "pretrained.ckpt", proc)
    proc.send_signal(signal.SIGUSR1)  # SLURM's warning before the time limit (sbatch --signal=USR1@120)
    _wait_for(calls, proc)
    assert calls.read_text().split() == ["requeue", "4242"]  # Lightning asked SLURM to requeue the job
    assert (run_dir / "hpc_ckpt_1.ckpt").is_file()
    proc.send_signal(signal.SIGTERM)  # what SLURM sends a requeued job
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, out[-2000:] + err[-3000:]
    assert not (run_dir / "metrics.json").exists()
    # the old job's lock, as a SIGKILL on another node would have left it: the requeued job takes it over
    (run_dir / ".pyagc.lock").write_text(
        json.dumps({"pid": 1, "host": "node0", "slurm_job": "4242", "slurm_restart": "0", "command": "pyagc-train"})
    )

    env["SLURM_RESTART_COUNT"] = "1"
    env["MASTER_PORT"] = str(_free_port())
    again = subprocess.run(
        [sys.executable, "-m", "pyagc.cli.train", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    log = (run_dir / "train.log").read_text()
    assert "was requeued (restart 1)" in log and "ckpt_path=auto: resuming from" in log, log[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 25 and metrics["world_size"] == 1
    assert not (run_dir / ".pyagc.lock").exists()


def test_run_lock_of_the_same_slurm_job_before_its_requeue_is_stale(tmp_path, monkeypatch):
    from pyagc.callbacks.run_folder import LOCK_NAME, RunFolderLockedError, RunLock

    old = {"pid": 1, "host": "node0", "slurm_job": "77", "slurm_restart": "0", "command": "pyagc-train"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(old))
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    with pytest.raises(RunFolderLockedError):  # the same incarnation, elsewhere: it may be alive
        RunLock(tmp_path).acquire()
    monkeypatch.setenv("SLURM_JOB_ID", "78")
    with pytest.raises(RunFolderLockedError):  # another job
        RunLock(tmp_path).acquire()
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    lock = RunLock(tmp_path).acquire()  # this job after its requeue
    assert json.loads((tmp_path / LOCK_NAME).read_text())["slurm_restart"] == "1"
    lock.release()


# ------------------------------------------------------------------------------------------------ Optuna
@needs_optuna
def test_optuna_sweep_of_three_trials_on_iris_names_the_best_trial(tmp_path):
    sweep = tmp_path / "sweep"
    proc = _cli(tmp_path, ["hparams_search=dec_optuna", "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={sweep}", *TINY])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = OmegaConf.to_container(OmegaConf.load(sweep / "optimization_results.yaml"))
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["n_runs"] == 3 and summary["n_failed"] == 0
    assert summary["objective"] == {"metric": "input_silhouette", "direction": "maximize"}
    values = {r["run_dir"]: r["input_silhouette"] for r in summary["runs"]}
    best = summary["best"]
    assert best["value"] == max(values.values()) == values[best["run_dir"]]
    assert best["value"] == pytest.approx(results["best_value"])
    searched = {"model.optimizer.lr", "head.update_interval", "encoder.latent_dim"}
    assert {p.split("=", 1)[0] for p in best["params"]} == searched == set(results["best_params"])
    for p in best["params"]:  # the best trial's overrides are Optuna's best parameters
        key, value = p.split("=", 1)
        assert float(value) == pytest.approx(float(results["best_params"][key]))
    config = OmegaConf.load(sweep / best["run_dir"] / ".hydra" / "config.yaml")
    assert config.head.n_features is None and config.encoder.latent_dim == results["best_params"]["encoder.latent_dim"]
    md = (sweep / "summary.md").read_text()
    assert f"Best trial (maximize input_silhouette): run {best['run_dir']}" in md and "optimization_results.yaml" in md


@needs_optuna
def test_optuna_sweep_in_the_wrong_direction_is_refused_before_its_first_trial(tmp_path):
    proc = _cli(
        tmp_path,
        ["hparams_search=dec_optuna", "optimized_metric=davies_bouldin", "hydra.sweep.dir=sweep", *TINY],
        timeout=120,
    )
    assert proc.returncode != 0
    assert "hydra.sweeper.direction=minimize" in proc.stdout + proc.stderr
    assert not list((tmp_path / "sweep").glob("*/metrics.json"))


def test_objective_is_unsupervised_by_default_and_a_missing_or_nan_value_fails_an_optuna_trial():
    from pyagc.cli.sweeps import DEFAULT_OBJECTIVE, sweep_objective

    cfg = _compose([])
    assert cfg.optimized_metric == DEFAULT_OBJECTIVE == "input_silhouette"
    optuna = OmegaConf.create(
        {"sweeper": {"_target_": "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"}}
    )
    basic = OmegaConf.create({"sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"}})
    assert sweep_objective(cfg, {"input_silhouette": 0.25, "acc": 0.9}, optuna) == 0.25
    assert sweep_objective(cfg, {"input_silhouette": math.nan}, basic) is None  # a plain run or sweep: no error
    with pytest.raises(ValueError, match="input_silhouette is nan.*fewer than 2 clusters"):
        sweep_objective(cfg, {"input_silhouette": math.nan}, optuna)
    labels = OmegaConf.merge(cfg, {"optimized_metric": "acc"})
    assert sweep_objective(labels, {"acc": 0.75, "input_silhouette": 0.2}, optuna) == 0.75
    with pytest.raises(ValueError, match="no 'acc' \\(the data has no labels\\).*input_silhouette"):
        sweep_objective(labels, {"input_silhouette": 0.2, "n_samples": 10}, optuna)


def test_input_space_scores_are_computed_on_a_fixed_sample_of_the_input_features():
    import numpy as np
    import torch

    from pyagc.metrics import input_space_metrics, internal_metrics

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (60, 4)), rng.normal(6, 1, (60, 4))]).astype(np.float32)
    labels = np.repeat([0, 1], 60)
    full = input_space_metrics(torch.from_numpy(x), labels)
    assert full["input_silhouette"] == pytest.approx(internal_metrics(x, labels)["silhouette"])
    assert full["input_silhouette"] > 0.7 > input_space_metrics(x, rng.permutation(labels))["input_silhouette"]
    sampled = input_space_metrics(x, labels, sample_size=50)
    assert sampled == input_space_metrics(torch.from_numpy(x), labels, sample_size=50)  # same rows, same scores
    assert input_space_metrics(None, labels) == {} and input_space_metrics(x[:10], labels) == {}
