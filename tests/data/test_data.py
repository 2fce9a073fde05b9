import numpy as np
import pytest
import torch

from pyagc.data import GraphDataModule, ImageDataModule, TabularDataModule, get_dataset, scale_features


def test_digits_batches_carry_x_index_y():
    dm = TabularDataModule("digits", scaling="minmax", batch_size=100)
    dm.setup()
    assert dm.input_shape == (64,) and dm.n_samples == 1797 and dm.n_classes == 10
    assert 0.0 <= float(dm.x.min()) and float(dm.x.max()) <= 1.0
    seen = torch.cat([b["index"] for b in dm.train_dataloader()])
    assert sorted(seen.tolist()) == list(range(1797))  # every sample once per epoch
    batch = next(iter(dm.train_dataloader()))
    assert torch.equal(batch["x"], dm.x[batch["index"]]) and torch.equal(batch["y"], dm.y[batch["index"]])


def test_shuffling_depends_on_seed_and_epoch_only():
    a, b = TabularDataModule("iris", seed=3, batch_size=10), TabularDataModule("iris", seed=3, batch_size=10)
    la, lb = a.train_dataloader(), b.train_dataloader()
    first = next(iter(la))["index"]
    assert torch.equal(first, next(iter(lb))["index"])
    la.sampler.set_epoch(1)
    assert not torch.equal(first, next(iter(la))["index"])


def test_scalings():
    x = torch.tensor([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]])
    z = scale_features(x, "standard")
    assert torch.allclose(z[:, 0].mean(), torch.tensor(0.0)) and torch.allclose(z[:, 1], torch.zeros(3))
    assert scale_features(x, "minmax")[:, 0].tolist() == [0.0, 0.5, 1.0]
    g = scale_features(x, "global_z")
    assert abs(float(g.mean())) < 1e-6 and abs(float(g.std(unbiased=False)) - 1) < 1e-5
    with pytest.raises(ValueError, match="valid"):
        scale_features(x, "zscore")


def test_nan_features_fail_with_a_clear_message(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 3))
    x[4, 2] = np.nan
    np.save(tmp_path / "x.npy", x)
    dm = TabularDataModule(name=None, path=str(tmp_path / "x.npy"))
    with pytest.raises(ValueError, match=r"NaN/inf values in 1 samples \(first rows: \[4\]\)"):
        dm.setup()


def test_unknown_and_missing_data_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="valid: .*digits"):
        TabularDataModule("digitz").setup()
    with pytest.raises(ValueError, match="valid: .*usps"):
        ImageDataModule("cifar")
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "USPS_missing")):
        ImageDataModule("usps", root=str(tmp_path / "USPS_missing")).setup()
    with pytest.raises(FileNotFoundError, match="MNIST"):
        ImageDataModule("mnist", root=str(tmp_path)).setup()


def test_benchmark_format(shared_data):
    dm = TabularDataModule("fcps/hepta", root=str(shared_data / "clustering"))
    dm.setup()
    assert dm.input_shape == (3,) and dm.n_samples == 212 and dm.n_classes == 7
    assert int(dm.y.min()) == 0
    path = shared_data / "clustering" / "sipu" / "flame.data.gz"
    dm2 = TabularDataModule(name=None, path=str(path), labels_index=1)
    dm2.setup()
    assert dm2.n_samples == 240 and int(dm2.y.min()) == -1  # labels1 has noise points


def test_usps_and_mnist_from_local_files(shared_data):
    usps = ImageDataModule("usps", root=str(shared_data / "usps"))
    usps.setup()
    assert usps.input_shape == (1, 16, 16) and usps.n_samples == 9298 and usps.n_classes == 10
    assert 0.0 <= float(usps.x.min()) and float(usps.x.max()) <= 1.0
    mnist = ImageDataModule("mnist", root=str(shared_data / "torchvision"), split="test", limit=500, flatten=True)
    mnist.setup()
    assert mnist.input_shape == (784,) and mnist.n_samples == 500


def test_resize_usps_to_mnist_size(shared_data):
    native = ImageDataModule("usps", root=str(shared_data / "usps"), limit=64, seed=0)
    native.setup()
    dm = ImageDataModule("usps", root=str(shared_data / "usps"), resize=28, flatten=True, limit=64, seed=0)
    dm.setup()
    assert dm.input_shape == (784,) and dm.n_samples == 64
    assert torch.equal(dm.y, native.y)  # the same images, only resized
    big = dm.x.reshape(-1, 1, 28, 28)
    assert 0.0 <= float(big.min()) and float(big.max()) <= 1.0
    # upscaling keeps each image's mean brightness and its layout: shrinking back gives the original
    assert torch.allclose(big.mean((1, 2, 3)), native.x.mean((1, 2, 3)), atol=0.02)
    back = torch.nn.functional.interpolate(big, size=(16, 16), mode="bilinear", antialias=True).flatten(1)
    orig = native.x.flatten(1)
    back, orig = back - back.mean(1, keepdim=True), orig - orig.mean(1, keepdim=True)
    corr = (back * orig).sum(1) / (back.norm(dim=1) * orig.norm(dim=1))
    assert float(corr.min()) > 0.93  # each image matches its own original (different digits: ~0.3-0.6)
    with pytest.raises(ValueError, match="resize must be a positive"):
        ImageDataModule("usps", resize=0)


