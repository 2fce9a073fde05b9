"""End-to-end runs of the Hydra experiments (in-process for speed; DDP through the CLI)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException

from pyagc.cli.build import config_dir
from pyagc.cli.pairing import head_overrides  # what each head config needs, from its declaration
from pyagc.cli.train import run

CONFIGS = Path(config_dir())
HEADS = sorted(p.stem for p in (CONFIGS / "head").glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))
SMALL = ["data.limit=300", "encoder.hidden_dims=[64,64]", "trainer.enable_progress_bar=false"]


def make_cfg(out: Path, overrides: list[str], config_name: str = "train"):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name=config_name, overrides=[f"paths.output_dir={out}", *overrides])


def assignments(out: Path) -> np.ndarray:
    return np.loadtxt(out / "assignments.csv", delimiter=",", skiprows=1, dtype=int)


# a model that draws two augmented views of feature vectors (heads whose forward names ``views``)
VIEWS_MODEL = ["model=contrastive", "model/augmentation=tabular"]


@pytest.mark.parametrize("head", HEADS)
def test_every_head_config_runs_a_fast_dev_run(head, tmp_path):
    cfg = make_cfg(tmp_path, [f"head={head}", "debug=fast", "model.pretrain_epochs=0", *head_overrides(head)])
    metrics = run(cfg)
    assert metrics["joint_steps"] == 1 and 0.0 <= metrics["acc"] <= 1.0
    assert (tmp_path / "metrics.json").is_file()


def test_head_changed_after_training_is_saved_as_final_ckpt_and_evaluates_as_the_run(tmp_path):
    # the contrastive head with over-clustering merges its columns after training: last.ckpt (resume point)
    # predates the merge, final.ckpt holds it and is what metrics.json names; pyagc-eval reproduces the run
    from pyagc.cli.evaluate import run as run_eval

    cfg = make_cfg(
        tmp_path,
        [
            *VIEWS_MODEL,
            "head=contrastive",
            "head.overclusters=12",
            "model.pretrain_epochs=0",
            "model.epochs=2",
            "plot=false",
            *SMALL,
        ],
    )
    saved = run(cfg)
    ckpts = tmp_path / "checkpoints"
    assert Path(saved["checkpoint"]) == ckpts / "final.ckpt" and (ckpts / "last.ckpt").is_file()
    head_state = torch.load(ckpts / "final.ckpt", weights_only=False)["state_dict"]
    assert bool(head_state["cluster_head._merged"])
    assert not bool(torch.load(ckpts / "last.ckpt", weights_only=False)["state_dict"]["cluster_head._merged"])
    assert assignments(tmp_path)[:, 1].max() < 10  # 12 columns, 10 clusters
    em = run_eval(
        make_cfg(
            tmp_path / "eval", [f"ckpt={saved['checkpoint']}", "data=digits", "data.limit=300"], config_name="eval"
        )
    )
    assert em["acc"] == pytest.approx(saved["acc"])
    assert np.array_equal(assignments(tmp_path / "eval"), assignments(tmp_path))
    # a run whose head does not change after training keeps last.ckpt as its checkpoint
    plain = run(
        make_cfg(
            tmp_path / "plain",
            [*VIEWS_MODEL, "head=contrastive", "model.pretrain_epochs=0", "model.epochs=1", "plot=false", *SMALL],
        )
    )
    assert Path(plain["checkpoint"]).name == "last.ckpt"
    assert not (tmp_path / "plain" / "checkpoints" / "final.ckpt").exists()


def test_augmented_pretraining_and_joint_training_from_the_command_line(tmp_path):
    # DEC-DA on digits (8x8 images stored flat): random affine views in both phases
    cfg = make_cfg(
        tmp_path,
        [
            "experiment=dec_digits",
            "+model/augmentation=affine",
            "model.augmentation.image_shape=[1,8,8]",
            "model.pretrain_augmentation=true",
            "model.joint_augmentation=true",
            "model.pretrain_epochs=1",
            "model.epochs=1",
            *SMALL,
        ],
    )
    metrics = run(cfg)
    assert metrics["joint_steps"] > 0 and 0.0 <= metrics["acc"] <= 1.0


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment, tmp_path):
    cfg = make_cfg(tmp_path, [f"experiment={experiment}"])
    assert cfg.task_name == experiment and "_target_" in cfg.head and "_target_" in cfg.data


def test_default_experiment_learns_and_writes_outputs(tmp_path):
    cfg = make_cfg(
        tmp_path,
        [
            "model.pretrain_epochs=15",
            "model.epochs=10",
            "encoder.hidden_dims=[256,256]",
            "trainer.enable_progress_bar=false",
        ],
    )
    m = run(cfg)
    assert m["acc"] > 0.5, m  # 10 digit classes: chance is ~0.1; a short run already clusters
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for key in (
        "acc",
        "nmi",
        "ari",
        "f1",
        "silhouette",
        "davies_bouldin",
        "calinski_harabasz",
        "time_s",
        "peak_rss_mb",
    ):
        assert key in saved
    assert set(saved["time_s"]) >= {"pretrain", "initialize", "joint", "total"}
    a = assignments(tmp_path)
    assert a.shape == (1797, 3) and a[:, 1].max() < 10
    assert (tmp_path / "embedding.png").stat().st_size > 10_000
    assert Path(saved["checkpoint"]).is_file()

    # pyagc-eval with the saved checkpoint reproduces the assignments
    from pyagc.cli.evaluate import run as run_eval

    eval_out = tmp_path / "eval"
    ecfg = make_cfg(eval_out, [f"ckpt={saved['checkpoint']}"], config_name="eval")
    em = run_eval(ecfg)
    assert em["acc"] == pytest.approx(saved["acc"])
    assert np.array_equal(assignments(eval_out), a)
    with pytest.raises(ValueError, match="not a device"):
        run_eval(make_cfg(eval_out, [f"ckpt={saved['checkpoint']}", "device=gpu0"], config_name="eval"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no usable CUDA GPU"):
            run_eval(make_cfg(eval_out, [f"ckpt={saved['checkpoint']}", "device=cuda"], config_name="eval"))


def test_same_seed_same_assignments(tmp_path):
    args = ["model.pretrain_epochs=3", "model.epochs=3", "plot=false", "callbacks=none", *SMALL]
    run(make_cfg(tmp_path / "a", args))
    run(make_cfg(tmp_path / "b", args))
    run(make_cfg(tmp_path / "c", [*args, "seed=5"]))
    assert np.array_equal(assignments(tmp_path / "a"), assignments(tmp_path / "b"))
    assert not np.array_equal(assignments(tmp_path / "a")[:, 1], assignments(tmp_path / "c")[:, 1])


@pytest.mark.parametrize("killed_after", [2, 5])  # during pretraining; after DEC's stopping rule fired
def test_resume_from_last_checkpoint_matches_uninterrupted(killed_after, tmp_path):
    base = ["model.pretrain_epochs=3", "model.epochs=4", "head.update_interval=3", "plot=false", *SMALL]
    run(make_cfg(tmp_path / "full", base))
    # "killed" after some epochs, then resumed from last.ckpt
    run(make_cfg(tmp_path / "part", [*base, f"trainer.max_epochs={killed_after}"]))
    ckpt = tmp_path / "part" / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    run(make_cfg(tmp_path / "resumed", [*base, f"ckpt_path={ckpt}"]))
    assert np.array_equal(assignments(tmp_path / "full"), assignments(tmp_path / "resumed"))


def _no_outputs(out: Path) -> bool:
    return not any((out / f).exists() for f in ("metrics.json", "assignments.csv", "embedding.png")) and not list(
        out.rglob("*.ckpt")
    )


def test_bad_inputs_fail_before_training_and_write_nothing(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    x[7, 1] = np.inf
    np.save(tmp_path / "bad.npy", x)
    cases = [
        (["data=file", f"data.path={tmp_path / 'bad.npy'}", "n_clusters=3"], ValueError, "NaN/inf"),
        (["n_clusters=1"], ValueError, "at least 2"),
        (["data.limit=20", "n_clusters=50"], ValueError, "larger than the number of samples"),
        (["encoder.in_features=10"], ValueError, "expects 10 input features but got 64"),
        (["data=usps", f"data.root={tmp_path / 'nowhere'}"], FileNotFoundError, "nowhere"),
        (["encoder=gcn", "model.pretrain_epochs=0"], ValueError, "needs a graph"),
        (["head._target_=test_cli.GraphOnlyHead"], ValueError, "needs a graph"),
        (["head.n_features=7"], ValueError, "expects 7"),
    ]
    for i, (overrides, exc, message) in enumerate(cases):
        out = tmp_path / f"case{i}"
        with pytest.raises(exc, match=message):
            run(make_cfg(out, ["model.pretrain_epochs=1", "model.epochs=1", *overrides]))
        assert _no_outputs(out), overrides


def test_unknown_component_lists_valid_names(tmp_path):
    with pytest.raises(MissingConfigException, match="(?s)Available options in 'head'.*dec.*idec"):
        make_cfg(tmp_path, ["head=decc"])
    with pytest.raises(MissingConfigException, match="(?s)Available options in 'data'.*digits"):
        make_cfg(tmp_path, ["data=digitz"])


from pyagc.clusters import DECClusterHead  # noqa: E402


class GraphOnlyHead(DECClusterHead):
    """A head whose forward requires the graph (so it must be refused on a table before training)."""

    def forward(self, z, edge_index, index=None):
        return super().forward(z, index)


def _cli(out: Path, args: list[str]) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "pyagc.cli.train", f"hydra.run.dir={out}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


def test_ddp_two_cpu_processes_match_one_process(tmp_path):
    # the global batch is 128 in both runs: 2 processes x 64, or 1 process x 128
    common = [
        "model.pretrain_epochs=4",
        "model.epochs=4",
        "head.update_interval=10",
        "data.limit=600",
        "encoder.hidden_dims=[64,64]",
        "plot=false",
        "logger=none",
        "callbacks=none",
        "threads=1",
    ]
    ddp = _cli(tmp_path / "ddp", [*common, "trainer=ddp_cpu", "data.batch_size=64"])
    one = _cli(tmp_path / "one", [*common, "data.batch_size=128"])
    assert ddp["world_size"] == 2 and one["world_size"] == 1
    assert ddp["ddp_init_max_abs_diff"] == 0.0  # identical centres on both ranks after initialisation
    assert ddp["n_samples"] == one["n_samples"] == 600  # gathered without DistributedSampler's padding
    for k in ("acc", "nmi", "ari"):
        assert abs(ddp[k] - one[k]) < 0.02, (k, ddp[k], one[k])


ENCODER_DATA = {
    "mlp_autoencoder": ["data=digits", "data.limit=200"],
    "mlp_vae": ["data=digits", "data.limit=200"],
    "conv_autoencoder": ["data=usps", "data.limit=200"],
    "resnet18": ["data=usps", "data.limit=64", "data.batch_size=32", "encoder.latent_dim=16"],
    "resnet50": ["data=usps", "data.limit=32", "data.batch_size=16", "encoder.latent_dim=16"],
    "gcn": ["data=karateclub", "head=kmeans"],
    "gcn_dmon": ["data=karateclub", "head=dmon"],
    "gat": ["data=karateclub", "head=kmeans"],
    "sage": ["data=karateclub", "head=kmeans"],
    "propagation_gcn": ["data=karateclub", "head=kmeans"],
}


@pytest.mark.parametrize("encoder", sorted(p.stem for p in (CONFIGS / "encoder").glob("*.yaml")))
def test_every_encoder_config_runs_a_fast_dev_run(encoder, tmp_path, request):
    assert encoder in ENCODER_DATA, f"add a data pairing for the new encoder config {encoder!r}"
    if "data=usps" in ENCODER_DATA[encoder]:
        request.getfixturevalue(
            "shared_data"
        )  # skips without ../shared/data (test_faults.py: on bundled digits images)
    overrides = [f"encoder={encoder}", "debug=fast", "model.pretrain_epochs=0", *ENCODER_DATA[encoder]]
    graph = encoder in ("gcn", "gcn_dmon", "gat", "sage", "propagation_gcn")
    if encoder.startswith("resnet") or graph:
        if encoder != "gcn_dmon":  # the DMoN head has no k-means initialisation
            overrides.append("head.n_init=2" if graph else "head.n_init=1")
    if graph:
        overrides.append("n_clusters=4")
    m = run(make_cfg(tmp_path, overrides))
    assert m["joint_steps"] == 1 and m["encoder"] in (
        "MLPAutoencoder",
        "ConvAutoencoder",
        "ResNetEncoder",
        "GCN",
        "PropagationGCN",
    )
    if graph:
        assert "modularity" in m and "conductance" in m


def test_cpu_contrastive_experiment_composes_crop_jitter_and_affine_views(tmp_path, shared_data):
    from hydra.utils import instantiate

    from pyagc.augmentations import ImageAugmentation, RandomAffine

    cfg = make_cfg(
        tmp_path,
        [
            "experiment=contrastive_usps_cpu",
            "data.limit=128",
            "data.batch_size=32",
            "model.epochs=1",
            "trainer.enable_progress_bar=false",
            "plot=false",
        ],
    )
    aug = instantiate(cfg.model.augmentation)
    assert isinstance(aug, torch.nn.Sequential)
    assert [type(m) for m in aug] == [ImageAugmentation, RandomAffine]
    x = torch.rand(6, 1, 16, 16)
    torch.manual_seed(0)
    view = aug(x)
    assert view.shape == x.shape and not torch.allclose(view, x, atol=1e-3)
    m = run(cfg)
    assert m["encoder"] == "ConvAutoencoder" and m["joint_steps"] == 4 and 0.0 <= m["acc"] <= 1.0
    # 11 trained columns merged into the 10 clusters after training (USPS is imbalanced)
    assert cfg.head.overclusters == 11 and assignments(tmp_path)[:, 1].max() < 10
    assert Path(m["checkpoint"]).name == "final.ckpt"


def test_multirun_over_seeds_writes_a_summary(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        "-m",
        "pyagc.cli.train",
        "--multirun",
        "seed=0,1",
        f"hydra.sweep.dir={tmp_path}",
        "model.pretrain_epochs=2",
        "model.epochs=2",
        "data.limit=300",
        "encoder.hidden_dims=[32]",
        "logger=none",
        "callbacks=none",
        "plot=false",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_runs"] == 2 and {r["seed"] for r in summary["runs"]} == {0, 1}
    accs = [r["acc"] for r in summary["runs"]]
    assert summary["mean"]["acc"] == pytest.approx(np.mean(accs))
    assert "mean ± std" in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize("images", ["usps", "bundled_digits"])
def test_ddp_image_experiment_on_two_cpu_processes(images, tmp_path, request):
    # an image experiment (Contrastive Clustering, ResNet-18, two augmented views per step) under the
    # DDP trainer: each process trains on its own shard (DistributedSampler) and the evaluation gathers
    # every image exactly once. On USPS (skipped without ../shared/data) and on scikit-learn's digits as 8x8 images
    if images == "usps":
        request.getfixturevalue("shared_data")
        data = []
    else:
        root = request.getfixturevalue("digits_image_folder")
        data = ["data=imagefolder", f"data.root={root}", "data.image_size=8", "data.grayscale=true"]
    args = [
        "experiment=contrastive_usps",
        *data,
        "trainer=ddp_cpu",
        "++data.limit=96",
        "data.batch_size=16",
        "model.epochs=1",
        "plot=false",
        "logger=none",
        "callbacks=none",
        "threads=1",
        "encoder.arch=resnet18",
    ]
    metrics = _cli(tmp_path / "ddp_img", args)
    assert metrics["world_size"] == 2 and metrics["n_samples"] == 96
    import csv

    with open(tmp_path / "ddp_img" / "assignments.csv", newline="") as f:  # by column name (ImageFolder adds file ids)
        indices = sorted(int(row["index"]) for row in csv.DictReader(f))
    assert indices == list(range(96))  # no image missing, none twice
    assert metrics["joint_steps"] == 3  # 96 images / 2 processes / 16 per batch
