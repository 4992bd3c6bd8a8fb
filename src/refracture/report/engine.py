"""Choose the renderer and render every document of a build in every format.

``quarto`` runs the Quarto CLI (:mod:`refracture.report.quarto`); ``embedded``
runs pandoc and typst from PyPI (:mod:`refracture.report.embedded`) on the same
``.qmd`` files; ``auto`` takes Quarto when it is installed and new enough, and
otherwise the embedded engine, and says which and why.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from refracture.errors import ConfigError, RenderError

__all__ = ["ENGINES", "FORMATS", "STYLES", "Engine", "choose_engine", "render_all"]

ENGINES: tuple[str, ...] = ("auto", "quarto", "embedded")
FORMATS: dict[str, str] = {"html": ".html", "pdf": ".pdf", "docx": ".docx"}
STYLES: tuple[str, ...] = ("submission", "article")


@dataclass(frozen=True)
class Engine:
    name: str  # "quarto" or "embedded"
    description: str  # name and versions, never a path: the methods section prints it
    reason: str  # why this engine was chosen
    render: Callable[[Path, str, str, str], Path]  # (project, document, fmt, style) → file
    # (project, documents, formats, style) → {(document, fmt): file}, where the engine batches
    render_many: Callable[..., dict[tuple[str, str], Path]] | None = None
    executable: Path | None = None  # where the renderer lives (the path guard looks for it)


def _embedded(reason: str, epoch: int) -> Engine:
    from refracture.report import embedded

    versions = embedded.version_info()
    description = f"the embedded engine (pandoc {versions['pandoc']}, typst {versions['typst']})"

    def render(project: Path, document: str, fmt: str, style: str) -> Path:
        return embedded.render(project, document, fmt, style=style, source_date_epoch=epoch)

    def render_many(project: Path, documents, formats, style: str):
        documents, formats = list(documents), list(formats)
        if len(documents) == 1 and len(formats) == 1:  # one pandoc run, not a read and a write
            path = render(project, documents[0], formats[0], style)
            return {(documents[0], formats[0]): path}
        return embedded.render_all(
            project, documents, formats, style=style, source_date_epoch=epoch
        )

    executable = Path(embedded.pandoc_path()).resolve()
    return Engine("embedded", description, reason, render, render_many, executable)


def _quarto(binary, reason: str, epoch: int) -> Engine:
    from refracture.report import quarto

    def render(project: Path, document: str, fmt: str, style: str) -> Path:
        return quarto.render(
            binary,
            project,
            document,
            "typst" if fmt == "pdf" else fmt,
            metadata={"refracture-style": style},
            env={"SOURCE_DATE_EPOCH": str(epoch)},
        )

    description = f"Quarto {binary.version_text}"
    return Engine("quarto", description, reason, render, executable=binary.path.resolve())


def choose_engine(kind: str, epoch: int) -> Engine:
    """The engine for ``--engine kind``; ``auto`` falls back to embedded with a reason."""
    if kind not in ENGINES:
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, not {kind!r}")
    if kind == "embedded":
        return _embedded("chosen with --engine embedded", epoch)
    from refracture.report import quarto

    try:
        binary = quarto.locate()
    except RenderError as exc:
        if kind == "quarto":
            raise
        return _embedded(f"Quarto is not usable ({exc}); using the embedded engine", epoch)
    reason = "chosen with --engine quarto" if kind == "quarto" else f"Quarto found at {binary.path}"
    return _quarto(binary, reason, epoch)


def render_all(
    engine: Engine,
    project: Path,
    documents: Iterable[str],
    formats: Iterable[str],
    style: str,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Render ``report/DOC.qmd`` of each document in each format to ``project/DOC.ext``.

    The embedded engine reads each document once and runs the writers in
    parallel; Quarto is called once per document and format. Every DOCX, whichever
    engine wrote it, then gets its table layout (:func:`lay_out_tables`).
    """
    say = progress or (lambda _label: None)
    documents, formats = list(documents), list(formats)
    if engine.render_many is not None:
        say(f"{', '.join(documents)} → {', '.join(f.upper() for f in formats)}")
        made = engine.render_many(project, [f"report/{d}.qmd" for d in documents], formats, style)
    else:
        made = {}
        for doc in documents:
            for fmt in formats:
                say(f"{doc} → {fmt.upper()}")
                made[(f"report/{doc}.qmd", fmt)] = engine.render(
                    project, f"report/{doc}.qmd", fmt, style
                )
    out = []
    for doc in documents:
        for fmt in formats:
            path = made[(f"report/{doc}.qmd", fmt)]
            if not path.is_file():
                raise RenderError(f"{engine.name} reported {path} but did not write it")
            target = project / f"{doc}{FORMATS[fmt]}"
            shutil.move(path, target)
            if fmt == "docx":
                lay_out_tables(target, style)
            out.append(target)
    return out


def lay_out_tables(path: Path, style: str) -> None:
    """Give every table of a written DOCX its layout (the same step for every engine).

    The page is the style's (A4, the margins of the PDF); see
    :mod:`refracture.report.docx_tables`.
    """
    from refracture.report.docx_tables import PAGES, lay_out_docx_file

    try:
        lay_out_docx_file(path, PAGES.get(style))
    except (ValueError, OSError) as exc:
        raise RenderError(f"cannot lay out the tables of {path.name}: {exc}") from exc
