"""Image data held in memory: MNIST, Fashion-MNIST (torchvision files), USPS (the ESL ``zip``
files) and any ``ImageFolder``. Files are read from a local root, never downloaded.

Resizing, padding, flattening and scaling are the model's preprocessing
(:class:`~pyagc.data.preprocessing.ImagePreprocessor`), fitted on the training images and saved with the model;
image files are read one by one (RGB, or grayscale, resized to ``image_size``) with the same function for training
and for prediction, which reads a folder of any size file by file.
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pyagc.data.base import ClusteringDataModule, check_finite
from pyagc.data.paths import copy_to_cache, missing_file_error, resolve_root
from pyagc.data.preprocessing import ImagePreprocessor, Preprocessor

IMAGE_SETS = ("mnist", "fashion_mnist", "usps", "imagefolder")
_TV_NAMES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
_TV_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _load_torchvision(name: str, root: Path, split: str) -> tuple[Tensor, Tensor]:
    from torchvision import datasets

    tv = _TV_NAMES[name]
    raw = root / tv / "raw"
    for f in _TV_FILES:
        if not (raw / f).is_file() and not (raw / f"{f}.gz").is_file():
            raise missing_file_error(raw / f"{f}.gz", f"{tv} file")
    local = copy_to_cache(root / tv, f"torchvision/{tv}")
    for gz in (local / "raw").glob("*.gz"):
        out = gz.with_suffix("")
        if not out.exists():
            with gzip.open(gz, "rb") as src, open(out.with_suffix(".tmp"), "wb") as dst:
                shutil.copyfileobj(src, dst)
            out.with_suffix(".tmp").rename(out)
    cls = getattr(datasets, tv)
    xs, ys = [], []
    for train in {"train": [True], "test": [False], "all": [True, False]}[split]:
        ds = cls(str(local.parent), train=train, download=False)
        xs.append(ds.data)
        ys.append(ds.targets)
    x = torch.cat(xs).unsqueeze(1).float() / 255.0
    return x, torch.cat(ys).long()


def _load_usps(root: Path, split: str) -> tuple[Tensor, Tensor]:
    files = {"train": ["zip.train.gz"], "test": ["zip.test.gz"], "all": ["zip.train.gz", "zip.test.gz"]}[split]
    arrays = []
    for f in files:
        path = root / f
        if not path.is_file():
            raise missing_file_error(path, "USPS file (zip.train.gz / zip.test.gz from the ESL data sets)")
        arrays.append(np.loadtxt(path, dtype=np.float32))
    a = np.concatenate(arrays)
    x = torch.from_numpy((a[:, 1:] + 1.0) / 2.0).reshape(-1, 1, 16, 16)
    return x, torch.from_numpy(a[:, 0].astype(np.int64))


def list_image_files(root: str | Path) -> tuple[list[Path], list[int] | None]:
    """The image files under ``root`` in a fixed order, with class labels when the folder is labelled.

    ``ImageFolder`` layout (images only inside sub-folders, one per class): the files in torchvision's order and
    the class index of each (sub-folders sorted by name). Images directly in ``root``: every image under ``root``
    (sub-folders too), sorted by path, unlabelled.
    """
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    root = Path(root).expanduser()
    if not root.is_dir():
        raise missing_file_error(root, "image folder (images, or one sub-folder of images per class)")
    ext = tuple(e.lower() for e in IMG_EXTENSIONS)
    top = [p for p in root.iterdir() if p.is_file() and p.name.lower().endswith(ext)]
    if top:
        files = sorted(
            (Path(d) / f for d, _, names in os.walk(root, followlinks=True) for f in names if f.lower().endswith(ext)),
            key=lambda p: p.relative_to(root).as_posix(),
        )
        return files, None
    try:
        _, class_to_idx = find_classes(str(root))
        samples = make_dataset(str(root), class_to_idx, extensions=IMG_EXTENSIONS)
    except (FileNotFoundError, RuntimeError) as e:
        raise FileNotFoundError(
            f"no images found under {root} ({e}); give a folder of image files "
            f"({', '.join(IMG_EXTENSIONS)}), or one sub-folder of them per class."
        ) from None
    return [Path(p) for p, _ in samples], [int(c) for _, c in samples]


@functools.lru_cache(maxsize=8)
def _file_transform(image_size: int, grayscale: bool) -> Any:
    from torchvision import transforms

    tf = [transforms.Resize((image_size, image_size))]
    if grayscale:
        tf.append(transforms.Grayscale())
    tf.append(transforms.ToTensor())
    return transforms.Compose(tf)


def load_image_file(path: str | Path, image_size: int, grayscale: bool = False) -> Tensor:
    """One image file as ``(C, image_size, image_size)`` in [0, 1]: converted to RGB (as ``ImageFolder`` does),
    resized, then to one channel when ``grayscale``.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with open(path, "rb") as f:
            image = Image.open(f).convert("RGB")
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(
            f"image file {path} cannot be read ({type(e).__name__}: {e}); remove it or replace it "
            "with a readable image."
        ) from None
    return _file_transform(int(image_size), bool(grayscale))(image)


