"""Framework overhead on CPU: a ResNet-18 (small stem) training step at 32 px, pyagc under Lightning vs a bare loop.

    OMP_NUM_THREADS=1 python scripts/bench_resnet_throughput.py --threads 1
    OMP_NUM_THREADS=2 python scripts/bench_resnet_throughput.py --threads 2 --append

Both sides train the same model -- :class:`pyagc.encoders.ResNetEncoder` (resnet18, small stem,
latent 128, as ``configs/encoder/resnet18.yaml``) with a learnable k-means head
(:class:`pyagc.clusters.KMeansClusterHead`, initialised once by k-means on the embeddings before any
timing) -- in the joint phase, on the same batches of synthetic 3x32x32 images (``torch.rand``, no
download) from the same pyagc DataModule loader (same batch size, sampler, workers), with the same
optimizer (``build_optimizer``: Adam, lr 1e-3, fused) and the same thread count:

* **pyagc**: ``ClusteringModule`` under ``pytorch_lightning.Trainer`` with the default callbacks
  (``EpochProgressBar``) plus :class:`pyagc.callbacks.ThroughputMonitor`, a CSV logger, no checkpoint;
* **bare**: ``for batch in loader: z = encoder(x); loss = head(z); zero_grad; backward; step``.

Each side starts from a copy of the same initialised model. The throughput of a side is
``steps * batch_size`` over the wall time from the end of the last warm-up step to the end of the last
timed step (the Lightning side reads the clock in ``on_train_batch_end``, the bare side after
``opt.step()``), so data loading and every per-step hook count. The two sides alternate ``--rounds``
times (order swapped every round) and the medians and their ratio are reported. ``--profile`` also
runs one cProfile'd round per side and prints the functions with the largest own time outside torch.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import datetime as _dt
import io
import os
import platform
import pstats
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from pyagc.callbacks import EpochProgressBar, ThroughputMonitor
from pyagc.clusters import KMeansClusterHead
from pyagc.data import ClusteringDataModule
from pyagc.encoders import ResNetEncoder
from pyagc.models import ClusteringModule
from pyagc.models.clustering_module import build_optimizer


class SyntheticImages(ClusteringDataModule):
    """``n`` random 3x32x32 images in [0, 1) (CIFAR-sized), seeded."""

    def __init__(self, n: int, image_size: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n, self.image_size = int(n), int(image_size)

    def load(self):
        g = torch.Generator().manual_seed(self.seed)
        return torch.rand(self.n, 3, self.image_size, self.image_size, generator=g), None


class StepClock(pl.Callback):
    """Wall-clock time at the end of every training batch."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.times.append(time.perf_counter())


def rate(times: list[float], warmup: int, steps: int, batch_size: int) -> float:
    if len(times) < warmup + steps:
        raise RuntimeError(f"only {len(times)} steps ran, expected {warmup + steps}.")
    return steps * batch_size / (times[warmup + steps - 1] - times[warmup - 1])


def build_template(args) -> tuple[ClusteringModule, SyntheticImages]:
    torch.manual_seed(args.seed)
    encoder = ResNetEncoder("resnet18", in_channels=3, latent_dim=128, small_stem=True)
    head = KMeansClusterHead(args.n_clusters, encoder.latent_dim, n_init=1, seed=args.seed)
    model = ClusteringModule(encoder, head, pretrain_epochs=0, epochs=1, optimizer=dict(args.optimizer))
    dm = SyntheticImages(
        args.n_samples,
        batch_size=args.batch_size,
        eval_batch_size=256,
        seed=args.seed,
        num_workers=args.num_workers,
        drop_last=True,
    )
    dm.setup()
    model.initialize_head(dm)  # once, outside every timed region; both sides copy this state
    return model, dm


def run_lightning(template: ClusteringModule, dm: SyntheticImages, args, profile: bool = False) -> float:
    model = copy.deepcopy(template)
    clock = ThroughputMonitor(warmup_steps=args.warmup)
    step_clock = StepClock()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=1,
            max_epochs=1,
            limit_train_batches=args.warmup + args.steps,
            logger=pl.loggers.CSVLogger(tmp, name="bench"),
            callbacks=[EpochProgressBar(), clock, step_clock],
            enable_checkpointing=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            log_every_n_steps=50,
        )
        prof = cProfile.Profile() if profile else None
        if prof:
            prof.enable()
        trainer.fit(model, datamodule=dm)
        if prof:
            prof.disable()
            print_profile(prof, "pyagc + Lightning")
    r = rate(step_clock.times, args.warmup, args.steps, args.batch_size)
    logged = float(trainer.callback_metrics["train/samples_per_sec"])
    print(f"  pyagc: {r:8.2f} img/s  (ThroughputMonitor logged {logged:.2f})", flush=True)
    return r


