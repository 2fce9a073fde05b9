"""Side-by-side benchmark: pyagc's DipEncoder head against clustpy's DipEncoder (anchor library).

    OMP_NUM_THREADS=1 python scripts/bench_dipencoder_vs_clustpy.py          # digits, seeds 0 1 2, 50+50 epochs
    OMP_NUM_THREADS=1 python scripts/bench_dipencoder_vs_clustpy.py --data usps --precision bf16-mixed

Runs with the pyagc environment. For every seed it starts two subprocesses with the same data, scaling
(minmax), architecture ([d, 500, 500, 2000, 10]), epochs, batch size and seed, alternating which library
goes first so both see the same machine load:

* pyagc:   ``<this python> scripts/bench_dipencoder_vs_clustpy.py --worker --seed S ...``: MLPAutoencoder
  pretraining (Adam 1e-3), then ``DipEncoderClusterHead`` jointly (Adam 1e-4, relabelling once per epoch).
* clustpy: ``<--anchor-python> scripts/anchor_clustpy_dipencoder.py --seed S ...`` (clustpy's defaults,
  clustpy lives only in that separate environment, default ``/work/benchvenv``).

``fit_s``: pyagc's two ``trainer.fit`` calls (pretraining + joint, initial k-means included) vs clustpy's
whole ``fit``. ``proc_s``: wall time of each subprocess. Writes ``benchmarks/dipencoder_vs_clustpy_<data>.md``
(``--out``), rewritten after every run pair. The shared plumbing (subprocesses, alternating order,
header, tables, timing) is in ``clustpy_side_by_side.py``.
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
def run_pyagc(args) -> dict:
    import pytorch_lightning as pl
    import torch

    from pyagc.clusters import DipEncoderClusterHead
    from pyagc.encoders import MLPAutoencoder
    from pyagc.metrics import external_metrics
    from pyagc.models import ClusteringModule

    torch.set_num_threads(args.threads)
    dm = tabular_data(args)
    steps_per_epoch = -(-dm.n_samples // args.batch_size)

    pl.seed_everything(args.seed, verbose=False)
    enc = MLPAutoencoder(dm.n_features, hidden_dims=args.hidden, latent_dim=args.latent)
    head = DipEncoderClusterHead(
        dm.n_classes,
        args.latent,
        update_interval=steps_per_epoch,
        seed=args.seed,
        dip_weighting=args.dip_weighting,
        n_init=args.n_init,
    )
    sw = Stopwatch()
    pre = ClusteringModule(
        enc, head, pretrain_epochs=args.pretrain_epochs, epochs=0, pretrain_optimizer={"name": "adam", "lr": args.lr}
    )
    cpu_trainer(args.pretrain_epochs, args.precision).fit(pre, datamodule=dm)
    pre_s = sw.wall
    model = ClusteringModule(
        enc, head, pretrain_epochs=0, epochs=args.epochs, optimizer={"name": "adam", "lr": args.joint_lr}
    )
    t1 = sw.wall
    cpu_trainer(args.epochs, args.precision).fit(model, datamodule=dm)
    joint_s = sw.wall - t1
    cpu_s = sw.cpu
    pred = model.infer_full(dm).numpy()
    return {
        "lib": "pyagc",
        "method": "dipencoder",
        "seed": args.seed,
        **{k: v for k, v in external_metrics(dm.y.numpy(), pred).items() if k in ("acc", "nmi", "ari")},
        "time_s": round(pre_s + joint_s, 2),
        "cpu_s": round(cpu_s, 2),
        "pretrain_s": round(pre_s, 2),
        "joint_s": round(joint_s, 2),
        "refresh_s": round(model.phase_times["refresh"], 2),
        "steps": int(model.joint_steps),
        "reconstruction_weight": float(head.reconstruction_weight),
        "n": int(dm.n_samples),
    }


# ----------------------------------------------------------------------------- driver
def pyagc_cmd(args, seed: int) -> list[str]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        *shared_flags(args, seed),
        "--lr",
        str(args.lr),
        "--joint-lr",
        str(args.joint_lr),
        "--n-init",
        str(args.n_init),
        "--precision",
        args.precision,
    ]
    return cmd + (["--dip-weighting"] if args.dip_weighting else [])


def clustpy_cmd(args, seed: int, data_root: Path) -> list[str]:
    return [
        args.anchor_python,
        str(SCRIPTS / "anchor_clustpy_dipencoder.py"),
        *shared_flags(args, seed),
        "--data-root",
        str(data_root),
    ]


def report(args, runs: list[dict], meta: dict, command: str, done: bool) -> str:
    lines = header_lines("DipEncoder", args, meta, command, done) + [
        f"- Settings: data={args.data} (n={meta.get('n', '?')}), scaling={args.scaling}, seeds={args.seeds}, "
        f"layers [d, {', '.join(map(str, args.hidden))}, {args.latent}], batch_size={args.batch_size}, "
        f"pretrain_epochs={args.pretrain_epochs}, epochs={args.epochs}, threads={args.threads} (OMP_NUM_THREADS), "
        f"limit={args.limit}",
        f"- pyagc: MLPAutoencoder (ReLU, Xavier), pretraining Adam lr={args.lr}, joint Adam lr={args.joint_lr}, "
        f"DipEncoderClusterHead(update_interval=batches per epoch, dip_weighting={args.dip_weighting}, "
        f"n_init={args.n_init}, reconstruction_weight=auto 1/(4 mean(x^2))), precision {args.precision} "
        "(clustpy: float32). Labels: the head's pairwise-threshold vote (`infer_full`).",
        "- clustpy: DipEncoder defaults (see `scripts/anchor_clustpy_dipencoder.py`): LeakyReLU, default init, "
        "Adam 1e-3 / 1e-4, dip-weighted losses, KMeans n_init=1; labels `labels_`.",
        "- fit_s: pyagc pretraining + joint `trainer.fit` (k-means init and relabelling included); clustpy whole "
        "`fit`. fit_cpu_s: CPU time of the same span (`time.process_time`, 1 thread: the fair speed measure on "
        "this shared, loaded machine, whose wall times vary with other people's jobs). proc_s: subprocess wall time "
        "(start-up, imports, data loading, evaluation included).",
        "",
    ]
    times = (Col("fit_s", "time_s", ".1f"), Col("fit_cpu_s", "cpu_s", ".1f"), Col("proc_s", "proc_s", ".1f"))
    lines += md_table([*SEED_LIB, *METRIC_COLS, *times], runs)
    table, per = means_table(runs, [*METRIC_COLS, *times])
    lines += ["", "Means ± std over seeds:", "", *table]
    if len(per) == 2:
        lines += [
            "",
            *ratio_table(per, [("speed ratio fit_s (clustpy / pyagc)", "time_s"), ("speed ratio fit_cpu_s", "cpu_s")]),
        ]
    pa = [r for r in runs if r["lib"] == "pyagc"]
    if pa:
        lines += [
            "",
            "pyagc phase times (s): "
            + "; ".join(
                f"seed {r['seed']}: pretrain {r['pretrain_s']}, joint {r['joint_s']} (relabelling {r['refresh_s']})"
                for r in pa
            ),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", action="store_true", help="internal: run one pyagc fit and print a JSON line")
    p.add_argument("--seed", type=int, default=0, help="worker only")
    add_common_args(p, "dipencoder", data_root_option=True)
    p.add_argument("--lr", type=float, default=1e-3, help="pyagc pretraining Adam lr (clustpy default 1e-3)")
    p.add_argument("--joint-lr", type=float, default=1e-4, help="pyagc joint Adam lr (clustpy default 1e-4)")
    p.add_argument("--dip-weighting", action="store_true", help="pyagc head: weight dips by their detached values")
    p.add_argument("--n-init", type=int, default=10, help="pyagc head: k-means restarts")
    p.add_argument("--precision", default="32-true", help="pyagc only: Lightning precision (bf16-mixed: AMX on CPU)")
    args = p.parse_args()

    if args.worker:
        print(json.dumps(run_pyagc(args)), flush=True)
        return

    data_root = resolve_data_root(args.data_root)
    out, env, meta, command = start_driver(args, "dipencoder", data_root)

    def make_row(lib: str, seed: int, row: dict, wall: float, cpu: float) -> dict:
        row["proc_s"] = round(wall, 2)
        return row

    runs = run_side_by_side(
        args.seeds,
        lambda lib, seed: pyagc_cmd(args, seed) if lib == "pyagc" else clustpy_cmd(args, seed, data_root),
        env,
        make_row,
        meta=meta,
        after_seed=lambda runs: out.write_text(report(args, runs, meta, command, done=False)),
    )
    finish_report(args, out, report(args, runs, meta, command, done=True), meta, runs)


if __name__ == "__main__":
    main()
