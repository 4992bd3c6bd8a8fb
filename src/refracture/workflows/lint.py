"""Number lint of the manuscript templates: no result is typed by hand, no value is invented.

Two rules keep the templates honest:

``hard-number``
    A number typed into template prose (outside ``{{ }}``, ``{% %}`` and
    ``{## ##}``, YAML settings of the front matter, link and image targets,
    attribute blocks, citations and cross-references) would not change when the
    data do. Only the facts of the field and of the language listed in
    :data:`ALLOWED` may be typed, each matched with the words around it. String
    literals a template prints (``{{ "… 0.047" }}``) count as prose too.

``unknown-context``
    A template path (``cohort.refracture.pct``) that the context does not hold.
    Each template's Jinja syntax tree is walked with a real context, built from
    the example cohort's results, so a misspelt or stale name is caught before a
    build fails on it (or, inside a branch the example never takes, after).
    Names a template sets itself (``{% set %}``, loop variables, ``loop``, macro
    arguments) and those :mod:`refracture.report.render` adds (``sections``,
    ``word_counts``, ``pagebreak`` and the environment's globals) are valid;
    an included partial is checked with the names its includer has set.
"""

from __future__ import annotations

import re
import sys
from collections import ChainMap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from refracture.common.paths import shown
from refracture.report.template_walk import ScopeWalker

__all__ = [
    "ALLOWED",
    "Finding",
    "example_context",
    "find_hard_numbers",
    "lint_templates",
    "project_check",
    "run_lint",
    "template_context",
]


@dataclass(frozen=True, order=True)
class Finding:
    """One problem at one place of one template."""

    file: str
    line: int
    column: int
    text: str
    rule: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.rule}: {self.text}"


# --------------------------------------------------------------------------- rule (a)

ALLOWED: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), reason)
    for pattern, reason in (
        (
            r"\b95 ?%(?= (?:profile-likelihood )?(?:CIs?|confidence intervals?)\b)",
            "the conventional confidence level of an interval, not an estimate",
        ),
        (
            r"osteoporosis at [\u2212-]2\.5\b",
            "the WHO densitometric definition of osteoporosis, T ≤ −2.5 (Kanis 1994)",
        ),
        (
            r"\b(?:C[1-7]|T1[0-2]|T[1-9]|L[1-5]|S[1-5])\b",
            "vertebral level names (T12, L1, L1–L4), anatomy rather than data",
        ),
        (
            r"interval includes 1\b",
            "1 is the null value of an odds ratio, whatever the data",
        ),
        (
            r"adding 0\.5 to every cell",
            "the Haldane–Anscombe correction adds one half to each cell by definition",
        ),
        (
            r"fewer than the 10 often recommended",
            "the rule of thumb of ten events per variable (Peduzzi 1996)",
        ),
        (
            r"Level of Evidence:\**\s*[1-5]\b",
            "the journal's evidence grade of the study design, fixed by the design",
        ),
        (r"\bSHA-256\b", "the name of the hash function of the provenance appendix"),
    )
)
"""Numbers that may be typed, each as (pattern with its context words, reason).

A number counts only when it lies inside a match. Superscripts (χ²) and number
words ("first", "two-sided") are not numbers to this lint, so they need no entry."""

