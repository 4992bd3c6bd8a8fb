"""The package's imports point one way, as the pipeline does.

common → data → analysis → figures / report → build → workflows → command line.
Every import of a refracture module is read from the source with ``ast`` (at
module level, inside functions and under ``TYPE_CHECKING`` alike): a module may
import its own package or a lower layer, never a sibling of its layer (figures
and report stay independent) and never a layer above. No two modules import
each other, directly or around a circle. There is no list of exceptions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "refracture"

LAYERS: dict[str, int] = {
    "refracture": 0,  # the package itself: __version__ only
    "refracture.errors": 0,
    "refracture.common": 1,
    "refracture.data": 2,
    "refracture.analysis": 3,
    "refracture.figures": 4,
    "refracture.report": 4,
    "refracture.build": 5,
    "refracture.workflows": 6,
    "refracture.cli": 7,
    "refracture.__main__": 8,  # python -m refracture: runs the command line
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every refracture module ``path`` imports (absolute names; relative ones resolved)."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "refracture")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "refracture":
                continue
            for alias in node.names:  # "from refracture.data import load" imports a module
                sub = f"{base}.{alias.name}"
                found.add(sub if _exists(sub) else base)
    return found


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def _graph() -> dict[str, set[str]]:
    return {
        _module_name(p): _imports(p, _module_name(p))
        for p in sorted(PACKAGE.rglob("*.py"))
        if "templates" not in p.relative_to(PACKAGE).parts
    }


def _layer(module: str) -> str:
    """The entry of :data:`LAYERS` a module belongs to (its package at the top level)."""
    parts = module.split(".")
    for n in (2, 1):
        name = ".".join(parts[:n])
        if name in LAYERS:
            return name
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS")


GRAPH = _graph()


def test_the_graph_is_read() -> None:
    # a guard against a reader that sees nothing: known edges are found
    assert "refracture.build.pipeline" in GRAPH
    assert "refracture.build.folders" in GRAPH["refracture.build.pipeline"]
    assert "refracture.common.format" in GRAPH["refracture.figures.plots"]


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module: str) -> None:
    own = _layer(module)
    wrong = [
        f"{module} (layer {LAYERS[own]}) imports {target} (layer {LAYERS[_layer(target)]})"
        for target in sorted(GRAPH[module])
        if _layer(target) != own and LAYERS[_layer(target)] >= LAYERS[own]
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_circles() -> None:
    """Tarjan's strongly connected components: every one must be a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in GRAPH:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in GRAPH[v]:
                circles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not circles, "import circles: " + "; ".join(" ↔ ".join(c) for c in circles)


def test_a_planted_back_import_is_caught(tmp_path) -> None:
    """The check itself can fail: a data module importing the pipeline is reported."""
    fake = tmp_path / "refracture" / "data"
    fake.mkdir(parents=True)
    source = fake / "bad.py"
    source.write_text("def f():\n    from refracture.build.pipeline import build\n")
    found = _imports(source, "refracture.data.bad")
    assert found == {"refracture.build.pipeline"}
    assert LAYERS[_layer("refracture.build.pipeline")] > LAYERS[_layer("refracture.data.bad")]


def test_every_test_folder_is_collected(pytestconfig) -> None:
    """pytest skips folders matching ``norecursedirs`` without a word (its default skips
    "build"): no folder of tests may match, or its tests silently never run."""
    from fnmatch import fnmatch

    patterns = pytestconfig.getini("norecursedirs")
    tests = Path(__file__).resolve().parent
    skipped = [
        d.relative_to(tests).as_posix()
        for d in tests.rglob("*")
        if d.is_dir()
        and d.name != "__pycache__"
        and any(fnmatch(d.name, p) for p in patterns)
        and any(d.rglob("test_*.py"))
    ]
    assert skipped == []
