"""DEC (or IDEC, ``--method idec``) with and without the reclustering-barrier callback (BRB) on digits.

    OMP_NUM_THREADS=1 python scripts/bench_reclustering_barrier.py      # seeds 0 1 2, 50 + 50 epochs
    PYAGC_DATA=../shared/data python scripts/bench_reclustering_barrier.py --data usps --scaling unit \
        --pretrain-epochs 200 --epochs 100 --precision bf16-mixed       # the DEC protocol on USPS

For every seed the MLP autoencoder ([d, 500, 500, 2000, 10], ReLU, Xavier) is pretrained once
(Adam 1e-3, batch 256, minmax scaling); then three joint runs start from the same pretrained weights
(DEC preset settings: SGD lr 0.01 momentum 0.9, or ``--dec-optimizer adam``: Adam(--lr) as the BRB
paper's runs; update_interval 140; ``tol=0`` so every arm runs all epochs):

* ``dec``: plain DEC,
* ``dec+recluster``: the callback with ``alpha=1`` and no momentum reset (reclustering only, the
  paper's "recluster" ablation),
* ``dec+brb``: the callback with the paper's settings (soft reset alpha, momentum reset, reclustering).

With ``--method idec`` the arms are ``idec``, ``idec+recluster``, ``idec+brb`` (IDEC head, gamma 0.1).

``--pretrain-epochs 0`` trains from scratch (no autoencoder pretraining: both arms of a seed start from the
same random weights and the first k-means runs on their embeddings), the BRB paper's "training from scratch"
setting.

``--paper-protocol`` runs the BRB authors' DEC setting instead (their code's ``baseline_comparison``
configuration; https://github.com/Probabilistic-and-Interactive-ML/breaking-the-reclustering-barrier):

    PYAGC_DATA=../shared/data OMP_NUM_THREADS=1 python scripts/bench_reclustering_barrier.py --data usps \
        --paper-protocol --seeds 0 1 2 --precision bf16-mixed --append

images resized to 28x28 (USPS is upsampled bilinearly) and standardised with one mean and std
(``global_z``), the autoencoder [784, 1024, 512, 256, 10] with batch norm after every hidden layer and
PyTorch's default init, pretraining 250 epochs (Adam 1e-3, batch 256, last incomplete batch dropped), then
400 DEC epochs with Adam 1e-3, gradient norm clipped at 500, each batch's own target distribution
(``update_interval=None``) and the augmentation-invariant loss (a random affine view of every image:
rotation +-16 deg, shift +-10 %, shear +-8 deg; ``--no-augmentation`` turns it off); BRB every 20 epochs
with alpha 0.8 on the encoder's linear layers except the embedding (not the batch norms), Kaiming-uniform
fresh weights, the batch-norm running statistics re-estimated for the reset weights, only the centres' Adam
moments zeroed, k-means on all embeddings. Arms: ``dec``, ``dec+brb``.

The arms of a seed can run as parallel processes that share one pretrained autoencoder (on a GPU:
``--accelerator gpu --precision bf16-mixed``): ``--arms dec --ae-cache DIR`` pretrains, caches the autoencoder in DIR
and trains the plain arm; ``--arms dec+brb --ae-cache DIR --wait-for-cache`` (same seeds, its own ``--out``) starts
beside it and waits for each seed's autoencoder instead of pretraining it again. ``--from-logs DEC.log BRB.log``
(with the runs' other options) then writes one report of both processes' rows (checking that their settings
match these options). ``--stale-batch-norm`` keeps the batch-norm statistics of the old weights after a reset
(pyagc's behaviour before session 12) for comparison.

Writes a markdown report (``--out``, default ``benchmarks/reclustering_barrier_digits.md``; with
``--append`` the run's section is added to the file instead of replacing it).
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from pyagc.augmentations import RandomAffine
from pyagc.callbacks import ReclusteringBarrier
from pyagc.clusters import DECClusterHead, IDECClusterHead
from pyagc.data import ImageDataModule, TabularDataModule
from pyagc.encoders import MLPAutoencoder
from pyagc.metrics import external_metrics
from pyagc.models import ClusteringModule

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ae_cache  # noqa: E402  (scripts/ae_cache.py)

REPO = Path(__file__).resolve().parent.parent


def trainer(epochs: int, callbacks: list, precision: str = "32-true", accelerator: str = "cpu") -> pl.Trainer:
    return pl.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        precision=precision,
    )


def data_module(args, seed: int):
    """digits (scikit-learn) or USPS / MNIST (local files, all samples, flattened to vectors)."""
    if args.paper_protocol:
        if args.data == "digits":
            raise SystemExit("--paper-protocol needs image data: --data usps or --data mnist")
        # 28x28 (USPS upscaled, bilinear), flattened, global z-scaling, as the BRB authors' DEC
        return ImageDataModule(
            args.data,
            resize=28,
            flatten=True,
            scaling="global_z",
            batch_size=args.batch_size,
            seed=seed,
            drop_last=True,
        )
    if args.data == "digits":
        return TabularDataModule("digits", scaling=args.scaling, batch_size=args.batch_size, seed=seed)
    return ImageDataModule(args.data, flatten=True, scaling=args.scaling, batch_size=args.batch_size, seed=seed)


def autoencoder(args, n_features: int) -> MLPAutoencoder:
    if args.paper_protocol:
        return MLPAutoencoder(
            n_features, hidden_dims=args.hidden, latent_dim=args.latent, batch_norm=True, init="default"
        )
    return MLPAutoencoder(n_features, hidden_dims=args.hidden, latent_dim=args.latent)


def arm_settings(args) -> dict:
    """Arm name -> callback keyword arguments (None: no callback)."""
    m = args.method
    if args.paper_protocol:
        # the encoder's Linear layers except the embedding: encoder.0, .3, .6 (BN at .1, .4, .7)
        return {
            m: None,
            f"{m}+brb": dict(
                alpha=args.alpha,
                reset_momentum="head",
                init="kaiming",
                layers=["encoder.0", "encoder.3", "encoder.6"],
                recalibrate_batch_norm=args.recalibrate_batch_norm,
            ),
        }
    return {
        m: None,
        f"{m}+recluster": dict(alpha=1.0, reset_momentum=False),
        f"{m}+brb": dict(alpha=args.alpha, reset_momentum=True),
    }


def run_seed(args, seed: int) -> list[dict]:
    dm = data_module(args, seed)
    dm.setup()
    pl.seed_everything(seed, verbose=False)
    enc = autoencoder(args, dm.n_features)
    cache = (
        None
        if not args.ae_cache
        else ae_cache.cache_path(
            args.ae_cache,
            args.data + ("28bn" if args.paper_protocol else ""),
            args.scaling,
            args.batch_size,
            args.pretrain_epochs,
            args.lr,
            args.hidden,
            args.latent,
            0.0,
            args.precision,
            None,
            seed,
        )
    )
    weights, pre_s = (None if args.pretrain_epochs == 0 else ae_cache.load(cache)), 0.0
    if args.pretrain_epochs == 0:  # from scratch (the BRB paper's Sec. 6.2): both arms start from this random init
        weights = copy.deepcopy(enc.state_dict())
    elif weights is None and args.wait_for_cache:
        weights = ae_cache.wait_for(cache)  # another process (e.g. the other arm) pretrains it
    elif weights is None:
        pre = ClusteringModule(
            enc,
            DECClusterHead(dm.n_classes, args.latent, seed=seed),
            pretrain_epochs=args.pretrain_epochs,
            epochs=0,
            pretrain_optimizer={"name": "adam", "lr": args.lr},
        )
        t0 = time.perf_counter()
        trainer(args.pretrain_epochs, [], args.precision, args.accelerator).fit(pre, datamodule=dm)
        pre_s = time.perf_counter() - t0
        weights = copy.deepcopy(enc.state_dict())
        ae_cache.save(cache, weights)
    rows = []
    for arm, kw in arm_settings(args).items():
        if args.arms and arm not in args.arms:
            continue
        pl.seed_everything(seed, verbose=False)
        e = autoencoder(args, dm.n_features)
        e.load_state_dict(weights)
        head_cls = DECClusterHead if args.method == "dec" else IDECClusterHead
        augment = args.paper_protocol and not args.no_augmentation
        head = head_cls(
            dm.n_classes,
            args.latent,
            update_interval=None if args.paper_protocol else args.update_interval,
            tol=0.0,
            seed=seed,
            augmentation_invariance=augment,
        )
        opt = (
            {"name": "sgd", "lr": 0.01, "momentum": 0.9}
            if args.dec_optimizer == "sgd"
            else {"name": "adam", "lr": args.lr}
        )
        view = (
            RandomAffine(
                degrees=16, translate=(0.1, 0.1), shear=(-8, 8), image_shape=(1, 28, 28), fill=float(dm.x.min())
            )
            if augment
            else None
        )  # the background (raw 0) after scaling
        model = ClusteringModule(
            e,
            head,
            pretrain_epochs=0,
            epochs=args.epochs,
            optimizer=opt,
            augmentation=view,
            gradient_clip=500.0 if args.paper_protocol else None,
        )
        cbs = [] if kw is None else [ReclusteringBarrier(reset_interval=args.reset_interval, seed=seed, **kw)]
        t1 = time.perf_counter()
        trainer(args.epochs, cbs, args.precision, args.accelerator).fit(model, datamodule=dm)
        joint_s = time.perf_counter() - t1
        pred = model.infer_full(dm).numpy()
        row = {
            "seed": seed,
            "arm": arm,
            **external_metrics(dm.y.numpy(), pred),
            "pretrain_s": round(pre_s, 1),
            "joint_s": round(joint_s, 1),
            "resets_at": cbs[0].applied_at if cbs else [],
            "started": args.started,
            "settings": settings_line(args),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def settings_line(args) -> str:
    if args.paper_protocol:
        return (
            f"- Settings (BRB authors' protocol): {args.data} (n={args.n_samples}) resized to 28x28, global_z "
            f"scaling, layers [784, {', '.join(map(str, args.hidden))}, {args.latent}] + batch norm, PyTorch "
            f"default init, batch_size={args.batch_size} (last incomplete batch dropped), "
            + (
                "no pretraining (from scratch: both arms of a seed start from the same random init), "
                if args.pretrain_epochs == 0
                else f"pretrain {args.pretrain_epochs} epochs Adam lr={args.lr} (shared by both arms of a seed), "
            )
            + f"joint "
            f"{args.epochs} epochs Adam lr={args.lr}, gradient norm clipped at 500, per-batch target "
            f"distribution, "
            + (
                "no augmentation"
                if args.no_augmentation
                else "augmentation-invariant loss (clean + one RandomAffine view: +-16 deg, +-10 % shift, +-8 deg "
                "shear)"
            )
            + f"; BRB every {args.reset_interval} joint epochs, alpha={args.alpha}, encoder Linear layers "
            "except the embedding (encoder.0/.3/.6), Kaiming-uniform fresh weights, "
            + (
                "batch-norm running statistics re-estimated for the reset weights, "
                if args.recalibrate_batch_norm
                else "batch-norm running statistics kept (stale), "
            )
            + "centres' Adam moments zeroed, k-means (n_init=20) reclustering on all samples."
        )
    return (
        f"- Settings: {args.data} (n={args.n_samples}), scaling={args.scaling}, layers [d, "
        f"{', '.join(map(str, args.hidden))}, "
        f"{args.latent}], batch_size={args.batch_size}, "
        + (
            "no pretraining (from scratch: the arms of a seed start from the same random init), "
            if args.pretrain_epochs == 0
            else f"pretrain {args.pretrain_epochs} epochs Adam lr={args.lr} (shared by the three arms of a seed"
            f"{'; from --ae-cache when cached there' if args.ae_cache else ''}), "
        )
        + f"joint {args.epochs} epochs "
        f"{'SGD lr=0.01 momentum=0.9' if args.dec_optimizer == 'sgd' else f'Adam lr={args.lr}'}, "
        f"update_interval={args.update_interval}, tol=0 (all epochs run); BRB reset_interval={args.reset_interval}, "
        f"alpha={args.alpha}, every encoder layer except the embedding layer, Xavier fresh init, optimizer "
        "state cleared, k-means (n_init=20) reclustering on all samples. `dec+recluster` = the callback with "
        "alpha=1 and no momentum reset."
    )


def machine(args) -> str:
    if args.accelerator == "gpu" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, {os.cpu_count()} CPUs"
    return f"{os.cpu_count()} CPUs (shared)"


def report(args, rows: list[dict], command: str, date: str) -> str:
    protocol = (
        " (BRB authors' protocol" + (", no augmentation)" if args.no_augmentation else ")")
        if args.paper_protocol
        else ""
    )
    lines = [
        f"## {args.method.upper()} {args.pretrain_epochs} + {args.epochs} epochs ({args.dec_optimizer}){protocol}, "
        f"BRB every {args.reset_interval} joint epochs",
        "",
        f"- Date: {date}",
        f"- Machine: {machine(args)}, {platform.platform()}, torch {torch.__version__}, "
        f"{args.threads} thread(s), precision {args.precision}",
        f"- Command: `{command}`",
        settings_line(args),
        "",
        "| seed | arm | ACC | NMI | ARI | joint_s | resets at trainer epoch |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['arm']} | {r['acc']:.4f} | {r['nmi']:.4f} | {r['ari']:.4f} | "
            f"{r['joint_s']:.1f} | {r['resets_at']} |"
        )
    lines += ["", "Means ± std over seeds:", "", "| arm | runs | ACC | NMI | ARI |", "|---|---:|---:|---:|---:|"]
    for arm in dict.fromkeys(r["arm"] for r in rows):
        rs = [r for r in rows if r["arm"] == arm]
        cell = lambda k: f"{np.mean([r[k] for r in rs]):.4f} ± {np.std([r[k] for r in rs]):.4f}"  # noqa: E731
        lines.append(f"| {arm} | {len(rs)} | {cell('acc')} | {cell('nmi')} | {cell('ari')} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--scaling", default=None, help="default minmax (--paper-protocol: global_z)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--pretrain-epochs", type=int, default=None, help="default 50 (--paper-protocol: 250)")
    p.add_argument("--epochs", type=int, default=None, help="default 50 (--paper-protocol: 400)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--update-interval", type=int, default=140)
    p.add_argument("--reset-interval", type=int, default=20)
    p.add_argument("--alpha", type=float, default=0.8)
    p.add_argument(
        "--hidden",
        nargs="+",
        type=int,
        default=None,
        help="default 500 500 2000 (--paper-protocol: 1024 512 256, with batch norm)",
    )
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--method",
        choices=["dec", "idec"],
        default="dec",
        help="the head: DEC, or IDEC (keeps the reconstruction loss, gamma 0.1)",
    )
    p.add_argument(
        "--dec-optimizer",
        choices=["sgd", "adam"],
        default=None,
        help="joint optimizer: the DEC preset's SGD(0.01, 0.9) (default) or Adam(--lr) as the BRB paper's "
        "runs (--paper-protocol's default)",
    )
    p.add_argument(
        "--paper-protocol",
        action="store_true",
        help="the BRB authors' DEC setting (see the module docstring); arms dec and dec+brb",
    )
    p.add_argument(
        "--no-augmentation", action="store_true", help="--paper-protocol without the augmentation-invariant loss"
    )
    p.add_argument(
        "--stale-batch-norm",
        dest="recalibrate_batch_norm",
        action="store_false",
        help="--paper-protocol: keep the batch-norm running statistics after a reset (pyagc before "
        "session 12) instead of re-estimating them for the reset weights",
    )
    p.add_argument(
        "--arms",
        nargs="+",
        default=None,
        help="run only these arms (e.g. dec+brb), so that arms can run in parallel processes sharing "
        "--ae-cache; default all",
    )
    p.add_argument(
        "--wait-for-cache",
        action="store_true",
        help="with --ae-cache: wait for another process to cache each seed's autoencoder instead of "
        "pretraining it here (run the arms of a seed side by side: --arms dec in one process, "
        "--arms dec+brb --wait-for-cache in another)",
    )
    p.add_argument(
        "--from-logs",
        nargs="+",
        default=None,
        metavar="LOG",
        help="write the report of earlier runs (the JSON rows they printed, e.g. one log per arm) to "
        "--out instead of running; the other options must be those of the runs",
    )
    p.add_argument("--append", action="store_true", help="add this run's section to --out instead of replacing it")
    p.add_argument(
        "--data",
        choices=["digits", "usps", "mnist"],
        default="digits",
        help="usps / mnist read local files ($PYAGC_DATA); all samples, pixels as vectors",
    )
    p.add_argument(
        "--precision",
        default="32-true",
        help="Lightning precision, e.g. bf16-mixed (on a GPU, or a CPU with AMX; slow on other CPUs)",
    )
    p.add_argument("--accelerator", choices=["cpu", "gpu"], default="cpu", help="where the runs train (one device)")
    p.add_argument(
        "--ae-cache",
        default=None,
        help="folder of pretrained autoencoders shared with bench_dec_idec.py (reused when present; "
        "pretrain_s is then 0)",
    )
    p.add_argument("--out", default=None, help="default benchmarks/reclustering_barrier_DATA.md")
    args = p.parse_args()
    paper = args.paper_protocol
    for name, plain, in_paper in (
        ("scaling", "minmax", "global_z"),
        ("pretrain_epochs", 50, 250),
        ("epochs", 50, 400),
        ("hidden", [500, 500, 2000], [1024, 512, 256]),
        ("dec_optimizer", "sgd", "adam"),
    ):
        if getattr(args, name) is None:
            setattr(args, name, in_paper if paper else plain)
    if args.no_augmentation and not paper:
        p.error("--no-augmentation only applies to --paper-protocol")
    if not args.recalibrate_batch_norm and not paper:
        p.error("--stale-batch-norm only applies to --paper-protocol (the other protocol's encoder has no batch norm)")
    if args.arms and not set(args.arms) <= set(arm_settings(args)):
        p.error(f"--arms must be among {list(arm_settings(args))}, got {args.arms}")
    args.out = args.out or str(REPO / "benchmarks" / f"reclustering_barrier_{args.data}.md")
    args.n_samples = {"digits": 1797, "usps": 9298, "mnist": 70000}[args.data]
    torch.set_num_threads(args.threads)
    command = shlex.join([f"OMP_NUM_THREADS={args.threads}", "python", *sys.argv])
    date = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    args.started = date
    out = Path(args.out)
    head = (
        out.read_text()
        if args.append and out.is_file()
        else f"# DEC with and without the reclustering-barrier callback (BRB) on {args.data}\n\n"
    )
    if args.from_logs:
        rows = [
            json.loads(line)
            for log in args.from_logs
            for line in Path(log).read_text().splitlines()
            if line.startswith("{") and '"arm"' in line
        ]
        wanted = settings_line(args)
        for r in rows:
            if r.get("settings", wanted) != wanted:
                p.error(
                    f"seed {r['seed']} {r['arm']} in --from-logs ran with other settings than these options "
                    f"give:\n  run:  {r['settings']}\n  here: {wanted}"
                )
            if r["arm"] not in arm_settings(args):
                p.error(f"arm {r['arm']!r} in --from-logs is not an arm of these options ({list(arm_settings(args))})")
        keys = [(r["seed"], r["arm"]) for r in rows]
        if len(set(keys)) != len(keys):
            p.error("--from-logs: a seed and arm appears in more than one row; join disjoint runs.")
        rows.sort(key=lambda r: (r["seed"], list(arm_settings(args)).index(r["arm"])))
        date = min((r["started"] for r in rows if "started" in r), default=date)
        command = (
            "the runs of "
            + " + ".join(Path(log).name for log in args.from_logs)
            + ", joined with --from-logs (their arms as the rows show); "
            + shlex.join([a for a in sys.argv if a not in args.from_logs and a != "--from-logs"])
        )
        out.write_text(head + report(args, rows, command, date) + "\n")
        print(out.read_text())
        return
    if args.wait_for_cache and not args.ae_cache:
        p.error("--wait-for-cache needs --ae-cache")
    rows: list[dict] = []
    for seed in args.seeds:
        rows += run_seed(args, seed)
        out.write_text(head + report(args, rows, command, date) + "\n")
    print(Path(args.out).read_text())


if __name__ == "__main__":
    main()