_JINJA = re.compile(r"\{##.*?##\}|\{\{.*?\}\}|\{%.*?%\}", re.S)
_MARKUP = re.compile(
    r"<!--.*?-->"  # HTML comments
    r"|```.*?```"  # fenced code
    r"|`[^`\n]*`"  # inline code
    r"|(?<=\])\([^)\n]*\)"  # link and image targets
    r"|\[\^[^\]\n]*\]"  # footnote marks
    r"|\[-?@[^\]\n]*\]"  # citations [@key; @key]
    r"|(?<![\w@])-?@\w[\w:.#$%&+?<>~/-]*"  # cross-references and bare citations
    r"|\{[^{}\n]*\}"  # attribute blocks {#fig-x}, {.class}, {width=50%}
    r"|</?[A-Za-z][^>\n]*>",  # raw HTML tags
    re.S,
)
_YAML_QUOTED = re.compile(r"""^\s*(?:-\s+)?(?:[\w-]+:\s*)?(["'])(.*)\1\s*$""")
NUMBER = re.compile(r"(?:(?<![\w.])[\u2212-])?(?<![0-9.,])[0-9]+(?:[.,][0-9]+)*(?: ?%)?")
"""A number: digits, with a minus (U+2212 or hyphen), decimals, separators, a percent sign."""


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def _mask(source: str) -> str:
    """``source`` with everything that is not prose blanked out, offsets kept."""
    text = _JINJA.sub(lambda m: _blank(m.group()), source)
    front = re.match(r"---[ \t]*\n(.*?\n)---[ \t]*(?:\n|$)", text, re.S)
    if front:  # front matter: settings are not prose, quoted values (a title) are
        lines = []
        for line in front.group(1).splitlines(keepends=True):
            q = _YAML_QUOTED.match(line)
            a, b = q.span(2) if q else (0, 0)
            lines.append(_blank(line[:a]) + line[a:b] + _blank(line[b:]))
        text = text[: front.start(1)] + "".join(lines) + text[front.end(1) :]
    return _MARKUP.sub(lambda m: _blank(m.group()), text)


def find_hard_numbers(text: str) -> Iterator[tuple[int, str]]:
    """``(offset, number)`` of each number in prose ``text`` that no allow-list entry covers."""
    allowed = [m.span() for pattern, _ in ALLOWED for m in pattern.finditer(text)]
    for m in NUMBER.finditer(text):
        if not any(a <= m.start() and m.end() <= b for a, b in allowed):
            yield m.start(), m.group()


def _snippet(line: str, start: int, end: int) -> str:
    left = max(0, start - 30)
    right = min(len(line), end + 30)
    text = " ".join(line[left:right].split())
    return ("…" if left else "") + text + ("…" if right < len(line) else "")


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _prose_numbers(name: str, source: str) -> list[Finding]:
    masked = _mask(source)
    out = []
    lines = source.splitlines()
    for offset, number in find_hard_numbers(masked):
        line, col = _line_col(masked, offset)
        snippet = _snippet(lines[line - 1], col - 1, col - 1 + len(number))
        out.append(
            Finding(name, line, col, f"hard-typed number {number} in “{snippet}”", "hard-number")
        )
    return out


# --------------------------------------------------------------------------- rule (b)


class _Unknown:
    """A value the lint cannot know (a filter's output, a macro argument): any use is valid."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
_MISSING = object()


class _Samples:
    """The items a loop variable takes: a lookup is valid when it works on any of them."""

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = list(items)


_LOOP = SimpleNamespace(
    **{
        k: UNKNOWN
        for k in (
            "index",
            "index0",
            "revindex",
            "revindex0",
            "first",
            "last",
            "length",
            "depth",
            "depth0",
            "previtem",
            "nextitem",
            "cycle",
            "changed",
        )
    }
)


def template_context(results) -> dict[str, Any]:
    """The full context the templates of a build of ``results`` receive: the context of
    :func:`~refracture.report.context.build_context` plus what
    :func:`~refracture.report.render.render_documents` adds (``sections``, ``word_counts``)."""
    from refracture.report.context import build_context
    from refracture.report.render import MAIN_SECTIONS
    from refracture.report.sources import software_versions

    ctx = build_context(results, software=software_versions("lint"))
    names = ("abstract", *MAIN_SECTIONS, "key_points", "tables", "figures")
    return {
        **ctx,
        "sections": dict.fromkeys(names, ""),
        "word_counts": {"abstract": "0", "main": "0"},
        # not a template name: the results, for templates with a context of their own
        "_results": results,
    }


@lru_cache(maxsize=1)
def _documented() -> frozenset[str]:
    """Every context value the authors' reference documents (``report/context_names.py``)."""
    from refracture.report.context_names import NAMES

    return frozenset(NAMES)


@lru_cache(maxsize=1)
def example_context() -> dict[str, Any]:
    """:func:`template_context` of the example cohort (its analyses run once per process)."""
    from refracture.analysis.results import run_analyses
    from refracture.analysis.settings import AnalysisSettings
    from refracture.build.provenance import provenance
    from refracture.common.dates import DEFAULT_EPOCH
    from refracture.data.derive import derive
    from refracture.data.example import example_path
    from refracture.data.validate import load_cohort
    from refracture.report.sources import software_versions

    cohort = load_cohort(example_path())
    settings = AnalysisSettings()
    results = run_analyses(derive(cohort.patients, cohort.levels), settings)
    # as the pipeline does: the supplement's provenance appendix needs this record
    software = software_versions("the embedded engine")
    results.meta["provenance"] = provenance(cohort, settings, software, DEFAULT_EPOCH)
    return template_context(results)