def load_image_files(paths: list[Path], image_size: int, grayscale: bool = False) -> Tensor:
    """Image files stacked into ``(N, C, image_size, image_size)``."""
    return torch.stack([load_image_file(p, image_size, grayscale) for p in paths])


def _load_image_folder(root: Path, image_size: int, grayscale: bool) -> tuple[Tensor, Tensor | None, list[str]]:
    files, labels = list_image_files(root)
    if not files:
        raise FileNotFoundError(f"no image files under {root}.")
    x = load_image_files(files, image_size, grayscale)
    ids = [p.relative_to(root).as_posix() for p in files]
    return x, None if labels is None else torch.as_tensor(labels), ids


def resize_images(x: Tensor, size: int, chunk: int = 4096) -> Tensor:
    """Resize images ``(N, C, H, W)`` to ``(N, C, size, size)``: bilinear, antialiased when shrinking,
    clamped to the input's range (so [0, 1] pixels stay in [0, 1]); in chunks to bound memory.
    """
    import torch.nn.functional as F

    lo, hi = float(x.min()), float(x.max())
    shrink = size < max(x.shape[-2:])
    out = [
        F.interpolate(part.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)
        for part in x.split(chunk)
    ]
    return torch.cat(out).clamp_(lo, hi).to(x.dtype)


