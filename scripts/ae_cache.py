"""Cache of pretrained autoencoder weights shared by the DEC-protocol benchmark scripts.

Pretraining the [d, 500, 500, 2000, 10] autoencoder on MNIST takes ~1 h per seed on one CPU thread, and
several benchmarks (``bench_dec_idec.py`` for DEC / IDEC / DCN, ``bench_reclustering_barrier.py``) start
from the same weights; ``--ae-cache DIR`` saves them once per (data, scaling, batch size, epochs, lr,
architecture, denoising, precision, subset, seed) and reuses them. Weights only: a cached file is
valid for exactly the settings in its name.
"""

from __future__ import annotations

import os

import torch


def cache_path(
    folder: str,
    data: str,
    scaling: str,
    batch_size: int,
    pretrain_epochs: int,
    lr: float,
    hidden: list[int],
    latent: int,
    noise: float,
    precision: str,
    limit: int | None,
    seed: int,
    output_activation: str | None = None,
) -> str:
    """File of one pretrained autoencoder's ``state_dict`` in ``folder`` (``output_activation``: the decoder's
    last activation, e.g. ``"sigmoid"`` for VaDE's Bernoulli decoder; None = linear, DEC's)."""
    key = (
        f"{data}_{scaling}_bs{batch_size}_pre{pretrain_epochs}_lr{lr}_h{'-'.join(map(str, hidden))}_z{latent}_"
        f"n{noise}_{precision}_l{limit}_s{seed}{'_' + output_activation if output_activation else ''}"
    )
    return os.path.join(folder, key + ".pt")


def load(path: str | None) -> dict | None:
    """The cached ``state_dict`` at ``path``, or None (no cache folder given, or not cached yet)."""
    if path and os.path.exists(path):
        return torch.load(path)
    return None


def save(path: str | None, state_dict: dict) -> None:
    """Write ``state_dict`` to ``path`` atomically (a process waiting for the file never reads half of it)."""
    if path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = f"{path}.{os.getpid()}.part"
        try:
            torch.save(state_dict, partial)
            os.replace(partial, path)
        finally:
            if os.path.exists(partial):  # a failed write leaves nothing behind
                os.remove(partial)


def wait_for(path: str, poll_s: float = 20.0, timeout_s: float = 6 * 3600.0) -> dict:
    """The ``state_dict`` at ``path`` once another process has cached it there (polls every ``poll_s``)."""
    import time

    start = time.monotonic()
    while not os.path.exists(path):
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"no autoencoder appeared at {path} within {timeout_s:.0f} s")
        time.sleep(poll_s)
    return torch.load(path)
