from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Tests write their data copies to a private cache, not the user's ~/.cache."""
    os.environ["PYAGC_CACHE"] = str(tmp_path_factory.mktemp("pyagc_cache"))
    yield


def shared_data_missing() -> str | None:
    """Why the shared data folder (``../shared/data``: USPS, MNIST, benchmark files) cannot be used, or ``None``."""
    if os.environ.get("PYAGC_NO_SHARED", "").strip().lower() in ("1", "true", "yes", "on"):
        return "PYAGC_NO_SHARED=1: the ../shared/data files (USPS, MNIST, benchmark sets) are not used"
    if not SHARED_DATA.is_dir():
        return "../shared/data (USPS, MNIST, benchmark sets) is not present beside this clone"
    return None


@pytest.fixture
def shared_data() -> Path:
    reason = shared_data_missing()
    if reason:
        pytest.skip(reason)
    return SHARED_DATA


@pytest.fixture(scope="session")
def digits_image_folder(tmp_path_factory) -> Path:
    """scikit-learn's bundled digits as an ImageFolder of 8x8 grayscale PNGs (40 per class): image data that
    ships with the installed packages, for the image tests of a clone without ``../shared``.
    Use with ``data=imagefolder data.root=<this> data.image_size=8 data.grayscale=true``."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digits_images")
    digits = load_digits()
    for label in range(10):
        (root / str(label)).mkdir()
        idx = np.flatnonzero(digits.target == label)[:40]
        for i in idx:
            pixels = (digits.images[i] * (255.0 / 16.0)).round().astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / str(label) / f"{i:04d}.png")
    return root


@pytest.fixture
def one_thread():
    """One intra-op thread for tests of tiny networks and graphs: on a loaded machine OpenMP's per-op
    start-up costs more than the op itself (tests otherwise run with up to two threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
