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


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture
def one_thread():
    """One intra-op thread for tests of tiny networks and graphs: on a loaded machine OpenMP's per-op
    start-up costs more than the op itself (tests otherwise run with up to two threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
