"""Shared plumbing of the side-by-side pyagc-vs-clustpy benchmarks (pyagc environment side).

Used by ``scripts/bench_{dcn,vade,dipencoder,acedec,deepect}_vs_clustpy.py``; each of them keeps its
pyagc worker, its command-line options and its report text, and takes from here:

* data root: :func:`default_data_root` (from ``anchor_clustpy_common.py``, which imports neither pyagc
  nor clustpy) and :func:`resolve_data_root`; the subprocess environment :func:`bench_env` (threads
  pinned, progress bars off, CPU only);
* command lines: :func:`add_common_args` (options every driver shares), :func:`shared_flags` (the flags
  both the pyagc worker and the anchor script take) and :func:`command_line` (the recorded command);
  :func:`start_driver` (report path, environment, versions, command) and :func:`finish_report` (final
  report, ``--json``);
* running: :func:`run_json` (one subprocess, its last JSON line, wall and CPU seconds),
  :func:`run_order` (alternating which library goes first) and :func:`run_side_by_side` (all seeds);
* report: :func:`versions` / :func:`start_meta`, :func:`header_lines` (title, date, machine, versions,
  command), :class:`Col` with :func:`md_table` (per-seed rows), :func:`means_table` (mean ± std per
  library) and :func:`ratio_table` / :func:`ratio` / :func:`delta` (clustpy / pyagc speed, pyagc - clustpy
  quality);
* the pyagc workers: :class:`Stopwatch` (wall and process CPU time), :func:`cpu_trainer`,
  :func:`data_module` and :func:`tabular_data` (digits, or usps / mnist flattened, as the anchor loads them).

Nothing here imports pyagc or Lightning at import time (only inside the worker helpers).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
LIBS = ("pyagc", "clustpy")
DATA_CHOICES = ("digits", "usps", "mnist")  # what the anchor's load_data reads
IMAGE_SETS = ("usps", "mnist")

sys.path.insert(0, str(SCRIPTS))
from anchor_clustpy_common import default_data_root  # noqa: E402,F401  (pyagc- and clustpy-free)


# ----------------------------------------------------------------------------- data root, environment
def resolve_data_root(arg: str | None) -> Path:
    """``--data-root`` if given, else :func:`default_data_root`, as an absolute path."""
    return Path(arg).expanduser().resolve() if arg else default_data_root().resolve()


def bench_env(threads: int, data_root: Path | None = None, **extra: str) -> dict:
    """Environment of both subprocesses: ``threads`` BLAS/OpenMP threads, no progress bars, no GPU,
    unbuffered output, ``PYAGC_DATA`` = ``data_root`` when given, plus ``extra``."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS=str(threads),
        TQDM_DISABLE="1",
        CUDA_VISIBLE_DEVICES="",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    if data_root is not None:
        env["PYAGC_DATA"] = str(data_root)
    return env


# ----------------------------------------------------------------------------- command lines
def add_common_args(
    p: argparse.ArgumentParser,
    method: str,
    *,
    data_choices: Sequence[str] | None = DATA_CHOICES,
    scaling_choices: Sequence[str] | None = None,
    out_default: str | None = None,
    json_option: bool = True,
    data_root_option: bool = False,
) -> None:
    """Options every driver takes: ``--data --seeds --scaling --batch-size --pretrain-epochs --epochs
    --hidden --latent --threads --limit --anchor-python --out [--json] [--data-root]`` (defaults: digits
    (choices ``data_choices``, default digits, usps, mnist), seeds 0 1 2,
    minmax, 256, 50 + 50 epochs, [500, 500, 2000], 10, 1 thread, all samples, ``/work/benchvenv``).
    ``--out`` defaults to ``out_default`` or, if None, to ``benchmarks/<method>_vs_clustpy_<data>.md``
    (see :func:`report_path`)."""
    p.add_argument("--data", choices=data_choices, default="digits")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--scaling", choices=scaling_choices, default="minmax")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--pretrain-epochs", type=int, default=50)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--hidden", nargs="+", type=int, default=[500, 500, 2000])
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--anchor-python", default="/work/benchvenv/bin/python")
    p.add_argument(
        "--out",
        default=out_default,
        help=None if out_default else f"markdown report (default benchmarks/{method}_vs_clustpy_<data>.md)",
    )
    if json_option:
        p.add_argument("--json", default=None, help="also write every run as JSON")
    if data_root_option:
        p.add_argument("--data-root", default=None, help="data folder of both libraries (default: pyagc's default)")


