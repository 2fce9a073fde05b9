"""The entry points answer ``--help`` and reject bad overrides without importing torch (issue 24, item 4)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
sys.argv = ["{prog}", *{args!r}]
import {module} as entry
try:
    entry.main()
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "pytorch_lightning", "torchvision", "torch_geometric") if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
"""


@pytest.mark.parametrize(
    "module,prog,args",
    [
        ("pyagc.cli.train", "pyagc-train", ["--help"]),
        ("pyagc.cli.train", "pyagc-train", ["head=no_such_head"]),
        ("pyagc.cli.evaluate", "pyagc-eval", ["--help"]),
        ("pyagc.cli.predict", "pyagc-predict", ["--help"]),
    ],
)
def test_help_and_config_errors_do_not_import_torch(module: str, prog: str, args: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(prog=prog, args=args, module=module)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "HEAVY=" in out.stdout, out.stderr
    heavy = out.stdout.split("HEAVY=")[-1].strip()
    assert heavy == "", f"{prog} {' '.join(args)} imported {heavy}"
    if args == ["--help"]:
        assert "Powered by Hydra" in out.stdout or "== Config ==" in out.stdout
    else:
        assert "no_such_head" in out.stderr and "Available options" in out.stderr


def test_names_moved_to_the_run_modules_still_import_from_the_entry_points() -> None:
    from pyagc.cli.experiment import run as run_impl
    from pyagc.cli.predict import load_trained
    from pyagc.cli.prediction import load_trained as load_impl
    from pyagc.cli.train import RunState, run

    assert run is run_impl and load_trained is load_impl and RunState.__name__ == "RunState"
    with pytest.raises(AttributeError):
        from pyagc.cli import train

        train.no_such_name  # noqa: B018