def run_bare(template: ClusteringModule, dm: SyntheticImages, args, profile: bool = False) -> float:
    model = copy.deepcopy(template)
    encoder, head = model.encoder, model.cluster_head
    model.train()
    opt = build_optimizer(list(encoder.parameters()) + list(head.parameters()), dict(args.optimizer))
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(0)  # as Lightning does
    total = args.warmup + args.steps
    times: list[float] = []
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    for i, batch in enumerate(loader):
        if i == total:
            break
        z = encoder(batch["x"])
        loss = head(z)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter())
    if prof:
        prof.disable()
        print_profile(prof, "bare loop")
    r = rate(times, args.warmup, args.steps, args.batch_size)
    print(f"  bare:  {r:8.2f} img/s", flush=True)
    return r


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def print_profile(prof: cProfile.Profile, title: str, top: int = 25) -> None:
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).sort_stats("tottime")
    stats.print_stats(top)
    print(f"----- cProfile ({title}), by own time -----\n{out.getvalue()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-samples", type=int, default=1024)
    parser.add_argument("--n-clusters", type=int, default=10)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps at the start of every run")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per run")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the two sides")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--out", default="benchmarks/resnet18_throughput_cpu.md")
    parser.add_argument("--append", action="store_true", help="add a section to --out instead of replacing it")
    args = parser.parse_args()
    args.optimizer = {"name": "adam", "lr": 1e-3}  # build_optimizer adds fused=True
    if args.warmup < 1:
        parser.error("--warmup must be >= 1 (the clock starts at the end of the last warm-up step)")
    if (args.warmup + args.steps) * args.batch_size > args.n_samples:
        parser.error("--n-samples must cover (warmup + steps) * batch-size samples (one epoch per run)")
    torch.set_num_threads(args.threads)
    pl.seed_everything(args.seed, verbose=False)
    import logging

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    import warnings

    warnings.filterwarnings("ignore")

    print(
        f"torch {torch.__version__}, lightning {pl.__version__}, threads {torch.get_num_threads()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}",
        flush=True,
    )
    template, dm = build_template(args)
    opt = build_optimizer(template.parameters(), dict(args.optimizer))
    fused = opt.defaults.get("fused")
    pyagc_rates, bare_rates = [], []
    t0 = time.perf_counter()
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}", flush=True)
        sides = [("pyagc", run_lightning), ("bare", run_bare)]
        if r % 2:
            sides.reverse()
        for name, fn in sides:
            (pyagc_rates if name == "pyagc" else bare_rates).append(fn(template, dm, args))
    wall = time.perf_counter() - t0
    if args.profile:
        run_lightning(template, dm, args, profile=True)
        run_bare(template, dm, args, profile=True)
    med_p, med_b = statistics.median(pyagc_rates), statistics.median(bare_rates)
    ratios = [p / b for p, b in zip(pyagc_rates, bare_rates)]
    print(
        f"median pyagc {med_p:.2f} img/s, bare {med_b:.2f} img/s, ratio {med_p / med_b:.3f} "
        f"(per-round ratios median {statistics.median(ratios):.3f})",
        flush=True,
    )

    command = f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python " + shlex.join(
        ["scripts/bench_resnet_throughput.py", *sys.argv[1:]]
    )
    rows = "\n".join(
        f"| {i + 1} | {p:.2f} | {b:.2f} | {p / b:.3f} |" for i, (p, b) in enumerate(zip(pyagc_rates, bare_rates))
    )
    section = f"""## {args.threads} thread(s), batch {args.batch_size}

Date: {_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}. Machine: {cpu_name()},
{os.cpu_count()} logical CPUs (shared with other jobs), Python {platform.python_version()}, torch {torch.__version__},
pytorch_lightning {pl.__version__}. Optimizer: Adam lr 1e-3, fused={fused}. Data: {args.n_samples} random 3x32x32 images,
DataLoader num_workers={args.num_workers}, drop_last. Per run: {args.warmup} warm-up + {args.steps} timed steps;
{args.rounds} rounds, order alternated; wall time of the rounds {wall:.0f} s.

    {command}

| round | pyagc + Lightning (img/s) | bare loop (img/s) | ratio |
|---|---|---|---|
{rows}
| **median** | **{med_p:.2f}** | **{med_b:.2f}** | **{med_p / med_b:.3f}** |

Framework overhead (1 - median ratio): {100 * (1 - med_p / med_b):.1f} %; per-round ratio median
{statistics.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}.
"""
    out = Path(args.out)
    header = """# ResNet-18 (small stem) training throughput on CPU: pyagc vs a bare PyTorch loop

Target (issue 6): a training step of pyagc's ResNet-18 encoder at 32 px under
`ClusteringModule` + `pytorch_lightning.Trainer` within 20 % of a bare PyTorch loop doing the same work.
Script: `scripts/bench_resnet_throughput.py` (see its docstring for exactly what each side does).

"""
    if args.append and out.is_file():
        out.write_text(out.read_text().rstrip() + "\n\n" + section)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(header + section)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
