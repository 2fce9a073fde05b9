"""Griffe extension: pyagc's docstrings are Google style with Sphinx (reST) inline markup; this turns that markup
into the Markdown that mkdocstrings renders, before the docstrings are parsed. Only the docstrings' text changes.

* ``:math:`x``` -> ``\\(x\\)``, a ``.. math::`` block -> ``$$ ... $$`` (pymdownx.arithmatex + MathJax);
* ``:class:`~pyagc.x.Y```, ``:func:``, ``:meth:``, ``:attr:``, ``:mod:``, ``:data:``, ``:obj:``, ``:exc:``: the name is
  resolved as Python would from the docstring's scope (the object, its class, its module and the module's imports).

  - an object a package exports (a name in ``pyagc.<package>.__all__``, or the package itself) becomes a
    cross-reference ``[`Y`][pyagc.<package>.Y]``: the API reference must render it, and ``mkdocs build --strict``
    fails when it does not;
  - any other public pyagc object (a method, an attribute, a submodule) becomes an optional cross-reference: a link
    when the reference renders the object, inline code when it does not;
  - a private name, a name in ``pyagc.cli`` / ``pyagc.utils``, a value (``:obj:`None```) or another library's object
    becomes inline code;
  - a name that does not resolve at all (a stale reference) in a docstring that the API reference renders is a
    warning, so the strict build fails on it;
* ```text <https://...>`_`` -> ``[text](https://...)``;
* a docstring with numpydoc sections (``Parameters`` underlined with ``---``, as the scikit-learn-style estimators
  write them) is parsed as numpydoc, every other one as Google style;
* a line ending in ``::`` (a reST literal block follows) ends in ``:``.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import re
from typing import Any

from griffe import Alias, Docstring, Extension, Module, Object, Parser, get_logger, parse_numpy

logger = get_logger("griffe_rst")

_ROLE = re.compile(r":(?:py:)?(class|func|meth|attr|mod|data|obj|exc):`([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]*)`")
_MATH_BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)$")
_RST_LINK = re.compile(r"(?<![:\w])`([^`<]+?)\s*<(https?://[^>\s]+)>`__?")
_NUMPY_SECTION = re.compile(
    r"^[ \t]*(Parameters|Other Parameters|Returns|Yields|Raises|Attributes|Examples|Notes)"
    r"[ \t]*\n[ \t]*-{3,}[ \t]*$",
    re.M,
)
_LITERAL_BLOCK = re.compile(r"(\S)::$")
_NOT_RENDERED = ("cli", "utils")  # pyagc's subpackages that the API reference leaves out
_OTHER_LIBRARIES = (
    "torch",
    "numpy",
    "np",
    "sklearn",
    "scipy",
    "pl",
    "pytorch_lightning",
    "lightning",
    "torch_geometric",
    "matplotlib",
    "hydra",
    "omegaconf",
    "hdbscan",
    "IPython",
)


class RstToMarkdown(Extension):
    """Convert the reST roles and math directives of every pyagc docstring (see the module docstring)."""

    def __init__(self, package: str = "pyagc") -> None:
        super().__init__()
        self.package = package
        self.exported: dict[str, str] = {}  # canonical path -> the path the package exports it under
        self.packages: set[str] = set()

    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        if pkg.name != self.package:
            return
        self._index_exports(pkg)
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = self._convert(obj.docstring.value, obj, pkg)
                if _NUMPY_SECTION.search(obj.docstring.value):
                    _use_numpy_style(obj.docstring)

    def _index_exports(self, pkg: Module) -> None:
        layout = api_layout(pkg)
        self.packages.update(layout)
        for package, page in layout.items():
            for name, anchor in page["anchors"].items():
                self.exported[f"{package}.{name}"] = anchor
                self.exported[page["canonical"][name]] = anchor

    # -- conversion -------------------------------------------------------------------------------------------------
    def _convert(self, text: str, obj: Object, pkg: Module) -> str:
        text = _list_items(_math_blocks(text))
        text = _RST_LINK.sub(lambda m: f"[{m.group(1).strip()}]({m.group(2)})", text)
        text = _MATH_ROLE.sub(lambda m: r"\(" + m.group(1).strip() + r"\)", text)
        text = _ROLE.sub(lambda m: self._role(m.group(1), m.group(2), obj, pkg), text)
        return "\n".join(_LITERAL_BLOCK.sub(r"\1:", line) for line in text.split("\n"))

    def _role(self, kind: str, target: str, obj: Object, pkg: Module) -> str:
        target = target.strip()
        titled = re.match(r"^(.*?)\s*<([^>]+)>$", target)  # :class:`title <path>`
        title, target = (titled.group(1), titled.group(2)) if titled else (None, target)
        short = target.startswith("~")
        target = target.lstrip("~.")
        if title is None:
            title = target.rsplit(".", 1)[-1] if short else target
        if kind in ("func", "meth") and not title.endswith(")"):
            title += "()"
        code = f"`{title}`"
        if not re.fullmatch(r"[A-Za-z_][\w.]*", target) or target in ("None", "True", "False"):
            return code  # a value, :obj:`"pca"`
        if target.split(".")[0] in _OTHER_LIBRARIES or hasattr(builtins, target.split(".")[0]):
            return code
        path = _resolve(target, obj, pkg)
        found = _lookup(pkg, path) if path else None
        name = target.rsplit(".", 1)[-1]
        if kind != "mod" and found is not None and _is_module(found) and name in found.members:
            path = _final_path(found.members[name])  # :func:`densom`: the function, not its module
        if path is None:
            if not any(obj.path == p or obj.path.startswith(p + ".") for p in self.packages):
                return code  # the API reference does not render this docstring (pyagc.cli, pyagc.evaluation)
            logger.warning(
                "%s: the docstring's reference %s does not resolve to a pyagc object",
                _where(obj),
                f":{kind}:`{target}`",
            )
            return code
        if not path.startswith(pkg.path + ".") or any(part.startswith("_") for part in path.split(".")):
            return code
        if path.split(".")[1] in _NOT_RENDERED:
            return code
        if path in self.packages:
            return f"[{code}][{path}]"
        if kind != "mod" and path in self.exported:
            return f"[{code}][{self.exported[path]}]"
        parent, _, member = path.rpartition(".")
        if parent in self.exported:  # a member of an exported class: name it by the exported path
            path = f"{self.exported[parent]}.{member}"
        return f'<autoref identifier="{path}" optional><code>{title}</code></autoref>'


def _where(obj: Object) -> str:
    filepath = obj.filepath if not isinstance(obj.filepath, list) else obj.filepath[0]
    try:
        filepath = filepath.relative_to(filepath.cwd())
    except ValueError:
        pass
    return f"{filepath}:{obj.lineno or 1} ({obj.path})"


def api_packages(pkg: Module) -> list[Module]:
    """The subpackages the API reference renders: every public one but ``pyagc.cli`` and ``pyagc.utils``."""
    return [
        sub
        for sub in pkg.modules.values()
        if _is_package(sub) and sub.name not in _NOT_RENDERED and not sub.name.startswith("_")
    ]


def api_layout(pkg: Module) -> dict[str, dict[str, Any]]:
    """Where the API reference renders each exported name (the names in a subpackage's ``__all__``).

    For each subpackage: ``members`` (names rendered as members of ``::: pyagc.<package>``), ``explicit``
    (canonical paths rendered by their own ``:::``: an export that griffe cannot list as a member, because the package
    imports it lazily or because a submodule has the same name, ``from .densom import densom``), ``anchors`` (each
    name -> the identifier of its documentation) and ``canonical`` (each name -> the path of its definition). A name
    that another rendered subpackage defines and exports (``pyagc.clusters.kmeans`` once k-means lives elsewhere) is
    documented there only; its anchor points there.
    """
    packages = {sub.path: sub for sub in api_packages(pkg)}
    exports = {path: [str(name) for name in (sub.exports or _runtime_all(path))] for path, sub in packages.items()}
    canonical = {path: {name: _canonical(sub, name) for name in exports[path]} for path, sub in packages.items()}
    layout: dict[str, dict[str, Any]] = {}
    for path, sub in packages.items():
        page: dict[str, Any] = {"members": [], "explicit": [], "anchors": {}, "canonical": {}}
        for name in exports[path]:
            target = canonical[path][name]
            if target is None:
                continue
            page["canonical"][name] = target
            home = next(
                (
                    other
                    for other in packages
                    if other != path and target.startswith(other + ".") and name in exports[other]
                ),
                None,
            )
            if home is not None:
                page["anchors"][name] = None  # filled in below, from the home package
                continue
            member = sub.members.get(name)
            if member is None or _is_module(member):
                page["explicit"].append(target)
                page["anchors"][name] = target
            else:
                page["members"].append(name)
                page["anchors"][name] = f"{path}.{name}"
        layout[path] = page
    for path, page in layout.items():
        for name, anchor in page["anchors"].items():
            if anchor is None:
                target = page["canonical"][name]
                home = next(other for other in packages if other != path and target.startswith(other + "."))
                homes = [n for n, c in layout[home]["canonical"].items() if c == target]
                page["anchors"][name] = layout[home]["anchors"].get(homes[0]) if homes else target
    return layout


def _use_numpy_style(docstring: Docstring) -> None:
    """Parse this docstring as numpydoc (the scikit-learn-style estimators use it; the rest of pyagc, Google style)."""
    accepted = inspect.signature(parse_numpy).parameters
    docstring.parser = Parser.numpy
    docstring.parser_options = {k: v for k, v in dict(docstring.parser_options or {}).items() if k in accepted}


def _walk(obj: Object):
    yield obj
    for member in obj.members.values():
        if not isinstance(member, Alias):
            yield from _walk(member)


def _is_package(module: Module) -> bool:
    filepath = module.filepath[0] if isinstance(module.filepath, list) else module.filepath
    return filepath.name == "__init__.py"


def _runtime_all(module: str) -> list[str]:
    """``__all__`` of a package that builds it at run time (``pyagc.callbacks`` imports its members lazily)."""
    try:
        return list(getattr(importlib.import_module(module), "__all__", []))
    except Exception:  # noqa: BLE001 - an optional dependency missing: no exports known
        return []


def _canonical(module: Module, name: str) -> str | None:
    member = module.members.get(name)
    if member is None:  # a lazily imported export: the submodule that defines it, else ask Python
        defined = [
            sub.members[name].path
            for sub in module.modules.values()
            if name in sub.members and not isinstance(sub.members[name], Alias)
        ]
        if len(defined) == 1:
            return defined[0]
        try:
            value = getattr(importlib.import_module(module.path), name)
            return f"{value.__module__}.{value.__qualname__}"
        except Exception:  # noqa: BLE001
            return None
    if isinstance(member, Alias):
        try:
            member = member.final_target
        except Exception:  # noqa: BLE001 - an alias to another library
            return None
    if member.is_module and name in member.members:
        # ``from .densom import densom``: the package exports the function, griffe lists the submodule
        return _final_path(member.members[name])
    return member.path


def _is_module(obj: Object | Alias) -> bool:
    try:
        return obj.is_module
    except Exception:  # noqa: BLE001 - an alias to another library
        return False


def _lookup(pkg: Module, path: str) -> Object | Alias | None:
    if path == pkg.path:
        return pkg
    if not path.startswith(pkg.path + "."):
        return None
    try:
        return pkg[path[len(pkg.path) + 1 :]]
    except Exception:  # noqa: BLE001 - KeyError, or an alias that does not resolve
        return None


def _resolve(target: str, obj: Object, pkg: Module) -> str | None:
    """The canonical path of ``target`` as seen from ``obj``'s docstring, or None."""
    if target == pkg.path or target.startswith(pkg.path + "."):
        found = _lookup(pkg, target)
        if found is None:  # e.g. pyagc.callbacks.X, imported lazily
            module, _, name = target.rpartition(".")
            sub = _lookup(pkg, module)
            canonical = _canonical(sub, name) if isinstance(sub, Module) else None
            return canonical if canonical and _lookup(pkg, canonical) is not None else None
        return _final_path(found)
    first, _, rest = target.partition(".")
    scope: Object | None = obj
    while scope is not None:
        members = _members(scope)
        if first in members:
            base = _final_path(members[first])
            if base is None:
                return None
            path = f"{base}.{rest}" if rest else base
            found = _lookup(pkg, path)
            return _final_path(found) if found is not None else None
        if scope.is_module and not rest:
            # a module docstring naming a method of a class it defines (``:meth:`forward``` for the head's forward)
            found = [
                _final_path(_members(cls)[first])
                for cls in scope.classes.values()
                if not isinstance(cls, Alias) and first in _members(cls)
            ]
            if len(set(found)) == 1:
                return found[0]
        scope = scope.parent
    return None


def _members(obj: Object) -> dict[str, Object | Alias]:
    """An object's members; a class's include the ones it inherits."""
    if obj.is_class:
        try:
            return dict(obj.all_members)
        except Exception:  # noqa: BLE001 - a base class from another library
            return dict(obj.members)
    return dict(obj.members)


def _final_path(obj: Object | Alias) -> str | None:
    if isinstance(obj, Alias):
        try:
            return obj.final_target.path
        except Exception:  # noqa: BLE001 - an alias to another library
            return None
    return obj.path


def _math_blocks(text: str) -> str:
    """``.. math::`` and its indented lines -> a ``$$`` block at the directive's indentation."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _MATH_BLOCK.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent = m.group("indent")
        i += 1
        block: list[str] = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(indent)):
            block.append(lines[i])
            i += 1
        body = [line for line in block if line.strip()]
        cut = min((_indent(line) for line in body), default=0)
        body = ([m.group("first").strip()] if m.group("first").strip() else []) + [line[cut:] for line in body]
        if out and out[-1].strip():
            out.append("")
        out += [indent + "$$", *(indent + line for line in body), indent + "$$"]
        if i < len(lines):
            out.append("")
    return "\n".join(out)


_LIST_ITEM = re.compile(r"^(?P<indent>[ \t]*)(?:[*+-]|\d+[.)])[ \t]+")


def _list_items(text: str) -> str:
    """reST continues a list item at its text's column (2 spaces after ``* ``, 3 after ``1. ``), Python-Markdown
    needs 4 for a block (a paragraph, a ``$$`` block) after a blank line: move the items' other lines right."""
    out: list[str] = []
    stack: list[tuple[int, int, int]] = []  # open items: (marker column, text column, shift of their lines)
    in_math = False
    for line in text.split("\n"):
        shift = sum(item[2] for item in stack)
        if in_math or not line.strip():
            in_math ^= line.strip() == "$$"
            out.append(" " * shift + line if line.strip() else line)
            continue
        column = _indent(line)
        while stack and column < stack[-1][1] and not (column > stack[-1][0] and not _LIST_ITEM.match(line)):
            stack.pop()  # a line left of the item's text (a lazy continuation stays in it)
        shift = sum(item[2] for item in stack)
        item = _LIST_ITEM.match(line)
        if item:
            marker = len(item.group("indent"))
            stack.append((marker, item.end(), max(0, 4 - (item.end() - marker))))
        in_math = line.strip() == "$$"
        out.append(" " * shift + line)
    return "\n".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())