def report_path(args, method: str) -> Path:
    """``--out``, or ``benchmarks/<method>_vs_clustpy_<data>.md``; its folder is created."""
    out = Path(args.out) if args.out else REPO / "benchmarks" / f"{method}_vs_clustpy_{args.data}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def start_driver(args, method: str, data_root: Path | None = None, **env_extra: str) -> tuple[Path, dict, dict, str]:
    """Common start of a driver: ``(report path, subprocess environment, meta, recorded command)`` from
    :func:`report_path`, :func:`bench_env`, :func:`start_meta` and :func:`command_line`; prints the data
    root and the versions."""
    out = report_path(args, method)
    env = bench_env(args.threads, data_root, **env_extra)
    meta = start_meta(args.anchor_python, env)
    print(f"data root {data_root if data_root is not None else '(anchor default)'}; {meta}", flush=True)
    return out, env, meta, command_line(args.threads)


def finish_report(args, out: Path, text: str, meta: dict, runs: list[dict]) -> None:
    """Write the final report, print it, and with ``--json`` write ``{"args", "meta", "runs"}``."""
    out.write_text(text)
    print("\n" + text)
    print(f"wrote {out}", flush=True)
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps({"args": vars(args), "meta": meta, "runs": runs}, indent=2))


def merge_json_runs(
    paths: Sequence[str], check: Sequence[str] = (), defaults: dict | None = None
) -> tuple[argparse.Namespace, dict, list[dict], str]:
    """Join the ``--json`` files of several runs of one driver (e.g. seeds split over two processes) into
    ``(args, meta, runs, command)`` for its ``report``: ``args`` of the first file with ``seeds`` = all seeds
    in order, ``meta`` of the first file (its date: the earliest start), ``command`` naming every part. Refuses
    files whose settings differ in any of the ``check`` arguments (and in data, epochs, layers, batch size,
    scaling), or that repeat a seed. ``defaults``: the value of a setting that files written before it existed
    lack (they ran with it)."""
    parts = [json.loads(Path(p).read_text()) for p in paths]
    keys = ("data", "scaling", "batch_size", "pretrain_epochs", "epochs", "hidden", "latent", "limit", *check)
    first = parts[0]["args"]
    for path, part in zip(paths, parts):
        defaults = defaults or {}
        differ = [k for k in keys if part["args"].get(k, defaults.get(k)) != first.get(k, defaults.get(k))]
        if differ:
            raise SystemExit(
                f"{path} was run with other settings than {paths[0]} ({', '.join(differ)}): "
                "only runs of the same protocol can be joined."
            )
    runs = [r for part in parts for r in part["runs"]]
    seen: set[tuple[str, int]] = set()
    for r in runs:
        if (r["lib"], r["seed"]) in seen:
            raise SystemExit(f"seed {r['seed']} ({r['lib']}) appears in more than one file: join disjoint seeds.")
        seen.add((r["lib"], r["seed"]))
    runs.sort(key=lambda r: r["seed"])
    args = argparse.Namespace(**{**first, "seeds": sorted({r["seed"] for r in runs})})
    metas = sorted((part["meta"] for part in parts), key=lambda m: m.get("date", ""))
    meta = {**metas[0], "n": next((m["n"] for m in metas if "n" in m), None)}
    command = "the runs of " + " + ".join(Path(p).name for p in paths) + ", joined with --from-json"
    return args, meta, runs, command