class _Walker(ScopeWalker):
    """Walks a template's syntax tree with the names in scope and their sample values."""

    unknown = UNKNOWN
    loop = _LOOP

    def __init__(self, env, folders: Sequence[Path], context: Mapping[str, Any]) -> None:
        self.env = env
        self.folders = folders
        self.base = ChainMap(dict(context), dict(env.globals))
        self.findings: set[Finding] = set()
        self.file = ""
        self.lines: list[str] = []
        self.stack: list[str] = []

    # ---- templates
    def template(self, name: str, scope: ChainMap) -> None:
        if name in self.stack or len(self.stack) > 20:  # an include cycle
            return
        path = _find(self.folders, name)
        source = path.read_text(encoding="utf-8")
        outer = self.file, self.lines
        self.file, self.lines = shown(path), source.splitlines()
        self.stack.append(name)
        try:
            self.body(_parse(self.env, source, name, path).body, scope)
        finally:
            self.stack.pop()
            self.file, self.lines = outer

    def report(self, node, text: str, needle: str) -> None:
        line = getattr(node, "lineno", 1) or 1
        src = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        col = src.find(needle) + 1 if needle and needle in src else 1
        self.findings.add(Finding(self.file, line, col, text, "unknown-context"))

    # ---- values
    @staticmethod
    def each(items: Any) -> Any:
        """A loop variable's sample: the items of a concrete sequence, else unknown."""
        if isinstance(items, _Samples):
            items = [x for xs in items.items if isinstance(xs, list | tuple) for x in xs]
        if isinstance(items, Mapping):
            items = list(items)
        if isinstance(items, list | tuple) and items:
            return _Samples(items)
        return UNKNOWN

    @staticmethod
    def unpack(value: Any, i: int) -> Any:
        if isinstance(value, _Samples):
            got = [v[i] for v in value.items if isinstance(v, list | tuple) and len(v) > i]
            return _Samples(got) if got else UNKNOWN
        if isinstance(value, list | tuple) and len(value) > i:
            return value[i]
        return UNKNOWN

    def lookup(self, value: Any, key: Any, attr: bool) -> Any:
        """Jinja's lookup (``x.key`` if ``attr`` else ``x[key]``) on a sample, or ``_MISSING``."""
        from jinja2 import Undefined

        if isinstance(value, _Samples):
            got = [r for v in value.items if (r := self.lookup(v, key, attr)) is not _MISSING]
            return _Samples(got) if got else _MISSING
        found = self.env.getattr(value, key) if attr else self.env.getitem(value, key)
        return _MISSING if isinstance(found, Undefined) else found

    def path(self, node) -> str:
        from jinja2 import nodes as n

        if isinstance(node, n.Name):
            return node.name
        if isinstance(node, n.Getattr):
            return f"{self.path(node.node)}.{node.attr}"
        if isinstance(node, n.Getitem):
            arg = node.arg
            key = repr(arg.value).replace("'", '"') if isinstance(arg, n.Const) else "…"
            return f"{self.path(node.node)}[{key}]"
        return "(…)"

    def expr(self, node, scope: ChainMap) -> Any:
        from jinja2 import nodes as n

        if isinstance(node, n.Name):
            if node.ctx != "load":
                return UNKNOWN
            if node.name in scope:
                return scope[node.name]
            if node.name in self.base:
                return self.base[node.name]
            self.report(node, f"unknown name {node.name}", node.name)
            return UNKNOWN
        if isinstance(node, n.Getattr | n.Getitem):
            base = self.expr(node.node, scope)
            if isinstance(node, n.Getattr):
                key: Any = node.attr
            elif isinstance(node.arg, n.Const):
                key = node.arg.value
            else:
                self.expr(node.arg, scope)
                return UNKNOWN
            if base is UNKNOWN:
                return UNKNOWN
            found = self.lookup(base, key, isinstance(node, n.Getattr))
            if found is _MISSING:
                if self.path(node) not in _documented():
                    self.report(node, f"unknown context value {self.path(node)}", str(key))
                # a documented value these data do not have (a branch the text takes
                # only on other data, e.g. after a --set filter) is no error of the text
                return UNKNOWN
            return found
        if isinstance(node, n.Const):
            return node.value
        if isinstance(node, n.List | n.Tuple):
            return [self.expr(item, scope) for item in node.items]
        if isinstance(node, n.Call):
            func = self.expr(node.node, scope)
            for arg in (*node.args, *(k.value for k in node.kwargs)):
                self.expr(arg, scope)
            for extra in (node.dyn_args, node.dyn_kwargs):
                if extra is not None:
                    self.expr(extra, scope)
            if (
                isinstance(node.node, n.Getattr)
                and node.node.attr in ("items", "keys", "values")
                and func is not UNKNOWN
            ):
                owner = self.expr(node.node.node, scope.new_child())
                if isinstance(owner, Mapping):
                    return list(getattr(owner, node.node.attr)())
            return UNKNOWN
        if isinstance(node, n.Filter | n.Test):
            registry = self.env.filters if isinstance(node, n.Filter) else self.env.tests
            if node.name not in registry:
                kind = "filter" if isinstance(node, n.Filter) else "test"
                self.report(node, f"unknown {kind} {node.name}", node.name)
        for child in node.iter_child_nodes():
            self.expr(child, scope)
        return UNKNOWN


