"""Readable output (issue 26, item 4): progress lines instead of ``\\r`` floods when not on a terminal, the run's
summary in ``train.log``, identifiers in ``assignments.csv``, and plots with legends, distinct colours and a
confusion matrix ordered by the Hungarian matching."""

from __future__ import annotations

import csv
import io
import itertools
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from pyagc.cli.build import config_dir

TINY = ["data.limit=200", "encoder.hidden_dims=[16]", "model.pretrain_epochs=2", "model.epochs=3", "threads=1"]


def make_cfg(out: Path, overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="train", overrides=[f"paths.output_dir={out}", *overrides])


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------------------------------ the CLI
@pytest.fixture(scope="module")
def piped_run(tmp_path_factory):
    """One ``pyagc-train`` run with stdout and stderr going to pipes (not a terminal), as in a batch job."""
    out = tmp_path_factory.mktemp("piped") / "run"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pyagc.cli.train", f"hydra.run.dir={out}", *TINY],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, out


def test_progress_through_a_pipe_is_short_lines_without_carriage_returns(piped_run):
    proc, _ = piped_run
    console = proc.stdout + proc.stderr
    assert "\r" not in console
    assert max(len(line) for line in console.splitlines()) <= 500
    progress = [line for line in proc.stderr.splitlines() if line.startswith("[pyagc] epoch ")]
    assert len(progress) == 5 and progress[-1].startswith("[pyagc] epoch 5/5 ")  # 5 epochs: one line each
    assert "pretrain" in progress[0] and "joint" in progress[-1]


def test_train_log_holds_the_summary_and_the_console_shows_it_once(piped_run):
    proc, out = piped_run
    log = (out / "train.log").read_text()
    acc_line = next(
        line for line in proc.stdout.splitlines() if line.startswith("[pyagc] DECClusterHead on digits: ACC")
    )
    assert acc_line in log and f"[pyagc] outputs in {out}:" in log
    assert "[pyagc] epoch 5/5 " in log  # the progress lines too
    assert proc.stdout.count("[pyagc] DECClusterHead on digits: ACC") == 1  # printed plainly, not also as a record
    assert "[pyagc][INFO]" not in proc.stdout
    assert f"  confusion   {out / 'confusion.png'}" in proc.stdout and (out / "confusion.png").is_file()


def test_plain_progress_writes_a_line_per_ten_percent_of_the_epochs(capsys):
    from pyagc.callbacks.epoch_progress import EpochProgressBar, line_epochs

    assert [line_epochs(n) for n in (1, 5, 10, 11, 30, 1000)] == [1, 1, 1, 2, 3, 100]
    bar = EpochProgressBar(plain=True)
    trainer = SimpleNamespace(global_rank=0, max_epochs=30, current_epoch=0, callback_metrics={})
    module = SimpleNamespace(phase="joint")
    bar.on_train_start(trainer, module)
    for epoch in range(30):
        trainer.current_epoch = epoch
        trainer.callback_metrics = {"joint/loss_epoch": 1.0 / (epoch + 1)}
        bar.on_train_epoch_end(trainer, module)
    trainer.current_epoch = 30
    bar.on_train_end(trainer, module)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split()[2] for line in lines] == [f"{e}/30" for e in range(3, 31, 3)]
    assert "loss 0.0333" in lines[-1]
    # stopped early (e.g. DEC's tolerance): the last epoch gets its line
    bar = EpochProgressBar(plain=True)
    trainer.current_epoch = 0
    bar.on_train_start(trainer, module)
    for epoch in range(4):
        trainer.current_epoch = epoch
        bar.on_train_epoch_end(trainer, module)
    trainer.current_epoch = 4
    bar.on_train_end(trainer, module)
    assert [line.split()[2] for line in capsys.readouterr().err.splitlines()] == ["3/30", "4/30"]


