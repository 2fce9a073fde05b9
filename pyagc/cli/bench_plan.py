"""What ``pyagc-bench`` runs: methods x data x seeds, from the command line or a suite file, in alternating order.

A *method* is

* an experiment config: ``experiment=NAME``, or a bare ``NAME`` of ``configs/experiment/`` -> ``experiment=NAME``;
* a head config: a bare ``NAME`` of ``configs/head/`` (or ``head=NAME``) -> ``head=NAME``, ``model=NAME`` when that
  model config exists, and what the head's declaration needs (:mod:`pyagc.cli.pairing`);
* an anchor, another library's implementation: ``LIBRARY:NAME`` (``sklearn:kmeans``, ``clustpy:dec``), run by
  :mod:`pyagc.cli.bench_anchor` on the same data (:mod:`pyagc.cli.bench_anchors`).

A suite (``benchmarks/suites/NAME.yaml``) may also give a method its own label and overrides::

Methods:
      - kmeans
      - {name: dec_50_50, method: dec_digits, overrides: [model.pretrain_epochs=50, model.epochs=50]}
    data: [iris, {name: wine_minmax, data: wine, overrides: [data.scaling=minmax]}]
    seeds: 0-9            # or [0, 1, 2]
    overrides: [threads=1]   # every run
    out: outputs/bench/NAME
    parallel: 1

Runs go for each seed, for each data set, for each method (round-robin), so that the methods of one seed run one
after the other and see the same machine load. A run is identified by its *key*: method label and spec, data
label, seed and the overrides the user gave (not those the bench derives: the run folder, threads), which is
what resuming compares.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BenchError",
    "Data",
    "Method",
    "RunSpec",
    "Suite",
    "config_dir",
    "find_suite",
    "load_suite",
    "merge_overrides",
    "override_key",
    "parse_seeds",
    "plan_runs",
    "resolve_method",
    "safe_name",
    "split_list",
]


class BenchError(ValueError):
    """A command line, suite or method that ``pyagc-bench`` cannot run (said before anything runs)."""


def config_dir() -> Path:
    """The shipped Hydra configs (``pyagc.configs``), found without importing Hydra or torch."""
    return Path(str(importlib.resources.files("pyagc.configs"))).resolve()


def _names(group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def split_list(text: str) -> list[str]:
    """``"a,b[1,2],c"`` -> ``["a", "b[1,2]", "c"]``: commas inside brackets, braces or quotes do not split."""
    out, depth, quote, cur = [], 0, "", []
    for ch in str(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return [s for s in out if s]


def parse_seeds(value: Any) -> list[int]:
    """Seeds from ``"0,1,2"``, ``"0-9"`` (inclusive), ``[0, 1]`` or ``3`` (one seed)."""
    if isinstance(value, bool):
        raise BenchError(f"seeds={value!r}: expected integers, e.g. seeds=0,1,2 or seeds=0-9")
    if isinstance(value, int):
        return [value]
    items: Iterable[Any] = value if isinstance(value, (list, tuple)) else split_list(str(value))
    seeds: list[int] = []
    for item in items:
        text = str(item).strip()
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", text)
        try:
            seeds += list(range(int(m.group(1)), int(m.group(2)) + 1)) if m else [int(text)]
        except ValueError:
            raise BenchError(f"seeds: {text!r} is not a seed; expected e.g. seeds=0,1,2 or seeds=0-9") from None
    if not seeds:
        raise BenchError("seeds: no seeds given")
    if len(set(seeds)) != len(seeds):
        raise BenchError(f"seeds: {seeds} repeats a seed")
    return seeds


def override_key(override: str) -> str:
    """The config key an override sets: ``+model.x=1`` -> ``model.x``, ``model/augmentation=tabular`` ->
    ``model/augmentation``, ``~head.tol`` -> ``head.tol``.
    """
    return override.split("=", 1)[0].lstrip("+~").strip()


def merge_overrides(*lists: Sequence[str]) -> list[str]:
    """Concatenate override lists; a later override of the same key replaces the earlier one (in its place)."""
    out: dict[str, str] = {}
    for overrides in lists:
        for o in overrides:
            key = override_key(o)
            out.pop(key, None)
            out[key] = o
    return list(out.values())


def safe_name(text: str) -> str:
    """A folder name for a label: ``clustpy:dec`` -> ``clustpy-dec``, ``experiment=x`` -> ``x``."""
    text = text.split("=", 1)[1] if text.startswith(("experiment=", "head=")) else text
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "x"


@dataclass(frozen=True)
class Method:
    """One method of a benchmark: ``label`` (its name in records and tables), ``spec`` (what it was asked as), its
    own ``overrides`` (a suite entry's), and, once resolved, its ``kind`` (``experiment`` / ``head`` /
    ``anchor``) and the ``resolved`` overrides that select it (``experiment=...``; ``head=... model=...``).
    """

    label: str
    spec: str
    overrides: tuple[str, ...] = ()
    kind: str = ""
    resolved: tuple[str, ...] = ()

    @property
    def library(self) -> str | None:
        """The anchor library (``clustpy`` of ``clustpy:dec``), or ``None`` for pyagc's own methods."""
        return self.spec.split(":", 1)[0] if self.kind == "anchor" else None

    @property
    def anchor_name(self) -> str | None:
        return self.spec.split(":", 1)[1] if self.kind == "anchor" else None


