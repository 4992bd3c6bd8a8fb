"""The marked-up manuscript as HTML and PDF: the new manuscript's text with deleted
words struck through (``del``) and inserted words underlined (``ins``).

Made from the same word diff as the tracked-changes DOCX
(:mod:`refracture.report.tracked_changes`), so the three show the same changes.
The HTML is built as a document tree with :mod:`lxml.html.builder` (every text
is a text node: whatever the data hold prints literally); headings keep their
level from the Word styles, tables their rows and cells, figure legends their
text (the figures themselves are in the manuscript). The PDF is that HTML
rendered by the embedded engine (pandoc's typst writer, then typst).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lxml import etree
from lxml.html import builder as E

from refracture.report.revision_diff import BlockChange, Paragraph, RowChange, Span, Table

__all__ = ["marked_up_html", "write_marked_up_html_pdf"]

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

_CSS = (
    "body{font-family:'Times New Roman',serif;max-width:46em;margin:2em auto;line-height:1.5}"
    "del{color:#b00020;text-decoration:line-through}"
    "ins{color:#005a9c;text-decoration:underline}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td{border:1px solid #999;padding:0.2em 0.5em;vertical-align:top}"
    "tr.deleted td{background:#fbe9eb}tr.inserted td{background:#e8f1fa}"
)


def _heading_level(paragraph: Paragraph | None) -> int:
    """1–6 for a title or heading paragraph of the Word document, else 0."""
    element = paragraph.element if paragraph is not None else None
    if element is None:
        return 0
    style = element.find(f"{{{W_NS}}}pPr/{{{W_NS}}}pStyle")
    name = style.get(f"{{{W_NS}}}val", "") if style is not None else ""
    if name == "Title":
        return 1
    if name.startswith("Heading") and name[7:].isdigit():
        return min(6, int(name[7:]) + 1)
    return 0


def _spans(spans: Sequence[Span]) -> list:
    out: list = []
    for span in spans:
        if span.op == "=":
            out.append(span.text)
        elif span.op == "+":
            out.append(E.INS(span.text))
        else:
            out.append(E.DEL(span.text))
    return out


def _block_spans(change: BlockChange) -> list:
    if change.kind == "edit":
        return _spans(change.words)
    if change.kind == "insert":
        return _spans([Span("+", change.new.text)]) if change.new.text else []  # type: ignore[union-attr]
    if change.kind == "delete":
        return _spans([Span("-", change.old.text)]) if change.old.text else []  # type: ignore[union-attr]
    return [change.new.text]  # type: ignore[union-attr]


def _paragraph(change: BlockChange):
    content = _block_spans(change)
    if not content or content == [""]:
        return None
    level = _heading_level(change.new if change.new is not None else change.old)  # type: ignore[arg-type]
    tag = getattr(E, f"H{level}") if level else E.P
    return tag(*content)


def _cell(changes: Sequence[BlockChange]):
    content: list = []
    for change in changes:
        spans = _block_spans(change)
        if content and spans:
            content.append(E.BR())
        content.extend(spans)
    return E.TD(*content)


def _plain_cells(table: Table, index: int, op: str) -> list:
    row = table.rows[index]
    return [
        _cell(
            [
                BlockChange(
                    "insert" if op == "+" else "delete", *((None, p) if op == "+" else (p, None))
                )
                for p in cell
            ]
        )
        for cell in row
    ]


def _table(change: BlockChange):
    old, new = change.old, change.new
    rows = []
    if change.kind == "edit":
        assert isinstance(old, Table)
        assert isinstance(new, Table)
        for row in change.rows:
            rows.append(_row(row, old, new))
    elif change.kind == "equal":
        assert isinstance(new, Table)
        for row in new.rows:
            rows.append(E.TR(*(E.TD(*_lines([p.text for p in cell])) for cell in row)))
    else:
        table = new if change.kind == "insert" else old
        assert isinstance(table, Table)
        op, css = ("+", "inserted") if change.kind == "insert" else ("-", "deleted")
        for i in range(len(table.rows)):
            rows.append(E.TR(*_plain_cells(table, i, op), E.CLASS(css)))
    return E.TABLE(E.TBODY(*rows))


def _lines(texts: Sequence[str]) -> list:
    out: list = []
    for text in texts:
        if out:
            out.append(E.BR())
        out.append(text)
    return out


def _row(row: RowChange, old: Table, new: Table):
    if row.kind == "equal":
        return E.TR(*(E.TD(*_lines([p.text for p in cell])) for cell in new.rows[row.new]))  # type: ignore[index]
    if row.kind == "edit":
        return E.TR(*(_cell(cell) for cell in row.cells))
    if row.kind == "insert":
        return E.TR(*_plain_cells(new, row.new, "+"), E.CLASS("inserted"))  # type: ignore[arg-type]
    return E.TR(*_plain_cells(old, row.old, "-"), E.CLASS("deleted"))  # type: ignore[arg-type]


def marked_up_html(changes: Sequence[BlockChange], *, title: str, lang: str = "en") -> bytes:
    """A standalone HTML document of the manuscript with its changes marked."""
    body = []
    for change in changes:
        block = change.new if change.new is not None else change.old
        made = _table(change) if isinstance(block, Table) else _paragraph(change)
        if made is not None:
            body.append(made)
    document = E.HTML(
        E.HEAD(E.META(charset="utf-8"), E.TITLE(title), E.STYLE(_CSS)),
        E.BODY(*body),
        lang=lang,
    )
    return etree.tostring(document, method="html", encoding="utf-8", doctype="<!DOCTYPE html>")


def write_marked_up_html_pdf(
    changes: Sequence[BlockChange], folder: Path, formats: Sequence[str], *, title: str, epoch: int
) -> list[str]:
    """Write ``manuscript-changes.html`` (and ``.pdf`` when ``pdf`` is among
    ``formats``) into ``folder``; returns the names written."""
    from refracture.report.embedded import html_to_pdf

    html = folder / "manuscript-changes.html"
    html.write_bytes(marked_up_html(changes, title=title))
    written = [html.name]
    if "pdf" in formats:
        html_to_pdf(html, folder / "manuscript-changes.pdf", epoch=epoch)
        written.append("manuscript-changes.pdf")
    if "html" not in formats:
        html.unlink()
        written.remove(html.name)
    return written
