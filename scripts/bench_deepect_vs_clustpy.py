"""Side-by-side benchmark: pyagc's DeepECT head against clustpy's DeepECT (anchor library).

    OMP_NUM_THREADS=1 python scripts/bench_deepect_vs_clustpy.py            # digits, seeds 0 1 2, 50+50 epochs
    OMP_NUM_THREADS=1 python scripts/bench_deepect_vs_clustpy.py --data usps --precision bf16-mixed

Runs with the pyagc environment. For every seed it starts two subprocesses with the same data,
scaling (minmax), architecture ([d, 500, 500, 2000, 10]), epochs, batch size and seed, alternating which
library goes first so both see the same machine load:

* pyagc:   ``<this python> scripts/bench_deepect_vs_clustpy.py --worker --seed S ...``
  (``ClusteringModule`` + ``DeepECTClusterHead``: pretraining, then joint training),
* clustpy: ``<--anchor-python> scripts/anchor_clustpy_deepect.py --seed S ...`` (clustpy's own defaults
  otherwise: LeakyReLU autoencoder, summed-MSE reconstruction, Adam 1e-3 / 1e-4, grow every 2 epochs,
  20 leaves, pruning threshold 0.1).

Metrics for both: flat ACC / NMI / ARI with the tree cut at k = 10 (the most recent splits undone:
pyagc ``cluster(z, n_clusters=10)``, clustpy ``flat_clustering(10)``), dendrogram purity (exact,
``pyagc.metrics.dendrogram_purity`` definition, re-implemented in the anchor script) and leaf purity of the
full tree. ``fit_s`` = pyagc pretraining + joint ``trainer.fit`` vs clustpy's whole ``fit``; ``proc_s``
= wall time of each subprocess. Writes a markdown report (``--out``), rewritten after every seed. The
shared plumbing (subprocesses, alternating order, header, tables, timing) is in ``clustpy_side_by_side.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clustpy_side_by_side import (  # noqa: E402
    LIBS,
    METRIC_COLS,
    SCRIPTS,
    SEED_LIB,
    Col,
    Stopwatch,
    add_common_args,
    cpu_trainer,
    delta,
    header_lines,
    md_table,
    means_table,
    ratio,
    report_path,
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

    from pyagc.clusters import DeepECTClusterHead
    from pyagc.encoders import MLPAutoencoder
    from pyagc.metrics import dendrogram_purity, external_metrics, leaf_purity
    from pyagc.models import ClusteringModule

    torch.set_num_threads(args.threads)
    pl.seed_everything(args.seed, verbose=False)
    dm = tabular_data(args)
    y = dm.y.numpy()
    k = int(dm.n_classes)
    enc = MLPAutoencoder(
        dm.n_features,
        hidden_dims=args.hidden,
        latent_dim=args.latent,
        activation=args.activation,
        init=args.encoder_init,
    )
    # default: --grow-interval epochs of steps, as clustpy's grow_interval (2 epochs: 16 steps on digits)
    split_interval = args.split_interval or args.grow_interval * -(-dm.n_samples // args.batch_size)
    head = DeepECTClusterHead(
        k,
        args.latent,
        max_leaves=args.max_leaves,
        split_interval=split_interval,
        prune_threshold=args.prune_threshold,
        clustering_weight=args.clustering_weight,
        reconstruction_weight=args.reconstruction_weight,
        reconstruction_reduction=args.reconstruction_reduction,
        center_update=args.center_update,
        center_lr=args.center_lr or args.joint_lr,
        projection_moves_centers=args.projection_moves_centers == "on",
        seed=args.seed,
    )
    # warm-up (untimed): first optimizer step / lazy imports, as the anchor does
    lin = torch.nn.Linear(4, 2)
    opt = torch.optim.Adam(lin.parameters(), fused=True)
    lin(torch.ones(3, 4)).pow(2).mean().backward()
    opt.step()
    sw = Stopwatch()
    cache = None
    if args.ae_cache:  # sweeps only: reuse the pretrained autoencoder of this seed (timings then exclude it)
        cache = Path(args.ae_cache) / (
            f"{args.data}_{args.scaling}_s{args.seed}_p{args.pretrain_epochs}_lr{args.lr}"
            + (
                ""
                if (args.activation, args.encoder_init) == ("relu", "xavier")
                else f"_{args.activation}_{args.encoder_init}"
            )
            + ".pt"
        )
    if cache is not None and cache.is_file():
        enc.load_state_dict(torch.load(cache))
    else:
        ae = ClusteringModule(
            enc,
            head,
            pretrain_epochs=args.pretrain_epochs,
            epochs=0,
            pretrain_optimizer={"name": "adam", "lr": args.lr},
        )
        cpu_trainer(args.pretrain_epochs, args.precision).fit(ae, datamodule=dm)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save(enc.state_dict(), cache)
    t1 = sw.wall
    model = ClusteringModule(
        enc, head, pretrain_epochs=0, epochs=args.epochs, optimizer={"name": "adam", "lr": args.joint_lr}
    )
    cpu_trainer(args.epochs, args.precision).fit(model, datamodule=dm)
    t2, cpu = sw.wall, sw.cpu
    z = model.embed(dm)
    flat = head.cluster(z, n_clusters=k).numpy()
    tree = head.tree()
    nodes = head.assign_nodes(z).numpy()
    res = {
        "lib": "pyagc",
        "seed": args.seed,
        **{m: v for m, v in external_metrics(y, flat).items() if m in ("acc", "nmi", "ari")},
        "dp": dendrogram_purity(y, nodes, tree["parent"]),
        "lp": leaf_purity(y, nodes),
        "n_leaves": int(tree["is_leaf"].sum()),
        "time_s": round(t2, 2),
        "cpu_s": round(cpu, 2),
        "pretrain_s": round(t1, 2),
        "joint_s": round(t2 - t1, 2),
        "joint_steps": int(model.joint_steps),
        "split_interval": int(split_interval),
        "n": int(len(y)),
    }
    if args.plot:
        from pyagc.utils.tree_plot import plot_cluster_tree

        fig = plot_cluster_tree(tree["parent"], nodes, y, title=f"pyagc DeepECT on {args.data}, seed {args.seed}")
        fig.savefig(args.plot, dpi=100)
    return res


# ----------------------------------------------------------------------------- driver
def pyagc_flags(args) -> list[str]:
    split = (
        ["--split-interval", str(args.split_interval)]
        if args.split_interval
        else ["--grow-interval", str(args.grow_interval)]
    )
    return [
        "--max-leaves",
        str(args.max_leaves),
        *split,
        "--prune-threshold",
        str(args.prune_threshold),
        "--clustering-weight",
        str(args.clustering_weight),
        "--reconstruction-weight",
        str(args.reconstruction_weight),
        "--reconstruction-reduction",
        args.reconstruction_reduction,
        "--center-update",
        args.center_update,
        *(["--center-lr", str(args.center_lr)] if args.center_lr else []),
        "--projection-moves-centers",
        args.projection_moves_centers,
        "--lr",
        str(args.lr),
        "--joint-lr",
        str(args.joint_lr),
        "--activation",
        args.activation,
        "--encoder-init",
        args.encoder_init,
        "--precision",
        args.precision,
    ]


def write_report(args, runs: list[dict], meta: dict, command: str, done: bool) -> None:
    split = f"{args.split_interval} steps" if args.split_interval else f"{args.grow_interval} epochs of steps"
    lines = header_lines("DeepECT", args, meta, command, done, machine_note="") + [
        f"- Settings: data={args.data}, scaling={args.scaling}, seeds={args.seeds}, layers [d, "
        f"{', '.join(map(str, args.hidden))}, {args.latent}], batch_size={args.batch_size}, "
        f"pretrain_epochs={args.pretrain_epochs}, epochs={args.epochs}, threads={args.threads}, limit={args.limit}",
        f"- pyagc: MLPAutoencoder ({args.activation}, {args.encoder_init} init), pretrained on per-element MSE with Adam lr={args.lr}, joint Adam "
        f"lr={args.joint_lr}, DeepECTClusterHead(max_leaves={args.max_leaves}, split_interval={split}, "
        f"prune_threshold={args.prune_threshold}, clustering_weight={args.clustering_weight}, "
        f"reconstruction_weight={args.reconstruction_weight}, reconstruction_reduction={args.reconstruction_reduction!r}, "
        f"center_update={args.center_update!r}, center_lr={args.center_lr or args.joint_lr}, "
        f"projection_moves_centers={args.projection_moves_centers}), precision "
        f"{args.precision} (clustpy: float32)",
        "- clustpy: `DeepECT` with its defaults except layers, epochs, batch size, seed (random_state) and the "
        "(pre-scaled) data: "
        + (
            "pyagc's autoencoder (`--match pyagc`: ReLU + Xavier, pretrained on per-element MSE "
            "with Adam 1e-3 by clustpy's own `fit`)"
            if args.match == "pyagc"
            else "FeedforwardAutoencoder (LeakyReLU), summed-over-features MSE, Adam lr 1e-3 pretraining"
        )
        + f" / 1e-4 clustering, grow_interval={args.grow_interval} epochs, "
        "max_n_leaf_nodes=20, pruning_threshold=0.1",
        "- Flat ACC/NMI/ARI: tree cut at k=10 (latest splits undone: pyagc `cluster(z, n_clusters=10)`, clustpy "
        "`flat_clustering(10)`). DP: exact dendrogram purity of the full tree (samples in their leaves); LP: leaf "
        "purity. fit_s: pyagc pretraining + joint `trainer.fit`; clustpy whole `fit` (wall); fit_cpu_s: the same span "
        "in process CPU time (`time.process_time`, 1 thread), which shared-machine load does not inflate; proc_s / "
        "proc_cpu_s: the whole subprocess (start-up, imports, data loading, evaluation).",
        "",
    ]
    quality = (*METRIC_COLS, Col("DP", "dp", ".4f"), Col("LP", "lp", ".4f"))
    times = (Col("fit_s", "time_s", ".1f"), Col("fit_cpu_s", "cpu_s", ".1f"), Col("proc_s", "proc_s", ".1f"))
    lines += md_table(
        [*SEED_LIB, *quality, Col("leaves", "n_leaves"), *times, Col("proc_cpu_s", "proc_cpu_s", ".1f")], runs
    )
    table, per = means_table(runs, [*quality, *times])
    lines += ["", "Means ± std over seeds:", "", *table]
    if len(per) == 2:
        lines += [
            "",
            f"Speed ratio clustpy / pyagc: wall fit_s **{ratio(per, 'time_s'):.2f}x**, "
            f"CPU fit_cpu_s **{ratio(per, 'cpu_s'):.2f}x**; "
            f"ΔACC {delta(per, 'acc'):+.4f}, ΔNMI {delta(per, 'nmi'):+.4f}, "
            f"ΔARI {delta(per, 'ari'):+.4f}, ΔDP {delta(per, 'dp'):+.4f}, "
            f"ΔLP {delta(per, 'lp'):+.4f} (pyagc − clustpy).",
        ]
    report_path(args, "deepect").write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", action="store_true", help="run pyagc once (--seed) and print one JSON line")
    p.add_argument("--seed", type=int, default=0)
    add_common_args(p, "deepect", data_root_option=True)
    p.add_argument("--lr", type=float, default=1e-3, help="pyagc pretraining Adam lr")
    p.add_argument(
        "--joint-lr",
        type=float,
        default=1e-4,
        help="pyagc joint Adam lr (clustpy's and the paper's 1e-4; reports before 2026-11-23: 1e-3)",
    )
    p.add_argument(
        "--match",
        choices=["pyagc", "none"],
        default="none",
        help="clustpy's autoencoder: pyagc = the same as pyagc's (ReLU, Xavier, per-element MSE "
        "pretraining); none = clustpy's default (LeakyReLU, default init, summed MSE)",
    )
    p.add_argument("--max-leaves", type=int, default=20)
    p.add_argument(
        "--split-interval",
        type=int,
        default=None,
        help="pyagc steps between splits (default: --grow-interval epochs of steps)",
    )
    p.add_argument(
        "--grow-interval",
        type=int,
        default=2,
        help="epochs between splits on both sides (clustpy's grow_interval, default 2)",
    )
    p.add_argument("--prune-threshold", type=float, default=0.1)
    p.add_argument(
        "--clustering-weight",
        type=float,
        default=1.0,
        help="pyagc lambda_c (1 with the summed reconstruction = clustpy; reports before 2026-11-23: 0.02 "
        "with --reconstruction-reduction mean --center-update running_mean --joint-lr 1e-3)",
    )
    p.add_argument("--reconstruction-weight", type=float, default=1.0)
    p.add_argument("--reconstruction-reduction", choices=["sum", "mean"], default="sum")
    p.add_argument("--center-update", choices=["adam", "running_mean"], default="adam")
    p.add_argument("--center-lr", type=float, default=None, help="pyagc leaf-centre Adam lr (default: --joint-lr)")
    p.add_argument(
        "--projection-moves-centers",
        choices=["on", "off"],
        default="on",
        help="pyagc: the projection loss also moves the leaf centres through the split directions (clustpy)",
    )
    p.add_argument("--activation", default="relu", help="pyagc autoencoder's hidden activation (clustpy: leaky_relu)")
    p.add_argument(
        "--encoder-init",
        choices=["xavier", "default"],
        default="xavier",
        help="pyagc autoencoder's weight initialisation (clustpy: PyTorch's default)",
    )
    p.add_argument("--ae-cache", default=None, help="worker, sweeps only: folder to save/reuse pretrained AEs")
    p.add_argument("--plot", default=None, help="worker: save the pyagc tree plot here")
    p.add_argument("--precision", default="32-true", help="pyagc only: Lightning precision (bf16-mixed: AMX on CPU)")
    p.add_argument("--libs", nargs="+", default=list(LIBS))
    args = p.parse_args()
    if args.match == "pyagc" and (args.activation, args.encoder_init) != ("relu", "xavier"):
        p.error(
            "--match pyagc gives clustpy pyagc's default autoencoder (ReLU, Xavier): leave --activation and "
            "--encoder-init at their defaults, or drop --match to compare each library's own autoencoder."
        )
    if args.worker:
        print(json.dumps(run_pyagc(args)), flush=True)
        return
    data_root = resolve_data_root(args.data_root)
    _, env, meta, command = start_driver(args, "deepect", data_root)

    def command_of(lib: str, seed: int) -> list[str]:
        if lib == "pyagc":
            return [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                *shared_flags(args, seed),
                *pyagc_flags(args),
            ]
        return [
            args.anchor_python,
            str(SCRIPTS / "anchor_clustpy_deepect.py"),
            *shared_flags(args, seed),
            "--match",
            args.match,
            "--grow-interval",
            str(args.grow_interval),
            "--data-root",
            str(data_root),
        ]

    def make_row(lib: str, seed: int, row: dict, wall: float, cpu: float) -> dict:
        row["proc_s"], row["proc_cpu_s"] = round(wall, 2), round(cpu, 2)
        return row

    def after_seed(runs: list[dict]) -> None:
        write_report(args, runs, meta, command, done=False)
        if args.json:
            Path(args.json).write_text(json.dumps(runs, indent=2))

    runs = run_side_by_side(args.seeds, command_of, env, make_row, libs=args.libs, after_seed=after_seed)
    write_report(args, runs, meta, command, done=True)


if __name__ == "__main__":
    main()
