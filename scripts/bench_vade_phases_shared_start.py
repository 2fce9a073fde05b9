"""The two VaDE phases from one start: pyagc's and clustpy's VaDE epochs from the same pretrained network and prior.

    PYAGC_DATA=../shared/data OMP_NUM_THREADS=1 python scripts/bench_vade_phases_shared_start.py --data mnist \
        --seeds 0 2 4 --pretrain-epochs 5 --epochs 5 --cache DIR --json A.json
    python scripts/bench_vade_phases_shared_start.py --from-json A.json B.json --out REPORT.md

``--reuse-cache`` starts a seed from the network an earlier run cached (``--cache``) instead of pretraining again.

The 5 + 5-epoch MNIST side-by-side (``bench_vade_vs_clustpy.py``) compares whole fits, and per seed the start of
the VaDE phase (a 5-epoch autoencoder and the GMM on its embedding) spreads as much as the gap between the
libraries. This script takes the start out of the comparison. For every seed it

1. runs ``probe_vade_trajectory.py`` (pyagc): pretraining of clustpy's autoencoder (LeakyReLU, PyTorch's default
   init, BCE; ``--match clustpy`` of the side-by-side), the head's diagonal GMM, then pyagc's VaDE epochs with
   ``--reconstruction-weight/--lr`` (default: clustpy's 256 and 1e-4), saving the pretrained network and the
   initial prior (``--save-pretrained/--save-prior``);
2. runs ``anchor_clustpy_vade.py --init-from --prior-from --pretrain-epochs 0`` (clustpy, in the anchor
   environment): clustpy's VaDE epochs from that network and the prior's means and variances (clustpy passes the
   mixture weights through a softmax, as its own, so its effective starting pi is within a few percent of 1/K).

Both report the ACC / NMI of their labels after the last epoch (pyagc: the head's rule, argmax of the
responsibilities of the mean embedding; clustpy: its ``vade_labels_``, a sampled z and its responsibilities, and
``paper_rule_acc``, the paper's rule under clustpy's final prior with uniform weights, as clustpy does not return
its softmax(pi)) and, to separate the two labelling rules, both models' ACC under clustpy's formula on the mean
embedding (``volume_rule``: log sigma^2 where the normal density has 0.5 log sigma^2; pyagc's with its learned pi,
clustpy's with uniform pi). ``start`` is the ACC of
the paper's rule on the shared start (the probe's ``vade_epoch: 0`` line; the anchor re-computes it as a check).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def last_json(text: str, key: str | None = None) -> dict:
    """The last JSON line of ``text`` (having ``key``, if given)."""
    rows = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    rows = [r for r in rows if key is None or key in r]
    if not rows:
        raise RuntimeError(f"no JSON line{' with ' + key if key else ''} in:\n{text[-3000:]}")
    return rows[-1]


def run(cmd: list[str], data_root: str | None = None) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **({"PYAGC_DATA": data_root} if data_root else {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def one_seed(args, seed: int) -> dict:
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    net, prior = (
        cache / f"{args.data}_p{args.pretrain_epochs}_s{seed}.pt",
        cache / f"{args.data}_p{args.pretrain_epochs}_s{seed}_prior.npz",
    )
    reuse = args.reuse_cache and net.exists() and prior.exists()
    refit = cache / f"{args.data}_p{args.pretrain_epochs}_s{seed}_prior_refit.npz"
    start_flags = (
        ["--init-from", str(net), "--pretrain-epochs", "0", "--save-prior", str(refit)]
        if reuse
        else ["--pretrain-epochs", str(args.pretrain_epochs), "--save-pretrained", str(net), "--save-prior", str(prior)]
    )
    t0 = time.perf_counter()
    probe = run(
        [
            sys.executable,
            str(HERE / "probe_vade_trajectory.py"),
            "--data",
            args.data,
            "--seed",
            str(seed),
            "--pretrain-loss",
            "bce",
            "--activation",
            "leaky_relu",
            "--encoder-init",
            "default",
            "--precision",
            "32-true",
            "--epochs",
            str(args.epochs),
            "--reconstruction-weight",
            str(args.reconstruction_weight),
            "--lr",
            str(args.lr),
            *start_flags,
        ],
        args.data_root,
    )
    if reuse:  # the GMM re-fitted on the cached network's embedding must be the cached prior
        import numpy as np

        cached, again = np.load(prior), np.load(refit)
        if not all(np.allclose(cached[k], again[k], rtol=1e-5, atol=1e-6) for k in ("weights", "means", "variances")):
            raise RuntimeError(f"seed {seed}: the GMM re-fitted on {net} differs from the cached prior {prior}")
    epochs = [json.loads(line) for line in probe.splitlines() if line.startswith("{") and "vade_epoch" in line]
    start, final = epochs[0], epochs[-1]
    t1 = time.perf_counter()
    anchor = last_json(
        run(
            [
                args.anchor_python,
                str(HERE / "anchor_clustpy_vade.py"),
                "--data",
                args.data,
                "--scaling",
                "minmax",
                "--seed",
                str(seed),
                "--pretrain-epochs",
                "0",
                "--epochs",
                str(args.epochs),
                "--batch-size",
                "256",
                "--threads",
                "1",
                "--init-from",
                str(net),
                "--prior-from",
                str(prior),
                "--diagnose",
            ]
            + (["--data-root", args.data_root] if args.data_root else [])
        ),
        "lib",
    )
    if abs(anchor["start_acc"] - start["acc"]) > 2e-4:  # float32 (pyagc) vs float64 (anchor) embeddings
        raise RuntimeError(
            f"seed {seed}: the two sides do not start from the same prior "
            f"(pyagc {start['acc']}, clustpy {anchor['start_acc']})"
        )
    row = {
        "seed": seed,
        "reused_start": reuse,
        "start": start["acc"],
        "start_nmi": start["nmi"],
        "clustpy_start_check": anchor["start_acc"],
        "pyagc_acc": final["acc"],
        "pyagc_nmi": final["nmi"],
        "clustpy_acc": round(anchor["acc"], 4),
        "clustpy_nmi": round(anchor["nmi"], 4),
        "clustpy_paper_rule_acc": anchor["paper_rule_acc"],
        "clustpy_paper_rule_nmi": anchor.get("paper_rule_nmi"),
        "pyagc_volume_rule_acc": final.get("volume_rule_acc"),
        "clustpy_volume_rule_mean_acc": anchor.get("volume_rule_mean_acc"),
        "pyagc_s": round(t1 - t0, 1),
        "clustpy_fit_s": anchor["time_s"],
        "settings": {
            "data": args.data,
            "pretrain_epochs": args.pretrain_epochs,
            "epochs": args.epochs,
            "reconstruction_weight": args.reconstruction_weight,
            "lr": args.lr,
        },
    }
    print(json.dumps(row), flush=True)
    return row


def report(rows: list[dict]) -> str:
    rows = sorted(rows, key=lambda r: r["seed"])
    settings = {json.dumps(r["settings"], sort_keys=True) for r in rows}
    if len(settings) > 1:
        raise SystemExit(f"rows with different settings: {settings}")
    if len({r["seed"] for r in rows}) != len(rows):
        raise SystemExit("a seed appears twice")
    lines = [
        f"settings: {rows[0]['settings']}",
        "",
        "| seed | start ACC (shared) | pyagc ACC / NMI | clustpy ACC / NMI (its labels) | clustpy ACC, the paper's rule "
        "| pyagc − clustpy | pyagc − clustpy (paper's rule) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['start']:.4f} | {r['pyagc_acc']:.4f} / {r['pyagc_nmi']:.4f} | "
            f"{r['clustpy_acc']:.4f} / {r['clustpy_nmi']:.4f} | {r['clustpy_paper_rule_acc']:.4f} | "
            f"{r['pyagc_acc'] - r['clustpy_acc']:+.4f} | {r['pyagc_acc'] - r['clustpy_paper_rule_acc']:+.4f} |"
        )
    mean = lambda k: statistics.fmean(r[k] for r in rows)  # noqa: E731
    se = lambda d: statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else float("nan")  # noqa: E731
    diffs = [r["pyagc_acc"] - r["clustpy_acc"] for r in rows]
    rule_diffs = [r["pyagc_acc"] - r["clustpy_paper_rule_acc"] for r in rows]
    nmi_diffs = [r["pyagc_nmi"] - r["clustpy_nmi"] for r in rows]
    own_rule = [r["clustpy_acc"] - r["clustpy_paper_rule_acc"] for r in rows]
    lines.append(
        f"| mean ({len(rows)}) | {mean('start'):.4f} | {mean('pyagc_acc'):.4f} / {mean('pyagc_nmi'):.4f} | "
        f"{mean('clustpy_acc'):.4f} / {mean('clustpy_nmi'):.4f} | {mean('clustpy_paper_rule_acc'):.4f} | "
        f"{statistics.fmean(diffs):+.4f} | {statistics.fmean(rule_diffs):+.4f} |"
    )
    lines += [
        "",
        f"- pyagc − clustpy (each its own labels): ΔACC {statistics.fmean(diffs):+.4f} ± {se(diffs):.4f} "
        f"(standard error of the paired differences), ΔNMI {statistics.fmean(nmi_diffs):+.4f} ± "
        f"{se(nmi_diffs):.4f}; pyagc ahead on {sum(d > 0 for d in diffs)} of {len(diffs)} seeds",
        f"- pyagc − clustpy, both labelled by the paper's rule: ΔACC {statistics.fmean(rule_diffs):+.4f} ± "
        f"{se(rule_diffs):.4f}",
        f"- clustpy's own labels − the paper's rule on the same clustpy model: {statistics.fmean(own_rule):+.4f} ± "
        f"{se(own_rule):.4f}",
        f"- VaDE phase (final − start): pyagc {statistics.fmean(r['pyagc_acc'] - r['start'] for r in rows):+.4f}, "
        f"clustpy {statistics.fmean(r['clustpy_acc'] - r['start'] for r in rows):+.4f} (its labels), "
        f"{statistics.fmean(r['clustpy_paper_rule_acc'] - r['start'] for r in rows):+.4f} (the paper's rule)",
    ]
    rule_nmi = [
        r["pyagc_nmi"] - r["clustpy_paper_rule_nmi"] for r in rows if r.get("clustpy_paper_rule_nmi") is not None
    ]
    if rule_nmi:
        lines.append(
            f"- pyagc − clustpy, both labelled by the paper's rule ({len(rule_nmi)} seeds): ΔNMI "
            f"{statistics.fmean(rule_nmi):+.4f} ± {se(rule_nmi):.4f}"
        )
    volume = [
        r
        for r in rows
        if r.get("pyagc_volume_rule_acc") is not None and r.get("clustpy_volume_rule_mean_acc") is not None
    ]
    if volume:
        lines.append(
            f"- clustpy's formula on the mean embedding ({len(volume)} seeds): pyagc's model "
            f"{statistics.fmean(r['pyagc_volume_rule_acc'] for r in volume):.4f}, clustpy's model "
            f"{statistics.fmean(r['clustpy_volume_rule_mean_acc'] for r in volume):.4f} (the paper's rule "
            f"on the same seeds: {statistics.fmean(r['pyagc_acc'] for r in volume):.4f} / "
            f"{statistics.fmean(r['clustpy_paper_rule_acc'] for r in volume):.4f})"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["digits", "usps", "mnist"], default="mnist")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--pretrain-epochs", type=int, default=5)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--reconstruction-weight", type=float, default=256.0, help="pyagc's VaDE phase (clustpy's: 256)")
    p.add_argument("--lr", type=float, default=1e-4, help="pyagc's VaDE-phase lr (clustpy's: 1e-4)")
    p.add_argument("--cache", default="/tmp/pyagc_vade_shared", help="where the pretrained networks and priors go")
    p.add_argument(
        "--reuse-cache",
        action="store_true",
        help="start from the cached network of an earlier run of the seed (no pretraining; the head's GMM "
        "is re-fitted on the same embedding with the same seed and checked to equal the cached prior)",
    )
    p.add_argument("--anchor-python", default="/work/benchvenv/bin/python", help="the environment with clustpy")
    p.add_argument("--data-root", default=os.environ.get("PYAGC_DATA"))
    p.add_argument("--json", default=None, help="append every seed's row here (JSON lines)")
    p.add_argument("--from-json", nargs="+", default=None, help="only join these files' rows into the report")
    p.add_argument("--out", default=None, help="markdown report (default: print)")
    args = p.parse_args()
    if args.from_json:
        rows = [json.loads(line) for f in args.from_json for line in Path(f).read_text().splitlines() if line.strip()]
    else:
        rows = []
        for seed in args.seeds:
            rows.append(one_seed(args, seed))
            if args.json:
                with open(args.json, "a") as fh:
                    fh.write(json.dumps(rows[-1]) + "\n")
    text = report(rows)
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
