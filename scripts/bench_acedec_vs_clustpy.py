"""Side-by-side benchmark: pyagc's ACe/DeC head against clustpy's ACeDeC (anchor library).

    OMP_NUM_THREADS=1 python scripts/bench_acedec_vs_clustpy.py            # digits, seeds 0 1 2, 50 + 50 epochs
    python scripts/bench_acedec_vs_clustpy.py --seeds 0 --pretrain-epochs 5 --epochs 5 --out /tmp/x.md  # smoke

Runs with the pyagc environment. For every seed it starts two subprocesses with the same data (``--data``:
sklearn digits, or USPS / MNIST flattened, from ``--data-root``), scaling (minmax), layers
``[d, 500, 500, 2000, 10]``, batch size, epochs and seed, alternating which library goes first so both see
the same machine load:

* pyagc:   ``<this python> scripts/bench_acedec_vs_clustpy.py --pyagc-run --seed S ...`` (one ``ACeDeC`` preset
  fit: ``MLPAutoencoder`` (ReLU, Xavier init, per-element MSE pretraining, Adam 1e-3), then the
  :class:`~pyagc.clusters.ACeDeCClusterHead` joint phase with Adam ``--lr`` (default 1e-4, clustpy's default
  clustering lr; beta 10x faster in both));
* clustpy: ``<--anchor-python> scripts/anchor_clustpy_acedec.py --seed S ...`` (clustpy's own defaults
  otherwise; clustpy lives only in that separate environment, default ``/work/benchvenv``).

Time columns: ``fit_s`` = pyagc's ``trainer.fit`` (pretraining, initialisation, joint epochs) vs clustpy's whole
``fit`` (pretraining, ACeDeC init, clustering epochs, final re-clustering); ``proc_s`` = wall time of each
subprocess (interpreter start, imports, data loading, evaluation included). clustpy's ``labels_`` (its default
output, after ``final_reclustering``) is the reference; its ACeDeC module's own labels before that
re-clustering (``acedec_labels_``) are reported too. Writes a markdown report (``--out``, default
``benchmarks/acedec_vs_clustpy_<data>.md``), rewritten after every run. The shared plumbing
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
    finish_report,
    header_lines,
    md_table,
    mean_std,
    means_table,
    ratio_table,
    report_joined,
    resolve_data_root,
    run_side_by_side,
    shared_flags,
    start_driver,
    tabular_data,
)


# ----------------------------------------------------------------------------- one pyagc run (subprocess)
def pyagc_run(args) -> None:
    import pytorch_lightning as pl
    import torch

    from pyagc.metrics import external_metrics
    from pyagc.models import ACeDeC

    torch.set_num_threads(args.threads)
    dm = tabular_data(args)
    pl.seed_everything(args.seed, verbose=False)
    model = ACeDeC(
        in_features=dm.n_features,
        n_clusters=dm.n_classes,
        hidden_dims=args.hidden,
        n_features=args.latent,
        pretrain_epochs=args.pretrain_epochs,
        epochs=args.epochs,
        optimizer={"name": "adam", "lr": args.lr},
        refit_interval=args.refit_interval,
        seed=args.seed,
    )
    trainer = cpu_trainer(args.pretrain_epochs + args.epochs, args.precision)
    sw = Stopwatch()
    trainer.fit(model, datamodule=dm)
    fit_s, fit_cpu = sw.wall, sw.cpu
    pred = model.infer_full(dm).numpy()
    split = model.cluster_head.split_spaces(model.embed(dm))
    res = {
        "lib": "pyagc",
        "method": "acedec",
        "seed": args.seed,
        **external_metrics(dm.y.numpy(), pred),
        "time_s": round(fit_s, 2),
        "cpu_s": round(fit_cpu, 2),
        "joint_steps": int(model.joint_steps),
        "cluster_space_dims": int(split.cluster_dims.numel()),
        "phase_times": {k: round(v, 2) for k, v in model.phase_times.items()},
    }
    print(json.dumps(res), flush=True)


# ----------------------------------------------------------------------------- driver
def report(args, runs: list[dict], meta: dict, command: str, done: bool) -> str:
    lines = header_lines("ACe/DeC", args, meta, command, done) + [
        f"- Settings: data={args.data} (n={meta.get('n', '?')}), scaling={args.scaling}, seeds={args.seeds}, "
        f"layers [d, {', '.join(map(str, args.hidden))}, {args.latent}], batch_size={args.batch_size}, "
        f"pretrain_epochs={args.pretrain_epochs}, epochs={args.epochs}, threads={args.threads} "
        f"(OMP_NUM_THREADS={args.threads}), limit={args.limit}, pyagc precision={args.precision} (clustpy: float32). "
        "pyagc: ReLU + Xavier MLP, per-element MSE "
        f"pretraining with Adam 1e-3, joint Adam lr={args.lr} (beta 10x), paper loss (per-sample summed "
        "reconstruction + mean of the two space losses), exactly orthogonal V, final re-clustering of the trained "
        "embedding (the preset's `final_reclustering=True`)"
        + (f", whole-data Lloyd re-fit of the centres every {args.refit_interval} steps" if args.refit_interval else "")
        + ". clustpy: its ACeDeC defaults "
        + (
            "with pyagc's autoencoder (`--match pyagc`: ReLU + Xavier MLP, per-element-MSE pretraining with "
            "Adam 1e-3 by clustpy's own `fit`), "
            if args.match == "pyagc"
            else "(`--match none`: LeakyReLU + PyTorch-default-init MLP, summed-MSE pretraining with Adam 1e-3), "
        )
        + "clustering Adam 1e-4, "
        "beta 10x, `init='acedec'`, `final_reclustering=True`).",
        "- fit_s: pyagc `trainer.fit` (pretrain + init + joint); clustpy whole `fit` (pretrain, init, clustering, "
        "final re-clustering). proc_s: subprocess wall time (start-up, imports, data loading, evaluation "
        "included). fit_cpu_s: CPU time (user + system) of the fit span (`time.process_time`), the fairer speed "
        "measure on a shared machine.",
        "- clustpy ACC/NMI/ARI: `labels_` (its default output, after the final re-clustering); clustpy-inner: "
        "`acedec_labels_` (the trained ACeDeC module's own assignments).",
        "",
    ]

    def note(r: dict) -> str:
        raw = r["raw"]
        if r["lib"] == "clustpy":
            return (
                f"inner (acedec_labels_): ACC {raw['acedec_acc']:.4f}, NMI {raw['acedec_nmi']:.4f}, "
                f"ARI {raw['acedec_ari']:.4f}"
            )
        return f"clustered-space dims {raw['cluster_space_dims']}/{args.latent}, {raw['joint_steps']} joint steps"

    def inner_row(lib: str, rs: list[dict]) -> list[list[str]]:
        if lib != "clustpy":
            return []
        return [
            [
                "clustpy-inner",
                str(len(rs)),
                *(mean_std([r["raw"][f"acedec_{k}"] for r in rs]) for k in ("acc", "nmi", "ari")),
                "",
                "",
                "",
            ]
        ]

    times = (Col("fit_s", "fit_s", ".1f"), Col("fit_cpu_s", "fit_cpu_s", ".1f"), Col("proc_s", "proc_s", ".1f"))
    lines += md_table([*SEED_LIB, *METRIC_COLS, *times, Col("note", note, text=True)], runs)
    table, per = means_table(runs, [*METRIC_COLS, *times], extra_rows=inner_row)
    lines += ["", "Means ± std over seeds (speed ratio = clustpy time / pyagc time):", "", *table]
    if len(per) == 2:
        lines += [
            "",
            *ratio_table(per, [("speed ratio, wall fit_s", "fit_s"), ("speed ratio, fit_cpu_s", "fit_cpu_s")]),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(p, "acedec", scaling_choices=["minmax", "standard"], data_root_option=True)
    p.add_argument("--seed", type=int, default=0, help="(--pyagc-run) the one seed to run")
    p.add_argument("--lr", type=float, default=1e-4, help="pyagc joint Adam lr (clustpy's default clustering lr)")
    p.add_argument(
        "--precision",
        default="32-true",
        help="pyagc only: Lightning precision, e.g. bf16-mixed (AMX on CPU); clustpy runs float32",
    )
    p.add_argument(
        "--refit-interval",
        type=int,
        default=None,
        help="pyagc: steps between whole-data Lloyd re-fits of the centres (default: none, the paper's)",
    )
    p.add_argument(
        "--match",
        choices=["pyagc", "none"],
        default="none",
        help="clustpy's autoencoder: pyagc = the same as pyagc's (ReLU, Xavier, per-element MSE "
        "pretraining); none = clustpy's default (LeakyReLU, default init, summed MSE)",
    )
    add_from_json_arg(p)
    p.add_argument("--pyagc-run", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.pyagc_run:
        pyagc_run(args)
        return
    if args.from_json:
        report_joined(args, "acedec", report, check=("lr", "precision", "match", "refit_interval", "threads"))
        return

    data_root = resolve_data_root(args.data_root)
    out, env, meta, command = start_driver(args, "acedec", data_root, CLUSTPY_DEVICE="cpu")

    def command_of(lib: str, seed: int) -> list[str]:
        if lib == "pyagc":
            return [
                sys.executable,
                str(Path(__file__).resolve()),
                "--pyagc-run",
                *shared_flags(args, seed),
                "--lr",
                str(args.lr),
                "--precision",
                args.precision,
                *(["--refit-interval", str(args.refit_interval)] if args.refit_interval else []),
            ]
        return [
            args.anchor_python,
            str(SCRIPTS / "anchor_clustpy_acedec.py"),
            *shared_flags(args, seed),
            "--match",
            args.match,
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
            "fit_cpu_s": r["cpu_s"],
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
