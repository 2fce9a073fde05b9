"""One DMoN epoch in mini-batch mode on a synthetic stochastic block model with a million nodes.

    python scripts/bench_dmon_sbm.py --nodes 1000000 --md benchmarks/dmon_sbm_1m.md

The graph: ``--blocks`` equal blocks; each node draws ``--degree * --p-in`` neighbours uniformly from
its own block and ``--degree * (1 - --p-in)`` from the whole graph (a planted-partition SBM with
expected degree ``2 * --degree`` once made undirected); node features are ``--features``-dimensional
Gaussians around a random mean per block (``--feature-noise`` standard deviation). Training: a
one-layer SeLU GCN (64 units, no cached normalisation) and the DMoN head, Adam 1e-3, batches of
``--batch-size`` seed nodes with ``--neighbors`` sampled neighbours each (pyagc's NodeLoader
sampler), ``--epochs`` epochs through ``pytorch_lightning.Trainer``. Then the whole-graph
assignment pass (``infer_full``) and ACC / NMI / ARI against the planted blocks.

Reported: graph build time, training time (``Trainer.fit``), inference time, and the peak resident
memory of the process (``ru_maxrss``: everything -- graph, features, sampler, model, optimizer).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import shlex
import sys
import time
import warnings

import torch

warnings.filterwarnings("ignore", ".*does not have many workers.*")


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def make_sbm(n: int, blocks: int, degree: int, p_in: float, features: int, noise: float, seed: int):
    from torch_geometric.data import Data

    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, blocks, (n,), generator=g)
    order = torch.argsort(y)  # nodes of each block, contiguous
    counts = torch.bincount(y, minlength=blocks)
    start = torch.cumsum(counts, 0) - counts
    d_in = int(round(degree * p_in))
    d_out = degree - d_in
    src_in = torch.arange(n).repeat_interleave(d_in)
    block = y[src_in]
    pick = (torch.rand(src_in.numel(), generator=g) * counts[block]).long()
    dst_in = order[start[block] + pick]
    src_out = torch.arange(n).repeat_interleave(d_out)
    dst_out = torch.randint(0, n, (src_out.numel(),), generator=g)
    edge_index = torch.stack([torch.cat([src_in, src_out]), torch.cat([dst_in, dst_out])])
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    means = torch.randn(blocks, features, generator=g)
    x = means[y] + noise * torch.randn(n, features, generator=g)
    return Data(x=x, edge_index=edge_index, y=y, num_nodes=n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=1_000_000)
    p.add_argument("--blocks", type=int, default=10)
    p.add_argument("--degree", type=int, default=10)
    p.add_argument("--p-in", type=float, default=0.8)
    p.add_argument("--features", type=int, default=32)
    p.add_argument("--feature-noise", type=float, default=3.0)
    p.add_argument("--batch-size", type=int, default=8192)
    p.add_argument("--eval-batch-size", type=int, default=65536)
    p.add_argument("--neighbors", type=int, default=10)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--md", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    import pytorch_lightning as pl

    from pyagc.clusters import DMoNClusterHead
    from pyagc.data import GraphDataModule
    from pyagc.encoders import GCN
    from pyagc.metrics import external_metrics
    from pyagc.models import ClusteringModule

    pl.seed_everything(args.seed, verbose=False)
    t0 = time.perf_counter()
    data = make_sbm(args.nodes, args.blocks, args.degree, args.p_in, args.features, args.feature_noise, args.seed)
    dm = GraphDataModule(
        name="sbm",
        data=data,
        num_neighbors=[args.neighbors],
        batch_size=args.batch_size,
        eval_batch_size=args.eval_batch_size,
        seed=args.seed,
    )
    dm.setup()
    del data
    build_s = time.perf_counter() - t0
    n_edges = dm.edge_index.shape[1] // 2
    print(
        f"graph: {args.nodes} nodes, {n_edges} undirected edges, built in {build_s:.1f} s, "
        f"peak RSS {peak_rss_gib():.2f} GiB",
        flush=True,
    )

    encoder = GCN(dm.n_features, 64, 64, num_layers=1, activation="selu", act_last=True, cached=False)
    model = ClusteringModule(
        encoder, DMoNClusterHead(args.blocks, 64), epochs=args.epochs, optimizer={"name": "adam", "lr": 1e-3}
    )
    trainer = pl.Trainer(
        max_epochs=args.epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    t0 = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    train_s = time.perf_counter() - t0
    steps = int(model.joint_steps)
    print(
        f"train: {args.epochs} epoch(s), {steps} steps in {train_s:.1f} s, peak RSS {peak_rss_gib():.2f} GiB",
        flush=True,
    )
    t0 = time.perf_counter()
    labels = model.infer_full(dm)
    infer_s = time.perf_counter() - t0
    scores = external_metrics(dm.y, labels)
    peak = peak_rss_gib()
    print(f"inference {infer_s:.1f} s; {scores}; peak RSS {peak:.2f} GiB", flush=True)

    lines = [
        f"## DMoN, one mini-batch epoch on a {args.nodes:,}-node SBM ({datetime.date.today().isoformat()})",
        "",
        f"- machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), {platform.platform()}, "
        f"torch {torch.__version__}, {args.threads} thread(s), shared with other jobs",
        f"- command: `python {shlex.join(['scripts/bench_dmon_sbm.py', *sys.argv[1:]])}`",
        f"- graph: {args.nodes:,} nodes, {n_edges:,} undirected edges, {args.blocks} blocks, p_in {args.p_in}, "
        f"{args.features} Gaussian features (noise {args.feature_noise})",
        f"- training: GCN(1 layer, 64, SeLU, cached=false) + DMoN head, Adam 1e-3, batches of {args.batch_size} seed "
        f"nodes x {args.neighbors} sampled neighbours, {steps} steps",
        "",
        "| nodes | edges | epochs | steps | build s | train s | s/step | inference s | peak RSS GiB | ACC | NMI | ARI |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {args.nodes:,} | {n_edges:,} | {args.epochs} | {steps} | {build_s:.1f} | {train_s:.1f} | "
        f"{train_s / max(steps, 1):.3f} | {infer_s:.1f} | {peak:.2f} | {scores['acc']:.4f} | {scores['nmi']:.4f} | "
        f"{scores['ari']:.4f} |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        with open(args.md, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
