"""Side-by-side benchmark: pyagc's DCN against clustpy's DCN (anchor library).

    OMP_NUM_THREADS=1 python scripts/bench_dcn_vs_clustpy.py        # digits, seeds 0 1 2, 50+50 epochs
    OMP_NUM_THREADS=1 python scripts/bench_dcn_vs_clustpy.py --data usps --precision bf16-mixed  # -> ..._usps.md

Runs with the pyagc environment. For every seed it starts two subprocesses with the same data,
scaling, architecture ([d, 500, 500, 2000, 10], ReLU, Xavier init), epochs, batch size, Adam learning
rate, lambda, k-means restarts and seed, alternating which library goes first (even seeds: pyagc
first) so both see the same machine load:

* pyagc:   ``<this python> scripts/bench_dcn_vs_clustpy.py --worker ...`` -> the ``DCN`` preset
  (``ClusteringModule`` + ``DCNClusterHead``) trained by one Lightning ``Trainer.fit``
  (pretraining, k-means initialisation, joint epochs),
* clustpy: ``<--anchor-python> scripts/anchor_clustpy_dcn.py ...`` (clustpy lives only in that
  separate environment, default ``/work/benchvenv``).

``fit_s`` = pyagc's ``trainer.fit`` wall time vs clustpy's whole ``fit`` (pretraining, initial
k-means, clustering epochs, final k-means + label prediction); ``proc_s`` = wall time of each
subprocess (interpreter start, imports, data loading, evaluation included). Both report the labels
of the nearest DCN centre. Writes a markdown report (``--out``, rewritten after every run). The shared
plumbing (subprocesses, alternating order, header, tables, timing) is in ``clustpy_side_by_side.py``.
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
    cpu_trainer,
    finish_report,
    header_lines,
    md_table,
    means_table,
    ratio_table,
    resolve_data_root,
    run_side_by_side,
    shared_flags,
    start_driver,
    tabular_data,
)


# ----------------------------------------------------------------------------- pyagc worker
def worker(args) -> None:
    """One pyagc DCN run in this process; prints one JSON line."""
    import pytorch_lightning as pl
    import torch

    from pyagc.metrics import external_metrics
    from pyagc.models import DCN

    torch.set_num_threads(args.threads)
    dm = tabular_data(args)
    pl.seed_everything(args.seed, verbose=False)
    model = DCN(
        dm.n_features,
        n_clusters=dm.n_classes,
        hidden_dims=args.hidden,
        n_features=args.latent,
        pretrain_epochs=args.pretrain_epochs,
        epochs=args.epochs,
        lambda_=args.lam,
        n_init=args.n_init,
        pretrain_optimizer={"name": "adam", "lr": args.lr},
        optimizer={"name": "adam", "lr": args.lr},
        seed=args.seed,
    )
    trainer = cpu_trainer(args.pretrain_epochs + args.epochs, args.precision)
    sw = Stopwatch()
    trainer.fit(model, datamodule=dm)
    fit_s, cpu_s = sw.wall, sw.cpu
    pred = model.infer_full(dm).numpy()
    res = {
        "lib": "pyagc",
        "method": "dcn",
        "seed": args.seed,
        **external_metrics(dm.y.numpy(), pred),
        "time_s": round(fit_s, 2),
        "cpu_s": round(cpu_s, 2),
        "n": int(dm.n_samples),
        "pretrain_s": round(model.phase_times["pretrain"], 2),
        "joint_s": round(model.phase_times["joint"], 2),
        "init_s": round(model.phase_times["initialize"], 2),
        "joint_steps": int(model.joint_steps),
    }
    print(json.dumps(res), flush=True)


# ----------------------------------------------------------------------------- orchestration
def dcn_flags(args, seed: int) -> list[str]:
    return [*shared_flags(args, seed), "--lr", str(args.lr), "--lambda", str(args.lam), "--n-init", str(args.n_init)]


def pyagc_cmd(args, seed: int) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        *dcn_flags(args, seed),
        "--precision",
        args.precision,
    ]


def clustpy_cmd(args, seed: int, data_root: Path) -> list[str]:
    return [
        args.anchor_python,
        str(SCRIPTS / "anchor_clustpy_dcn.py"),
        *dcn_flags(args, seed),
        "--match",
        args.match,
        "--data-root",
        str(data_root),
    ]


def report(args, runs: list[dict], meta: dict, command: str, done: bool) -> str:
    lines = header_lines("DCN", args, meta, command, done) + [
        f"- Settings: data={args.data} (n={meta.get('n', '?')}), scaling={args.scaling}, seeds={args.seeds}, "
        f"layers [d, {', '.join(map(str, args.hidden))}, {args.latent}] ReLU + Xavier init, "
        f"batch_size={args.batch_size}, pretrain_epochs={args.pretrain_epochs}, epochs={args.epochs}, "
        f"Adam lr={args.lr} (both phases), lambda={args.lam} (loss = mse + lambda/2 * mean ||z - M s||^2), "
        f"initial k-means n_init={args.n_init}, centre counts start at 100, threads={args.threads}, "
        f"limit={args.limit}, clustpy --match {args.match}, pyagc precision={args.precision} (clustpy: float32)",
        "- Algorithmic differences that remain (see `scripts/anchor_clustpy_dcn.py` and `pyagc/clusters/dcn.py`): "
        "both use each sample's stored label (from its previous visit) in the loss; after every optimizer step "
        "clustpy encodes the batch a second time, re-assigns it and moves the centres in a per-sample Python loop, "
        "while pyagc re-assigns the batch with the embedding of the loss's forward pass and moves the centres with "
        "the closed-form batch version of the same running-mean update (no second encoder pass).",
        "- fit_s: pyagc `trainer.fit` (pretrain + k-means init + joint); clustpy whole `fit` (incl. its final "
        "k-means and prediction). proc_s: subprocess wall time (start-up, data loading, evaluation included). "
        "Order alternates per seed (even seed: pyagc first).",
        "",
    ]
    times = (Col("fit_s", "fit_s", ".1f"), Col("fit_cpu_s", "cpu_s", ".1f"), Col("proc_s", "proc_s", ".1f"))
    lines += md_table(
        [
            *SEED_LIB,
            *METRIC_COLS,
            *times,
            Col("pretrain_s", lambda r: r.get("pretrain_s", "")),
            Col("joint_s", lambda r: r.get("joint_s", "")),
        ],
        runs,
    )
    table, per = means_table(runs, [*METRIC_COLS, *times])
    lines += ["", "Means ± std over seeds:", "", *table]
    if len(per) == 2:
        lines += [
            "",
            *ratio_table(
                per, [("speed ratio, wall (clustpy fit_s / pyagc fit_s)", "fit_s"), ("speed ratio, CPU time", "cpu_s")]
            ),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    add_common_args(p, "dcn", scaling_choices=["minmax", "standard", "global_z"], data_root_option=True)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lambda", dest="lam", type=float, default=1.0)
    p.add_argument("--n-init", type=int, default=20)
    p.add_argument("--match", choices=["pyagc", "none"], default="pyagc")
    p.add_argument("--precision", default="32-true", help="pyagc only: Lightning precision (bf16-mixed: AMX on CPU)")
    args = p.parse_args()
    if args.worker:
        worker(args)
        return

    data_root = resolve_data_root(args.data_root)
    out, env, meta, command = start_driver(args, "dcn", data_root)

    def make_row(lib: str, seed: int, row: dict, wall: float, cpu: float) -> dict:
        row["fit_s"], row["proc_s"] = float(row["time_s"]), round(wall, 2)
        return row

    runs = run_side_by_side(
        args.seeds,
        lambda lib, seed: pyagc_cmd(args, seed) if lib == "pyagc" else clustpy_cmd(args, seed, data_root),
        env,
        make_row,
        by_seed=True,
        meta=meta,
        after_run=lambda runs: out.write_text(report(args, runs, meta, command, done=False)),
    )
    finish_report(args, out, report(args, runs, meta, command, done=True), meta, runs)


if __name__ == "__main__":
    main()
