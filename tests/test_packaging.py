"""Every library the package imports at run time is a runtime dependency.

A module used only by a dev extra would pass the test suite (which installs the
extras) and fail for a user who installed refracture alone. The one exception is
an optional feature's library (``refracture[dask]``): it may be imported only
inside a function (never when a module is imported) and must be installed by a
user-facing extra of refracture (not ``dev``).
"""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

SRC = Path(__file__).resolve().parents[1] / "src" / "refracture"
DEV_EXTRAS = {"dev"}


def _imports(tree: ast.AST) -> set[tuple[str, bool]]:
    """``(top-level module, imported inside a function)`` for each import in ``tree``."""
    found: set[tuple[str, bool]] = set()

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.Import):
            found.update((a.name.split(".")[0], lazy) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], lazy))
        inner = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def _imported_top_levels() -> dict[str, bool]:
    """Third-party module → True when every import of it is inside a function."""
    lazy: dict[str, bool] = {}
    for path in SRC.rglob("*.py"):
        for name, inside in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            lazy[name] = lazy.get(name, True) and inside
    skip = set(sys.stdlib_module_names) | {"refracture", "__future__"}
    return {name: inside for name, inside in lazy.items() if name not in skip}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requires(dist: str, extra: str = "") -> set[tuple[str, str]]:
    """``(distribution, extra or "")`` that ``dist`` (with ``extra``: only what that extra
    adds) requires in this environment; a requirement's own extras are listed too."""
    try:
        reqs = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return set()
    out: set[tuple[str, str]] = set()
    for text in reqs:
        req = Requirement(text)
        in_extra = req.marker is not None and "extra" in str(req.marker)
        if in_extra != bool(extra):
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = _normal(req.name)
        out.add((name, ""))
        out |= {(name, e) for e in req.extras}
    return out


def _installed_by(todo: set[tuple[str, str]]) -> set[str]:
    """Every distribution that installing ``todo`` brings, transitively."""
    seen: set[tuple[str, str]] = set()
    while todo:
        item = todo.pop()
        if item not in seen:
            seen.add(item)
            todo |= _requires(*item) - seen
    return {dist for dist, _ in seen}


def _user_extras() -> dict[str, set[str]]:
    extras = metadata.metadata("refracture").get_all("Provides-Extra") or []
    return {
        extra: _installed_by(_requires("refracture", extra))
        for extra in extras
        if extra not in DEV_EXTRAS
    }


def test_runtime_imports_are_runtime_dependencies() -> None:
    # what installing refracture alone brings: its requirements and theirs (e.g. cycler
    # through matplotlib, pydantic-core through pydantic)
    runtime = _installed_by(_requires("refracture"))
    optional = _user_extras()
    providers = metadata.packages_distributions()
    missing = {}
    for module, lazy in sorted(_imported_top_levels().items()):
        dists = {_normal(d) for d in providers.get(module, [])}
        if not dists or dists & runtime:
            continue
        if lazy and any(dists & installed for installed in optional.values()):
            continue  # an optional feature's library, imported only when it is used
        missing[module] = sorted(dists)
    assert not missing, (
        "imported at run time but not installed with refracture (nor imported only inside "
        f"a function and installed by a user-facing extra): {missing}"
    )


def test_the_dask_extra_installs_dask_distributed() -> None:
    optional = _user_extras()
    assert {"dask", "distributed"} <= optional["dask"]
    imported = _imported_top_levels()
    assert imported.get("dask") is True  # imported, and only inside functions
    assert imported.get("distributed", True) is True


def test_a_module_level_import_of_an_extra_would_be_caught() -> None:
    tree = ast.parse("import dask\n\ndef f():\n    from distributed import Client\n")
    assert _imports(tree) == {("dask", False), ("distributed", True)}