def _printed_literals(node) -> Iterator[Any]:
    """String constants of an expression that end up in the text."""
    from jinja2 import nodes as n

    if isinstance(node, n.Const) and isinstance(node.value, str):
        yield node
    elif isinstance(node, n.Concat):
        for item in node.nodes:
            yield from _printed_literals(item)
    elif isinstance(node, n.CondExpr):
        yield from _printed_literals(node.expr1)
        if node.expr2 is not None:
            yield from _printed_literals(node.expr2)
    elif isinstance(node, n.Filter) and node.node is not None:
        yield from _printed_literals(node.node)
    elif isinstance(node, n.Add):
        yield from _printed_literals(node.left)
        yield from _printed_literals(node.right)


def _literal_numbers(name: str, source: str, tree) -> list[Finding]:
    from jinja2 import nodes as n

    lines = source.splitlines()
    out = []
    for output in tree.find_all(n.Output):
        for child in output.nodes:
            if isinstance(child, n.TemplateData):
                continue
            for const in _printed_literals(child):
                for offset, number in find_hard_numbers(const.value):
                    src = lines[const.lineno - 1] if 0 < const.lineno <= len(lines) else ""
                    at = src.find(const.value)
                    col = at + offset + 1 if at >= 0 else 1
                    out.append(
                        Finding(
                            name,
                            const.lineno,
                            col,
                            f"hard-typed number {number} in the printed string {const.value!r}",
                            "hard-number",
                        )
                    )
    return out


def _reanalyses_context(ctx: Mapping[str, Any]) -> Mapping[str, Any]:
    import json

    from refracture.workflows.reanalyze import sample_context

    return sample_context(json.loads(ctx["_results"].to_json()))


def _submission_context(ctx: Mapping[str, Any]) -> Mapping[str, Any]:
    from refracture.workflows.submit import sample_context

    return sample_context(dict(ctx))


def _submission_table_context(ctx: Mapping[str, Any]) -> Mapping[str, Any]:
    from refracture.workflows.submit import sample_table_context

    return sample_table_context(dict(ctx))


def _response_context(ctx: Mapping[str, Any]) -> Mapping[str, Any]:
    from refracture.workflows.respond_context import sample_context

    return sample_context(ctx)


OWN_CONTEXT: dict[str, Any] = {
    "reanalyses.qmd.j2": _reanalyses_context,
    "submission/cover-letter.md.j2": _submission_context,
    "submission/response-to-reviewers.md.j2": _response_context,
    "submission/strobe-checklist.md.j2": _submission_context,
    "submission/submission-check.md.j2": _submission_context,
    "submission/table.md.j2": _submission_table_context,
}
"""Templates rendered with a context of their own, and how to make a sample of it."""


