"""Benchmark pyagc's DEC and IDEC (mean over seeds) on digits, USPS or MNIST.

    python scripts/bench_dec_idec.py --data digits --seeds 0 1 2 --pretrain-epochs 100 --epochs 100
    python scripts/bench_dec_idec.py --data mnist --batch-size 256 --pretrain-epochs 200 --epochs 100

Prints one JSON line per run and a summary table; ``--out FILE.json`` keeps every run.
The same autoencoder pretraining is shared by DEC and IDEC of one seed when ``--share-pretraining``
(as in the IDEC paper) so the comparison isolates the clustering phase.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import shlex
import sys
import time

import numpy as np
import pytorch_lightning as pl
import torch

from pyagc.clusters import DECClusterHead, IDECClusterHead
from pyagc.data import ImageDataModule, TabularDataModule
from pyagc.encoders import MLPAutoencoder
from pyagc.metrics import external_metrics
from pyagc.models import ClusteringModule


def make_data(name: str, scaling: str, batch_size: int, seed: int, limit: int | None):
    if name in ("mnist", "usps", "fashion_mnist"):
        return ImageDataModule(name, scaling=scaling, batch_size=batch_size, seed=seed, flatten=True, limit=limit)
    return TabularDataModule(name, scaling=scaling, batch_size=batch_size, seed=seed, limit=limit)


PRECISION = "32-true"


def trainer(epochs: int) -> pl.Trainer:
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      precision=PRECISION,
                      enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)


def run_one(method: str, dm, args, seed: int, pretrained: dict | None) -> tuple[dict, dict]:
    pl.seed_everything(seed, verbose=False)
    enc = MLPAutoencoder(dm.n_features, hidden_dims=args.hidden, latent_dim=args.latent)
    head_cls = DECClusterHead if method == "dec" else IDECClusterHead
    kw = dict(update_interval=args.update_interval, tol=args.tol, seed=seed)
    if method == "idec":
        kw["gamma"] = args.gamma
    head = head_cls(dm.n_classes, args.latent, **kw)
    opt = {"name": "sgd", "lr": 0.01, "momentum": 0.9} if method == "dec" else {"name": "adam", "lr": args.lr}
    if method == "dec" and args.dec_adam:
        opt = {"name": "adam", "lr": args.lr}
    custom = args.dec_opt if method == "dec" else args.idec_opt
    if custom:
        opt = parse_optimizer(custom)
    t0 = time.perf_counter()
    pre_time = 0.0
    cache = None
    if args.ae_cache:
        key = (f"{args.data}_{args.scaling}_bs{args.batch_size}_pre{args.pretrain_epochs}_lr{args.lr}_"
               f"h{'-'.join(map(str, args.hidden))}_z{args.latent}_n{args.pretrain_noise}_{args.precision}_"
               f"l{args.limit}_s{seed}")
        cache = os.path.join(args.ae_cache, key + ".pt")
        if pretrained is None and os.path.exists(cache):
            pretrained = torch.load(cache)
    if pretrained is None:
        ae = ClusteringModule(enc, head, pretrain_epochs=args.pretrain_epochs, epochs=0,
                              pretrain_optimizer={"name": "adam", "lr": args.lr},
                              pretrain_noise=args.pretrain_noise)
        trainer(args.pretrain_epochs).fit(ae, datamodule=dm)
        pretrained = copy.deepcopy(enc.state_dict())
        pre_time = time.perf_counter() - t0
        if cache:
            os.makedirs(args.ae_cache, exist_ok=True)
            torch.save(pretrained, cache)
    enc.load_state_dict(pretrained)
    model = ClusteringModule(enc, head, pretrain_epochs=0, epochs=args.epochs, optimizer=opt)
    t1 = time.perf_counter()
    trainer(args.epochs).fit(model, datamodule=dm)
    joint_time = time.perf_counter() - t1
    pred = model.infer_full(dm).numpy()
    z = model.embed(dm)
    from pyagc.clusters import kmeans
    km = kmeans(torch.as_tensor(np.asarray(z)), dm.n_classes, n_init=10, seed=seed).labels.numpy()
    res = {"method": method, "seed": seed, **external_metrics(dm.y.numpy(), pred),
           "pretrain_s": round(pre_time, 2), "joint_s": round(joint_time, 2),
           "joint_steps": int(model.joint_steps), "kmeans_on_final_z_acc": external_metrics(dm.y.numpy(), km)["acc"]}
    return res, pretrained


def parse_optimizer(text: str) -> dict:
    """``name:lr[:momentum]`` -> optimizer spec, e.g. ``sgd:0.1:0.99`` or ``adam:0.001``."""
    parts = text.split(":")
    spec = {"name": parts[0], "lr": float(parts[1])}
    if len(parts) > 2:
        spec["momentum"] = float(parts[2])
    return spec


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="digits")
    p.add_argument("--methods", nargs="+", default=["dec", "idec"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--scaling", default="minmax")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--pretrain-epochs", type=int, default=100)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--update-interval", type=int, default=140)
    p.add_argument("--tol", type=float, default=0.001)
    p.add_argument("--gamma", type=float, default=0.1)
    p.add_argument("--pretrain-noise", type=float, default=0.0, help="denoising pretraining (input dropout rate)")
    p.add_argument("--hidden", nargs="+", type=int, default=[500, 500, 2000])
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dec-adam", action="store_true", help="train DEC's joint phase with Adam instead of SGD")
    p.add_argument("--share-pretraining", action="store_true")
    p.add_argument("--dec-opt", default=None, help="DEC joint optimizer name:lr[:momentum] (default sgd:0.01:0.9)")
    p.add_argument("--idec-opt", default=None, help="IDEC joint optimizer name:lr[:momentum] (default adam:LR)")
    p.add_argument("--ae-cache", default=None, help="folder to save/reuse pretrained autoencoders (sweeps)")
    p.add_argument("--out", default=None, help="write every run as JSON")
    p.add_argument("--md", default=None, help="append a markdown results section (e.g. benchmarks/dec_idec.md)")
    p.add_argument("--precision", default="32-true", help="Lightning precision, e.g. bf16-mixed (AMX on CPU)")
    args = p.parse_args()
    global PRECISION
    PRECISION = args.precision
    torch.set_num_threads(args.threads)
    runs = []
    for seed in args.seeds:
        dm = make_data(args.data, args.scaling, args.batch_size, seed, args.limit)
        dm.setup()
        pretrained = None
        for method in args.methods:
            res, weights = run_one(method, dm, args, seed, pretrained if args.share_pretraining else None)
            pretrained = weights
            print(json.dumps(res), flush=True)
            runs.append(res)
    print(f"\n{args.data} scaling={args.scaling} bs={args.batch_size} pre={args.pretrain_epochs} "
          f"noise={args.pretrain_noise} precision={args.precision} "
          f"joint={args.epochs} ({platform.processor() or platform.machine()}, {args.threads} thread(s))")
    for method in args.methods:
        rs = [r for r in runs if r["method"] == method]
        print(f"{method:5s} ACC {np.mean([r['acc'] for r in rs]):.4f} ± {np.std([r['acc'] for r in rs]):.4f}  "
              f"NMI {np.mean([r['nmi'] for r in rs]):.4f}  ARI {np.mean([r['ari'] for r in rs]):.4f}  "
              f"time {np.mean([r['pretrain_s'] + r['joint_s'] for r in rs]):.1f} s")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "runs": runs}, f, indent=2)
    if args.md:
        write_markdown(args, runs)


def write_markdown(args, runs: list[dict]) -> None:
    """Append a results section (date, machine, command, per-run rows, means) to ``args.md``."""
    lines = [
        f"## {args.data}: {', '.join(m.upper() for m in args.methods)} ({datetime.date.today().isoformat()})", "",
        f"- machine: {os.cpu_count()} CPUs, {platform.platform()}, torch {torch.__version__}, "
        f"{args.threads} thread(s), precision {args.precision}",
        f"- command: `python {shlex.join(['scripts/bench_dec_idec.py', *sys.argv[1:]])}`",
        f"- settings: scaling={args.scaling}, batch_size={args.batch_size}, pretrain_epochs={args.pretrain_epochs}, "
        f"epochs={args.epochs}, update_interval={args.update_interval}, tol={args.tol}, gamma={args.gamma}, "
        f"layers [d, {', '.join(map(str, args.hidden))}, {args.latent}], pretrain_noise={args.pretrain_noise}, "
        f"shared pretraining={args.share_pretraining}, DEC opt={args.dec_opt or 'sgd:0.01:0.9'}, "
        f"IDEC opt={args.idec_opt or 'adam:' + str(args.lr)}",
        "", "| method | seed | ACC | NMI | ARI | F1 | joint steps | pretrain s | joint s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(f"| {r['method']} | {r['seed']} | {r['acc']:.4f} | {r['nmi']:.4f} | {r['ari']:.4f} | "
                     f"{r['f1']:.4f} | {r['joint_steps']} | {r['pretrain_s']:.1f} | {r['joint_s']:.1f} |")
    for method in args.methods:
        rs = [r for r in runs if r["method"] == method]
        lines.append(f"| **{method} mean** | | **{np.mean([r['acc'] for r in rs]):.4f}** | "
                     f"{np.mean([r['nmi'] for r in rs]):.4f} | {np.mean([r['ari'] for r in rs]):.4f} | "
                     f"{np.mean([r['f1'] for r in rs]):.4f} | | | |")
    with open(args.md, "a") as f:
        f.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
