"""Every library the package imports at run time is a runtime dependency.

A module used only by a dev extra would pass the test suite (which installs the
extras) and fail for a user who installed refracture alone.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "refracture"


def _imported_top_levels() -> set[str]:
    names: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"refracture", "__future__"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requires(dist: str) -> set[str]:
    """The distribution's own runtime requirements (no extras)."""
    try:
        reqs = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return set()
    return {
        _normal(re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0]) for r in reqs if "extra ==" not in r
    }


def test_runtime_imports_are_runtime_dependencies() -> None:
    # what installing refracture alone brings: its requirements and theirs (e.g. cycler
    # through matplotlib, pydantic-core through pydantic)
    runtime: set[str] = set()
    todo = _requires("refracture")
    while todo:
        dist = todo.pop()
        if dist not in runtime:
            runtime.add(dist)
            todo |= _requires(dist) - runtime
    providers = metadata.packages_distributions()
    missing = {}
    for module in sorted(_imported_top_levels()):
        dists = {_normal(d) for d in providers.get(module, [])}
        if dists and not dists & runtime:
            missing[module] = sorted(dists)
    assert not missing, f"imported at run time but only installed by an extra: {missing}"
