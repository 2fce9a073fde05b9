"""A trained model is a self-contained artifact: its preprocessing is fitted once on the training data, saved in
the checkpoint and applied (never refitted) by pyagc-eval and pyagc-predict; prediction streams data of any size."""

from __future__ import annotations

import json
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from pyagc.cli.build import config_dir
from pyagc.data.preprocessing import DataMismatchError

COLUMNS = ["a", "b", "c", "d"]
TINY = [
    "model.pretrain_epochs=2",
    "model.epochs=2",
    "encoder.hidden_dims=[16,16]",
    "encoder.latent_dim=3",
    "trainer.enable_progress_bar=false",
    "plot=false",
    "head.n_init=2",
]


def make_cfg(out: Path, overrides: list[str], config_name: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name=config_name, overrides=[f"paths.output_dir={out}", *overrides])


def write_csv(path: Path, x: np.ndarray, columns: list[str] | None = None, ids: list[str] | None = None) -> Path:
    lines = []
    if columns is not None:
        lines.append(",".join((["id"] if ids is not None else []) + columns))
    for i, row in enumerate(x):
        lines.append(",".join(([ids[i]] if ids is not None else []) + [repr(float(v)) for v in row]))
    path.write_text("\n".join(lines) + "\n")
    return path


def read_assignments(path: Path) -> tuple[list[str], np.ndarray]:
    """Header and rows of an assignments.csv (as strings)."""
    lines = path.read_text().splitlines()
    return lines[0].split(","), np.array([line.split(",") for line in lines[1:]], dtype=object).reshape(
        len(lines) - 1, -1
    )


def clusters(path: Path) -> np.ndarray:
    header, rows = read_assignments(path)
    return rows[:, header.index("cluster")].astype(int)


def predict(ckpt: Path, out: Path, data: list[str], *extra: str) -> dict:
    from pyagc.cli.predict import run

    return run(make_cfg(out, [f"ckpt={ckpt}", f"out={out}", *data, *extra], "predict"), overrides=[*data, *extra])