class ImageDataModule(ClusteringDataModule):
    r"""Images ``(N, C, H, W)`` in [0, 1] (before ``scaling``) held in memory.

    Args:
        name: ``mnist``, ``fashion_mnist``, ``usps`` or ``imagefolder``.
        root: folder with the files: for MNIST / Fashion-MNIST the torchvision root holding
            ``MNIST/raw/*.gz`` (default ``<data root>/torchvision``); for USPS the folder with
            ``zip.train.gz`` and ``zip.test.gz`` (default ``<data root>/usps``); for
            ``imagefolder`` the ImageFolder root.
        split: ``train``, ``test`` or ``all`` (both, the usual clustering protocol).
        flatten: return vectors ``(N, C*H*W)`` instead of images (for MLP encoders).
        image_size: for ``imagefolder`` only: the side every image is resized to.
        grayscale: for ``imagefolder`` only: convert the images to one channel.
        resize: resize every image to ``resize x resize`` pixels (bilinear, antialiased when shrinking) once,
            when the data is loaded and before ``flatten`` and ``scaling``; e.g. ``resize=28`` gives USPS
            MNIST's size (as the reclustering-barrier paper's protocol). ``None`` keeps the stored size.
            (Resizing on the device per batch, for large sizes such as 224, is the encoder's ``input_size``.)
        pad: add ``pad`` pixels of black (0) background on every side once, after ``resize``; e.g. ``resize=20,
            pad=4`` frames USPS's edge-to-edge 16x16 digits like MNIST's (a 20x20 digit centred in 28x28), so
            that random crops and rotations of a view keep the whole digit. ``0``: no padding.
    """

    data_kind = "image"

    def __init__(
        self,
        name: str = "mnist",
        root: str | None = None,
        split: str = "all",
        flatten: bool = False,
        image_size: int = 32,
        grayscale: bool = False,
        resize: int | None = None,
        pad: int = 0,
        **kwargs,
    ) -> None:
        kwargs.setdefault("scaling", "unit")
        super().__init__(**kwargs)
        if name not in IMAGE_SETS:
            raise ValueError(f"unknown image data set {name!r}; valid: {list(IMAGE_SETS)}")
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}.")
        if resize is not None and (isinstance(resize, bool) or int(resize) != resize or int(resize) < 1):
            raise ValueError(f"resize must be a positive number of pixels (e.g. 28) or None, got {resize!r}.")
        self.resize = None if resize is None else int(resize)
        if isinstance(pad, bool) or int(pad) != pad or int(pad) < 0:
            raise ValueError(f"pad must be a number of pixels >= 0 (e.g. 4), got {pad!r}.")
        self.pad = int(pad)
        self.dataset_name = name
        self.root = root
        self.split = split
        self.flatten = flatten
        self.image_size = image_size
        self.grayscale = grayscale

    @property
    def name(self) -> str:
        return self.dataset_name

    @property
    def what(self) -> str:
        if self.dataset_name == "imagefolder":
            return f"image folder {self.root}"
        return f"data {self.name!r}"

    def make_preprocessor(self) -> Preprocessor:
        folder = self.dataset_name == "imagefolder"
        return ImagePreprocessor(
            self.scaling,
            resize=self.resize,
            pad=self.pad,
            flatten=self.flatten,
            file_size=self.image_size if folder else None,
            grayscale=self.grayscale and folder,
        )

    def _file_settings(self) -> tuple[int, bool]:
        """Size and grayscale of image files: the model's when its preprocessing is given, else this config's."""
        p = self.preprocessor
        if self.preprocessor_given and isinstance(p, ImagePreprocessor) and p.file_size is not None:
            return p.file_size, p.grayscale
        return int(self.image_size), bool(self.grayscale)

    def _folder_root(self) -> Path:
        if self.root is None:
            raise ValueError(
                "name='imagefolder' needs `root=` (data.root=DIR: a folder of images, or one "
                "sub-folder of images per class)."
            )
        return Path(self.root).expanduser()

    def load(self) -> tuple[Tensor, Tensor | None]:
        """The raw images ``(N, C, H, W)`` in [0, 1] and their labels (resizing, padding, flattening and scaling
        are the preprocessing's).
        """
        if self.dataset_name in _TV_NAMES:
            x, y = _load_torchvision(self.dataset_name, resolve_root(self.root, "torchvision"), self.split)
        elif self.dataset_name == "usps":
            x, y = _load_usps(resolve_root(self.root, "usps"), self.split)
        else:
            size, gray = self._file_settings()
            x, y, self.ids = _load_image_folder(self._folder_root(), size, gray)
            self.id_name = "path"
        return x, y

    # -------------------------------------------------------------- prediction
    @property
    def streams(self) -> bool:
        """Whether prediction reads an image folder file by file rather than all images at once."""
        return self.dataset_name == "imagefolder" and self.limit is None

    def predict_size(self) -> int | None:
        if not self.streams:
            return super().predict_size()
        self.id_name = "path"
        return len(list_image_files(self._folder_root())[0])

    def predict_batches(self, batch_size: int | None = None) -> Iterator[dict[str, Any]]:
        """An image folder file by file, in batches of ``batch_size`` images transformed with the model's
        preprocessing (:meth:`use_preprocessor`); ``ids`` are the paths relative to the folder. Other image sets
        are held in memory (the base version).
        """
        if not self.streams:
            yield from super().predict_batches(batch_size)
            return
        if not self.preprocessor_given:
            raise RuntimeError(
                "predict_batches on an image folder needs the model's preprocessing: call "
                "use_preprocessor() with the preprocessing saved in the checkpoint first."
            )
        root = self._folder_root()
        files, labels = list_image_files(root)
        if not files:
            raise FileNotFoundError(f"no image files under {root}.")
        self.id_name = "path"
        size, gray = self._file_settings()
        rows = int(batch_size or self.eval_batch_size)
        for start in range(0, len(files), rows):
            part = files[start : start + rows]
            x = load_image_files(part, size, gray)
            check_finite(x, self.what, offset=start)
            batch: dict[str, Any] = {
                "x": self.preprocessor.transform(x, what=self.what),
                "index": torch.arange(start, start + len(part)),
                "ids": [p.relative_to(root).as_posix() for p in part],
            }
            if labels is not None:
                batch["y"] = torch.as_tensor(labels[start : start + len(part)])
            yield batch
