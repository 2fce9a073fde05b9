"""``pyagc-bench``: run methods x data x seeds, each run in its own process, into one results folder.

    pyagc-bench methods=kmeans,dec,idec data=iris seeds=0,1,2 out=DIR [pyagc-train overrides]
    pyagc-bench suite=iris_smoke                      # benchmarks/suites/iris_smoke.yaml (or a path)
    pyagc-bench methods=dec,sklearn:kmeans data=digits seeds=0-9 --parallel 2
    pyagc-bench report [results=benchmarks/results] [--readme [README.md]]
    pyagc-bench publish out=DIR name=NAME             # DIR's records -> benchmarks/results/NAME.jsonl, then report
    pyagc-bench setup-anchor clustpy [--dry-run]      # the anchor library's own virtual environment

A method is an experiment (``dec_digits``, ``experiment=vade_mnist``), a head config (``dec``, ``vade``: with the
model config of that name and what the head needs, :mod:`pyagc.cli.pairing`) or an anchor ``LIBRARY:NAME``
(:mod:`pyagc.cli.bench_anchors`). Every other ``key=value`` is a ``pyagc-train`` override for every run.
Each run is ``python -m pyagc.cli.train ... hydra.run.dir=DIR/runs/<method>/<data>/seed<k>`` in its own process
(a crash or a memory peak stays in its run, which is timed alone); runs go seed by seed, data by data, the methods
round-robin, so that the methods see the same machine load. ``--parallel N`` runs N at once (each with
``threads=cores/N`` unless given).

``DIR/results.jsonl`` gets one record per run (:mod:`pyagc.cli.bench_records`) as soon as it ends, and
``DIR/results.md`` / ``DIR/results.png`` are rewritten after each run. Runs whose record says ``ok`` are skipped
when the bench runs again (resume); a failed run is recorded with its error and the others go on; the exit code is
1 when a run failed. This module does not import torch: ``pyagc-bench --help`` answers at once.

``report`` regenerates ``benchmarks/results/NAME.md`` from every ``NAME.jsonl`` there and the index ``README.md``
(the same records give the same bytes); ``--readme`` also rewrites the README's block between
``<!-- bench:readme:start -->`` and ``<!-- bench:readme:end -->`` from the ``readme*.jsonl`` files.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as _dt
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pyagc.cli.bench_plan import (
    BenchError,
    Method,
    RunSpec,
    Suite,
    head_name,
    load_suite,
    make_data,
    make_methods,
    override_key,
    parse_seeds,
    plan_runs,
    resolve_method,
    safe_name,
    split_list,
)
from pyagc.cli.bench_records import RESULTS, append_record, done_keys, read_records

__all__ = ["BenchOptions", "main", "parse_args", "publish", "resolve_heads", "run_bench"]

_OPTIONS = ("methods", "method", "data", "seeds", "out", "suite", "parallel", "timeout")


@dataclass
class BenchOptions:
    """A ``pyagc-bench`` invocation: what to run and where."""

    methods: list[Any]
    data: list[Any] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    out: Path = Path("outputs/bench")
    parallel: int = 1
    timeout: float | None = None
    overrides: list[str] = field(default_factory=list)
    suite: Suite | None = None
    dry_run: bool = False


def _usage() -> str:
    return __doc__.split("\n\n")[0] + "\n\n" + "\n\n".join(__doc__.split("\n\n")[1:])


def parse_args(argv: Sequence[str]) -> BenchOptions:
    """Read ``key=value`` tokens (``methods=``, ``data=``, ``seeds=``, ``out=``, ``suite=``, ``parallel=``,
    ``timeout=``), ``--parallel N``, ``--dry-run``; everything else is an override for every run. A suite gives
    the defaults; the command line wins (its overrides come after the suite's).
    """
    given: dict[str, str] = {}
    overrides: list[str] = []
    dry_run = False
    args = list(argv)
    i = 0
    while i < len(args):
        tok = args[i]
        if tok in ("--parallel", "-j"):
            if i + 1 >= len(args):
                raise BenchError(f"{tok} needs a number")
            given["parallel"] = args[i + 1]
            i += 2
            continue
        if tok.startswith("--parallel="):
            given["parallel"] = tok.split("=", 1)[1]
        elif tok == "--dry-run":
            dry_run = True
        elif tok.startswith("-"):
            raise BenchError(f"unknown option {tok}; see pyagc-bench --help")
        elif "=" not in tok:
            raise BenchError(
                f"{tok!r}: expected key=value (methods=..., data=..., seeds=..., out=..., suite=..., "
                "or a pyagc-train override)"
            )
        else:
            key, value = tok.split("=", 1)
            if key in _OPTIONS:
                given["methods" if key == "method" else key] = value
            elif override_key(tok) == "seed":
                raise BenchError(f"{tok}: give the seeds as seeds=0,1,2 (every method runs with each)")
            elif override_key(tok) == "hydra.run.dir":
                raise BenchError(f"{tok}: the bench chooses each run's folder (out=DIR/runs/...)")
            else:
                overrides.append(tok)
        i += 1

    suite = load_suite(given["suite"]) if "suite" in given else None
    methods: list[Any] = split_list(given["methods"]) if "methods" in given else (suite.methods if suite else [])
    if not methods:
        raise BenchError("no methods: give methods=NAME,NAME (or suite=NAME); see pyagc-bench --help")
    data: list[Any] = split_list(given["data"]) if "data" in given else (suite.data if suite else [])
    seeds = parse_seeds(given["seeds"]) if "seeds" in given else (suite.seeds if suite else [0])
    try:
        parallel = int(given.get("parallel", suite.parallel if suite and suite.parallel else 1))
        timeout_text = given.get("timeout", suite.timeout if suite else None)
        timeout = float(timeout_text) if timeout_text not in (None, "", "null", "none") else None
    except ValueError as e:
        raise BenchError(f"parallel / timeout: {e}") from None
    if parallel < 1:
        raise BenchError("parallel: at least 1")
    if "out" in given:
        out = Path(given["out"])
    elif suite is not None:
        out = Path(suite.out or f"outputs/bench/{suite.name}")
    else:
        names = [m if isinstance(m, str) else str(m.get("name")) for m in methods]
        datas = [d if isinstance(d, str) else str(d.get("name")) for d in data] or ["default"]
        out = Path("outputs/bench") / safe_name(f"{'-'.join(names)}__{'-'.join(datas)}")[:120]
    return BenchOptions(
        methods=methods,
        data=data,
        seeds=seeds,
        out=out,
        parallel=parallel,
        timeout=timeout,
        overrides=[*(suite.overrides if suite else []), *overrides],
        suite=suite,
        dry_run=dry_run,
    )


def resolve_heads(methods: Sequence[Method]) -> list[Method]:
    """Fill in the overrides of the ``head`` methods from their declarations, in one
    ``python -m pyagc.cli.pairing`` process (torch is imported there, not here).
    """
    heads = sorted({head_name(m) for m in methods if m.kind == "head"})
    if not heads:
        return list(methods)
    cmd = [sys.executable, "-m", "pyagc.cli.pairing", *heads]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    if proc.returncode != 0:
        raise BenchError(f"could not read the head declarations of {', '.join(heads)}:\n{proc.stderr[-3000:]}")
    pairing = json.loads(proc.stdout.strip().splitlines()[-1])
    return [replace(m, resolved=tuple(pairing[head_name(m)]["overrides"])) if m.kind == "head" else m for m in methods]


def _threads(spec_overrides: Sequence[str], parallel: int) -> tuple[list[str], int | None]:
    """``threads=`` for a run: the user's, else the cores divided among the parallel runs."""
    from pyagc.cli.bench_machine import available_cores

    for o in reversed(list(spec_overrides)):
        if override_key(o) == "threads":
            value = o.split("=", 1)[1]
            return [], int(value) if value.isdigit() else None
    n = max(1, available_cores() // parallel)
    return [f"threads={n}"], n


def _command(spec: RunSpec, out: Path, parallel: int) -> tuple[list[str], list[str], dict[str, str], int | None]:
    """The run's command, its exact overrides (without the run folder), its environment and its threads."""
    extra, threads = _threads(spec.overrides(), parallel)
    run_dir = spec.folder(out).resolve()
    overrides = spec.overrides(extra)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if threads:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    if spec.method.kind == "anchor":
        cmd = [
            sys.executable,
            "-m",
            "pyagc.cli.bench_anchor_run",
            f"--library={spec.method.library}",
            f"--method={spec.method.anchor_name}",
            f"--run-dir={run_dir}",
            "--",
            *overrides,
        ]
    else:
        cmd = [sys.executable, "-m", "pyagc.cli.train", *overrides, f"hydra.run.dir={run_dir}"]
    return cmd, overrides, env, threads


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _relative(path: Path, out: Path) -> str:
    try:
        return str(path.resolve().relative_to(out.resolve()))
    except ValueError:
        return str(path)


def _run_one(
    spec: RunSpec, opts: BenchOptions, bench_command: str, running: dict[int, subprocess.Popen]
) -> dict[str, Any]:
    """Run one spec in its own process and return its record."""
    from pyagc.cli.bench_machine import machine_info
    from pyagc.cli.bench_process import error_tail, run_process

    out = opts.out
    cmd, overrides, env, threads = _command(spec, out, opts.parallel)
    run_dir, log = spec.folder(out), spec.log_path(out)
    if run_dir.exists():  # an earlier attempt that did not finish: start afresh
        shutil.rmtree(run_dir, ignore_errors=True)
    started = _now()
    result = run_process(cmd, log, env=env, timeout=opts.timeout, on_start=lambda p: running.__setitem__(p.pid, p))
    metrics: dict[str, Any] = {}
    metrics_path = run_dir / "metrics.json"
    if metrics_path.is_file():
        try:
            metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        except ValueError:
            metrics = {}
    ok = result.returncode == 0 and bool(metrics)
    error, error_line = (None, None) if ok else error_tail(log)
    if not ok and result.returncode == 0:
        error_line = "exit 0 but no readable metrics.json"
    if result.timed_out:
        error_line = f"stopped after timeout={opts.timeout} s" + (f" ({error_line})" if error_line else "")
    elif result.returncode < 0:
        error_line = f"killed by signal {-result.returncode}" + (f" ({error_line})" if error_line else "")
    gpu = "peak_gpu_mb" in metrics
    machine = machine_info()
    return {
        "method": spec.method.label,
        "method_spec": spec.method.spec,
        "kind": spec.method.kind,
        "data": spec.data.label,
        "data_name": metrics.get("data"),
        "seed": spec.seed,
        "status": "ok" if ok else "failed",
        "returncode": result.returncode,
        "error_line": error_line,
        "error": error,
        "timed_out": result.timed_out,
        "wall_s": round(result.wall_s, 3),
        "process_peak_rss_mb": result.peak_rss_mb,
        "started_at": started,
        "finished_at": _now(),
        "device": ("gpu: " + ", ".join(machine["gpus"])) if gpu and machine["gpus"] else ("gpu" if gpu else "cpu"),
        "threads": threads,
        "overrides": overrides,
        "user_overrides": spec.user_overrides,
        "command": shlex.join(cmd),
        "run_dir": _relative(run_dir, out),
        "log": _relative(log, out),
        "metrics": metrics,
        "machine": machine,
        "suite": opts.suite.name if opts.suite else None,
        "bench_command": bench_command,
        "key": spec.key,
    }


def _run_safely(
    spec: RunSpec, opts: BenchOptions, bench_command: str, running: dict[int, subprocess.Popen]
) -> dict[str, Any]:
    """:func:`_run_one`, with an error of the bench itself (not of the run) recorded as the run's failure."""
    try:
        return _run_one(spec, opts, bench_command, running)
    except Exception as e:
        import traceback

        return {
            "method": spec.method.label,
            "method_spec": spec.method.spec,
            "kind": spec.method.kind,
            "data": spec.data.label,
            "seed": spec.seed,
            "status": "failed",
            "returncode": None,
            "error_line": f"pyagc-bench: {type(e).__name__}: {e}",
            "error": traceback.format_exc()[-4000:],
            "started_at": _now(),
            "user_overrides": spec.user_overrides,
            "metrics": {},
            "run_dir": _relative(spec.folder(opts.out), opts.out),
            "log": _relative(spec.log_path(opts.out), opts.out),
            "suite": opts.suite.name if opts.suite else None,
            "bench_command": bench_command,
            "key": spec.key,
        }


def write_tables(opts: BenchOptions, records: Sequence[dict[str, Any]] | None = None) -> None:
    """Rewrite ``results.md`` and ``results.png`` of the bench folder from its records."""
    from pyagc.cli.bench_plot import plot_results
    from pyagc.cli.bench_tables import render_results, write_if_changed

    records = read_records(opts.out / RESULTS) if records is None else records
    title = f"pyagc-bench: {opts.suite.name if opts.suite else opts.out.name}"
    description = opts.suite.description if opts.suite else ""
    write_if_changed(opts.out / "results.md", render_results(records, title, description))
    try:
        plot_results(records, opts.out / "results.png", title=title)
    except Exception as e:  # a figure must not end the bench
        print(f"[pyagc-bench] results.png not drawn: {type(e).__name__}: {e}", file=sys.stderr)


def _line(i: int, n: int, record: dict[str, Any]) -> str:
    m = record.get("metrics") or {}
    what = f"[pyagc-bench] {i}/{n}  {record['method']}  {record['data']}  seed {record['seed']}: "
    if record["status"] == "ok":
        shown = "  ".join(f"{k.upper()} {m[k]:.4f}" for k in ("acc", "nmi", "ari") if isinstance(m.get(k), float))
        if not shown and isinstance(m.get("input_silhouette"), float):
            shown = f"silhouette (input) {m['input_silhouette']:.4f}"
        return what + f"ok  {shown}  ({record['wall_s']:.1f} s)"
    return what + f"FAILED (exit {record['returncode']}): {record.get('error_line') or ''}  [{record['log']}]"


def run_bench(opts: BenchOptions, bench_command: str = "pyagc-bench") -> int:
    """Run the plan of ``opts``: skip the runs already done, run the others (``opts.parallel`` at once), append a
    record per run and rewrite the tables after each. Returns 0 when every run is ok, else 1.
    """
    methods = [resolve_method(m) for m in make_methods(opts.methods)]
    data = make_data(opts.data)
    plan = plan_runs(methods, data, opts.seeds, opts.overrides)
    results = opts.out / RESULTS
    done = done_keys(read_records(results))
    pending = [s for s in plan if s.key not in done]
    print(
        f"[pyagc-bench] {len(plan)} runs ({len(methods)} methods x {len(data)} data x {len(opts.seeds)} seeds), "
        f"{len(plan) - len(pending)} already done, {len(pending)} to run into {opts.out}"
        + (f", {opts.parallel} at once" if opts.parallel > 1 else ""),
        flush=True,
    )
    needed = {s.method.label for s in pending}
    resolved = {m.label: m for m in resolve_heads([m for m in methods if m.label in needed])}
    pending = [replace(s, method=resolved[s.method.label]) for s in pending]
    if opts.dry_run:
        for s in pending:
            print(shlex.join(_command(s, opts.out, opts.parallel)[0]))
        return 0
    opts.out.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    bar = tqdm(total=len(pending), unit="run", file=sys.stderr, disable=not tty or not pending, dynamic_ncols=True)
    say = bar.write if tty else (lambda s: print(s, flush=True))
    running: dict[int, subprocess.Popen] = {}
    counts = {"finished": 0, "failed": 0}
    recorded: set[cf.Future] = set()

    def record(future: cf.Future) -> None:
        rec = future.result()
        recorded.add(future)
        append_record(results, rec)
        counts["finished"] += 1
        counts["failed"] += rec["status"] != "ok"
        say(_line(counts["finished"], len(pending), rec))
        bar.update(1)
        write_tables(opts)

    pool = cf.ThreadPoolExecutor(max_workers=opts.parallel)
    futures: list[cf.Future] = []
    try:
        futures = [pool.submit(_run_safely, s, opts, bench_command, running) for s in pending]
        for future in cf.as_completed(futures):
            record(future)
    except KeyboardInterrupt:
        say("[pyagc-bench] interrupted: stopping the runs in progress (recorded as failed; a rerun resumes)")
        for proc in list(running.values()):
            if proc.returncode is None:
                proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        for future in futures:
            if future.done() and not future.cancelled() and future not in recorded and future.exception() is None:
                record(future)
        return 130
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    failed = counts["failed"]
    write_tables(opts)
    md = opts.out / "results.md"
    text = md.read_text(encoding="utf-8") if md.is_file() else ""
    table = text.split("## Mean ± std over seeds", 1)[-1].split("\n\n")[1] if "## Mean ± std" in text else ""
    if table:
        print(table)
    print(
        f"[pyagc-bench] {opts.out / 'results.md'}, results.png, {RESULTS}"
        + (f"; {failed} run(s) failed" if failed else ""),
        flush=True,
    )
    return 1 if failed else 0


def publish(out: Path, name: str, results_dir: Path) -> Path:
    """Merge the records of ``out/results.jsonl`` into ``results_dir/NAME.jsonl`` (the latest record of each run
    replaces an earlier one with the same key), then regenerate the report.
    """
    from pyagc.cli.bench_records import latest_records
    from pyagc.cli.bench_tables import write_report

    new = read_records(out / RESULTS)
    if not new:
        raise BenchError(f"{out / RESULTS}: no records to publish")
    target = results_dir / f"{safe_name(name)}.jsonl"
    merged = latest_records([*read_records(target), *new])
    results_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in merged), encoding="utf-8")
    tmp.replace(target)
    write_report(results_dir)
    return target