def add_from_json_arg(p: argparse.ArgumentParser) -> None:
    """``--from-json JSON...``: report earlier runs of this driver instead of running (see :func:`report_joined`)."""
    p.add_argument(
        "--from-json",
        nargs="+",
        default=None,
        metavar="JSON",
        help="write the report of earlier runs (their --json files, e.g. seeds split over two processes) "
        "to --out instead of running",
    )


def report_joined(args, method: str, report: Callable, check: Sequence[str], defaults: dict | None = None) -> None:
    """Write the report (``report(args, runs, meta, command, done=True)``) of the runs in ``args.from_json``,
    joined by :func:`merge_json_runs` (refusing files whose ``check`` settings differ), to this call's ``--out``
    (default ``benchmarks/<method>_vs_clustpy_<data>.md``) and ``--json``."""
    out, json_out = args.out, args.json  # this call's outputs, never the joined files' own paths
    args, meta, runs, command = merge_json_runs(args.from_json, check=check, defaults=defaults)
    args.out, args.json = out, json_out
    finish_report(args, report_path(args, method), report(args, runs, meta, command, done=True), meta, runs)


def shared_flags(args, seed: int | None = None, *, hidden: bool = True) -> list[str]:
    """Flags both the pyagc worker and the anchor script take: data, scaling, batch size, epochs, threads,
    ``--seed`` (when given), ``--hidden`` (when ``hidden``), latent size and ``--limit`` (when set)."""
    f = [
        "--data",
        args.data,
        "--scaling",
        args.scaling,
        "--batch-size",
        str(args.batch_size),
        "--pretrain-epochs",
        str(args.pretrain_epochs),
        "--epochs",
        str(args.epochs),
        "--threads",
        str(args.threads),
        "--latent",
        str(args.latent),
    ]
    if seed is not None:
        f += ["--seed", str(seed)]
    if hidden:
        f += ["--hidden", *map(str, args.hidden)]
    if args.limit is not None:
        f += ["--limit", str(args.limit)]
    return f


def command_line(threads: int) -> str:
    """The driver's command as recorded in the report (the subprocesses run with ``OMP_NUM_THREADS``)."""
    return shlex.join([f"OMP_NUM_THREADS={threads}", "python", *sys.argv])


