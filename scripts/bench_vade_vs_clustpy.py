"""Side-by-side benchmark: pyagc's VaDE against clustpy's (anchor library).

    python scripts/bench_vade_vs_clustpy.py                       # digits, seeds 0 1 2, 50+50 epochs
    python scripts/bench_vade_vs_clustpy.py --precision bf16-mixed --out benchmarks/vade_vs_clustpy_digits.md

Runs with the pyagc environment. For every seed it starts two subprocesses with the same data,
scaling, architecture ([d, 500, 500, 2000, 10] with mean and log-variance layers, sigmoid output),
epochs, batch size and seed, alternating which library goes first so both see the same machine load:

* pyagc:   ``<this python> scripts/bench_vade_vs_clustpy.py --worker --seed S ...``: the
  ``pyagc.models.VaDE`` preset (plain AE pretraining on the mean with MSE, Adam 1e-3; diagonal GMM
  initialisation with 10 restarts; negative ELBO with BCE reconstruction, Adam 2e-3) in one
  ``Trainer.fit``;
* clustpy: ``<--anchor-python> scripts/anchor_clustpy_vade.py --seed S ...`` (clustpy's own VaDE
  defaults otherwise; see that script's docstring), clustpy living only in ``/work/benchvenv``.

``--match clustpy`` gives pyagc clustpy's autoencoder (LeakyReLU, PyTorch's default init, binary cross-entropy
pretraining; the sigmoid output both have): the same architecture and pretraining loss on both sides, so that what
is compared is the VaDE implementations, not two autoencoders after a few epochs (``vade_vs_clustpy_mnist.md``).
``--reconstruction-weight 256 --lr 1e-4 [--mixture-weights uniform]`` gives pyagc's VaDE phase clustpy's settings
(clustpy sums the reconstruction over the batch and averages the KL terms, trains at lr 1e-4, and its mixture
weights are a softmax of the GMM's, within a few percent of 1/K); the defaults are the paper's ELBO, lr 2e-3.

Both compute ACC/NMI/ARI of the argmax of the responsibilities of the mean embedding. ``fit_s`` is
the wall time of the whole fit (pretraining, GMM initialisation, VaDE epochs; clustpy's also its
final GMM re-fit), after an untimed warm-up in each process; ``proc_s`` is each subprocess' wall time
(start-up, imports, data loading, evaluation included). Writes a markdown report (``--out``, default
``benchmarks/vade_vs_clustpy_<data>.md``), rewritten after every run. The shared plumbing
(subprocesses, alternating order, header, tables, timing) is in ``clustpy_side_by_side.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clustpy_side_by_side import (  # noqa: E402
    METRIC_COLS,
    SCRIPTS,
    SEED_LIB,
    Col,
    Stopwatch,
    add_common_args,
    add_from_json_arg,
    cpu_trainer,
    data_module,
    finish_report,
    header_lines,
    md_table,
    means_table,
    ratio_table,
    report_joined,
    resolve_data_root,
    run_side_by_side,
    shared_flags,
    start_driver,
)

# pyagc's VaDE preset arguments per --match: its own autoencoder, or clustpy's (VaDE's _VaDE_VAE pretraining)
MATCH = {
    "none": {},
    "clustpy": {"activation": "leaky_relu", "encoder_init": "default", "pretrain_loss": "bce"},
}


# ----------------------------------------------------------------------------- pyagc worker
def worker(args) -> None:
    """One pyagc VaDE fit; prints one JSON line."""
    import pytorch_lightning as pl
    import torch

    from pyagc.metrics import external_metrics
    from pyagc.models import VaDE

    torch.set_num_threads(args.threads)

    def make_data(limit, seed):
        return data_module(args.data, scaling=args.scaling, batch_size=args.batch_size, seed=seed, limit=limit)

    def fit(dm, pretrain_epochs, epochs, seed):
        pl.seed_everything(seed, verbose=False)
        dm.setup("fit")
        model = VaDE(
            dm.n_features,
            dm.n_classes,
            hidden_dims=args.hidden,
            n_features=args.latent,
            pretrain_epochs=pretrain_epochs,
            epochs=epochs,
            n_init=args.n_init,
            init=args.init,
            optimizer={"name": "adam", "lr": args.lr},
            reconstruction_weight=args.reconstruction_weight,
            mixture_weights=args.mixture_weights,
            seed=seed,
            **MATCH[args.match],
        )
        cpu_trainer(pretrain_epochs + epochs, args.precision).fit(model, datamodule=dm)
        return model

    fit(make_data(300, 0), 1, 1, 0)  # untimed warm-up: Lightning, optimizer, sklearn imports
    dm = make_data(args.limit, args.seed)
    dm.setup("fit")
    sw = Stopwatch()
    model = fit(dm, args.pretrain_epochs, args.epochs, args.seed)
    elapsed = sw.wall
    pred = model.infer_full(dm).numpy()
    res = {
        "lib": "pyagc",
        "method": "vade",
        "seed": args.seed,
        **external_metrics(dm.y.numpy(), pred),
        "time_s": round(elapsed, 2),
        "n": int(dm.n_samples),
        "joint_steps": int(model.joint_steps),
        "phase_s": {k: round(v, 2) for k, v in model.phase_times.items()},
    }
    print(json.dumps(res), flush=True)


# ----------------------------------------------------------------------------- driver
def report(args, runs: list[dict], meta: dict, command: str, done: bool) -> str:
    lines = header_lines("VaDE", args, meta, command, done, machine_note=" (shared with other jobs)") + [
        f"- Settings: data={args.data} (n={meta.get('n', '?')}), scaling={args.scaling}, seeds={args.seeds}, "
        f"layers [d, {', '.join(map(str, args.hidden))}, {args.latent}] (mean + log-variance, sigmoid output), "
        f"batch_size={args.batch_size}, pretrain_epochs={args.pretrain_epochs}, epochs={args.epochs}, "
        f"threads={args.threads}, limit={args.limit}",
        "- pyagc: `VaDE` preset, "
        + (
            "ReLU + Xavier init, AE pretraining with MSE"
            if args.match == "none"
            else "clustpy's autoencoder (`--match clustpy`: LeakyReLU + PyTorch default init, AE pretraining with BCE)"
        )
        + " (Adam 1e-3), "
        + (
            "diagonal GMM init"
            if getattr(args, "init", "gmm") == "gmm"
            else "full-covariance GMM init projected onto the diagonal prior (`--init gmm_full`)"
            if args.init == "gmm_full"
            else "k-means init (`--init kmeans`)"
        )
        + f" (n_init={args.n_init}), negative ELBO with BCE reconstruction summed over features"
        + (
            ""
            if getattr(args, "reconstruction_weight", 1.0) == 1.0
            else f" and weighted {args.reconstruction_weight:g}x against the KL terms (`--reconstruction-weight`)"
        )
        + (
            ", fixed uniform mixture weights (`--mixture-weights uniform`)"
            if getattr(args, "mixture_weights", "learned") == "uniform"
            else ""
        )
        + f", Adam lr={args.lr} (constant), precision {args.precision}.",
        "- clustpy: `clustpy.deep.VaDE` defaults otherwise: LeakyReLU, PyTorch init, AE pretraining with BCE "
        "(Adam 1e-3), diagonal GMM init (n_init=10), Adam 1e-4, BCE summed over the batch, float32 "
        "(see `scripts/anchor_clustpy_vade.py`). Its labels: `vade_labels_` (argmax of its responsibilities of one sampled z of q(z|x)); "
        "`gmm_acc` = its `labels_` (full-covariance GMM re-fit).",
        "- fit_s: whole fit (pretraining + initialisation + VaDE epochs; clustpy also its final GMM). "
        "proc_s: subprocess wall time (start-up, warm-up, data loading, evaluation included).",
        "",
    ]

    def note(r: dict) -> str:
        raw = r["raw"]
        return (
            f"gmm_acc {raw['gmm_acc']:.4f}"
            if r["lib"] == "clustpy"
            else "phases " + ", ".join(f"{k} {v:.1f}s" for k, v in raw.get("phase_s", {}).items())
        )

    times = (Col("fit_s", "fit_s", ".1f"), Col("proc_s", "proc_s", ".1f"))
    lines += md_table([*SEED_LIB, *METRIC_COLS, *times, Col("notes", note, text=True)], runs)
    table, per = means_table(runs, [*METRIC_COLS, *times])
    lines += ["", "Means ± std over seeds:", "", *table]
    if len(per) == 2:
        lines += ["", *ratio_table(per, [("speed ratio (clustpy fit_s / pyagc fit_s)", "fit_s")])]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(p, "vade", scaling_choices=["minmax", "unit", "none"], data_root_option=True)
    p.add_argument("--seed", type=int, default=0, help="--worker only")
    p.add_argument("--lr", type=float, default=2e-3, help="pyagc VaDE-phase Adam lr")
    p.add_argument("--n-init", type=int, default=10, help="pyagc GMM restarts")
    p.add_argument(
        "--init",
        choices=["gmm", "gmm_full", "kmeans"],
        default="gmm_full",
        help="pyagc: the prior's start (VaDEClusterHead(init=...)): full-covariance GMM projected onto the "
        "diagonal prior (the default since session 14), diagonal GMM (the paper's; the runs recorded "
        "before session 14), or k-means",
    )
    p.add_argument(
        "--reconstruction-weight",
        type=float,
        default=1.0,
        help="pyagc: weight of the reconstruction against the KL terms (1: the paper's ELBO; clustpy's "
        "VaDE sums the reconstruction over the batch and averages the KL terms: weight = batch size)",
    )
    p.add_argument(
        "--mixture-weights",
        choices=["learned", "uniform"],
        default="learned",
        help="pyagc: the prior's pi learned from the GMM fit (the paper) or fixed at 1/K (clustpy's "
        "pi = softmax(GMM weights) is within a few percent of 1/K)",
    )
    p.add_argument("--precision", default="32-true", help="pyagc only: Lightning precision (bf16-mixed: AMX on CPU)")
    p.add_argument(
        "--match",
        choices=sorted(MATCH),
        default="none",
        help="pyagc's autoencoder: none = the preset's (ReLU, Xavier, MSE pretraining); clustpy = clustpy's "
        "(LeakyReLU, default init, BCE pretraining)",
    )
    add_from_json_arg(p)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    if args.from_json:
        report_joined(
            args,
            "vade",
            report,
            check=("lr", "n_init", "precision", "match", "threads", "reconstruction_weight", "mixture_weights", "init"),
            defaults={"reconstruction_weight": 1.0, "mixture_weights": "learned", "init": "gmm"},
        )
        return

    data_root = resolve_data_root(args.data_root)
    out, env, meta, command = start_driver(args, "vade", data_root)
    pyagc_extra = [
        "--lr",
        str(args.lr),
        "--n-init",
        str(args.n_init),
        "--precision",
        args.precision,
        "--reconstruction-weight",
        str(args.reconstruction_weight),
        "--mixture-weights",
        args.mixture_weights,
        "--init",
        args.init,
        "--match",
        args.match,
        "--hidden",
        *map(str, args.hidden),
    ]

    def command_of(lib: str, seed: int) -> list[str]:
        if lib == "pyagc":
            return [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                *shared_flags(args, seed, hidden=False),
                *pyagc_extra,
            ]
        return [
            args.anchor_python,
            str(SCRIPTS / "anchor_clustpy_vade.py"),
            *shared_flags(args, seed, hidden=False),
            "--data-root",
            str(data_root),
        ]

    def make_row(lib: str, seed: int, r: dict, wall: float, cpu: float) -> dict:
        return {
            "lib": lib,
            "seed": seed,
            "acc": r["acc"],
            "nmi": r["nmi"],
            "ari": r["ari"],
            "fit_s": r["time_s"],
            "proc_s": wall,
            "raw": r,
        }

    runs = run_side_by_side(
        args.seeds,
        command_of,
        env,
        make_row,
        meta=meta,
        after_run=lambda runs: out.write_text(report(args, runs, meta, command, done=False)),
    )
    finish_report(args, out, report(args, runs, meta, command, done=True), meta, runs)


if __name__ == "__main__":
    main()
