"""One anchor run of ``pyagc-bench`` (``LIBRARY:NAME``), in pyagc's environment, written like a ``pyagc-train`` run.

    python -m pyagc.cli.bench_anchor_run --library sklearn --method kmeans --run-dir DIR -- data=iris seed=0 ...

The overrides are composed with pyagc's own configs (``configs/train.yaml``), so the data are loaded and
preprocessed exactly as ``pyagc-train`` with the same overrides would; the features go to the library's adapter
(:mod:`pyagc.cli.bench_anchors` describes the protocol) in its own interpreter, and its labels are scored here with
:mod:`pyagc.metrics` into ``DIR/metrics.json``: ACC / NMI / ARI / F1 against the data's labels, the internal scores
on the input features (``silhouette`` ... and ``input_silhouette`` ...: the anchor's embedding is the input),
``time_s`` (``fit``: the adapter's own fit time; ``adapter``: its process; ``total``) and the peak memory the
adapter reports for its process.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "prepare_inputs", "score"]


def _compose(overrides: Sequence[str], run_dir: Path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from pyagc.cli.build import config_dir

    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose(config_name="train", overrides=[*overrides, f"paths.output_dir={run_dir}"])


def _section(cfg: Any, key: str) -> Any:
    from omegaconf import OmegaConf

    try:
        return OmegaConf.to_container(cfg[key], resolve=True) if key in cfg else None
    except Exception:  # an interpolation that only resolves inside a Hydra run
        return OmegaConf.to_container(cfg[key], resolve=False)


def prepare_inputs(overrides: Sequence[str], run_dir: Path) -> tuple[dict[str, Any], Any, Any, Any]:
    """Compose the config, load and preprocess the data as ``pyagc-train`` does, and write ``run_dir/inputs.npz``.
    Returns (the inputs, the features, the labels or ``None``, the data module).
    """
    import numpy as np
    import torch

    from pyagc.cli.build import instantiate, resolve_n_clusters

    cfg = _compose(overrides, run_dir)
    threads = int(cfg.threads) if cfg.get("threads") else None
    if threads:
        torch.set_num_threads(threads)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    if getattr(datamodule, "is_graph", False):
        raise ValueError(
            f"anchors take feature vectors; {datamodule.name} is a graph (its node features would "
            "be clustered without the graph)"
        )
    x = datamodule.x.detach().cpu().numpy().reshape(datamodule.n_samples, -1).astype(np.float32)
    y = None if datamodule.y is None else datamodule.y.detach().cpu().numpy()
    params = {k: _section(cfg, k) for k in ("model", "encoder", "head", "data")}
    inputs = {
        "n_clusters": resolve_n_clusters(cfg, datamodule),
        "seed": int(cfg.seed),
        "threads": threads or 0,
        "params": params,
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    np.savez(
        run_dir / "inputs.npz",
        x=x,
        n_clusters=inputs["n_clusters"],
        seed=inputs["seed"],
        threads=inputs["threads"],
        params=json.dumps(params, default=str),
    )
    return inputs, x, y, datamodule


def score(x: Any, y: Any, labels: Any) -> dict[str, Any]:
    """Pyagc's scores of ``labels``: external ones when there are labels ``y``, internal ones on ``x``."""
    import numpy as np

    from pyagc.metrics.external import external_metrics
    from pyagc.metrics.internal import input_space_metrics, internal_metrics

    labels = np.asarray(labels).astype(np.int64).ravel()
    if len(labels) != len(x):
        raise ValueError(f"the adapter returned {len(labels)} labels for {len(x)} rows")
    out: dict[str, Any] = {"n_samples": len(x), "n_clusters_found": len(np.unique(labels[labels >= 0]))}
    if y is not None:
        keep = y >= 0
        out.update(external_metrics(y[keep], labels[keep]))
    out.update(internal_metrics(x, labels, sample_size=5000, seed=0))
    out.update(input_space_metrics(x, labels))
    return out


def _last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    raise ValueError("the adapter printed no JSON record as its last line")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one anchor method on one data config and print its JSON record; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m pyagc.cli.bench_anchor_run", description=__doc__.split("\n")[0])
    parser.add_argument("--library", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    import numpy as np

    from pyagc.cli.bench_anchors import adapter_path, anchor_python
    from pyagc.cli.bench_process import run_process

    run_dir: Path = args.run_dir.resolve()
    python = anchor_python(args.library)
    adapter = adapter_path(args.library, args.method)
    inputs, x, y, datamodule = prepare_inputs(args.overrides, run_dir)
    labels_path = run_dir / "labels.npy"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if inputs["threads"]:
        env["OMP_NUM_THREADS"] = str(inputs["threads"])
    cmd = [
        python,
        str(adapter),
        "--method",
        args.method,
        "--inputs",
        str(run_dir / "inputs.npz"),
        "--out",
        str(labels_path),
    ]
    print(f"[pyagc-bench] anchor {args.library}:{args.method}: {' '.join(cmd)}", flush=True)
    result = run_process(cmd, run_dir / "adapter.log", env=env)
    log = (run_dir / "adapter.log").read_text(encoding="utf-8", errors="replace")
    print(log, end="" if log.endswith("\n") else "\n", flush=True)
    if result.returncode != 0:
        raise SystemExit(f"the {args.library} adapter failed (exit {result.returncode}); see above")
    reply = _last_json(log)
    metrics = {"n_clusters": int(inputs["n_clusters"]), **score(x, y, np.load(labels_path))}
    fit = reply.get("time_s", {}).get("fit") if isinstance(reply.get("time_s"), dict) else None
    import resource

    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    metrics.update(
        {
            "experiment": f"{args.library}:{args.method}",
            "seed": int(inputs["seed"]),
            "data": datamodule.name,
            "head": f"{args.library}:{args.method}",
            "encoder": None,
            "library": reply.get("library", args.library),
            "library_version": reply.get("version"),
            "anchor_python": python,
            "adapter": str(adapter),
            "anchor_params": reply.get("params"),
            "time_s": {
                "fit": round(float(fit), 3) if fit is not None else None,
                "adapter": round(result.wall_s, 3),
                "total": round(time.perf_counter() - start, 3),
            },
            # the adapter's own peak (this process only loaded and scored the data); wait4's figure for the adapter would
            # include this process's memory from before its exec
            "peak_rss_mb": reply.get("peak_rss_mb"),
            "runner_peak_rss_mb": own_peak,
        }
    )
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n", encoding="utf-8")
    shown = "  ".join(f"{k.upper()} {metrics[k]:.4f}" for k in ("acc", "nmi", "ari", "f1") if k in metrics)
    print(
        f"[pyagc] {args.library}:{args.method} on {datamodule.name}: {shown or 'no labels to score'}  "
        f"(fit {metrics['time_s']['fit']} s)",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
