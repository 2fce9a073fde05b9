"""Run ``pyagc-train`` experiments (several at once) and tabulate their ``metrics.json``.

    # three seeds of two experiments, two processes at a time, each stopped after 8 minutes of training
    python scripts/bench_experiments.py --run "contrastive_usps|experiment=contrastive_usps trainer=gpu" \\
        --run "rswnet32|experiment=rswnet_fashion_mnist image_size=32 trainer=gpu" \\
        --seeds 0 1 2 --parallel 2 --max-minutes 8 --md benchmarks/images_gpu.md

Each ``--run`` is ``LABEL|OVERRIDES`` (Hydra overrides of ``pyagc-train``, space separated). Every run
gets ``seed=S``, ``callbacks=throughput`` (images/s per epoch into ``metrics.json``), ``plot=false`` and
its own output folder under ``--out-dir``. ``--max-minutes`` sets Lightning's ``trainer.max_time``:
a run that reaches it stops training gracefully and is still evaluated (the table's "epochs run"
column says how far it got). Data sets are loaded once before the runs start, so concurrent
runs do not race to fill the data cache. The markdown section records the date, the machine (GPU
name), the command and, per run: ACC / NMI / ARI, silhouette / Davies-Bouldin / Calinski-Harabasz on
the latent space, epochs, fit time, median training throughput and peak memory; then means and
standard deviations per label.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
METRICS = ("acc", "nmi", "ari", "silhouette", "davies_bouldin", "calinski_harabasz")


def parse_run(spec: str) -> tuple[str, list[str]]:
    if "|" not in spec:
        raise SystemExit(f"--run {spec!r}: expected LABEL|OVERRIDES, e.g. 'dec|experiment=dec_usps trainer=gpu'.")
    label, overrides = spec.split("|", 1)
    label = label.strip()
    if not label.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise SystemExit(f"--run label {label!r} must use letters, digits, '_', '-' or '.'.")
    return label, shlex.split(overrides)


def machine_description() -> str:
    import torch

    cpu = f"{os.cpu_count()} CPUs, {platform.platform()}, torch {torch.__version__}"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return f"{torch.cuda.get_device_name(0)} ({props.total_memory / 2**30:.0f} GiB), {cpu}"
    return cpu


def prewarm(runs: list[tuple[str, list[str]]]) -> None:
    """Load each run's data set once (fills the cache before concurrent runs read it)."""
    from hydra import compose, initialize_config_dir

    from pyagc.cli.build import config_dir, instantiate

    seen = set()
    for _, overrides in runs:
        keep = [
            o for o in overrides if o.split("=", 1)[0].lstrip("+") in ("experiment", "data") or o.startswith("data.")
        ]
        key = tuple(keep)
        if key in seen:
            continue
        seen.add(key)
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            cfg = compose(config_name="train", overrides=keep)
        dm = instantiate(cfg.data)
        dm.setup("fit")
        print(f"[bench] data {dm.name}: {dm.n_samples} samples ready", flush=True)


def launch(
    label: str, overrides: list[str], seed: int, out_dir: Path, max_minutes: float | None, extra: list[str]
) -> tuple[subprocess.Popen, Path, Path]:
    run_dir = out_dir / f"{label}_s{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "pyagc.cli.train",
        *overrides,
        f"seed={seed}",
        "callbacks=throughput",
        "plot=false",
        f"paths.output_dir={run_dir}",
        *extra,
    ]
    if max_minutes:
        total = int(max_minutes * 60)
        args.append(f"+trainer.max_time=00:{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}")
    log = run_dir / "train.log"
    proc = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=REPO)
    return proc, run_dir, log


def read_result(label: str, seed: int, run_dir: Path, rc: int, wall: float, overrides: list[str]) -> dict:
    row = {"label": label, "seed": seed, "rc": rc, "wall_s": round(wall, 1), "overrides": " ".join(overrides)}
    path = run_dir / "metrics.json"
    if rc == 0 and path.is_file():
        with open(path) as f:
            row.update(json.load(f))
    return row


def fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "—"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def epochs_cell(row: dict) -> str:
    run = row.get("epochs_run")
    return "—" if run is None else str(run)


