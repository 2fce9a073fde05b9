"""Training-step time of the MLP autoencoder in float32 and bf16 autocast, against its own matrix products.

    python scripts/bench_cpu_precision.py --out benchmarks/cpu_precision.md

One step as pyagc trains it: encoder-decoder ``[d, 500, 500, 2000, 10]`` and mirror (d = 784, MNIST) on a batch
of 256, reconstruction MSE, backward, fused Adam, one thread. For each precision it also times the step's matrix
products alone (every forward ``addmm``, and the backward ``dX = dY W`` / ``dW = dY^T X`` of each layer, in the
same layouts, into preallocated outputs): "step at % of its GEMMs" = GEMM time / step time, the share of the step
the hardware's matrix units are busy. Each round runs in a fresh process, float32 and bf16 alternating, over
``--repeats`` rounds so both see the same machine load.

Appends a table to ``--out`` with the date, the CPU, its bf16 instructions and the command.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

LAYERS = [500, 500, 2000, 10]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return "?"
    return ", ".join(f for f in ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2") if f" {f}" in flags)


def _timed(fn, steps: int) -> float:
    for _ in range(3):  # warm-up: oneDNN primitive creation, allocator
        fn()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def measure(features: int, batch: int, steps: int) -> dict[str, float]:
    """Seconds per step and per step's GEMMs, float32 and bf16, in this process."""
    import torch

    from pyagc.encoders import MLPAutoencoder
    from pyagc.models.optimizers import build_optimizer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = MLPAutoencoder(features, hidden_dims=LAYERS[:-1], latent_dim=LAYERS[-1])
    x = torch.rand(batch, features)
    optimizer = build_optimizer(model.parameters(), {"name": "adam", "lr": 1e-3})
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            reconstruction = model.decode(model.encode(x))
        loss = torch.nn.functional.mse_loss(reconstruction.float(), x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def gemms(dtype: torch.dtype):
        ops = []
        for i, lin in enumerate(linears):
            w = lin.weight.detach().to(dtype)
            b = lin.bias.detach().to(dtype)
            inp = torch.rand(batch, lin.in_features, dtype=dtype)
            grad_out = torch.rand(batch, lin.out_features, dtype=dtype)
            y = torch.empty(batch, lin.out_features, dtype=dtype)
            dx = torch.empty(batch, lin.in_features, dtype=dtype)
            dw = torch.empty(lin.out_features, lin.in_features, dtype=dtype)
            ops.append(lambda b=b, inp=inp, w=w, y=y: torch.addmm(b, inp, w.t(), out=y))
            if i > 0:  # the input layer's dX is not needed
                ops.append(lambda g=grad_out, w=w, dx=dx: torch.mm(g, w, out=dx))
            ops.append(lambda g=grad_out, inp=inp, dw=dw: torch.mm(g.t(), inp, out=dw))
        return lambda: [op() for op in ops]

    return {
        "float32 step": _timed(lambda: step(False), steps),
        "bf16 step": _timed(lambda: step(True), steps),
        "float32 GEMMs": _timed(gemms(torch.float32), steps),
        "bf16 GEMMs": _timed(gemms(torch.bfloat16), steps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.features, args.batch_size, args.steps)))
        return

    rounds: list[dict[str, float]] = []
    for _ in range(args.repeats):  # a fresh process per round; float32 and bf16 alternate inside it
        cmd = [sys.executable, __file__, "--child", "--features", str(args.features)]
        cmd += ["--batch-size", str(args.batch_size), "--steps", str(args.steps)]
        out = subprocess.run(
            cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, check=True
        )
        rounds.append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    rows = []
    for precision in ("float32", "bf16"):
        st, gm = med[f"{precision} step"], med[f"{precision} GEMMs"]
        rows.append(
            f"| {precision} | {1e3 * st:.1f} | {1e3 * gm:.1f} | {100 * gm / st:.0f} % | {med['float32 step'] / st:.2f}x |"
        )
    import torch

    report = "\n".join(
        [
            f"## {cpu_name()} ({cpu_flags()}), {dt.date.today().isoformat()}",
            "",
            f"- Machine: {platform.platform()}, torch {torch.__version__}, 1 thread; load average before: "
            f"{os.getloadavg()[0]:.1f}",
            f"- Command: `{' '.join(['python', *sys.argv])}`",
            f"- MLP autoencoder [{args.features}, {', '.join(map(str, LAYERS))}] and mirror, batch {args.batch_size}, "
            f"fused Adam; median of {args.repeats} rounds x {args.steps} steps (a process per round)",
            "",
            "| precision | ms / step | ms of its GEMMs | step at % of its GEMMs | speed vs float32 |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    print(report)
    if args.out is not None:
        header = "" if args.out.exists() else "# Training-step time: float32 vs bf16 autocast on the CPU\n\n"
        with args.out.open("a") as handle:
            handle.write(header + report + "\n")


if __name__ == "__main__":
    main()