# ----------------------------------------------------------------------------- running
def children_cpu() -> float:
    """User + system CPU seconds of all waited-for child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_json(cmd: list[str], env: dict) -> tuple[dict, float, float]:
    """Run ``cmd`` in the repository root; return its last stdout line that is a JSON object, its wall
    seconds and its CPU seconds (whole process: start-up, imports, data loading, evaluation)."""
    t0, c0 = time.perf_counter(), children_cpu()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-5000:])
        raise RuntimeError(f"command failed ({proc.returncode}): {shlex.join(cmd)}")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip().startswith("{")]
    if not rows:
        raise RuntimeError(f"no JSON line from: {shlex.join(cmd)}\n{proc.stdout[-2000:]}")
    return rows[-1], wall, cpu


def run_order(i: int, seed: int, libs: Sequence[str] = LIBS, *, by_seed: bool = False) -> list[str]:
    """Which library goes first for the ``i``-th seed: ``libs`` in order for even ``i`` (even ``seed`` with
    ``by_seed``), reversed otherwise, so both see the same machine load."""
    order = [lib for lib in LIBS if lib in libs]
    return order if (seed if by_seed else i) % 2 == 0 else order[::-1]


def run_side_by_side(
    seeds: Sequence[int],
    commands: Callable[[str, int], list[str]],
    env: dict,
    make_row: Callable[[str, int, dict, float, float], dict],
    *,
    libs: Sequence[str] = LIBS,
    by_seed: bool = False,
    meta: dict | None = None,
    after_run: Callable[[list[dict]], None] | None = None,
    after_seed: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """For every seed run ``commands(lib, seed)`` for each library in :func:`run_order`; ``make_row(lib, seed,
    result, wall_s, cpu_s)`` turns a subprocess' JSON line into a report row (printed as JSON without its
    ``raw`` entry). ``meta["n"]`` follows the results' sample count; ``after_run`` / ``after_seed`` get all
    rows so far (e.g. to rewrite the report). Returns the rows."""
    runs: list[dict] = []
    for i, seed in enumerate(seeds):
        for lib in run_order(i, seed, libs, by_seed=by_seed):
            result, wall, cpu = run_json(commands(lib, seed), env)
            if meta is not None:
                meta["n"] = result.get("n", meta.get("n"))
            row = make_row(lib, seed, result, wall, cpu)
            runs.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "raw"}), flush=True)
            if after_run:
                after_run(runs)
        if after_seed:
            after_seed(runs)
    return runs


# ----------------------------------------------------------------------------- report
def versions(anchor_python: str, env: dict) -> dict:
    """torch of this environment, clustpy and torch of the anchor environment (exits if it has no clustpy)."""
    import torch

    out = {"torch_pyagc": torch.__version__}
    code = "import importlib.metadata as m, torch; print(m.version('clustpy'), torch.__version__)"
    try:
        res = subprocess.run([anchor_python, "-c", code], env=env, capture_output=True, text=True, check=True)
        out["clustpy"], out["torch_clustpy"] = res.stdout.split()
    except (subprocess.CalledProcessError, ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"anchor python {anchor_python!r} cannot import clustpy: {exc}")
    return out


def start_meta(anchor_python: str, env: dict) -> dict:
    """Report metadata: local start time (ISO 8601 with offset) and :func:`versions`."""
    return {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), **versions(anchor_python, env)}


def header_lines(method: str, args, meta: dict, command: str, done: bool, machine_note: str = " (shared)") -> list[str]:
    """``# <method>: pyagc vs clustpy on <data>``, a partial-run marker while not ``done``, and the Date,
    Machine, Versions and Command bullets."""
    lines = [f"# {method}: pyagc vs clustpy on {args.data}", ""]
    if not done:
        lines += ["**Partial: run still in progress.**", ""]
    return lines + [
        f"- Date: {meta['date']}",
        f"- Machine: {os.cpu_count()} CPUs{machine_note}, {platform.platform()}, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        f"- Versions: torch {meta['torch_pyagc']} (pyagc env), clustpy {meta['clustpy']} with torch "
        f"{meta['torch_clustpy']} (anchor env `{args.anchor_python}`)",
        f"- Command: `{command}`",
    ]


def mean_std(vals: Iterable[float], fmt: str = "{:.4f}") -> str:
    vals = [float(v) for v in vals]
    return (fmt + " ± " + fmt).format(float(np.mean(vals)), float(np.std(vals)))


@dataclass(frozen=True)
class Col:
    """A table column: header, a row key (or a function of the row), a format spec; ``text`` columns are
    left-aligned, the others right-aligned."""

    header: str
    key: str | Callable[[dict], object]
    fmt: str = ""
    text: bool = False

    def cell(self, row: dict) -> str:
        return format(row[self.key] if isinstance(self.key, str) else self.key(row), self.fmt)


SEED_LIB = (Col("seed", "seed"), Col("lib", "lib", text=True))
METRIC_COLS = (Col("ACC", "acc", ".4f"), Col("NMI", "nmi", ".4f"), Col("ARI", "ari", ".4f"))


def _table(headers: Sequence[str], right: Sequence[bool], rows: Iterable[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if r else "---" for r in right) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def md_table(cols: Sequence[Col], runs: Sequence[dict]) -> list[str]:
    """One markdown row per run."""
    return _table([c.header for c in cols], [not c.text for c in cols], ([c.cell(r) for c in cols] for r in runs))


def means_table(
    runs: Sequence[dict],
    cols: Sequence[Col],
    libs: Sequence[str] = LIBS,
    extra_rows: Callable[[str, list[dict]], list[list[str]]] | None = None,
) -> tuple[list[str], dict[str, dict[str, list[float]]]]:
    """``| lib | runs | <cols> |`` with mean ± std over each library's runs (``cols`` keys must be row keys);
    ``extra_rows(lib, runs_of_lib)`` may add rows after a library's row. Returns the lines and
    ``{lib: {key: values}}`` for the libraries that have runs."""
    rows, per = [], {}
    for lib in libs:
        rs = [r for r in runs if r["lib"] == lib]
        if not rs:
            continue
        per[lib] = d = {c.key: [r[c.key] for r in rs] for c in cols}
        rows.append([lib, str(len(rs)), *(mean_std(d[c.key], "{:" + c.fmt + "}") for c in cols)])
        if extra_rows:
            rows += extra_rows(lib, rs)
    return _table(["lib", "runs", *(c.header for c in cols)], [False, True, *(True for _ in cols)], rows), per


def ratio(per: dict, key: str) -> float:
    """Mean clustpy / mean pyagc of ``key`` (a time: > 1 means pyagc is faster)."""
    return float(np.mean(per["clustpy"][key]) / np.mean(per["pyagc"][key]))


def delta(per: dict, key: str) -> float:
    """Mean pyagc - mean clustpy of ``key``."""
    return float(np.mean(per["pyagc"][key]) - np.mean(per["clustpy"][key]))


def ratio_table(
    per: dict, speed: Sequence[tuple[str, str]], deltas: Sequence[str] = ("acc", "nmi", "ari")
) -> list[str]:
    """One row: a ``{:.2f}x`` :func:`ratio` per ``(header, time key)`` of ``speed``, then ``ΔACC`` ... as
    ``{:+.4f}`` :func:`delta`."""
    headers = [h for h, _ in speed] + [f"Δ{k.upper()}" for k in deltas]
    cells = [f"{ratio(per, k):.2f}x" for _, k in speed] + [f"{delta(per, k):+.4f}" for k in deltas]
    return _table(headers, [True] * len(headers), [cells])


# ----------------------------------------------------------------------------- pyagc workers
class Stopwatch:
    """Started on creation: ``wall`` (``time.perf_counter``) and ``cpu`` (``time.process_time``, user + system
    of this process: the load-robust measure with one thread) seconds since then."""

    def __init__(self) -> None:
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    @property
    def wall(self) -> float:
        return time.perf_counter() - self.t0

    @property
    def cpu(self) -> float:
        return time.process_time() - self.c0


def cpu_trainer(max_epochs: int, precision: str = "32-true"):
    """A quiet single-device CPU Lightning ``Trainer`` (no logger, checkpoints, progress bar, model summary
    or sanity validation)."""
    import pytorch_lightning as pl

    return pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        precision=precision,
    )


def data_module(name: str, *, scaling: str, batch_size: int, seed: int, limit: int | None = None):
    """pyagc data module of ``name`` (not set up): ``TabularDataModule`` for digits, for usps / mnist an
    ``ImageDataModule(split="all", flatten=True)``: the same samples in the same order (train then test) as
    the anchor's ``load_data``, and the same ``scaling`` and ``limit`` subset."""
    if name in IMAGE_SETS:
        from pyagc.data import ImageDataModule

        return ImageDataModule(
            name, split="all", flatten=True, scaling=scaling, batch_size=batch_size, seed=seed, limit=limit
        )
    from pyagc.data import TabularDataModule

    return TabularDataModule(name, scaling=scaling, batch_size=batch_size, seed=seed, limit=limit)


def tabular_data(args):
    """:func:`data_module` of ``args`` (data, scaling, batch size, seed, limit), set up (the name is historical:
    usps / mnist give a flattened ``ImageDataModule``)."""
    dm = data_module(args.data, scaling=args.scaling, batch_size=args.batch_size, seed=args.seed, limit=args.limit)
    dm.setup()
    return dm