def test_progress_bar_is_plain_only_off_a_terminal():
    from pyagc.callbacks.epoch_progress import is_interactive

    assert not is_interactive(io.StringIO())
    r, w = os.pipe()
    try:
        with os.fdopen(w, "w") as pipe:
            assert not is_interactive(pipe)
    finally:
        os.close(r)


# ------------------------------------------------------------------------------------------------ assignments.csv
def test_assignments_of_an_image_folder_carry_the_image_paths(tmp_path):
    from PIL import Image

    from pyagc.cli.experiment import run

    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for label, level in (("cats", 40), ("dogs", 200)):
        (root / label).mkdir(parents=True)
        for i in range(5):
            pixels = np.clip(level + rng.normal(0, 20, (8, 8)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / label / f"{label}_{i}.png")
    out = tmp_path / "run"
    run(
        make_cfg(
            out,
            [
                "data=imagefolder",
                f"data.root={root}",
                "data.image_size=8",
                "data.grayscale=true",
                "data.flatten=true",
                "encoder.hidden_dims=[16]",
                "model.pretrain_epochs=1",
                "model.epochs=1",
                "trainer.enable_progress_bar=false",
                "plot=false",
                "logger=none",
            ],
        )
    )
    rows = read_csv(out / "assignments.csv")
    assert list(rows[0]) == ["index", "path", "cluster", "label"]
    expected = [f"{label}/{label}_{i}.png" for label in ("cats", "dogs") for i in range(5)]
    assert [r["path"] for r in rows] == expected
    assert [r["label"] for r in rows] == ["0"] * 5 + ["1"] * 5
    assert all((root / r["path"]).is_file() for r in rows)


def test_assignments_of_a_table_carry_its_id_column(tmp_path):
    from pyagc.cli.experiment import run

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (20, 3)), rng.normal(6, 1, (20, 3))])
    ids = [f"sample-{i:03d}" for i in range(40)]
    path = tmp_path / "features.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sample_id", "a", "b", "c"])
        writer.writerows([[ids[i], *x[i].round(4).tolist()] for i in range(40)])
    out = tmp_path / "run"
    run(
        make_cfg(
            out,
            [
                "data=file",
                f"data.path={path}",
                "data.id_column=sample_id",
                "n_clusters=2",
                "encoder.hidden_dims=[8]",
                "model.pretrain_epochs=1",
                "model.epochs=1",
                "trainer.enable_progress_bar=false",
                "plot=false",
                "logger=none",
            ],
        )
    )
    rows = read_csv(out / "assignments.csv")
    assert list(rows[0]) == ["index", "sample_id", "cluster"]
    assert [r["sample_id"] for r in rows] == ids


# ------------------------------------------------------------------------------------------------ plots
def _rgb(colour) -> np.ndarray:
    return np.asarray(matplotlib.colors.to_rgb(colour))


@pytest.mark.parametrize("n", [3, 10, 20])
def test_palette_colours_are_pairwise_distinct(n):
    from pyagc.utils.plotting import colours

    rgb = np.array([_rgb(c) for c in colours(n)])
    distances = [np.linalg.norm(a - b) for a, b in itertools.combinations(rgb, 2)]
    assert min(distances) > 0.2  # tab20's light/dark pairs are ~0.1 apart (two blues among 3 clusters)
    if n == 3:  # not two shades of one hue: the dominant channels differ
        assert len({int(np.argmax(c)) for c in rgb}) == 3
    many = np.array([_rgb(c) for c in colours(30)])
    assert len({tuple(c.round(3)) for c in many}) == 30


def _blobs(n_clusters: int, per: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (n_clusters, 5))
    y = np.repeat(np.arange(n_clusters), per)
    z = centres[y] + rng.normal(0, 0.5, (len(y), 5))
    return z, y