def _report(args: Sequence[str]) -> int:
    from pyagc.cli.bench_tables import (
        render_readme_block,
        replace_readme_block,
        write_if_changed,
        write_report,
    )

    results_dir = Path("benchmarks/results")
    readme: Path | None = None
    rest = list(args)
    while rest:
        tok = rest.pop(0)
        if tok.startswith("results="):
            results_dir = Path(tok.split("=", 1)[1])
        elif tok == "--readme":
            readme = Path(rest.pop(0)) if rest and not rest[0].startswith(("-", "results=")) else Path("README.md")
        elif tok.startswith("--readme="):
            readme = Path(tok.split("=", 1)[1])
        else:
            raise BenchError(f"report: unknown argument {tok!r} (results=DIR, --readme [README.md])")
    if not results_dir.is_dir():
        raise BenchError(f"report: no folder {results_dir} (run from the repository, or give results=DIR)")
    written = write_report(results_dir)
    for path in written:
        print(f"[pyagc-bench] wrote {path}")
    if readme is not None:
        files = sorted(results_dir.glob("readme*.jsonl"))
        text = readme.read_text(encoding="utf-8")
        try:
            new = replace_readme_block(text, render_readme_block(files))
        except ValueError as e:
            raise BenchError(f"report --readme: {readme}: {e}") from None
        if write_if_changed(readme, new):
            print(f"[pyagc-bench] wrote the benchmark block of {readme}")
    if not written:
        print(f"[pyagc-bench] {results_dir}: every table is up to date")
    return 0


