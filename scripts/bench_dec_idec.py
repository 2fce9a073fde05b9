"""Benchmark pyagc's DEC and IDEC (mean over seeds) on digits, USPS or MNIST; also DCN and VaDE from the same
pretrained autoencoders (VaDE's paper also starts from a plain autoencoder's weights).

    python scripts/bench_dec_idec.py --data digits --seeds 0 1 2 --pretrain-epochs 100 --epochs 100
    python scripts/bench_dec_idec.py --data mnist --batch-size 256 --pretrain-epochs 200 --epochs 100
    python scripts/bench_dec_idec.py --data mnist --methods dcn --epochs 50 --ae-cache DIR   # DCN (Yang et al. 2017)
    python scripts/bench_dec_idec.py --data mnist --methods vade --epochs 50 --ae-cache DIR  # VaDE (Jiang et al. 2017)

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

from pyagc.clusters import DCNClusterHead, DECClusterHead, IDECClusterHead, VaDEClusterHead
from pyagc.data import ImageDataModule, TabularDataModule
from pyagc.encoders import MLPAutoencoder
from pyagc.metrics import external_metrics
from pyagc.models import ClusteringModule

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ae_cache  # noqa: E402  (scripts/ae_cache.py)


def make_data(name: str, scaling: str, batch_size: int, seed: int, limit: int | None):
    if name in ("mnist", "usps", "fashion_mnist"):
        return ImageDataModule(name, scaling=scaling, batch_size=batch_size, seed=seed, flatten=True, limit=limit)
    return TabularDataModule(name, scaling=scaling, batch_size=batch_size, seed=seed, limit=limit)


PRECISION = "32-true"


def trainer(epochs: int) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        precision=PRECISION,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def run_one(method: str, dm, args, seed: int, pretrained: dict | None) -> tuple[dict, dict]:
    pl.seed_everything(seed, verbose=False)
    # VaDE: the same autoencoder with a log-variance layer (fresh; VaDE pretrains the mean path only)
    # (with a Bernoulli decoder, a sigmoid output: its own pretraining, cached apart from the linear-output ones)
    output_activation = "sigmoid" if method == "vade" and args.vade_reconstruction == "bce" else None
    enc = MLPAutoencoder(
        dm.n_features,
        hidden_dims=args.hidden,
        latent_dim=args.latent,
        variational=method == "vade",
        output_activation=output_activation,
    )
    schedule = None
    if method == "dcn":  # k-means loss with count-based centre updates, reconstruction kept (Adam, as DCN's preset)
        head = DCNClusterHead(dm.n_classes, args.latent, lambda_=args.dcn_lambda, seed=seed)
    elif method == "vade":  # GMM prior initialised on the pretrained means; Adam 2e-3 decayed 0.9 every 10 epochs
        head = VaDEClusterHead(
            dm.n_classes, args.latent, reconstruction=args.vade_reconstruction, init="gmm", seed=seed
        )  # the diagonal start of its recorded runs
        schedule = {"name": "step", "step_size": 10, "gamma": 0.9}
    else:
        head_cls = DECClusterHead if method == "dec" else IDECClusterHead
        kw = dict(update_interval=args.update_interval, tol=args.tol, seed=seed)
        if method == "idec":
            kw["gamma"] = args.gamma
        head = head_cls(dm.n_classes, args.latent, **kw)
    opt = {"name": "sgd", "lr": 0.01, "momentum": 0.9} if method == "dec" else {"name": "adam", "lr": args.lr}
    if method == "dec" and args.dec_adam:
        opt = {"name": "adam", "lr": args.lr}
    if method == "vade":
        opt = {"name": "adam", "lr": args.vade_lr}
    custom = {"dec": args.dec_opt, "idec": args.idec_opt}.get(method)
    if custom:
        opt = parse_optimizer(custom)
    t0 = time.perf_counter()
    pre_time = 0.0
    cache = None
    if args.ae_cache:
        cache = ae_cache.cache_path(
            args.ae_cache,
            args.data,
            args.scaling,
            args.batch_size,
            args.pretrain_epochs,
            args.lr,
            args.hidden,
            args.latent,
            args.pretrain_noise,
            args.precision,
            args.limit,
            seed,
            output_activation,
        )
        if pretrained is None:
            pretrained = ae_cache.load(cache)
    if pretrained is None:
        ae = ClusteringModule(
            enc,
            head,
            pretrain_epochs=args.pretrain_epochs,
            epochs=0,
            pretrain_optimizer={"name": "adam", "lr": args.lr},
            pretrain_noise=args.pretrain_noise,
        )
        trainer(args.pretrain_epochs).fit(ae, datamodule=dm)
        pretrained = copy.deepcopy(enc.state_dict())
        pre_time = time.perf_counter() - t0
        ae_cache.save(cache, pretrained)
    missing, unexpected = enc.load_state_dict(pretrained, strict=False)
    if [k for k in missing + unexpected if not k.startswith("logvar_layer.")]:  # only VaDE's extra layer may differ
        raise RuntimeError(f"cached autoencoder does not fit: missing {missing}, unexpected {unexpected}")
    model = ClusteringModule(enc, head, pretrain_epochs=0, epochs=args.epochs, optimizer=opt, lr_schedule=schedule)
    start = start_point(model, dm, seed)
    t1 = time.perf_counter()
    trainer(args.epochs).fit(model, datamodule=dm)
    joint_time = time.perf_counter() - t1
    pred = model.infer_full(dm).numpy()
    z = model.embed(dm)
    from pyagc.clusters import kmeans

    km = kmeans(torch.as_tensor(np.asarray(z)), dm.n_classes, n_init=10, seed=seed).labels.numpy()
    res = {
        "method": method,
        "seed": seed,
        **external_metrics(dm.y.numpy(), pred),
        "pretrain_s": round(pre_time, 2),
        "joint_s": round(joint_time, 2),
        "joint_steps": int(model.joint_steps),
        "kmeans_on_final_z_acc": external_metrics(dm.y.numpy(), km)["acc"],
        **start,
    }
    return res, pretrained


@torch.no_grad()
def start_point(model: ClusteringModule, dm, seed: int) -> dict:
    """Where joint training starts from the pretrained autoencoder: k-means ACC on its embedding, the mean
    per-element reconstruction MSE and the mean squared distance of a sample to its k-means centre (the scale
    of DCN's k-means term against the reconstruction)."""
    from pyagc.clusters import kmeans

    model.eval()
    z = model.embed(dm)
    km = kmeans(z.float(), dm.n_classes, n_init=10, seed=seed)
    se, n = 0.0, 0
    for batch in dm.full_dataloader():
        x = batch["x"].float()
        x_hat = model.encoder.decode(model.encoder.encode(x))
        se += float((x_hat.reshape(x.shape) - x).pow(2).sum())
        n += x.numel()
    model.train()
    return {
        "start_kmeans_acc": external_metrics(dm.y.numpy(), km.labels.numpy())["acc"],
        "start_mse": se / n,
        "start_sq_dist_to_centre": float(km.inertia) / len(z),
    }


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
    p.add_argument("--methods", nargs="+", choices=["dec", "idec", "dcn", "vade"], default=["dec", "idec"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--scaling", default="minmax")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--pretrain-epochs", type=int, default=100)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--update-interval", type=int, default=140)
    p.add_argument("--tol", type=float, default=0.001)
    p.add_argument("--gamma", type=float, default=0.1)
    p.add_argument("--dcn-lambda", type=float, default=1.0, help="DCN: weight of the k-means term (head's lambda_)")
    p.add_argument("--vade-lr", type=float, default=2e-3, help="VaDE: Adam lr (decayed by 0.9 every 10 epochs)")
    p.add_argument(
        "--vade-reconstruction",
        choices=["bce", "mse"],
        default="bce",
        help="VaDE decoder likelihood: bce (Bernoulli, the paper's; pretrains its own sigmoid-output "
        "autoencoder) or mse (Gaussian; reuses the linear-output DEC autoencoders, unmeasured here)",
    )
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
    if (
        args.share_pretraining
        and "vade" in args.methods
        and args.vade_reconstruction == "bce"
        and len(args.methods) > 1
    ):
        p.error(
            "VaDE with --vade-reconstruction bce pretrains its own sigmoid-output autoencoder: run it without "
            "--share-pretraining or in a run of its own"
        )
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
    print(
        f"\n{args.data} scaling={args.scaling} bs={args.batch_size} pre={args.pretrain_epochs} "
        f"noise={args.pretrain_noise} precision={args.precision} "
        f"joint={args.epochs} ({platform.processor() or platform.machine()}, {args.threads} thread(s))"
    )
    for method in args.methods:
        rs = [r for r in runs if r["method"] == method]
        print(
            f"{method:5s} ACC {np.mean([r['acc'] for r in rs]):.4f} ± {np.std([r['acc'] for r in rs]):.4f}  "
            f"NMI {np.mean([r['nmi'] for r in rs]):.4f}  ARI {np.mean([r['ari'] for r in rs]):.4f}  "
            f"time {np.mean([r['pretrain_s'] + r['joint_s'] for r in rs]):.1f} s"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "runs": runs}, f, indent=2)
    if args.md:
        write_markdown(args, runs)


def write_markdown(args, runs: list[dict]) -> None:
    """Append a results section (date, machine, command, per-run rows, means) to ``args.md``."""
    dcn_settings = f"dcn_lambda={args.dcn_lambda}, DCN opt=adam:{args.lr}, " if "dcn" in args.methods else ""
    vade_settings = (
        f"VaDE reconstruction={args.vade_reconstruction}, VaDE opt=adam:{args.vade_lr} x0.9 every 10 epochs, "
        if "vade" in args.methods
        else ""
    )
    lines = [
        f"## {args.data}: {', '.join(m.upper() for m in args.methods)} ({datetime.date.today().isoformat()})",
        "",
        f"- machine: {os.cpu_count()} CPUs, {platform.platform()}, torch {torch.__version__}, "
        f"{args.threads} thread(s), precision {args.precision}",
        f"- command: `python {shlex.join(['scripts/bench_dec_idec.py', *sys.argv[1:]])}`",
        f"- settings: scaling={args.scaling}, batch_size={args.batch_size}, pretrain_epochs={args.pretrain_epochs}, "
        f"epochs={args.epochs}, update_interval={args.update_interval}, tol={args.tol}, gamma={args.gamma}, "
        f"{dcn_settings}{vade_settings}"
        f"layers [d, {', '.join(map(str, args.hidden))}, {args.latent}], pretrain_noise={args.pretrain_noise}, "
        f"shared pretraining={args.share_pretraining}, DEC opt={args.dec_opt or 'sgd:0.01:0.9'}, "
        f"IDEC opt={args.idec_opt or 'adam:' + str(args.lr)}",
        "",
        "| method | seed | ACC | NMI | ARI | F1 | joint steps | pretrain s | joint s | k-means ACC at start |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['method']} | {r['seed']} | {r['acc']:.4f} | {r['nmi']:.4f} | {r['ari']:.4f} | "
            f"{r['f1']:.4f} | {r['joint_steps']} | {r['pretrain_s']:.1f} | {r['joint_s']:.1f} | "
            f"{r.get('start_kmeans_acc', float('nan')):.4f} |"
        )
    for method in args.methods:
        rs = [r for r in runs if r["method"] == method]
        lines.append(
            f"| **{method} mean** | | **{np.mean([r['acc'] for r in rs]):.4f}** | "
            f"{np.mean([r['nmi'] for r in rs]):.4f} | {np.mean([r['ari'] for r in rs]):.4f} | "
            f"{np.mean([r['f1'] for r in rs]):.4f} | | | | |"
        )
    with open(args.md, "a") as f:
        f.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
