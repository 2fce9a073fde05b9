"""``pyagc-bench``: the tiny iris suite end to end (records, tables, figure, resume), a failed method next to an
anchor (``sklearn:kmeans`` on pyagc's own preprocessed features), the report's determinism, and the pieces
(plan order, overrides, keys, tables' statistics) without processes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pyagc.cli import bench
from pyagc.cli.bench_plan import (
    BenchError,
    Method,
    make_data,
    make_methods,
    merge_overrides,
    parse_seeds,
    plan_runs,
    resolve_method,
    split_list,
)
from pyagc.cli.bench_records import (
    INTERNAL,
    group_records,
    headline_metrics,
    read_records,
    value,
)
from pyagc.cli.bench_tables import (
    README_END,
    README_START,
    render_readme_block,
    render_results,
    replace_readme_block,
    write_report,
)

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "benchmarks" / "suites" / "iris_smoke.yaml"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The iris smoke suite (k-means and DEC heads x 2 seeds, 1 + 1 epochs of a 16-unit MLP), two runs at once."""
    out = tmp_path_factory.mktemp("bench") / "smoke"
    mp = pytest.MonkeyPatch()
    mp.setenv("OMP_NUM_THREADS", "1")
    try:
        code = bench.main([f"suite={SMOKE}", f"out={out}", "--parallel", "2"])
    finally:
        mp.undo()
    return out, code


def test_smoke_suite_writes_records_tables_and_figure(smoke):
    out, code = smoke
    records = read_records(out / "results.jsonl")
    assert code == 0, [r.get("error") for r in records]
    assert len(records) == 4 and all(r["status"] == "ok" for r in records)
    assert sorted((r["method"], r["seed"]) for r in records) == [("dec", 0), ("dec", 1), ("kmeans", 0), ("kmeans", 1)]
    r = records[0]
    for key in ("method", "data", "seed", "wall_s", "device", "machine", "overrides", "command", "key", "metrics"):
        assert key in r, key
    for key in ("acc", "nmi", "ari", "f1", "time_s", "peak_rss_mb"):
        assert key in r["metrics"], key
    assert {"pretrain", "joint", "fit", "total"} <= set(r["metrics"]["time_s"])
    assert set(r["machine"]["cpu_flags"]) >= {"amx_bf16", "avx512_bf16", "avx2"} or not r["machine"]["cpu_flags"]
    assert r["machine"]["torch"] and r["machine"]["pyagc"]
    assert "threads=1" in r["overrides"] and f"seed={r['seed']}" in r["overrides"]
    # each run in its own folder, the method's pairing applied (head=dec with model=dec)
    dec = next(x for x in records if x["method"] == "dec")
    assert dec["overrides"][:2] == ["head=dec", "model=dec"] and (out / dec["run_dir"] / "metrics.json").is_file()
    md = (out / "results.md").read_text()
    assert "## Mean ± std over seeds" in md and "## Runs" in md and " ± " in md
    assert (out / "results.png").stat().st_size > 5000


def test_summary_is_numpy_mean_and_std_over_the_records(smoke):
    # ClustPy's evaluate_multiple_datasets: per data set and method, mean and np.std over the repetitions, runtime
    out, _ = smoke
    records = read_records(out / "results.jsonl")
    md = (out / "results.md").read_text()
    for method in ("kmeans", "dec"):
        runs = [r for r in records if r["method"] == method]
        for metric in ("acc", "nmi", "ari", "f1"):
            vals = [r["metrics"][metric] for r in runs]
            cell = f"{np.mean(vals):.4f} ± {np.std(vals):.4f}"
            row = next(line for line in md.splitlines() if line.startswith(f"| `{method}` | iris | 2 |"))
            assert cell in row, (method, metric, cell, row)
        group = next(g for g in group_records(records) if g.method == method)
        fit = [r["metrics"]["time_s"]["fit"] for r in runs]
        assert group.mean_std("fit_s") == pytest.approx((np.mean(fit), np.std(fit)))
        assert group.values("wall_s") == [r["wall_s"] for r in sorted(runs, key=lambda r: r["seed"])]


def test_rerun_skips_finished_runs(smoke, capsys):
    out, _ = smoke
    before = (out / "results.jsonl").read_bytes()
    md = (out / "results.md").read_bytes()
    assert bench.main([f"suite={SMOKE}", f"out={out}"]) == 0
    assert "4 already done, 0 to run" in capsys.readouterr().out
    assert (out / "results.jsonl").read_bytes() == before and (out / "results.md").read_bytes() == md


