"""Image data held in memory: MNIST, Fashion-MNIST (torchvision files), USPS (the ESL ``zip``
files) and any ``ImageFolder``. Files are read from a local root, never downloaded."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pyagc.data.base import ClusteringDataModule
from pyagc.data.paths import copy_to_cache, missing_file_error, resolve_root

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


def _load_image_folder(root: Path, image_size: int, grayscale: bool) -> tuple[Tensor, Tensor]:
    from torchvision import datasets, transforms

    if not root.is_dir():
        raise missing_file_error(root, "ImageFolder root (one sub-folder of images per class)")
    tf = [transforms.Resize((image_size, image_size))]
    if grayscale:
        tf.append(transforms.Grayscale())
    tf.append(transforms.ToTensor())
    ds = datasets.ImageFolder(str(root), transform=transforms.Compose(tf))
    xs, ys = zip(*[ds[i] for i in range(len(ds))])
    return torch.stack(xs), torch.as_tensor(ys)


def resize_images(x: Tensor, size: int, chunk: int = 4096) -> Tensor:
    """Resize images ``(N, C, H, W)`` to ``(N, C, size, size)``: bilinear, antialiased when shrinking,
    clamped to the input's range (so [0, 1] pixels stay in [0, 1]); in chunks to bound memory."""
    import torch.nn.functional as F

    lo, hi = float(x.min()), float(x.max())
    shrink = size < max(x.shape[-2:])
    out = [F.interpolate(part.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)
           for part in x.split(chunk)]
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
        image_size, grayscale: for ``imagefolder`` only.
        resize: resize every image to ``resize x resize`` pixels (bilinear, antialiased when shrinking) once,
            when the data is loaded and before ``flatten`` and ``scaling``; e.g. ``resize=28`` gives USPS
            MNIST's size (as the reclustering-barrier paper's protocol). ``None`` keeps the stored size.
            (Resizing on the device per batch, for large sizes such as 224, is the encoder's ``input_size``.)
        pad: add ``pad`` pixels of black (0) background on every side once, after ``resize``; e.g. ``resize=20,
            pad=4`` frames USPS's edge-to-edge 16x16 digits like MNIST's (a 20x20 digit centred in 28x28), so
            that random crops and rotations of a view keep the whole digit. ``0``: no padding.
    """

    def __init__(self, name: str = "mnist", root: str | None = None, split: str = "all", flatten: bool = False,
                 image_size: int = 32, grayscale: bool = False, resize: int | None = None, pad: int = 0,
                 **kwargs) -> None:
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

    def load(self) -> tuple[Tensor, Tensor | None]:
        if self.dataset_name in _TV_NAMES:
            x, y = _load_torchvision(self.dataset_name, resolve_root(self.root, "torchvision"), self.split)
        elif self.dataset_name == "usps":
            x, y = _load_usps(resolve_root(self.root, "usps"), self.split)
        else:
            if self.root is None:
                raise ValueError("name='imagefolder' needs `root=` (a folder with one sub-folder per class).")
            x, y = _load_image_folder(Path(self.root).expanduser(), self.image_size, self.grayscale)
        if self.resize is not None and tuple(x.shape[-2:]) != (self.resize, self.resize):
            x = resize_images(x, self.resize)
        if self.pad:
            x = torch.nn.functional.pad(x, (self.pad,) * 4, value=0.0)
        if self.flatten:
            x = x.reshape(x.shape[0], -1)
        return x, y
