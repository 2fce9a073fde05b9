"""Anchors: other libraries' implementations as ``pyagc-bench`` methods (``sklearn:kmeans``, ``clustpy:dec``).

Each library has a small *adapter* script, ``benchmarks/anchors/LIBRARY_adapter.py`` (or ``LIBRARY_NAME.py`` for
one method; not ``LIBRARY.py``, which would shadow the library it imports), that runs in the library's own virtual
environment, where pyagc need not be installed. The protocol (version 1)::

    ADAPTER --method NAME --inputs inputs.npz --out labels.npy

``inputs.npz`` holds ``x`` (the features exactly as pyagc's data config preprocesses them, ``float32``, one row per
sample), ``n_clusters``, ``seed``, ``threads`` and ``params`` (JSON: the run's resolved ``model`` / ``encoder`` /
``head`` / ``data`` config sections, so that the adapter can match pyagc's budget: epochs, layer sizes, batch
size, learning rates). Labels never reach the adapter. It writes the cluster of every row to ``--out`` and prints,
as its last line of output, one JSON object: ``{"library": ..., "version": ..., "method": ..., "params": {what it
ran with}, "time_s": {"fit": seconds}, "peak_rss_mb": its peak memory}`` (on Linux ``VmHWM`` of
``/proc/self/status``: ``ru_maxrss`` keeps the parent's peak from before ``exec``).
:mod:`pyagc.cli.bench_anchor_run` (in pyagc's environment) prepares the inputs, runs the adapter and scores its
labels with :mod:`pyagc.metrics`, into the same ``metrics.json`` as a ``pyagc-train`` run, so both sides of a
comparison are scored by the same code.

The interpreter: ``$PYAGC_ANCHOR_<LIBRARY>`` (a Python executable or a virtual environment's folder), else
``<home>/<library>/bin/python`` with ``<home>`` = ``$PYAGC_ANCHOR_HOME`` or ``~/.cache/pyagc/anchors``; made by
``pyagc-bench setup-anchor LIBRARY`` (``python -m venv`` + ``pip install`` of the library). Libraries that pyagc
itself depends on (scikit-learn) run in the current interpreter unless the variable names another.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pyagc.cli.bench_plan import BenchError

__all__ = [
    "LIBRARIES",
    "AnchorLibrary",
    "adapter_path",
    "anchor_home",
    "anchor_python",
    "setup_anchor",
    "setup_commands",
]


@dataclass(frozen=True)
class AnchorLibrary:
    """An anchor library: what ``setup-anchor`` installs, and whether pyagc's own environment already has it."""

    name: str
    packages: tuple[str, ...]
    own_env: bool = False


LIBRARIES = {
    "sklearn": AnchorLibrary("sklearn", ("scikit-learn",), own_env=True),
    "clustpy": AnchorLibrary("clustpy", ("clustpy",)),
    "torchsom": AnchorLibrary("torchsom", ("torchsom",)),
    "minisom": AnchorLibrary("minisom", ("minisom",)),
}


def _library(name: str) -> AnchorLibrary:
    lib = LIBRARIES.get(name)
    if lib is None:
        # an adapter for a library not listed here is fine: it installs a package of the same name
        lib = AnchorLibrary(name, (name,))
    return lib


def anchor_home() -> Path:
    """Where ``setup-anchor`` puts the environments: ``$PYAGC_ANCHOR_HOME``, else
    ``$XDG_CACHE_HOME/pyagc/anchors`` (``~/.cache/pyagc/anchors``).
    """
    if os.environ.get("PYAGC_ANCHOR_HOME"):
        return Path(os.environ["PYAGC_ANCHOR_HOME"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return cache / "pyagc" / "anchors"


def _env_var(library: str) -> str:
    return "PYAGC_ANCHOR_" + "".join(c if c.isalnum() else "_" for c in library).upper()


def _venv_python(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def anchor_python(library: str) -> str:
    """The interpreter that runs ``library``'s adapter (see the module's docstring for the order)."""
    var = _env_var(library)
    given = os.environ.get(var)
    if given:
        path = Path(given).expanduser()
        exe = _venv_python(path) if path.is_dir() else path
        if not exe.exists():
            raise BenchError(f"${var}={given}: no Python interpreter there")
        return str(exe)
    lib = _library(library)
    if lib.own_env:
        return sys.executable
    exe = _venv_python(anchor_home() / library)
    if not exe.exists():
        raise BenchError(
            f"no environment for the anchor library {library!r} at {exe.parent.parent}: make it with "
            f"`pyagc-bench setup-anchor {library}`, or point ${var} at a Python that has it"
        )
    return str(exe)


def adapter_dirs() -> list[Path]:
    """Where adapters are looked for: ``$PYAGC_ANCHOR_ADAPTERS``, then ``benchmarks/anchors`` under the working
    directory and under the source tree.
    """
    from pyagc.cli.bench_machine import source_root

    dirs = [Path(p).expanduser() for p in os.environ.get("PYAGC_ANCHOR_ADAPTERS", "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "benchmarks" / "anchors", source_root() / "benchmarks" / "anchors"]
    return list(dict.fromkeys(d.resolve() for d in dirs))


def adapter_path(library: str, method: str) -> Path:
    """The adapter of ``library:method``: ``LIBRARY_METHOD.py``, else ``LIBRARY_adapter.py``, in
    :func:`adapter_dirs`.
    """
    for d in adapter_dirs():
        for name in (f"{library}_{method}.py", f"{library}_adapter.py"):
            if (d / name).is_file():
                return d / name
    raise BenchError(
        f"anchor {library}:{method}: no adapter {library}_adapter.py (or {library}_{method}.py) in "
        f"{', '.join(str(d) for d in adapter_dirs())}"
    )


def setup_commands(library: str, where: Path | None = None, python: str | None = None) -> list[list[str]]:
    """The commands that make ``library``'s environment: a virtual environment and ``pip install`` of the
    library (with numpy, which the adapter protocol uses).
    """
    where = anchor_home() / library if where is None else Path(where)
    lib = _library(library)
    exe = str(_venv_python(where))
    return [
        [python or sys.executable, "-m", "venv", str(where)],
        [exe, "-m", "pip", "install", "--upgrade", "pip"],
        [exe, "-m", "pip", "install", *lib.packages, "numpy"],
    ]


def setup_anchor(library: str, where: Path | None = None, dry_run: bool = False) -> int:
    """``pyagc-bench setup-anchor LIBRARY``: make (or update) the library's environment; ``dry_run``: print the
    commands only. Returns the exit code.
    """
    commands = setup_commands(library, where)
    for cmd in commands:
        print("$ " + " ".join(cmd), flush=True)
        if dry_run:
            continue
        code = subprocess.call(cmd)
        if code != 0:
            print(f"[pyagc-bench] setup-anchor {library}: `{' '.join(cmd)}` failed (exit {code})", file=sys.stderr)
            return code
    if not dry_run:
        print(f"[pyagc-bench] {library}: {commands[-1][0]} (methods {library}:NAME now run there)")
    return 0