def _publish(args: Sequence[str]) -> int:
    given = dict(a.split("=", 1) for a in args if "=" in a)
    if "out" not in given:
        raise BenchError("publish: out=DIR (a bench folder) [name=NAME] [results=benchmarks/results]")
    out = Path(given["out"])
    target = publish(out, given.get("name") or out.name, Path(given.get("results", "benchmarks/results")))
    print(f"[pyagc-bench] published {out / RESULTS} -> {target}")
    return 0


def _setup_anchor(args: Sequence[str]) -> int:
    from pyagc.cli.bench_anchors import setup_anchor

    names = [a for a in args if not a.startswith("-") and "=" not in a]
    where = next((Path(a.split("=", 1)[1]) for a in args if a.startswith("where=")), None)
    if len(names) != 1:
        raise BenchError("setup-anchor LIBRARY [where=DIR] [--dry-run], e.g. pyagc-bench setup-anchor clustpy")
    return setup_anchor(names[0], where=where, dry_run="--dry-run" in args)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``pyagc-bench`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    try:
        if args[0] == "report":
            return _report(args[1:])
        if args[0] == "publish":
            return _publish(args[1:])
        if args[0] == "setup-anchor":
            return _setup_anchor(args[1:])
        opts = parse_args(args)
        return run_bench(opts, bench_command=shlex.join(["pyagc-bench", *args]))
    except BenchError as e:
        print(f"pyagc-bench: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