def test_pad_frames_usps_like_mnist(shared_data):
    native = ImageDataModule("usps", root=str(shared_data / "usps"), resize=20, limit=64, seed=0)
    native.setup()
    framed = ImageDataModule("usps", root=str(shared_data / "usps"), resize=20, pad=4, limit=64, seed=0)
    framed.setup()
    assert framed.input_shape == (1, 28, 28) and torch.equal(framed.y, native.y)
    # the digit sits unchanged in the centre, the 4-pixel border is background
    assert torch.equal(framed.x[:, :, 4:24, 4:24], native.x)
    border = framed.x.clone()
    border[:, :, 4:24, 4:24] = 0
    assert float(border.abs().max()) == 0.0
    # USPS digits touch the frame's edges; after padding no digit does (what crops and rotations need)
    assert float(native.x[:, :, 0, :].max()) > 0.5
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="pad must be a number of pixels"):
            ImageDataModule("usps", pad=bad)


def test_graphs(shared_data):
    x, edge_index, y = get_dataset("Cora", root=str(shared_data / "planetoid"))
    assert x.shape == (2708, 1433) and edge_index.shape == (2, 10556) and int(y.max()) == 6
    dm = GraphDataModule("KarateClub")
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["edge_index"].shape[0] == 2 and batch["x"].shape[0] == 34
    with pytest.raises(ValueError, match="valid"):
        get_dataset("Corra")


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, value in (("dark", 40), ("light", 220)):
        (tmp_path / cls).mkdir()
        for i in range(4):
            pixels = np.clip(rng.normal(value, 10, (20, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / cls / f"{i}.png")
    dm = ImageDataModule("imagefolder", root=str(tmp_path), image_size=16, grayscale=True)
    dm.setup()
    assert dm.input_shape == (1, 16, 16) and dm.n_samples == 8 and dm.n_classes == 2
    dark = dm.x[dm.y == 0].mean()
    assert float(dark) < 0.3 < 0.7 < float(dm.x[dm.y == 1].mean())


# ------------------------------------------------------------------------------- fitted preprocessing, CSV files
def test_fitted_scalers_match_scale_features_and_survive_a_weights_only_round_trip(tmp_path):
    from pyagc.data.preprocessing import TablePreprocessor, preprocessor_from_state

    x = torch.as_tensor(np.random.default_rng(0).normal(3, 2, (500, 6)) * [1, 10, 100, 0.1, 1, 1], dtype=torch.float32)
    x[:, 4] = 7.0  # a constant column: scaled by 1, as scale_features does
    new = torch.as_tensor(np.random.default_rng(1).normal(3, 2, (9, 6)), dtype=torch.float32)
    for method in ("standard", "minmax", "global_z", "none"):
        p = TablePreprocessor(method).fit(x, source="x")
        assert torch.equal(p.transform(x), scale_features(x, method))
        torch.save({"state": p.state_dict()}, tmp_path / "p.pt")
        back = preprocessor_from_state(torch.load(tmp_path / "p.pt", weights_only=True)["state"])
        assert back.same_as(p) and torch.equal(back.transform(new), p.transform(new))
        # the statistics are the training data's: a row alone is scaled as it is among all the others
        assert torch.equal(back.transform(new[:1]), p.transform(new)[:1])


def test_datamodule_saves_its_preprocessing_and_applies_a_given_one(tmp_path):
    from pyagc.data.preprocessing import DataMismatchError, preprocessor_from_state

    train = TabularDataModule("wine", scaling="minmax")
    train.setup()
    state = train.state_dict()["preprocessing"]
    assert state["kind"] == "table" and state["input_shape"] == [13]
    sub = train.x[:5]
    raw = TabularDataModule("wine", scaling="none")
    raw.setup()
    np.save(tmp_path / "five.npy", raw.x[:5].numpy())
    new = TabularDataModule(name=None, path=str(tmp_path / "five.npy"))
    new.use_preprocessor(preprocessor_from_state(state))
    new.setup()
    assert torch.allclose(new.x, sub)  # scaled with wine's minima and maxima, not refitted on five rows
    with pytest.raises(DataMismatchError, match="trained on a table.*is images"):
        ImageDataModule("usps").use_preprocessor(train.preprocessor)
    resumed = TabularDataModule("wine", scaling="minmax")
    resumed.load_state_dict({"preprocessing": state})
    resumed.setup()
    assert torch.equal(resumed.x, train.x)


def test_csv_header_id_column_and_column_names(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('name,height,weight\n"Smith, J",1.80,80\nLee,1.65,55.5\n\nKim,1.7,70\n')
    dm = TabularDataModule(name=None, path=str(path), id_column="name", scaling="none")
    dm.setup()
    assert np.allclose(dm.x.numpy(), [[1.8, 80.0], [1.65, 55.5], [1.7, 70.0]])
    assert dm.ids == ["Smith, J", "Lee", "Kim"] and dm.id_name == "name"
    assert dm.preprocessor.columns == ["height", "weight"]
    # header=auto: a numeric first row is data; header=true reads it as names
    (tmp_path / "n.csv").write_text("1,2\n3,4\n")
    auto = TabularDataModule(name=None, path=str(tmp_path / "n.csv"), scaling="none")
    auto.setup()
    assert auto.n_samples == 2 and auto.preprocessor.columns is None
    named = TabularDataModule(name=None, path=str(tmp_path / "n.csv"), header=True, scaling="none")
    named.setup()
    assert named.n_samples == 1 and named.preprocessor.columns == ["1", "2"]
    # whitespace text, gzip: the benchmark format is read the same way
    import gzip

    with gzip.open(tmp_path / "w.data.gz", "wt") as f:
        f.write("1 2 3\n4 5 6\n")
    gz = TabularDataModule(name=None, path=str(tmp_path / "w.data.gz"), scaling="none")
    gz.setup()
    assert gz.x.tolist() == [[1, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("", {}, "is empty: it holds no rows"),
        ("\n\n", {}, "is empty"),
        ("a,b,c\n", {}, r"has a header \(a, b, c\) but no data rows"),
        (
            "a,b,city\n1,2,Berlin\n",
            {},
            r"column 'city' \(column 3 of 3\) is not numeric: line 2 \(data row 1\) holds 'Berlin'.*data.id_column=city",
        ),
        ("a,b\n1,2\n3,\n", {}, r"column 'b' .* has no value in line 3 \(data row 2\): a missing value.*SimpleImputer"),
        ("a,b\n1,2\n3,4,5\n", {}, r"line 3 \(data row 2\) has 3 values, but the header names 2 columns"),
        ("a,b\n1,2\n", {"header": False}, r"line 1 \(data row 1\) holds 'a'.*set data.header=true"),
        ("1;2;3\n4;5;6\n", {}, r"seems to separate its values with ';'.*Save it comma-separated"),
        ("1,2\n", {"id_column": "name"}, r"id_column='name' names a column, but .* has no header"),
        ("x,y\n1,2\n", {"id_column": "z"}, r"id_column='z' is not a column of .*\['x', 'y'\]"),
        ("x,x\n1,2\n", {}, r"names columns \['x'\] more than once"),
    ],
)
def test_csv_errors_name_the_file_line_column_and_fix(tmp_path, text, kwargs, message):
    from pyagc.data.tables import TableFormatError

    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TableFormatError, match=message):
        TabularDataModule(name=None, path=str(path), **kwargs).setup()


def test_npy_tables_are_read_in_chunks_through_memory_mapped_windows(tmp_path):
    from pyagc.data.tables import TableFile, TableFormatError

    x = np.arange(35, dtype=np.float32).reshape(7, 5)
    np.save(tmp_path / "x.npy", x)
    chunks = list(TableFile(tmp_path / "x.npy").chunks(3))
    assert [c.start for c in chunks] == [0, 3, 6] and np.array_equal(np.concatenate([c.x for c in chunks]), x)
    np.save(tmp_path / "f.npy", np.asfortranarray(x))
    assert np.array_equal(np.concatenate([c.x for c in TableFile(tmp_path / "f.npy").chunks(2)]), x)
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(TableFormatError, match="not numbers"):
        TableFile(tmp_path / "s.npy")
    np.save(tmp_path / "e.npy", np.zeros((0, 3), np.float32))
    with pytest.raises(TableFormatError, match="empty"):
        TableFile(tmp_path / "e.npy")


def test_image_preprocessing_checks_channels_and_size_and_resizes_when_trained_to():
    from pyagc.data.preprocessing import DataMismatchError, ImagePreprocessor

    x = torch.rand(6, 1, 28, 28)
    p = ImagePreprocessor("global_z", flatten=True).fit(x, source="mnist")
    assert p.transform(x[:2]).shape == (2, 784)
    with pytest.raises(
        DataMismatchError, match=r"1-channel images \(28x28, flattened\); usps has 16x16 images.*data.resize"
    ):
        p.transform(torch.rand(2, 1, 16, 16), what="usps")
    with pytest.raises(DataMismatchError, match="1-channel images .* has 3-channel images. Convert them to grayscale"):
        p.transform(torch.rand(2, 3, 28, 28), what="photos")
    resized = ImagePreprocessor("unit", resize=28).fit(torch.rand(4, 1, 16, 16))
    assert resized.transform(torch.rand(2, 1, 20, 20)).shape == (2, 1, 28, 28)  # any size, resized as in training