def test_embedding_plot_has_legends_and_distinct_colours_per_cluster():
    import matplotlib.pyplot as plt

    from pyagc.utils.plotting import plot_embedding

    z, y = _blobs(3)
    labels = (y + 1) % 3  # clusters renamed: cluster 1 is class 0, ...
    fig = plot_embedding(z, labels, y, title="t")
    try:
        clusters_ax, classes_ax = fig.axes[:2]
        for ax in (clusters_ax, classes_ax):
            assert ax.get_legend() is not None
        assert [t.get_text() for t in clusters_ax.get_legend().get_texts()] == ["1 → 0", "2 → 1", "0 → 2"]
        assert [t.get_text() for t in classes_ax.get_legend().get_texts()] == ["0", "1", "2"]
        scatter = clusters_ax.collections[0].get_facecolors()[:, :3]
        assert len({tuple(c.round(3)) for c in scatter}) == 3
        # matched clusters and classes share their colours
        assert np.allclose(scatter, classes_ax.collections[0].get_facecolors()[:, :3])
        assert clusters_ax.get_xlabel() == "PC 1"
    finally:
        plt.close(fig)
    fig = plot_embedding(z, labels)  # no labels: one panel, clusters in the legend
    try:
        assert len(fig.axes) == 1 and [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["0", "1", "2"]
    finally:
        plt.close(fig)


def test_projections_tsne_umap_and_unknown_names():
    import matplotlib.pyplot as plt

    from pyagc.utils.plotting import check_projection, plot_embedding, project_2d

    z, y = _blobs(3, per=10)
    pts, keep = project_2d(z, method="tsne")
    assert pts.shape == (30, 2) and np.isfinite(pts).all() and len(keep) == 30
    fig = plot_embedding(z, y, y, projection="tsne")
    assert fig.axes[0].get_xlabel() == "t-SNE 1"
    plt.close(fig)
    with pytest.raises(ValueError, match="pca, tsne, umap"):
        check_projection("isomap")
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install umap-learn"):
            check_projection("umap")
    else:
        assert project_2d(z, method="umap")[0].shape == (30, 2)


def test_confusion_matrix_is_ordered_by_the_hungarian_matching():
    import matplotlib.pyplot as plt

    from pyagc.metrics import clustering_accuracy
    from pyagc.utils.plotting import matched_confusion, plot_confusion

    # classes 0, 1, 2; cluster 7 is mostly class 2, cluster 3 mostly class 0, cluster 5 mostly class 1, and
    # cluster 9 (4 samples of class 0) is left over: 4 clusters, 3 classes
    y = np.array([0] * 10 + [1] * 10 + [2] * 10 + [0] * 4)
    labels = np.array([3] * 8 + [5] * 2 + [5] * 9 + [7] * 1 + [7] * 7 + [3] * 3 + [9] * 4)
    table, rows, cols = matched_confusion(y, labels)
    assert rows == [3, 5, 7, 9] and cols == [0, 1, 2]
    assert np.diag(table).tolist() == [8, 9, 7]  # the matched counts
    assert table[3].tolist() == [4, 0, 0] and table.sum() == len(y)
    assert np.trace(table) / len(y) == pytest.approx(clustering_accuracy(y, labels))
    fig = plot_confusion(y, labels, title="t")
    try:
        texts = {t.get_text() for t in fig.axes[0].texts}
        assert {"8", "9", "7", "4"} <= texts  # small matrix: counts written in
        assert "0.706" in fig.axes[0].get_title()
    finally:
        plt.close(fig)


def test_save_outputs_writes_and_returns_the_confusion_plot_with_labels_only(tmp_path):
    from pyagc.evaluation import save_outputs

    z, y = _blobs(3, per=10)
    result = {"metrics": {"acc": 1.0}, "z": z, "labels": y, "y": y, "ids": None, "id_name": None}
    paths = save_outputs(result, tmp_path / "with", title="t")
    assert paths["confusion"] == tmp_path / "with" / "confusion.png" and paths["confusion"].is_file()
    assert paths["plot"].is_file()
    paths = save_outputs({**result, "y": None}, tmp_path / "without")
    assert "confusion" not in paths and paths["plot"].is_file()
    assert "confusion" not in save_outputs(result, tmp_path / "off", plot=False)
