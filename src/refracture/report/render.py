"""Jinja templates → Quarto Markdown (``.qmd``) for the manuscript and its supplement.

The environment is strict: an undefined name is an error (``StrictUndefined``),
and every printed value passes :func:`_finalize`, which escapes it for Markdown
(so a category label such as ``<script>`` or ``{{ 7*7 }}`` prints literally in
every format) and refuses anything that is not already a formatted string: a
raw number, ``None`` or a bool reaching the text is a bug, not a "nan" or
"None" in the paper.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

from markupsafe import Markup

from refracture.common.cache import cache_dir
from refracture.report.assets import templates_dir

__all__ = [
    "DOCUMENTS",
    "main_sections",
    "md_escape",
    "render_documents",
    "template_environment",
    "word_count",
    "word_counts",
]

DOCUMENTS: tuple[str, ...] = ("manuscript", "supplementary")

# Characters that start Markdown, HTML, Quarto shortcode, citation, math or
# table syntax; pandoc accepts a backslash before any ASCII punctuation.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#!|@$~^&])")


def md_escape(text: str) -> str:
    """``text`` as inert Markdown: it renders as exactly these characters.

    A Quarto shortcode opener ``{{<`` gets an invisible word joiner (U+2060)
    after its braces: backslashes do not stop a shortcode once parsed, the joiner
    does, in both engines, and the text looks the same.
    """
    text = text.replace("{{<", "{{\u2060<").replace(">}}", ">\u2060}}")
    out = _MD_SPECIAL.sub(r"\\\1", text)
    out = re.sub(r"^([-+*:](?=\s|$)|[>%])", r"\\\1", out)  # list, definition, quote, title
    out = re.sub(r"^(\d+)([.)])(?=\s|$)", r"\1\\\2", out)  # an ordered list
    return out.replace("\n", " ")


def _finalize(value: Any) -> Any:
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the missing value
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        return md_escape(value)
    raise TypeError(
        f"a template printed a {type(value).__name__} ({value!r}); the context must hand "
        "templates formatted strings only"
    )


def _yaml_string(value: str) -> Markup:
    """A YAML double-quoted scalar holding inert Markdown (pandoc parses metadata as Markdown)."""
    return Markup(json.dumps(md_escape(str(value)), ensure_ascii=False))


def _raw(value: str) -> Markup:
    """A fixed identifier (a label, a path) that the template knows is safe."""
    if not re.fullmatch(r"@?[A-Za-z0-9_.\-/:]+", value):
        raise ValueError(f"not a plain identifier: {value!r}")
    return Markup(value)


_SYNTAX: dict[str, Any] = {
    "autoescape": False,
    "keep_trailing_newline": True,
    # Quarto writes identifiers as {#fig-x}: Jinja comments are {## … ##} instead
    "comment_start_string": "{##",
    "comment_end_string": "##}",
    "trim_blocks": True,
    "lstrip_blocks": True,
}


def _bytecode_cache():
    """Compiled templates kept between builds (compiling them costs ~0.5 s a build).

    Jinja checks each template's source checksum, so an edited template is
    compiled again; the folder name covers everything else that shapes the
    compiled code (these syntax options, Jinja's and Python's versions). An
    unusable cache folder only means compiling every time.
    """
    import hashlib
    import sys

    import jinja2
    from jinja2 import FileSystemBytecodeCache

    class _Quiet(FileSystemBytecodeCache):
        def load_bytecode(self, bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except (OSError, EOFError, ValueError):
                bucket.reset()

        def dump_bytecode(self, bucket) -> None:
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    key = hashlib.sha256(
        repr((sorted(_SYNTAX.items()), jinja2.__version__, sys.version)).encode()
    ).hexdigest()[:16]
    folder = cache_dir() / f"templates-{key}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _Quiet(str(folder))


def _macro_context():
    """Jinja's template context, except that a macro's text prints as it stands.

    The macros of ``templates/partials/macros.md.j2`` escape each value where
    they print it; escaping their whole text again would double the backslashes.
    """
    from jinja2.runtime import Context, Macro

    class MacroTextContext(Context):
        def call(self, obj, /, *args, **kwargs):
            out = super().call(obj, *args, **kwargs)
            return Markup(out) if isinstance(obj, Macro) and isinstance(out, str) else out

    return MacroTextContext


def template_environment(project: Path | None = None):
    """The one Jinja environment of the manuscript templates.

    ``project`` (``manuscript.templates`` of the configuration) is a folder of the
    authors' templates: each file there is used instead of the shipped template of
    the same relative path, file by file; every other template is the shipped one.
    """
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    folders = [str(project)] if project is not None else []
    env = Environment(
        loader=FileSystemLoader([*folders, str(templates_dir())]),
        undefined=StrictUndefined,
        finalize=_finalize,
        bytecode_cache=_bytecode_cache(),
        **_SYNTAX,
    )
    env.context_class = _macro_context()
    env.globals["pagebreak"] = Markup("{{< pagebreak >}}")
    env.filters["yaml"] = _yaml_string
    env.filters["plural"] = lambda noun, count: noun if count == "1" else noun + "s"
    env.filters["upper_first"] = lambda s: s[:1].upper() + s[1:]
    env.filters["raw"] = _raw
    env.filters["join_and"] = lambda items: (
        ", ".join(items[:-1]) + (" and " + items[-1] if len(items) > 1 else "".join(items))
    )
    return env


_WORD = re.compile(r"[0-9A-Za-z\u00c0-\u024f\u2212][\w\u2212.,\u2013%/'’-]*")


def word_count(markdown: str) -> int:
    """Words of rendered prose: headings, citations, comments and Markdown syntax excluded."""
    text = re.sub(r"<!--.*?-->", " ", markdown, flags=re.S)  # reporting tags, notes
    text = re.sub(r"\[(-?@[^\]]+)\]", " ", text)  # [@key; @key]
    text = re.sub(r"@(fig|tbl)-[\w-]+", "Figure 1", text)  # a cross-reference reads as 2 words
    text = re.sub(r"^#.*$", " ", text, flags=re.M)  # headings
    text = re.sub(r"\{[^}]*\}", " ", text)  # attributes
    text = re.sub(r"^:::.*$", " ", text, flags=re.M)
    text = re.sub(r"\\(.)", r"\1", text)
    return len(_WORD.findall(text))


def _section(env, name: str, ctx: dict[str, Any]) -> Markup:
    return Markup(env.get_template(f"partials/{name}.md.j2").render(ctx).strip() + "\n")


MAIN_SECTIONS = ("introduction", "methods", "results", "discussion")


def render_documents(ctx: dict[str, Any], templates: Path | None = None) -> dict[str, str]:
    """``{"manuscript": qmd, "supplementary": qmd}`` rendered from the context.

    Sections are rendered first so that the title page can give the word counts
    of the abstract and of the main text (introduction to discussion).
    ``templates`` is the authors' folder of templates (see :func:`template_environment`).
    """
    from jinja2 import TemplateError

    env = template_environment(templates)
    try:
        return _render(env, ctx)
    except (TemplateError, TypeError) as exc:  # TypeError: a raw value printed (_finalize)
        problem = _template_problem(exc, templates)
        if problem is None:
            raise
        raise problem from None


def _template_problem(exc: Exception, templates: Path | None) -> Exception | None:
    """A template error as the authors need it: the file and line, and what is wrong.

    Jinja rewrites tracebacks so that their last template frame is the template's
    file and line; a syntax error carries them itself."""
    from jinja2 import TemplateSyntaxError, UndefinedError

    from refracture.errors import ConfigError, RenderError

    file, line = getattr(exc, "filename", None), getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(".j2"):
            file, line = tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
    if not file:
        return None
    where = f"{_shown(Path(file), templates)}:{line}: "
    # the authors' template: theirs to fix (exit 1); a shipped one: refracture's (exit 3)
    ours = templates is None or not Path(file).resolve().is_relative_to(Path(templates).resolve())
    error = RenderError if ours else ConfigError
    if isinstance(exc, UndefinedError):
        name = re.search(r"'([^']+)' is undefined|has no attribute '([^']+)'", str(exc))
        what = next((g for g in name.groups() if g), str(exc)) if name else str(exc)
        return error(f"{where}unknown value {what!r} in a template (see refracture context)")
    if isinstance(exc, TemplateSyntaxError):
        return error(f"{where}template syntax error: {exc.message}")
    return error(f"{where}{exc}")


def _shown(path: Path, templates: Path | None) -> str:
    """A project template as ``templates/partials/x.md.j2``; a shipped one by its name."""
    for root, label in ((templates, None), (templates_dir(), "refracture's")):
        if root is None:
            continue
        try:
            rel = path.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            continue
        return f"{Path(root).name}/{rel}" if label is None else f"{label} {rel}"
    return str(path)


def main_sections(ctx: dict[str, Any], templates: Path | None = None) -> dict[str, Markup]:
    """The abstract and the sections of the main text (introduction to discussion),
    rendered from the context as the manuscript renders them."""
    env = template_environment(templates)
    return {name: _section(env, name, ctx) for name in ("abstract", *MAIN_SECTIONS)}


def word_counts(sections: dict[str, Markup]) -> dict[str, int]:
    """``{"abstract": n, "main": n}`` of :func:`main_sections`: the word counts the
    title page prints (main: introduction to discussion), by :func:`word_count`."""
    return {
        "abstract": word_count(sections["abstract"]),
        "main": sum(word_count(sections[s]) for s in MAIN_SECTIONS),
    }


def _render(env, ctx: dict[str, Any]) -> dict[str, str]:
    sections = {name: _section(env, name, ctx) for name in ("abstract", *MAIN_SECTIONS)}
    counts = {k: str(v) for k, v in word_counts(sections).items()}
    full = {**ctx, "sections": sections, "word_counts": counts}
    for name in ("key_points", "tables", "figures"):
        full["sections"][name] = _section(env, name, full)
    return {doc: env.get_template(f"{doc}.qmd.j2").render(full) for doc in DOCUMENTS}