def markdown(rows: list[dict], args: argparse.Namespace, machine: str, started: str) -> str:
    cmd = "python scripts/bench_experiments.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = [
        f"## {args.title}",
        "",
        f"- Date: {started}",
        f"- Machine: {machine}",
        f"- Command: `{cmd}`",
        f"- Runs at a time: {args.parallel}; training stopped at {args.max_minutes} min per run"
        if args.max_minutes
        else f"- Runs at a time: {args.parallel}",
        "",
    ]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    for label in labels:
        overrides = next(r["overrides"] for r in rows if r["label"] == label)
        lines.append(f"- `{label}`: `{overrides}`")
    lines += [
        "",
        "| run | seed | ACC | NMI | ARI | silhouette | DB | CH | epochs run | fit s | img/s (median) | "
        "peak GPU MiB | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "acc" not in r:
            lines.append(f"| {r['label']} | {r['seed']} | failed (exit {r['rc']}, see its train.log) |" + " |" * 10)
            continue
        t = r.get("time_s", {})
        lines.append(
            "| "
            + " | ".join(
                [
                    r["label"],
                    str(r["seed"]),
                    *(fmt(r.get(m), 4 if m != "calinski_harabasz" else 1) for m in METRICS),
                    epochs_cell(r),
                    fmt(t.get("fit"), 1),
                    fmt(r.get("samples_per_sec_median"), 0),
                    fmt(r.get("peak_gpu_mb"), 0),
                    fmt(r.get("peak_rss_mb"), 0),
                ]
            )
            + " |"
        )
    lines += [
        "",
        "Means ± std over seeds:",
        "",
        "| run | runs | ACC | NMI | ARI | silhouette | DB | CH |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label in labels:
        ok = [r for r in rows if r["label"] == label and "acc" in r]
        if not ok:
            continue
        cells = []
        for m in METRICS:
            vals = np.array([r.get(m, np.nan) for r in ok], dtype=float)
            d = 1 if m == "calinski_harabasz" else 4
            cells.append(f"{np.nanmean(vals):.{d}f} ± {np.nanstd(vals):.{d}f}" if np.isfinite(vals).any() else "—")
        lines.append(f"| {label} | {len(ok)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", default=[], help="LABEL|OVERRIDES (repeatable)")
    p.add_argument(
        "--from-json",
        default=None,
        help="write the markdown of a finished (or cut-off) benchmark from its --json rows; "
        "give --machine and --date of the original run",
    )
    p.add_argument("--machine", default=None)
    p.add_argument("--date", default=None)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--parallel", type=int, default=1, help="runs at a time")
    p.add_argument("--max-minutes", type=float, default=None, help="trainer.max_time per run (minutes)")
    p.add_argument("--out-dir", default="outputs/bench_experiments")
    p.add_argument("--json", default=None, help="write every run's row as JSON")
    p.add_argument("--md", default=None, help="append a markdown section to this file")
    p.add_argument("--title", default="pyagc-train experiments")
    p.add_argument("--extra", nargs="*", default=[], help="overrides added to every run")
    p.add_argument("--no-prewarm", action="store_true")
    p.add_argument("--prewarm-only", action="store_true", help="load the runs' data sets and stop")
    args = p.parse_args()
    if args.parallel < 1:
        raise SystemExit("--parallel must be >= 1")
    if args.from_json:
        rows = json.loads(Path(args.from_json).read_text())
        labels = list(dict.fromkeys(r["label"] for r in rows))
        rows.sort(key=lambda r: (labels.index(r["label"]), r["seed"]))
        text = markdown(rows, args, args.machine or "(not recorded)", args.date or "(not recorded)")
        print(text)
        if args.md:
            path = Path(args.md)
            prefix = path.read_text() if path.is_file() else ""
            path.write_text(prefix + ("\n" if prefix else "") + text)
        return
    if not args.run:
        raise SystemExit("give at least one --run LABEL|OVERRIDES (or --from-json FILE)")
    runs = [parse_run(s) for s in args.run]
    out_dir = Path(args.out_dir).resolve()
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    if not args.no_prewarm:
        prewarm(runs)
    if args.prewarm_only:
        return
    queue = [(label, ov, seed) for seed in args.seeds for label, ov in runs]
    running: list[tuple] = []
    rows: list[dict] = []
    while queue or running:
        while queue and len(running) < args.parallel:
            label, ov, seed = queue.pop(0)
            proc, run_dir, log = launch(label, ov, seed, out_dir, args.max_minutes, args.extra)
            running.append((proc, label, ov, seed, run_dir, time.perf_counter()))
            print(f"[bench] started {label} seed {seed} -> {run_dir}", flush=True)
        time.sleep(1.0)
        for item in list(running):
            proc, label, ov, seed, run_dir, t0 = item
            rc = proc.poll()
            if rc is None:
                continue
            running.remove(item)
            row = read_result(label, seed, run_dir, rc, time.perf_counter() - t0, ov)
            rows.append(row)
            shown = "  ".join(f"{m} {row[m]:.4f}" for m in ("acc", "nmi", "ari") if m in row)
            print(f"[bench] done {label} seed {seed} (exit {rc}, {row['wall_s']} s): {shown}", flush=True)
            if rc != 0:
                print((run_dir / "train.log").read_text()[-3000:], flush=True)
            if args.json:  # rewritten after every run: a killed benchmark keeps what finished
                Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    rows.sort(key=lambda r: ([lab for lab, _ in runs].index(r["label"]), r["seed"]))
    text = markdown(rows, args, machine_description(), started)
    print(text)
    if args.md:
        path = Path(args.md)
        prefix = path.read_text() if path.is_file() else ""
        path.write_text(prefix + ("\n" if prefix else "") + text)


if __name__ == "__main__":
    main()
