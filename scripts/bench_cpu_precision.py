"""Training-step time of the MLP autoencoder in float32 vs bf16 autocast on this CPU.

    OMP_NUM_THREADS=1 python scripts/bench_cpu_precision.py --out benchmarks/cpu_precision.md

One Adam step of the benchmark networks' encoder-decoder ``[d, 500, 500, 2000, 10]`` (d = 256, USPS) and its
mirror on a batch of 256, reconstruction MSE, timed after warm-up, float32 and ``torch.autocast("cpu",
torch.bfloat16)`` alternately so both see the same machine load. Answers whether ``trainer.precision=bf16-mixed``
pays off on this CPU: with AMX / AVX-512 BF16 oneDNN runs bfloat16 natively; without them it emulates it
(``pyagc.utils.accelerator.cpu_has_native_bf16`` tells which, and training warns on the slow case).
Appends a table to ``--out`` with the date, the CPU and the command.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_resnet_throughput import cpu_name  # noqa: E402  (scripts/bench_resnet_throughput.py)
from pyagc.encoders import MLPAutoencoder  # noqa: E402
from pyagc.utils.accelerator import cpu_has_native_bf16  # noqa: E402


def time_steps(model: torch.nn.Module, x: torch.Tensor, bf16: bool, steps: int) -> float:
    """Mean seconds per Adam step of the reconstruction loss."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):  # warm-up: oneDNN primitive creation
        _step(model, optimizer, x, bf16)
    start = time.perf_counter()
    for _ in range(steps):
        _step(model, optimizer, x, bf16)
    return (time.perf_counter() - start) / steps


def _step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, bf16: bool) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        reconstruction = model.decode(model.encode(x))
    loss = torch.nn.functional.mse_loss(reconstruction.float(), x)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = MLPAutoencoder(args.features, hidden_dims=[500, 500, 2000], latent_dim=10)
    x = torch.rand(args.batch_size, args.features)
    times: dict[str, list[float]] = {"float32": [], "bf16 autocast": []}
    for _ in range(args.repeats):
        times["float32"].append(time_steps(model, x, False, args.steps))
        times["bf16 autocast"].append(time_steps(model, x, True, args.steps))
    fp32 = statistics.median(times["float32"])
    rows = [f"| {name} | {1e3 * statistics.median(t):.1f} | {statistics.median(t) / fp32:.2f}x |"
            for name, t in times.items()]
    report = "\n".join([
        f"## {cpu_name()} ({torch.backends.cpu.get_cpu_capability()}), {dt.date.today().isoformat()}",
        "",
        f"- Machine: {platform.platform()}, torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
        f"oneDNN native bf16: {cpu_has_native_bf16()}",
        f"- Command: `{' '.join(['python', *sys.argv])}`",
        f"- MLP autoencoder [{args.features}, 500, 500, 2000, 10] and mirror, batch {args.batch_size}, Adam; "
        f"median of {args.repeats} x {args.steps} steps",
        "",
        "| precision | ms / step | time vs float32 |",
        "|---|---:|---:|",
        *rows,
        "",
    ])
    print(report)
    if args.out is not None:
        header = "" if args.out.exists() else "# Training-step time: float32 vs bf16 autocast on the CPU\n\n"
        with args.out.open("a") as handle:
            handle.write(header + report + "\n")


if __name__ == "__main__":
    main()