@dataclass(frozen=True)
class Data:
    """One data set of a benchmark: ``label`` and the overrides that select it (``data=iris`` and a suite
    entry's own); no overrides: each method's own data (an experiment's).
    """

    label: str
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunSpec:
    """One run: a method on a data set with a seed and the overrides every run of the benchmark gets."""

    method: Method
    data: Data
    seed: int
    common: tuple[str, ...] = ()

    @property
    def user_overrides(self) -> list[str]:
        """The overrides the user gave for this run (method entry, data, every run), merged, without the seed."""
        return merge_overrides(self.method.overrides, self.data.overrides, self.common)

    @property
    def key(self) -> str:
        """What identifies the run for resuming."""
        return json.dumps(
            {
                "method": self.method.label,
                "spec": self.method.spec,
                "data": self.data.label,
                "seed": self.seed,
                "overrides": self.user_overrides,
            },
            sort_keys=True,
        )

    def overrides(self, extra: Sequence[str] = ()) -> list[str]:
        """The run's Hydra overrides: the method's resolved ones, then the user's, the seed and ``extra``."""
        return merge_overrides(self.method.resolved, self.user_overrides, [f"seed={self.seed}"], extra)

    def folder(self, out: Path) -> Path:
        """``OUT/runs/<method>/<data>/seed<k>``: the run's Hydra run folder."""
        return out / "runs" / safe_name(self.method.label) / safe_name(self.data.label) / f"seed{self.seed}"

    def log_path(self, out: Path) -> Path:
        """``OUT/logs/<method>/<data>/seed<k>.log``: the run's console output (outside its run folder, which
        pyagc-train removes when a run fails before its first epoch).
        """
        return out / "logs" / safe_name(self.method.label) / safe_name(self.data.label) / f"seed{self.seed}.log"


def _entry(item: Any, what: str, name_key: str) -> tuple[str, str, tuple[str, ...]]:
    """(label, spec, overrides) of a suite / command-line entry: a string, or ``{name, <name_key>, overrides}``."""
    if isinstance(item, str):
        return item, item, ()
    if isinstance(item, dict):
        spec = item.get(name_key) or item.get("name")
        label = item.get("name") or spec
        overrides = item.get("overrides") or []
        if isinstance(overrides, str):
            overrides = overrides.split()
        if not spec or not isinstance(overrides, (list, tuple)):
            raise BenchError(f"{what} entry {item!r}: expected {{name: LABEL, {name_key}: NAME, overrides: [...]}}")
        return str(label), str(spec), tuple(str(o) for o in overrides)
    raise BenchError(f"{what} entry {item!r}: expected a name or a mapping")


def make_methods(items: Sequence[Any]) -> list[Method]:
    methods = []
    for item in items:
        label, spec, overrides = _entry(item, "methods", "method")
        methods.append(Method(label=label, spec=spec, overrides=overrides))
    labels = [m.label for m in methods]
    if len(set(labels)) != len(labels):
        raise BenchError(f"methods: {labels} names a method twice; give suite entries their own `name:`")
    return methods


def make_data(items: Sequence[Any]) -> list[Data]:
    if not items:
        return [Data("default")]
    out = []
    for item in items:
        label, spec, overrides = _entry(item, "data", "data")
        out.append(Data(label=label, overrides=(f"data={spec}", *overrides)))
    labels = [d.label for d in out]
    if len(set(labels)) != len(labels):
        raise BenchError(f"data: {labels} names a data set twice")
    return out


