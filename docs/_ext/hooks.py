"""MkDocs hooks for the pyagc site: the README and ``benchmarks/`` stay the single source of what they say.

* ``<!-- README: Title -->`` on a page is replaced by the body of the README section with that heading, its
  subsections one level up; ``<!-- README: Title (intro) -->`` stops at the first subsection,
  ``<!-- README: Title (without: Sub; Other) -->`` leaves those subsections out (they have pages of their own). A
  heading that is not in the README fails the build, so renaming a README section cannot silently empty a page.
* every ``benchmarks/*.md`` but the README gets a page, ``benchmarks/<name>.md``, that includes the file with
  pymdownx.snippets, listed under "Benchmarks" > "Results" in the navigation (title: the file's first heading);
* every public subpackage of pyagc (not ``pyagc.cli``, ``pyagc.utils``) gets an API page, ``api/<package>.md``:
  ``::: pyagc.<package>`` with the names in its ``__all__`` (see ``griffe_rst.api_layout``), listed under
  "API reference"; ``<!-- API packages -->`` becomes a table of them;
* inline code naming one of those files (``benchmarks/faults.md``, or ``faults.md`` on a benchmarks page) or a
  tutorial (``tutorials/quickstart.py``, or ``quickstart.py`` on a tutorials page) links to its page.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import griffe
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("pyagc_docs_griffe_rst", Path(__file__).with_name("griffe_rst.py"))
griffe_rst = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(griffe_rst)
API_ORDER = ("clusters", "functional", "encoders", "models", "data", "metrics", "som", "callbacks", "estimators")
_API: dict[str, Any] = {}  # this build's API layout (griffe_rst.api_layout) and package summaries
BENCHMARKS = ROOT / "benchmarks"
TUTORIALS = ("quickstart", "custom_head", "som_tutorial")
_README_TAG = re.compile(
    r"^<!-- README: (?P<title>.+?)"
    r"(?: \((?:(?P<intro>intro)|without: (?P<without>[^)]+))\))? -->[ \t]*$",
    re.M,
)
_HEADING = re.compile(r"^(#{1,6}) +(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def benchmark_files() -> list[Path]:
    return sorted(p for p in BENCHMARKS.glob("*.md") if p.name != "README.md")


def benchmark_titles() -> dict[Path, str]:
    """Each benchmark file's navigation title: its first heading (the file name added where two are alike)."""
    titles = {}
    for path in benchmark_files():
        heading = next(
            (m.group(2) for line in path.read_text(encoding="utf-8").splitlines() if (m := _HEADING.match(line))),
            path.stem,
        )
        titles[path] = heading.replace("`", "")
    counts: dict[str, int] = {}
    for title in titles.values():
        counts[title] = counts.get(title, 0) + 1
    return {path: f"{title} ({path.stem})" if counts[title] > 1 else title for path, title in titles.items()}


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Fill the navigation's "Benchmarks" > "Results" section with one page per benchmark file, and "API reference"
    with one page per subpackage."""
    pkg = griffe.load("pyagc", search_paths=[str(ROOT)], resolve_aliases=False)
    layout = griffe_rst.api_layout(pkg)
    order = {f"pyagc.{name}": i for i, name in enumerate(API_ORDER)}
    _API["layout"] = dict(sorted(layout.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))
    _API["summary"] = {
        path: (
            pkg[path[len("pyagc.") :]].docstring.value.split("\n")[0] if pkg[path[len("pyagc.") :]].docstring else ""
        )
        for path in layout
    }
    for entry in config.nav or []:
        if isinstance(entry, dict) and "API reference" in entry:
            section = [
                item
                for item in entry["API reference"]
                if not (
                    isinstance(item, dict)
                    and any(str(v).startswith("api/") and v != "api/index.md" for v in item.values())
                )
            ]
            entry["API reference"] = section + [{path: _api_uri(path)} for path in _API["layout"]]
    for entry in config.nav or []:
        if isinstance(entry, dict) and "Benchmarks" in entry:
            section = entry["Benchmarks"]
            pages = [{title: f"benchmarks/{path.name}"} for path, title in benchmark_titles().items()]
            for i, item in enumerate(section):
                if isinstance(item, dict) and "Results" in item:
                    section[i] = {"Results": pages}
                    break
            else:
                section.append({"Results": pages})
    return config


def _api_uri(package: str) -> str:
    return f"api/{package.split('.', 1)[1]}.md"


def api_page(package: str, page: dict[str, Any]) -> str:
    """The Markdown of one subpackage's API page: its docstring and exports, rendered by mkdocstrings."""
    members = "[" + ", ".join(page["members"]) + "]" if page["members"] else "false"
    text = [
        f"::: {package}",
        "    options:",
        "      heading_level: 1",
        "      show_root_full_path: true",
        f"      members: {members}",
        "",
    ]
    text += [line for target in page["explicit"] for line in (f"::: {target}", "")]
    elsewhere = [
        f"[`{name}`][{anchor}]"
        for name, anchor in page["anchors"].items()
        if anchor and not anchor.startswith(package + ".") and anchor not in page["explicit"]
    ]
    if elsewhere:
        text += [f"`{package}` also exports, from where they are documented: {', '.join(elsewhere)}.", ""]
    return "\n".join(text)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for package, page in _API["layout"].items():
        uri = _api_uri(package)
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, content=api_page(package, page)))
    for path in benchmark_files():
        uri = f"benchmarks/{path.name}"
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, content=f'--8<-- "benchmarks/{path.name}"\n'))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if "<!-- API packages -->" in markdown:
        rows = [f"| [`{path}`]({_api_uri(path)[len('api/') :]}) | {_API['summary'][path]} |" for path in _API["layout"]]
        markdown = markdown.replace("<!-- API packages -->", "\n".join(["| package | |", "|---|---|", *rows]))
    if "<!-- README:" not in markdown:
        return markdown
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return _README_TAG.sub(
        lambda m: readme_section(
            readme,
            m.group("title"),
            bool(m.group("intro")),
            page.file.src_uri,
            without=[t.strip() for t in (m.group("without") or "").split(";") if t.strip()],
        ),
        markdown,
    )


