"""The documents of a submission besides the paper: checklist, cover letter, table files.

Each is written as Markdown by a template of ``templates/submission/`` (so its
words are templates the authors may override, like the paper's) and rendered by
the embedded engine (pandoc + typst from PyPI, always installed) with the paper's
Word reference document and typst style, in the ``article`` style: a one-off
Quarto-like project in a scratch folder, ``report/NAME.qmd`` with the assets
beside it. Same Markdown and date, same bytes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from refracture.errors import RenderError

__all__ = ["render_markdown", "render_template", "write_table_docx"]

STYLE = "article"
"""The typst and Word style of these documents: single-spaced, without line numbers."""


def render_template(name: str, context: Mapping[str, Any], templates: Path | None = None) -> str:
    """The template ``submission/NAME`` (the authors' own first) rendered with ``context``."""
    from jinja2 import TemplateError

    from refracture.report.render import _template_problem, template_environment

    env = template_environment(templates)
    try:
        return env.get_template(f"submission/{name}").render(dict(context))
    except (TemplateError, TypeError) as exc:
        problem = _template_problem(exc, templates)
        if problem is None:
            raise
        raise problem from None


def render_markdown(
    markdown: str, folder: Path, stem: str, formats: Sequence[str], *, epoch: int
) -> dict[str, Path]:
    """Render ``markdown`` (a document with its YAML front matter) to ``folder/STEM.FMT``
    for each of ``formats`` ("docx", "pdf", "html"); returns ``{fmt: path}``."""
    from refracture.report import embedded

    folder = Path(folder)
    with tempfile.TemporaryDirectory(prefix="refracture-doc-") as scratch:
        project = Path(scratch)
        report = project / "report"
        report.mkdir()
        (report / f"{stem}.qmd").write_text(markdown, encoding="utf-8")
        embedded.prepare_assets(report / "assets")
        made = embedded.render_all(
            project, [f"report/{stem}.qmd"], list(formats), style=STYLE, source_date_epoch=epoch
        )
        out: dict[str, Path] = {}
        for fmt in formats:
            path = made[(f"report/{stem}.qmd", fmt)]
            if not path.is_file():
                raise RenderError(f"rendering {stem} to {fmt} did not write {path.name}")
            target = folder / f"{stem}.{fmt}"
            shutil.move(path, target)
            out[fmt] = target
    return out


def write_table_docx(
    entry: Mapping[str, Any], path: Path, *, epoch: int, templates: Path | None = None
) -> Path:
    """One table of the manuscript as its own editable Word file ``path``.

    ``entry`` is the table's context entry (``tables.NAME``: its ``table`` and its
    ``name``, "Table 3"); the template ``submission/table.md.j2`` writes it as the
    manuscript prints it, numbered as in the manuscript. Every separate table file
    of a submission is written here, and only here.
    """
    from refracture.report.engine import lay_out_tables

    markdown = render_template("table.md.j2", {"entry": entry}, templates)
    written = render_markdown(markdown, path.parent, path.stem, ["docx"], epoch=epoch)["docx"]
    lay_out_tables(written, "submission")  # full width, nothing broken inside a cell
    return written
