"""pyagc.utils.cpu_allocator: glibc's thresholds raised once, switchable off, and the numbers do not change."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

STEPS = """
import hashlib, os, torch
from pyagc.utils.cpu_allocator import tune_cpu_allocator
print("TUNED=%s" % tune_cpu_allocator())
torch.set_num_threads(1); torch.manual_seed(0)
from pyagc.encoders import MLPAutoencoder
from pyagc.models.clustering_module import build_optimizer
model = MLPAutoencoder(64, hidden_dims=[256, 512], latent_dim=8)
opt = build_optimizer(model.parameters(), {"name": "adam", "lr": 1e-3})
x = torch.rand(128, 64)
for _ in range(5):
    loss = torch.nn.functional.mse_loss(model.decode(model.encode(x)), x)
    opt.zero_grad(); loss.backward(); opt.step()
digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()
print("DIGEST=" + digest)
"""


def _run(tuning: str) -> dict[str, str]:
    env = {**os.environ, "PYAGC_MALLOC_TUNING": tuning, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", STEPS], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return dict(line.split("=", 1) for line in out.stdout.split() if "=" in line)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the tuning applies to glibc on Linux only")
def test_tuning_is_on_by_default_off_on_request_and_float32_training_is_bitwise_unchanged() -> None:
    tuned, default = _run("1"), _run("0")
    import platform

    if platform.libc_ver()[0] == "glibc":
        assert tuned["TUNED"] == "True"
    assert default["TUNED"] == "False"
    assert tuned["DIGEST"] == default["DIGEST"]


def test_second_call_returns_the_first_answer() -> None:
    from pyagc.utils.cpu_allocator import tune_cpu_allocator

    first = tune_cpu_allocator()
    assert tune_cpu_allocator() is first