def readme_section(
    readme: str, title: str, intro_only: bool = False, where: str = "", without: list[str] | None = None
) -> str:
    """The body of the README section headed ``title``, its subsections moved up to level 2; ``without``: the
    subsections (with theirs) to leave out."""
    lines = readme.splitlines()
    start = level = None
    in_fence = False
    headings: list[tuple[int, int, str]] = []
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if m:
            headings.append((i, len(m.group(1)), m.group(2)))
    for i, lvl, text in headings:
        if text == title:
            start, level = i, lvl
            break
    if start is None:
        raise PluginError(
            f"{where}: the README has no section headed {title!r} "
            f"(its headings: {', '.join(t for _, _, t in headings)})"
        )
    end = len(lines)
    for i, lvl, _ in headings:
        if i > start and (lvl <= level or intro_only):
            end = i
            break
    heading_lines = {i for i, _, _ in headings}
    skipped: set[int] = set()
    for name in without or []:
        found = [(i, lvl) for i, lvl, text in headings if start < i < end and text == name]
        if not found:
            raise PluginError(f"{where}: the README section {title!r} has no subsection headed {name!r}")
        i, lvl = found[0]
        stop = next((j for j, l2, _ in headings if j > i and l2 <= lvl), len(lines))
        skipped.update(range(i, min(stop, end)))
    body = []
    for i in range(start + 1, end):
        if i in skipped:
            continue
        line = lines[i]
        if i in heading_lines:
            hashes, text = _HEADING.match(line).groups()
            line = "#" * max(2, len(hashes) - level + 1) + " " + text
        body.append(line)
    return "\n".join(body).strip("\n")


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Inline code naming a benchmark file or a tutorial links to its page."""
    targets: dict[str, str] = {}
    for path in benchmark_files():
        targets[f"benchmarks/{path.name}"] = f"benchmarks/{path.name}"
        if page.file.src_uri.startswith("benchmarks/"):
            targets[path.name] = f"benchmarks/{path.name}"
    for name in TUTORIALS:
        targets[f"tutorials/{name}.py"] = f"tutorials/{name}.md"
        if page.file.src_uri.startswith("tutorials/"):
            targets[f"{name}.py"] = f"tutorials/{name}.md"

    def link(m: re.Match) -> str:
        target = files.get_file_from_path(targets[m.group(1)])
        if target is None or target.src_uri == page.file.src_uri:
            return m.group(0)
        return f'<a href="{get_relative_url(target.url, page.url)}">{m.group(0)}</a>'

    pattern = re.compile(r"<code>(" + "|".join(map(re.escape, targets)) + r")</code>")
    return _outside_links(html, lambda part: pattern.sub(link, part))


def _outside_links(html: str, fn) -> str:
    """Apply ``fn`` to the HTML outside ``<a>`` elements and ``<pre>`` blocks."""
    parts = re.split(r"(<a\b.*?</a>|<pre\b.*?</pre>)", html, flags=re.S)
    return "".join(part if i % 2 else fn(part) for i, part in enumerate(parts))
