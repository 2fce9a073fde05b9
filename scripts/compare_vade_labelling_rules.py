"""pyagc's VaDE against clustpy's scored two ways: clustpy's own labels and the paper's labelling rule.

    python scripts/compare_vade_labelling_rules.py --pyagc A.json B.json --clustpy C.jsonl D.jsonl

``--pyagc``: JSON files written by ``bench_vade_vs_clustpy.py --json`` (their pyagc runs are used; pyagc's labels
are the paper's rule: argmax of the responsibilities of the mean embedding under the learned prior).
``--clustpy``: JSON lines of ``anchor_clustpy_vade.py --diagnose`` run with the same settings and seeds (clustpy is
deterministic per seed, so its ``acc``/``nmi`` repeat the side-by-side's; the script checks this when the side-by-side
files hold clustpy runs too). clustpy's own labels (``acc``, ``nmi``: its responsibility formula with log σ² on a
sampled z) and the paper's rule on its final model (``paper_rule_acc``, ``paper_rule_nmi``: ½ log σ², the mean
embedding, uniform π, as clustpy does not return its softmax(π)) are both compared with pyagc's, seed by seed.
Prints a markdown table and the paired differences with their standard errors.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pyagc", nargs="+", required=True, help="bench_vade_vs_clustpy.py --json files")
    p.add_argument("--clustpy", nargs="+", required=True, help="anchor_clustpy_vade.py --diagnose JSON lines")
    args = p.parse_args()

    pyagc, side_clustpy = {}, {}
    for f in args.pyagc:
        for run in json.loads(Path(f).read_text())["runs"]:
            (pyagc if run["lib"] == "pyagc" else side_clustpy)[run["seed"]] = run
    clustpy = {}
    for f in args.clustpy:
        for line in Path(f).read_text().splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                if "paper_rule_acc" not in row:
                    raise SystemExit(f"{f}: seed {row.get('seed')} was run without --diagnose")
                clustpy[row["seed"]] = row
    for seed, row in clustpy.items():
        if seed in side_clustpy and abs(side_clustpy[seed]["acc"] - row["acc"]) > 1e-4:
            raise SystemExit(
                f"seed {seed}: clustpy's ACC {row['acc']:.4f} differs from the side-by-side's "
                f"{side_clustpy[seed]['acc']:.4f}: not the same settings"
            )
    seeds = sorted(set(pyagc) & set(clustpy))
    if not seeds:
        raise SystemExit("no seed in both the pyagc and the clustpy files")

    print("| seed | pyagc ACC / NMI | clustpy ACC / NMI (its labels) | clustpy ACC / NMI (the paper's rule) |")
    print("|---:|---:|---:|---:|")
    for s in seeds:
        a, c = pyagc[s], clustpy[s]
        print(
            f"| {s} | {a['acc']:.4f} / {a['nmi']:.4f} | {c['acc']:.4f} / {c['nmi']:.4f} | "
            f"{c['paper_rule_acc']:.4f} / {c['paper_rule_nmi']:.4f} |"
        )
    mean = lambda xs: statistics.fmean(xs)  # noqa: E731
    se = lambda xs: statistics.stdev(xs) / len(xs) ** 0.5 if len(xs) > 1 else float("nan")  # noqa: E731
    print(
        f"| mean ({len(seeds)}) | {mean([pyagc[s]['acc'] for s in seeds]):.4f} / "
        f"{mean([pyagc[s]['nmi'] for s in seeds]):.4f} | {mean([clustpy[s]['acc'] for s in seeds]):.4f} / "
        f"{mean([clustpy[s]['nmi'] for s in seeds]):.4f} | {mean([clustpy[s]['paper_rule_acc'] for s in seeds]):.4f}"
        f" / {mean([clustpy[s]['paper_rule_nmi'] for s in seeds]):.4f} |"
    )
    print()
    for label, acc_key, nmi_key in (
        ("its own labels", "acc", "nmi"),
        ("the paper's rule", "paper_rule_acc", "paper_rule_nmi"),
    ):
        d_acc = [pyagc[s]["acc"] - clustpy[s][acc_key] for s in seeds]
        d_nmi = [pyagc[s]["nmi"] - clustpy[s][nmi_key] for s in seeds]
        print(
            f"- pyagc − clustpy ({label}): ΔACC {mean(d_acc):+.4f} ± {se(d_acc):.4f}, ΔNMI {mean(d_nmi):+.4f} ± "
            f"{se(d_nmi):.4f} (standard errors of the paired differences); pyagc ahead on "
            f"{sum(d > 0 for d in d_acc)} / {sum(d > 0 for d in d_nmi)} of {len(seeds)} seeds"
        )


if __name__ == "__main__":
    main()