def _find(folders: Sequence[Path], name: str) -> Path:
    """The template ``name`` as the build reads it: from the first folder that has it."""
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    return folders[-1] / name


_PARSED: dict[tuple[str, str, str], Any] = {}


def _parse(env, source: str, name: str, path: Path):
    """``env.parse``, kept per template text: a preview lints the templates at every
    rebuild, and only the edited file needs parsing again (the trees are only read)."""
    import hashlib

    k = (name, str(path), hashlib.sha256(source.encode()).hexdigest())
    tree = _PARSED.get(k)
    if tree is None:
        tree = env.parse(source, name, str(path))
        if len(_PARSED) > 512:
            _PARSED.clear()
        _PARSED[k] = tree
    return tree


def lint_templates(
    folder: Path | Sequence[Path] | None = None, context: Mapping[str, Any] | None = None
) -> list[Finding]:
    """Every finding of both rules in the ``*.j2`` templates of ``folder`` (default: the
    installed templates), sorted by file and position.

    ``folder`` may be a list of folders searched in order, as a build with the
    authors' templates reads them (``[project templates, installed templates]``):
    each name is checked in the first folder that holds it. ``context`` defaults to
    :func:`example_context` (which runs the example's analyses once per process).
    """
    from jinja2 import TemplateSyntaxError
    from jinja2 import nodes as n

    from refracture.report.assets import templates_dir

    if folder is None:
        folders = [templates_dir()]
    elif isinstance(folder, str | Path):
        folders = [Path(folder)]
    else:
        folders = [Path(f) for f in folder]
    env = _environment(folders)
    names = sorted({p.relative_to(f).as_posix() for f in folders for p in f.rglob("*.j2")})
    findings: set[Finding] = set()
    included: set[str] = set()
    parsed: list[str] = []
    for name in names:
        path = _find(folders, name)
        source = path.read_text(encoding="utf-8")
        file = shown(path)
        findings.update(_prose_numbers(file, source))
        try:
            tree = _parse(env, source, name, path)
        except TemplateSyntaxError as e:
            findings.add(Finding(file, e.lineno or 1, 1, e.message or str(e), "syntax"))
            continue
        parsed.append(name)
        findings.update(_literal_numbers(file, source, tree))
        for inc in tree.find_all(n.Include):
            if isinstance(inc.template, n.Const):
                included.add(str(inc.template.value))
    ctx = example_context() if context is None else context
    walker = _Walker(env, folders, ctx)
    samples: dict[Any, Mapping[str, Any]] = {}  # one sample per kind of context
    for name in parsed:
        if name in included:  # partials are checked with the names their includer sets
            continue
        if name in OWN_CONTEXT:  # a document of its own (not the manuscript's context)
            make = OWN_CONTEXT[name]
            if make not in samples:
                samples[make] = make(ctx)
            own = _Walker(env, folders, samples[make])
            own.template(name, ChainMap())
            findings.update(own.findings)
            continue
        walker.template(name, ChainMap())
    findings.update(walker.findings)
    return sorted(findings)


def _environment(folders: Sequence[Path]):
    from refracture.report.assets import templates_dir
    from refracture.report.render import template_environment

    shipped = templates_dir().resolve()
    own = [f for f in folders if f.resolve() != shipped]
    return template_environment(own[0] if own else None)


def run_lint(folder: Path | Sequence[Path] | None = None) -> int:
    """Print each finding as ``file:line:col: rule: text``; 1 if there is any, else 0."""
    findings = lint_templates(folder)
    for f in findings:
        print(f, file=sys.stdout)
    return 1 if findings else 0


def project_check(templates: Path):
    """The check a build runs on the authors' ``templates`` (see the pipeline's
    ``check_templates``): both rules over the templates as the build reads them, with
    the context of this build's own results. Raises ConfigError listing every finding."""
    from refracture.errors import ConfigError
    from refracture.report.assets import templates_dir

    def check(results) -> None:
        findings = lint_templates([templates, templates_dir()], template_context(results))
        if findings:
            n = len(findings)
            raise ConfigError(
                f"{n} problem{'s' if n != 1 else ''} in the templates (refracture lint lists "
                "them too):\n" + "\n".join(f"  {f}" for f in findings)
            )

    return check
