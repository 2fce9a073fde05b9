"""The documentation site: ``mkdocs build --strict`` passes (a broken link, cross-reference or docstring fails it),
the API reference renders the docstrings and every exported name, the tutorials and benchmarks are on their pages.

Needs the ``docs`` extra (``pip install -e ".[docs]"``; ``dev`` includes it), else the build tests skip.
"""

from __future__ import annotations

import html
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ("quickstart", "custom_head", "som_tutorial")


def _api_packages() -> list[str]:
    """The subpackages the API reference documents (docs/_ext/griffe_rst.py): all but pyagc.cli and pyagc.utils."""
    return sorted(
        p.parent.name
        for p in (ROOT / "pyagc").glob("*/__init__.py")
        if p.parent.name not in ("cli", "utils") and not p.parent.name.startswith("_")
    )


def _docs_tools_missing() -> str | None:
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            importlib.import_module(module)
        except ImportError:
            return f'{module} is not installed: the docs extra (pip install -e ".[docs]") builds the site'
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    missing = _docs_tools_missing()
    if missing:
        pytest.skip(missing)
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


def _text(path: Path) -> str:
    """A page's visible text: tags dropped, entities decoded."""
    page = path.read_text(encoding="utf-8")
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_head_api_page_has_the_docstring(site):
    from pyagc.clusters import DECClusterHead

    page = site / "api" / "clusters" / "index.html"
    assert 'id="pyagc.clusters.DECClusterHead"' in page.read_text(encoding="utf-8")
    summary = inspect.getdoc(DECClusterHead).split("\n\n")[0]
    assert "Student-t" in summary
    assert _squash(summary) in _squash(_text(page))
    # its arguments are listed, the reST math became MathJax and the cross-references links
    argument = "update_interval: joint-training steps between refreshes"
    assert argument in inspect.getdoc(DECClusterHead)
    assert "joint-training steps between refreshes" in _text(page)
    assert ":math:" not in _text(page) and ":class:" not in _text(page)
    assert 'class="arithmatex"' in page.read_text(encoding="utf-8")


def test_heads_page_has_the_papers(site):
    text = _text(site / "heads" / "index.html")
    for paper in ("https://arxiv.org/abs/1511.06335", "https://jmlr.org/papers/v24/20-998.html"):
        assert paper in text


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_page_has_the_code(site, name):
    source = (ROOT / "tutorials" / f"{name}.py").read_text(encoding="utf-8")
    text = _text(site / "tutorials" / name / "index.html")
    assert source.strip() in text


def test_every_export_is_in_the_api_reference(site):
    ids = set()
    for page in (site / "api").glob("*/index.html"):
        ids.update(re.findall(r'id="(pyagc\.[\w.]+)"', page.read_text(encoding="utf-8")))
    missing = []
    for package in _api_packages():
        module = importlib.import_module(f"pyagc.{package}")
        assert (site / "api" / package / "index.html").exists(), f"no API page for pyagc.{package}"
        for name in module.__all__:
            value = getattr(module, name)
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue  # constants (tables of names) are documented where they are used
            # on its package's page, or by its definition's path (explicitly rendered, or on its home package's page)
            names = {f"pyagc.{package}.{name}", f"{value.__module__}.{value.__qualname__}"}
            names |= {
                f"pyagc.{other}.{name}" for other in _api_packages() if value.__module__.startswith(f"pyagc.{other}.")
            }
            if not names & ids:
                missing.append(f"pyagc.{package}.{name}")
    assert not missing, f"exported but not in the API reference: {missing}"


def test_every_benchmark_file_has_a_page(site):
    files = sorted(p for p in (ROOT / "benchmarks").glob("*.md") if p.name != "README.md")
    assert files
    for path in files:
        page = site / "benchmarks" / path.stem / "index.html"
        assert page.exists(), f"no page for {path}"
        title = next(line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#"))
        assert _squash(title.lstrip("#").replace("`", "")) in _squash(_text(page))
        assert not (ROOT / "docs" / "benchmarks" / path.name).exists(), "benchmarks/ is the single source"


def test_installation_page_lists_every_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    page = (ROOT / "docs" / "installation.md").read_text(encoding="utf-8")
    assert not [name for name in extras if f"| `{name}` |" not in page]
