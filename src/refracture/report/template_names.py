"""The context names templates use, read from their Jinja syntax trees.

Each template is walked as the lint walks it (``refracture.workflows.lint``):
with the names it sets itself in scope and a real context to resolve against.
Where the lint checks that a name exists, this walk records the dotted context
name behind each value a template reads, also through the names it sets:
``{% for e in models.independent %}{{ e.phrase }}`` uses
``models.independent[].phrase``, ``{% set entry = tables.cutoffs %}`` followed by
``{{ entry.ref }}`` uses ``tables.cutoffs.ref``. Names are given as
:func:`refracture.report.context_reference.flatten` spells them, so the result
can be checked against the authors' reference.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refracture.report.context_reference import flatten
from refracture.report.template_walk import ScopeWalker

__all__ = ["used_names"]


@dataclass(frozen=True)
class _Ref:
    """A value read from the context: its dotted name and sample values (one per item
    when it stands for the items of a list)."""

    path: str
    samples: tuple[Any, ...]


@dataclass(frozen=True)
class _Items:
    """``owner.items()``, ``.keys()`` or ``.values()`` of context mappings."""

    owners: tuple[_Ref, ...]
    kind: str


@dataclass(frozen=True)
class _Parts:
    """A literal list or tuple, or one item of ``.items()``: a value per position."""

    parts: tuple[tuple[Any, ...], ...]


_MISSING = object()
_SAME_ITEMS = frozenset({"list", "sort", "reverse", "unique", "selectattr", "rejectattr"})
_ONE_ITEM = frozenset({"first", "last", "random"})
_SAME_VALUE = frozenset({"default", "d"})


class _Collector(ScopeWalker):
    """Records the dotted context name behind each value a template reads; a value is
    a tuple of :class:`_Ref`, :class:`_Items` and :class:`_Parts` (empty: nothing
    from the context)."""

    unknown = ()
    loop = ()

    def __init__(self, env, folder: Path, context: Mapping[str, Any]) -> None:
        self.env = env
        self.folder = folder
        self.context = context
        self.used: set[str] = set()
        self.stack: list[str] = []

    # ---- templates and statements
    def template(self, name: str, scope: ChainMap) -> None:
        if name in self.stack or len(self.stack) > 20:
            return
        path = self.folder / name
        self.stack.append(name)
        try:
            tree = self.env.parse(path.read_text(encoding="utf-8"), name, str(path))
            self.body(tree.body, scope)
        finally:
            self.stack.pop()

    # ---- values: a tuple of _Ref / _Items / _Parts (empty: nothing from the context)
    def each(self, values: tuple) -> tuple:
        """What a loop variable over ``values`` stands for."""
        out: list[Any] = []
        for v in values:
            if isinstance(v, _Ref):
                items = [x for s in v.samples if isinstance(s, list | tuple) for x in s]
                if items:
                    out.append(_Ref(f"{v.path}[]", tuple(items)))
            elif isinstance(v, _Items):
                for owner in v.owners:
                    for sample in owner.samples:
                        if not isinstance(sample, Mapping):
                            continue
                        for key, value in sample.items():
                            ref = _Ref(f"{owner.path}.{key}", (value,))
                            if v.kind == "values":
                                out.append(ref)
                            elif v.kind == "items":
                                out.append(_Parts(((), (ref,))))
            elif isinstance(v, _Parts):
                out += [x for part in v.parts for x in part]
        return tuple(out)

    @staticmethod
    def unpack(values: tuple, i: int) -> tuple:
        out: list[Any] = []
        for v in values:
            if isinstance(v, _Parts) and i < len(v.parts):
                out += v.parts[i]
            elif isinstance(v, _Ref):
                got = tuple(s[i] for s in v.samples if isinstance(s, list | tuple) and len(s) > i)
                if got:
                    out.append(_Ref(v.path, got))
        return tuple(out)

    def lookup(self, ref: _Ref, key: Any, attr: bool) -> _Ref | None:
        """``ref.key`` (``ref[key]`` unless ``attr``), recorded; None when it is a method or
        the context does not hold it (still recorded, so an unknown name shows)."""
        from jinja2 import Undefined

        got = []
        for sample in ref.samples:
            found = self.env.getattr(sample, key) if attr else self.env.getitem(sample, key)
            if isinstance(found, Undefined):
                continue
            if callable(found) and not isinstance(found, Mapping):
                return None  # a method of a value (str.split, dict.items): not a name
            got.append(found)
        path = f"{ref.path}.{key}"
        self.used.add(path)
        return _Ref(path, tuple(got)) if got else None

    def expr(self, node, scope: ChainMap) -> tuple:
        from jinja2 import nodes as n

        if isinstance(node, n.Name):
            if node.ctx != "load":
                return ()
            if node.name in scope:
                value = scope[node.name]
                self.used.update(v.path for v in value if isinstance(v, _Ref))
                return value
            if node.name in self.context:
                self.used.add(node.name)
                return (_Ref(node.name, (self.context[node.name],)),)
            if node.name not in self.env.globals:
                self.used.add(node.name)
            return ()
        if isinstance(node, n.Getattr | n.Getitem):
            base = self.expr(node.node, scope)
            if isinstance(node, n.Getattr):
                key, attr = node.attr, True
            elif isinstance(node.arg, n.Const):
                key, attr = node.arg.value, False
            else:
                self.expr(node.arg, scope)
                return ()
            found = (self.lookup(v, key, attr) for v in base if isinstance(v, _Ref))
            return tuple(r for r in found if r is not None)
        if isinstance(node, n.Call):
            callee = node.node
            if isinstance(callee, n.Getattr) and callee.attr in ("items", "keys", "values"):
                owners = tuple(v for v in self.expr(callee.node, scope) if isinstance(v, _Ref))
                mappings = tuple(
                    o for o in owners if any(isinstance(s, Mapping) for s in o.samples)
                )
                if mappings:
                    return (_Items(mappings, callee.attr),)
            else:
                self.expr(callee, scope)
            for arg in (*node.args, *(k.value for k in node.kwargs)):
                self.expr(arg, scope)
            for extra in (node.dyn_args, node.dyn_kwargs):
                if extra is not None:
                    self.expr(extra, scope)
            return ()
        if isinstance(node, n.Filter):
            base = self.expr(node.node, scope) if node.node is not None else ()
            for arg in (*node.args, *(k.value for k in node.kwargs)):
                self.expr(arg, scope)
            if node.name in _SAME_ITEMS or node.name in _SAME_VALUE:
                return base
            if node.name in _ONE_ITEM:
                return self.each(base)
            if node.name == "map":
                attribute = next((k.value for k in node.kwargs if k.key == "attribute"), None)
                if isinstance(attribute, n.Const):
                    for item in self.each(base):
                        if isinstance(item, _Ref):
                            self.lookup(item, attribute.value, True)
            return ()
        if isinstance(node, n.CondExpr):
            self.expr(node.test, scope)
            other = self.expr(node.expr2, scope) if node.expr2 is not None else ()
            return self.expr(node.expr1, scope) + other
        if isinstance(node, n.And | n.Or):
            return self.expr(node.left, scope) + self.expr(node.right, scope)
        if isinstance(node, n.List | n.Tuple):
            return (_Parts(tuple(self.expr(item, scope) for item in node.items)),)
        for child in node.iter_child_nodes():
            self.expr(child, scope)
        return ()


def _normal(path: str, known: Collection[str], groups: Collection[str]) -> str | None:
    """``path`` as a name of :func:`flatten`: a group of names (``cohort.refracture``)
    is none, a part of a value (``tables.patients.table.rows``) is that value, an
    unknown member of a group (``cohort.median_age``) stays as it is."""
    if path in known:
        return path
    if path in groups:
        return None
    cut = path
    while True:
        if cut.endswith("[]"):
            cut = cut[:-2]
        elif "." in cut:
            cut = cut.rsplit(".", 1)[0]
        else:
            return path
        if cut in groups:
            return path
        if cut in known:
            return cut


def used_names(
    context: Mapping[str, Any],
    folder: Path | None = None,
    *,
    skip: Iterable[str] = (),
) -> set[str]:
    """The context names the ``*.j2`` templates of ``folder`` (default: the shipped
    ones) use, resolved against ``context`` (the full context a render gives them).

    Partials are walked from the templates that include them, with the names those
    set; ``skip`` names templates rendered with a context of their own. A name the
    context does not hold is returned as the template wrote it.
    """
    from jinja2 import nodes as n

    from refracture.report.assets import templates_dir
    from refracture.report.render import template_environment

    folder = Path(folder) if folder is not None else templates_dir()
    env = template_environment()
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.j2"))
    included: set[str] = set()
    for name in names:
        path = folder / name
        tree = env.parse(path.read_text(encoding="utf-8"), name, str(path))
        for inc in tree.find_all(n.Include):
            if isinstance(inc.template, n.Const):
                included.add(str(inc.template.value))
    collector = _Collector(env, folder, context)
    skipped = set(skip)
    for name in names:
        if name not in included and name not in skipped:
            collector.template(name, ChainMap())
    known = set(flatten(context))
    groups = set()
    for k in known:
        cut = k
        while "." in cut or cut.endswith("[]"):
            cut = cut[:-2] if cut.endswith("[]") else cut.rsplit(".", 1)[0]
            groups.add(cut)
    out = {_normal(p, known, groups) for p in collector.used}
    return {p for p in out if p is not None}