def evaluate(ckpt: Path, out: Path, data: list[str], *extra: str) -> dict:
    from pyagc.cli.evaluate import run

    return run(make_cfg(out, [f"ckpt={ckpt}", *data, *extra], "eval"), overrides=[*data, *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """DEC trained on a CSV with a header and an ID column (3 blobs, 4 features, labels in a separate file)."""
    from sklearn.datasets import make_blobs

    from pyagc.cli.train import run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: one thread is fastest, and immune to a busy machine
    root = tmp_path_factory.mktemp("trained")
    x, y = make_blobs(n_samples=240, n_features=4, centers=3, cluster_std=1.5, random_state=3)
    x = (x * [1.0, 10.0, 0.1, 100.0] + [0.0, 50.0, -3.0, 1000.0]).astype(np.float32)  # scaling matters
    ids = [f"s{i:03d}" for i in range(len(x))]
    write_csv(root / "train.csv", x, COLUMNS, ids)
    np.save(root / "y.npy", y)
    run_dir = root / "run"
    metrics = run(
        make_cfg(
            run_dir,
            [
                "data=file",
                f"data.path={root / 'train.csv'}",
                "data.id_column=id",
                f"data.labels_path={root / 'y.npy'}",
                "n_clusters=3",
                *TINY,
            ],
            "train",
        )
    )
    yield {
        "root": root,
        "x": x,
        "y": y,
        "ids": ids,
        "metrics": metrics,
        "run": run_dir,
        "ckpt": Path(metrics["checkpoint"]),
        "assignments": clusters(run_dir / "assignments.csv"),
    }
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------------------ the artifact
def test_checkpoint_carries_the_preprocessing_fitted_on_the_training_data(trained):
    ckpt = torch.load(trained["ckpt"], map_location="cpu", weights_only=True)  # plain containers and tensors
    state = ckpt["TabularDataModule"]["preprocessing"]
    assert state["kind"] == "table" and state["scaling"] == "standard" and state["columns"] == COLUMNS
    assert state["input_shape"] == [4]
    mean = state["scaler"]["attributes"]["mean_"].numpy()
    assert np.allclose(mean, trained["x"].astype(np.float64).mean(0))
    header, rows = read_assignments(trained["run"] / "assignments.csv")
    assert header == ["index", "id", "cluster", "label"] and list(rows[:3, 1]) == ["s000", "s001", "s002"]


def test_predicting_the_training_data_gives_the_training_runs_assignments(trained, tmp_path):
    root = trained["root"]
    m = predict(
        trained["ckpt"],
        tmp_path,
        ["data=file", f"data.path={root / 'train.csv'}", "data.id_column=id", f"data.labels_path={root / 'y.npy'}"],
    )
    assert np.array_equal(clusters(tmp_path / "assignments.csv"), trained["assignments"])
    assert m["acc"] == pytest.approx(trained["metrics"]["acc"]) and m["n_samples"] == 240
    header, rows = read_assignments(tmp_path / "assignments.csv")
    assert header == ["index", "id", "cluster", "label"]
    assert list(rows[:, 1]) == trained["ids"] and np.array_equal(rows[:, 3].astype(int), trained["y"])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert sum(saved["cluster_sizes"]) == 240 and "standard" in saved["preprocessing"]


def test_row_by_row_and_all_at_once_give_the_same_clusters(trained, tmp_path):
    path = write_csv(tmp_path / "new.csv", trained["x"][:60], COLUMNS)
    predict(trained["ckpt"], tmp_path / "all", ["data=file", f"data.path={path}"])
    predict(trained["ckpt"], tmp_path / "rows", ["data=file", f"data.path={path}"], "batch_size=1")
    together = clusters(tmp_path / "all" / "assignments.csv")
    assert np.array_equal(clusters(tmp_path / "rows" / "assignments.csv"), together)
    assert np.array_equal(together, trained["assignments"][:60])
    # the rows of one blob evaluated alone get the clusters they get among all the others (nothing is refitted)
    blob = np.flatnonzero(trained["y"] == 1)[:40]
    alone = write_csv(tmp_path / "blob.csv", trained["x"][blob], COLUMNS)
    evaluate(trained["ckpt"], tmp_path / "eval", ["data=file", f"data.path={alone}"])
    assert np.array_equal(clusters(tmp_path / "eval" / "assignments.csv"), trained["assignments"][blob])
    # one row at a time, each in its own file
    for i in (0, 7, 33):
        one = write_csv(tmp_path / f"row{i}.csv", trained["x"][i : i + 1], COLUMNS)
        predict(trained["ckpt"], tmp_path / f"row{i}", ["data=file", f"data.path={one}"])
        assert clusters(tmp_path / f"row{i}" / "assignments.csv").tolist() == [trained["assignments"][i]]


def test_a_checkpoint_saved_on_another_device_loads_on_the_cpu(trained, tmp_path, monkeypatch):
    import torch.serialization as ts

    from pyagc.cli.predict import load_trained

    # rewrite the checkpoint as a GPU run writes it: every tensor's storage tagged "cuda:0"
    ckpt = torch.load(trained["ckpt"], map_location="cpu", weights_only=True)
    gpu_ckpt = tmp_path / "gpu.ckpt"
    with monkeypatch.context() as m:
        m.setattr(ts, "location_tag", lambda storage: "cuda:0")
        torch.save(ckpt, gpu_ckpt)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(gpu_ckpt, weights_only=True)  # what loading without map_location does on this machine
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("map_location"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    loaded = load_trained(gpu_ckpt)
    assert calls and all(str(c) == "cpu" for c in calls)
    assert all(p.device.type == "cpu" for p in loaded.model.parameters())
    monkeypatch.setattr(torch, "load", real_load)
    path = trained["root"] / "train.csv"
    predict(gpu_ckpt, tmp_path / "out", ["data=file", f"data.path={path}", "data.id_column=id"])
    assert np.array_equal(clusters(tmp_path / "out" / "assignments.csv"), trained["assignments"])


def test_a_checkpoint_without_saved_preprocessing_refits_it_on_its_training_data_with_a_warning(trained, tmp_path):
    ckpt = torch.load(trained["ckpt"], map_location="cpu", weights_only=True)
    del ckpt["TabularDataModule"]  # as written before pyagc saved the preprocessing
    old = tmp_path / "old.ckpt"
    torch.save(ckpt, old)
    with pytest.warns(UserWarning, match="older pyagc that did not save the preprocessing"):
        predict(old, tmp_path / "p", ["data=file", f"data.path={trained['root'] / 'train.csv'}", "data.id_column=id"])
    assert np.array_equal(clusters(tmp_path / "p" / "assignments.csv"), trained["assignments"])


# ------------------------------------------------------------------------------------------------ tables
def test_csv_header_round_trip_matches_columns_by_name(trained, tmp_path):
    x = trained["x"][:50]
    reordered = write_csv(tmp_path / "reordered.csv", x[:, ::-1], COLUMNS[::-1])
    predict(trained["ckpt"], tmp_path / "r", ["data=file", f"data.path={reordered}"])
    assert np.array_equal(clusters(tmp_path / "r" / "assignments.csv"), trained["assignments"][:50])
    bare = write_csv(tmp_path / "bare.csv", x)  # no header: the columns are taken by position
    predict(trained["ckpt"], tmp_path / "b", ["data=file", f"data.path={bare}"])
    assert np.array_equal(clusters(tmp_path / "b" / "assignments.csv"), trained["assignments"][:50])


def test_id_column_is_carried_into_the_assignments(trained, tmp_path):
    ids = [f"customer-{i}" for i in range(30)]
    path = write_csv(tmp_path / "ids.csv", trained["x"][:30], COLUMNS, ids)
    path.write_text(path.read_text().replace("id,a,b,c,d", "customer,a,b,c,d", 1))
    predict(trained["ckpt"], tmp_path / "p", ["data=file", f"data.path={path}", "data.id_column=customer"])
    header, rows = read_assignments(tmp_path / "p" / "assignments.csv")
    assert header == ["index", "customer", "cluster"] and list(rows[:, 1]) == ids
    assert np.array_equal(rows[:, 2].astype(int), trained["assignments"][:30])


def test_wrong_feature_count_column_names_and_data_kind_say_what_the_model_expects(trained, tmp_path):
    x = trained["x"][:10]
    three = write_csv(tmp_path / "three.csv", x[:, :3], COLUMNS[:3])
    with pytest.raises(DataMismatchError, match=r"takes a table of 4 features \(columns a, b, c, d\).*3 feature"):
        predict(trained["ckpt"], tmp_path / "o", ["data=file", f"data.path={three}"])
    np.save(tmp_path / "five.npy", np.ones((10, 5), np.float32))
    with pytest.raises(DataMismatchError, match="4 features.*5 feature columns"):
        predict(trained["ckpt"], tmp_path / "o", ["data=file", f"data.path={tmp_path / 'five.npy'}"])
    renamed = write_csv(tmp_path / "renamed.csv", x, ["a", "b", "c", "e"])
    with pytest.raises(DataMismatchError, match=r"missing: \['d'\]; not in the model: \['e'\]"):
        predict(trained["ckpt"], tmp_path / "o", ["data=file", f"data.path={renamed}"])
    with_ids = write_csv(tmp_path / "with_ids.csv", x, COLUMNS, [str(i) for i in range(10)])
    with pytest.raises(DataMismatchError, match="data.id_column=NAME"):
        predict(trained["ckpt"], tmp_path / "o", ["data=file", f"data.path={with_ids}"])
    with pytest.raises(DataMismatchError, match="trained on a table.*data .Cora. is a graph"):
        evaluate(trained["ckpt"], tmp_path / "o", ["data=cora"])
    from PIL import Image

    (tmp_path / "pics").mkdir()
    Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(tmp_path / "pics" / "0.png")
    with pytest.raises(DataMismatchError, match="trained on a table.* is images. Give a table"):
        predict(trained["ckpt"], tmp_path / "o", ["data=imagefolder", f"data.root={tmp_path / 'pics'}"])
    assert not (tmp_path / "o" / "assignments.csv").exists()


def test_scaling_asked_for_differs_from_the_models(trained, tmp_path):
    from omegaconf import OmegaConf

    from pyagc.cli.predict import datamodule_for, load_trained

    model = load_trained(trained["ckpt"])
    path = write_csv(tmp_path / "x.csv", trained["x"][:5], COLUMNS)
    cfg = OmegaConf.create(
        {"_target_": "pyagc.data.TabularDataModule", "name": None, "path": str(path), "scaling": "minmax"}
    )
    with pytest.raises(ValueError, match=r"data.scaling=minmax asks for other preprocessing.*data.scaling=standard"):
        datamodule_for(model, cfg, explicit={"scaling"})
    with pytest.warns(UserWarning, match="scaling=minmax .*trained with scaling=standard"):
        dm = datamodule_for(model, cfg, explicit=set())
    dm.setup()
    assert dm.preprocessor.scaling == "standard" and dm.preprocessor.n_fit_samples == 240
    with pytest.raises(ValueError, match="asks for other preprocessing"):
        predict(trained["ckpt"], tmp_path / "o", ["data=file", f"data.path={path}", "data.scaling=minmax"])


def test_one_row_file_evaluates_without_crashing(trained, tmp_path):
    one = write_csv(tmp_path / "one.csv", trained["x"][4:5], COLUMNS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = evaluate(trained["ckpt"], tmp_path / "eval", ["data=file", f"data.path={one}"])
    assert m["n_samples"] == 1
    assert clusters(tmp_path / "eval" / "assignments.csv").tolist() == [trained["assignments"][4]]
    assert not (tmp_path / "eval" / "embedding.png").exists()  # no PCA of one point


def test_soft_assignments_and_embeddings_written_incrementally(trained, tmp_path):
    x = trained["x"][:100]
    np.save(tmp_path / "x.npy", x)
    csv = write_csv(tmp_path / "x.csv", x, COLUMNS)
    for name, path in (("npy", tmp_path / "x.npy"), ("csv", csv)):  # rows known up front / counted as read
        predict(
            trained["ckpt"],
            tmp_path / name,
            ["data=file", f"data.path={path}"],
            "soft=true",
            "embeddings=true",
            "batch_size=7",
        )
    soft = np.load(tmp_path / "npy" / "soft_assignments.npy")
    z = np.load(tmp_path / "npy" / "embeddings.npy")
    assert soft.shape == (100, 3) and z.shape == (100, 3) and soft.dtype == np.float32
    assert np.allclose(soft.sum(1), 1, atol=1e-5)
    assert np.array_equal(soft.argmax(1), clusters(tmp_path / "npy" / "assignments.csv"))
    assert np.array_equal(np.load(tmp_path / "csv" / "soft_assignments.npy"), soft)
    assert np.array_equal(np.load(tmp_path / "csv" / "embeddings.npy"), z)
    assert not list((tmp_path / "csv").glob(".*tmp"))  # no temporary files left


def test_streaming_a_npy_memmap_keeps_memory_flat(trained, tmp_path):
    from omegaconf import OmegaConf

    from pyagc.cli.predict import datamodule_for, load_trained
    from pyagc.evaluation import predict as predict_stream

    rng = np.random.default_rng(0)
    n = 500_000
    big = tmp_path / "big.npy"
    arr = np.lib.format.open_memmap(big, mode="w+", dtype=np.float32, shape=(n, 4))
    for start in range(0, n, 100_000):
        arr[start : start + 100_000] = trained["x"][rng.integers(0, 240, 100_000)]
    arr.flush()
    del arr
    size = big.stat().st_size  # 8 MB
    model = load_trained(trained["ckpt"])
    dm = datamodule_for(
        model,
        OmegaConf.create(
            {"_target_": "pyagc.data.TabularDataModule", "name": None, "path": str(big), "scaling": "standard"}
        ),
    )
    tracemalloc.start()
    try:
        result = predict_stream(
            model.model, dm.predict_batches(2048), tmp_path / "out", n_rows=dm.predict_size(), sample_size=200
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result["metrics"]["n_samples"] == n
    assert peak < size / 8, f"peak {peak / 1e6:.1f} MB of Python allocations for a {size / 1e6:.1f} MB array"


def test_image_folder_is_predicted_file_by_file_with_paths_as_ids(trained, tmp_path):
    from PIL import Image

    from pyagc.cli.train import run

    rng = np.random.default_rng(0)
    train_root = tmp_path / "train"
    for cls, value in (("dark", 40), ("light", 210)):
        (train_root / cls).mkdir(parents=True)
        for i in range(8):
            pixels = np.clip(rng.normal(value, 12, (10, 12, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(train_root / cls / f"{i}.png")
    metrics = run(
        make_cfg(
            tmp_path / "run",
            [
                "data=imagefolder",
                f"data.root={train_root}",
                "data.image_size=6",
                "data.grayscale=true",
                "data.flatten=true",
                "n_clusters=2",
                "data.batch_size=8",
                *TINY,
            ],
            "train",
        )
    )
    ckpt = metrics["checkpoint"]
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["ImageDataModule"]["preprocessing"]
    assert state["kind"] == "image" and state["input_shape"] == [1, 6, 6] and state["file_size"] == 6
    # new images of another size, in a flat folder with a sub-folder: read one file after another
    new = tmp_path / "new"
    (new / "more").mkdir(parents=True)
    for name, value in (("a.png", 40), ("b.png", 210), ("more/c.png", 45)):
        Image.fromarray(np.full((30, 20, 3), value, np.uint8)).save(new / name)
    # a config default other than the model's (image_size 32) is replaced by the model's, with a warning
    with pytest.warns(UserWarning, match="image_size=32 .*trained with image_size=6"):
        predict(ckpt, tmp_path / "p", ["data=imagefolder", f"data.root={new}"], "batch_size=2")
    header, rows = read_assignments(tmp_path / "p" / "assignments.csv")
    assert header == ["index", "path", "cluster"] and list(rows[:, 1]) == ["a.png", "b.png", "more/c.png"]
    c = rows[:, 2].astype(int)
    assert c[0] == c[2] != c[1]  # dark, light, dark
    # the image model refuses a table, and training images evaluated again keep their clusters
    with pytest.raises(DataMismatchError, match="trained on images .* is a table. Give images"):
        predict(ckpt, tmp_path / "o", ["data=file", f"data.path={trained['root'] / 'train.csv'}"])
    predict(
        ckpt,
        tmp_path / "again",
        ["data=imagefolder", f"data.root={train_root}", "data.image_size=6", "data.grayscale=true"],
    )
    assert np.array_equal(
        clusters(tmp_path / "again" / "assignments.csv"), clusters(tmp_path / "run" / "assignments.csv")
    )
