"""The walk of a template's statements that the template lint and the names report share.

:class:`ScopeWalker` goes through a Jinja syntax tree statement by statement with the
names in scope (a :class:`~collections.ChainMap`): what ``{% set %}``, ``{% for %}``,
``{% with %}``, macros and imports bind, and each included template (by name) with a
scope of its own. What a value *is* is the subclass's: the template lint
(:mod:`refracture.workflows.lint`) keeps sample values to check that each name
exists; :mod:`refracture.report.template_names` keeps the dotted context name behind
each value to list the names templates use.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable
from typing import Any

__all__ = ["ScopeWalker"]


class ScopeWalker:
    """Walks statements, binding names; subclasses give :meth:`template` (walk the
    template of a name), :meth:`expr` (an expression's value, reporting what it
    reads), :meth:`each` (what a loop variable over a value stands for) and
    :meth:`unpack` (the ``i``-th part of a value), and say what a name bound to
    nothing known holds (``unknown``) and what ``loop`` holds in a loop (``loop``)."""

    unknown: Any = None
    loop: Any = None

    def template(self, name: str, scope: ChainMap) -> None:
        raise NotImplementedError

    def expr(self, node, scope: ChainMap) -> Any:
        raise NotImplementedError

    def each(self, items: Any) -> Any:
        raise NotImplementedError

    def unpack(self, value: Any, i: int) -> Any:
        raise NotImplementedError

    def body(self, stmts: Iterable, scope: ChainMap) -> None:
        for node in stmts:
            self.stmt(node, scope)

    def stmt(self, node, scope: ChainMap) -> None:
        from jinja2 import nodes as n

        if isinstance(node, n.Output):
            for child in node.nodes:
                if not isinstance(child, n.TemplateData):
                    self.expr(child, scope)
        elif isinstance(node, n.Assign):
            self.bind(node.target, self.expr(node.node, scope), scope)
        elif isinstance(node, n.AssignBlock):
            self.body(node.body, scope)
            self.bind(node.target, self.unknown, scope)
        elif isinstance(node, n.For):
            items = self.expr(node.iter, scope)
            inner = scope.new_child({"loop": self.loop})
            self.bind(node.target, self.each(items), inner)
            if node.test is not None:
                self.expr(node.test, inner)
            self.body(node.body, inner)
            self.body(node.else_, scope)
        elif isinstance(node, n.If):
            self.expr(node.test, scope)
            self.body(node.body, scope)
            for elif_ in node.elif_:
                self.stmt(elif_, scope)
            self.body(node.else_, scope)
        elif isinstance(node, n.Include):
            if isinstance(node.template, n.Const) and isinstance(node.template.value, str):
                self.template(node.template.value, scope.new_child())
            else:
                self.expr(node.template, scope)
        elif isinstance(node, n.Macro | n.CallBlock):
            unknown = self.unknown
            inner = scope.new_child(
                {"varargs": unknown, "kwargs": unknown, "caller": unknown, "loop": self.loop}
            )
            for arg in node.args:
                self.bind(arg, unknown, inner)
            for default in node.defaults:
                self.expr(default, scope)
            if isinstance(node, n.CallBlock):
                self.expr(node.call, scope)
            self.body(node.body, inner)
            if isinstance(node, n.Macro):
                scope[node.name] = unknown
        elif isinstance(node, n.Import):
            scope[node.target] = self.unknown
        elif isinstance(node, n.FromImport):
            for name in node.names:
                scope[name[1] if isinstance(name, tuple) else name] = self.unknown
        elif isinstance(node, n.With):
            inner = scope.new_child()
            for target, value in zip(node.targets, node.values, strict=False):
                self.bind(target, self.expr(value, scope), inner)
            self.body(node.body, inner)
        else:  # blocks, filter blocks, scopes, expression statements …
            for child in node.iter_child_nodes():
                if isinstance(child, n.Expr):
                    self.expr(child, scope)
                else:
                    self.stmt(child, scope)

    def bind(self, target, value: Any, scope: ChainMap) -> None:
        """Bind ``value`` to the names of ``target`` (a name or a tuple of them); a
        namespace attribute (``ns.x``) reads ``ns``."""
        from jinja2 import nodes as n

        if isinstance(target, n.Name):
            scope[target.name] = value
        elif isinstance(target, n.Tuple):
            for i, item in enumerate(target.items):
                self.bind(item, self.unpack(value, i), scope)
        elif isinstance(target, n.NSRef):
            self.expr(n.Name(target.name, "load", lineno=target.lineno), scope)