def test_report_is_deterministic(smoke, tmp_path, capsys):
    out, _ = smoke
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(out / "results.jsonl", results / "iris_smoke.jsonl")
    assert bench.main(["report", f"results={results}"]) == 0
    first = {p.name: p.read_bytes() for p in results.glob("*.md")}
    assert set(first) == {"iris_smoke.md", "README.md"}
    assert "wrote" in capsys.readouterr().out
    assert write_report(results) == []  # nothing changed: nothing rewritten
    for p in results.glob("*.md"):
        p.unlink()
    write_report(results)
    assert {p.name: p.read_bytes() for p in results.glob("*.md")} == first
    assert "[iris_smoke](iris_smoke.md)" in first["README.md"].decode()
    # a results file names its suite: the page quotes the suite's description when benchmarks/suites/ has it
    (tmp_path / "suites").mkdir()
    shutil.copy(SMOKE, tmp_path / "suites" / "iris_smoke.yaml")
    assert write_report(results) == [results / "iris_smoke.md"]
    assert "a smoke test, not a measurement" in (results / "iris_smoke.md").read_text()
    # the README block from the readme_* results, between its markers
    shutil.copy(out / "results.jsonl", results / "readme_iris.jsonl")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{README_START}\nold\n{README_END}\n\nafter\n")
    assert bench.main(["report", f"results={results}", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and "after" in text and "[readme_iris](benchmarks/results/readme_iris.md)" in text
    assert text.count(README_START) == 1
    # publish merges a bench folder into a results file (a run's latest record replaces its earlier one)
    target = bench.publish(out, "smoke", results)
    assert len(read_records(target)) == 4
    bench.publish(out, "smoke", results)
    assert len(read_records(target)) == 4 and (results / "smoke.md").is_file()


def test_failed_method_is_recorded_and_anchor_runs_on_pyagcs_features(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    suite = tmp_path / "mixed.yaml"
    suite.write_text(
        "methods:\n  - sklearn:kmeans\n"
        "  - {name: broken, method: dec, overrides: [head.no_such_key=1]}\n"
        "data: [iris]\nseeds: [0]\noverrides: [threads=1, plot=false]\n"
    )
    out = tmp_path / "out"
    assert bench.main([f"suite={suite}", f"out={out}", "--parallel", "2"]) == 1
    records = {r["method"]: r for r in read_records(out / "results.jsonl")}
    broken, anchor = records["broken"], records["sklearn:kmeans"]
    assert broken["status"] == "failed" and broken["returncode"] != 0
    assert "no_such_key" in broken["error_line"] and "no_such_key" in broken["error"]
    assert anchor["status"] == "ok" and anchor["kind"] == "anchor"
    m = anchor["metrics"]
    assert m["library"] == "sklearn" and m["time_s"]["fit"] is not None and m["peak_rss_mb"] > 0
    md = (out / "results.md").read_text()
    assert "## Failed runs" in md and "`broken` on iris, seed 0" in md

    # the adapter saw the features exactly as pyagc-train's data config makes them; scored by pyagc.metrics
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from sklearn.cluster import KMeans

    from pyagc.cli.build import config_dir, instantiate
    from pyagc.metrics import clustering_accuracy

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["data=iris", "seed=0", "paths.output_dir=unused"])
    dm = instantiate(cfg.data)
    dm.setup("fit")
    inputs = np.load(out / anchor["run_dir"] / "inputs.npz")
    assert np.array_equal(inputs["x"], dm.x.numpy()) and "y" not in inputs.files
    labels = KMeans(n_clusters=3, n_init=10, random_state=0).fit_predict(inputs["x"])
    assert m["acc"] == pytest.approx(clustering_accuracy(dm.y.numpy(), labels))


def test_plan_alternates_methods_and_keys_ignore_derived_overrides():
    methods = make_methods(["kmeans", "dec", {"name": "dec2", "method": "dec", "overrides": ["head.tol=0"]}])
    plan = plan_runs(methods, make_data(["iris", "wine"]), [0, 1], ["plot=false"])
    assert [(s.seed, s.data.label, s.method.label) for s in plan[:4]] == [
        (0, "iris", "kmeans"),
        (0, "iris", "dec"),
        (0, "iris", "dec2"),
        (0, "wine", "kmeans"),
    ]
    s = plan[2]
    assert s.user_overrides == ["head.tol=0", "data=iris", "plot=false"]
    assert s.overrides(["threads=1"])[-2:] == ["seed=0", "threads=1"]
    assert json.loads(s.key)["overrides"] == s.user_overrides  # the threads and the run folder are not in it
    assert s.folder(Path("o")) == Path("o/runs/dec2/iris/seed0")
    with pytest.raises(BenchError, match="twice"):
        make_methods(["dec", "dec"])


def test_methods_resolve_to_experiments_heads_and_anchors():
    assert resolve_method(Method("x", "dec_digits")).resolved == ("experiment=dec_digits",)
    assert resolve_method(Method("x", "experiment=vade_mnist")).kind == "experiment"
    assert resolve_method(Method("x", "vade")).kind == "head"
    anchor = resolve_method(Method("clustpy:dec", "clustpy:dec"))
    assert anchor.kind == "anchor" and anchor.library == "clustpy" and anchor.anchor_name == "dec"
    with pytest.raises(BenchError, match="(?s)neither.*experiments: .*dec_digits"):
        resolve_method(Method("x", "decc"))
    from pyagc.cli.pairing import pairing_overrides

    assert pairing_overrides("vade") == ["head=vade", "model=vade", "encoder=mlp_vae", "data.scaling=minmax"]
    assert pairing_overrides("kmeans") == ["head=kmeans"]  # no model/kmeans.yaml: the default model
    assert "encoder=gcn" in pairing_overrides("dmon")
    assert pairing_overrides("contrastive") == ["head=contrastive", "model=contrastive", "model/augmentation=tabular"]


def test_command_line_parsing(tmp_path):
    assert split_list("a,b[1,2],c") == ["a", "b[1,2]", "c"]
    assert parse_seeds("0-2,5") == [0, 1, 2, 5] and parse_seeds([3]) == [3]
    with pytest.raises(BenchError):
        parse_seeds("0,0")
    assert merge_overrides(["a=1", "b=2"], ["+a=3"]) == ["b=2", "+a=3"]
    opts = bench.parse_args([f"suite={SMOKE}", "seeds=3", "model.epochs=2", "-j", "2", f"out={tmp_path}"])
    assert opts.methods == ["kmeans", "dec"] and opts.seeds == [3] and opts.parallel == 2
    assert opts.overrides[-1] == "model.epochs=2" and "model.epochs=1" in opts.overrides  # the command line last
    with pytest.raises(BenchError, match="seeds="):
        bench.parse_args(["methods=dec", "seed=1"])
    assert bench.main(["methods=nosuchmethod", f"out={tmp_path}"]) == 2
    assert bench.main(["--help"]) == 0


def test_tables_use_internal_scores_without_labels():
    def rec(method, seed, sil):
        return {
            "method": method,
            "data": "file",
            "seed": seed,
            "status": "ok",
            "key": f"{method}{seed}",
            "wall_s": 1.0,
            "metrics": {
                "input_silhouette": sil,
                "input_davies_bouldin": 1.0,
                "input_calinski_harabasz": 10.0,
                "time_s": {"fit": 0.5},
            },
        }

    records = [
        rec("a", 0, 0.2),
        rec("a", 1, 0.4),
        rec("b", 0, 0.3),
        {
            "method": "b",
            "data": "file",
            "seed": 1,
            "status": "failed",
            "key": "b1",
            "returncode": 1,
            "error_line": "ValueError: boom",
            "metrics": {},
        },
    ]
    assert headline_metrics(records) == list(INTERNAL)
    md = render_results(records, "t")
    assert "0.3000 ± 0.1000" in md and "never as accuracy" in md and "`ValueError: boom`" in md
    assert value(records[0], "fit_s") == 0.5 and value(records[3], "acc") is None
    block = render_readme_block([])
    assert replace_readme_block(f"a\n{README_START}\nx\n{README_END}\nb", block).startswith(f"a\n{README_START}")
    with pytest.raises(ValueError, match="no"):
        replace_readme_block("no markers", block)


def test_anchor_setup_and_interpreter(tmp_path, monkeypatch, capsys):
    from pyagc.cli.bench_anchors import adapter_path, anchor_python, setup_commands

    monkeypatch.setenv("PYAGC_ANCHOR_HOME", str(tmp_path / "anchors"))
    monkeypatch.delenv("PYAGC_ANCHOR_CLUSTPY", raising=False)
    assert anchor_python("sklearn") == sys.executable  # a pyagc dependency: pyagc's own interpreter
    with pytest.raises(BenchError, match="setup-anchor clustpy"):
        anchor_python("clustpy")
    cmds = setup_commands("clustpy")
    assert cmds[0][1:3] == ["-m", "venv"] and cmds[0][-1] == str(tmp_path / "anchors" / "clustpy")
    assert cmds[-1][-2:] == ["clustpy", "numpy"]
    assert bench.main(["setup-anchor", "clustpy", "--dry-run"]) == 0
    assert "-m venv" in capsys.readouterr().out and not (tmp_path / "anchors").exists()
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    monkeypatch.setenv("PYAGC_ANCHOR_CLUSTPY", str(venv))
    assert anchor_python("clustpy") == str(venv / "bin" / "python")
    assert adapter_path("sklearn", "kmeans").name == "sklearn_adapter.py"
    with pytest.raises(BenchError, match="no adapter"):
        adapter_path("nosuchlib", "x")


def test_bench_does_not_import_torch():
    code = "import sys, pyagc.cli.bench as b; b.main(['--help']); assert 'torch' not in sys.modules, 'torch'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