def resolve_method(method: Method) -> Method:
    """The method with its kind and the overrides that select it; a head's pairing is filled in later
    (:func:`pyagc.cli.bench.resolve_heads`: it needs torch). Raises :class:`BenchError` for an unknown name.
    """
    spec = method.spec.strip()
    if ":" in spec and "=" not in spec:
        library, _, name = spec.partition(":")
        if not library or not name:
            raise BenchError(f"method {spec!r}: an anchor is LIBRARY:NAME, e.g. sklearn:kmeans")
        return Method(method.label, spec, method.overrides, "anchor", ())
    experiments, heads = _names("experiment"), _names("head")
    if spec.startswith("experiment="):
        name = spec.split("=", 1)[1]
        if name not in experiments:
            raise BenchError(f"method {spec!r}: no experiment {name!r}; experiments: {', '.join(experiments)}")
        return Method(method.label, spec, method.overrides, "experiment", (f"experiment={name}",))
    if spec.startswith("head="):
        name = spec.split("=", 1)[1]
        if name not in heads:
            raise BenchError(f"method {spec!r}: no head config {name!r}; heads: {', '.join(heads)}")
        return Method(method.label, spec, method.overrides, "head", ())
    if spec in experiments:
        return Method(method.label, spec, method.overrides, "experiment", (f"experiment={spec}",))
    if spec in heads:
        return Method(method.label, spec, method.overrides, "head", ())
    raise BenchError(
        f"method {spec!r} is neither an experiment nor a head config, nor LIBRARY:NAME.\n"
        f"  experiments: {', '.join(experiments)}\n  heads: {', '.join(heads)}\n"
        f"  anchors: sklearn:kmeans, clustpy:NAME, ... (benchmarks/anchors/)"
    )


def head_name(method: Method) -> str:
    """The head config a ``head`` method names."""
    return method.spec.split("=", 1)[1] if method.spec.startswith("head=") else method.spec


def plan_runs(
    methods: Sequence[Method], data: Sequence[Data], seeds: Sequence[int], common: Sequence[str] = ()
) -> list[RunSpec]:
    """Every run, for each seed, for each data set, for each method (round-robin: alternating methods)."""
    return [RunSpec(m, d, s, tuple(common)) for s in seeds for d in data for m in methods]


@dataclass
class Suite:
    """A suite file's content (``benchmarks/suites/NAME.yaml``)."""

    name: str
    path: Path
    methods: list[Any]
    data: list[Any] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    overrides: list[str] = field(default_factory=list)
    out: str | None = None
    parallel: int | None = None
    timeout: float | None = None
    description: str = ""


def find_suite(name: str, roots: Sequence[Path] = ()) -> Path:
    """``NAME`` -> ``benchmarks/suites/NAME.yaml`` under the working directory or the source tree; a path as it
    is.
    """
    path = Path(name).expanduser()
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if path.is_file():
            return path
        raise BenchError(f"suite={name}: no such file")
    from pyagc.cli.bench_machine import source_root

    tried = []
    for root in [*roots, Path.cwd(), source_root()]:
        candidate = root / "benchmarks" / "suites" / f"{name}.yaml"
        tried.append(str(candidate))
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for r in [Path.cwd(), source_root()] for p in (r / "benchmarks" / "suites").glob("*.yaml")})
    raise BenchError(f"suite={name}: not found (tried {', '.join(tried)}); suites: {', '.join(known) or 'none'}")


def load_suite(name: str) -> Suite:
    """Read a suite file (YAML): ``methods`` (required), ``data``, ``seeds``, ``overrides``, ``out``,
    ``parallel``, ``timeout``, ``description``.
    """
    import yaml

    path = find_suite(name)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise BenchError(f"suite {path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict) or not raw.get("methods"):
        raise BenchError(f"suite {path}: needs a `methods:` list")
    unknown = set(raw) - {"methods", "data", "seeds", "overrides", "out", "parallel", "timeout", "description"}
    if unknown:
        raise BenchError(f"suite {path}: unknown keys {sorted(unknown)}")

    def as_list(value: Any) -> list[Any]:
        if value is None:
            return []
        return list(value) if isinstance(value, (list, tuple)) else split_list(str(value))

    overrides = raw.get("overrides") or []
    if isinstance(overrides, str):
        overrides = overrides.split()
    return Suite(
        name=path.stem,
        path=path,
        methods=as_list(raw["methods"]),
        data=as_list(raw.get("data")),
        seeds=parse_seeds(raw.get("seeds", [0])),
        overrides=[str(o) for o in overrides],
        out=raw.get("out"),
        parallel=raw.get("parallel"),
        timeout=raw.get("timeout"),
        description=str(raw.get("description") or "").strip(),
    )
