"""The new manuscript with its changes since an earlier one as Word tracked changes.

:func:`tracked_changes_docx` reads the paragraphs and tables of two rendered
DOCX files as the reader sees their text (:func:`read_blocks`), diffs them word
by word (:mod:`refracture.report.revision_diff`) and marks the differences in
the NEW document: inserted words are wrapped in ``w:ins``, deleted words come
back from the old text in ``w:del`` runs (formatted like the text they stood
beside), a deleted paragraph or table row is copied from the old document with
its paragraph mark or row marked deleted, an inserted one gets its mark
inserted. Every mark carries the author and the build date, so an editor can
accept or reject each in Word; unchanged paragraphs keep their exact XML.
Accepting every change gives the new document's text, rejecting every change
the old one's.
"""

from __future__ import annotations

import copy
import io
import itertools
import zipfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from refracture.report.revision_diff import (
    Block,
    BlockChange,
    Paragraph,
    RowChange,
    Span,
    Table,
    diff_blocks,
    new_text,
)

if TYPE_CHECKING:
    from refracture.report.context import ManuscriptMeta

__all__ = ["read_blocks", "revision_author", "tracked_changes_docx", "write_marked_up"]

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
DOCUMENT = "word/document.xml"

_ATOMS = {"tab": "\t", "ptab": "\t", "br": "\n", "cr": "\n", "noBreakHyphen": "-"}
"""Run content the reader sees as a character."""
_KEEP_IN_COPY = {"rPr", "t", "tab", "br", "cr", "noBreakHyphen", "softHyphen"}
"""Run content a deleted paragraph copied from the old document keeps (no drawing
or reference into the old document's parts)."""


def _w(tag: str) -> str:
    return f"{{{W_NS}}}{tag}"


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def _owner(run: etree._Element) -> etree._Element | None:
    """The paragraph a run belongs to (a run in a text box belongs to the box's)."""
    parent = run.getparent()
    while parent is not None and parent.tag != _w("p"):
        parent = parent.getparent()
    return parent


def _runs(paragraph: etree._Element) -> list[etree._Element]:
    """The paragraph's own runs in order, outside any deletion."""
    found = []
    for run in paragraph.iter(_w("r")):
        if _owner(run) is not paragraph:
            continue
        if any(a.tag == _w("del") for a in run.iterancestors()):
            continue
        found.append(run)
    return found


def _piece_text(child: etree._Element) -> str:
    name = _local(child)
    if name == "t":
        return child.text or ""
    return _ATOMS.get(name, "")


def paragraph_text(paragraph: etree._Element) -> str:
    """The text of a paragraph as the reader sees it."""
    return "".join(
        _piece_text(child) for run in _runs(paragraph) for child in run if _local(child) != "rPr"
    )


def _cells(row: etree._Element) -> list[etree._Element]:
    return [c for c in row.iter(_w("tc")) if next(c.iterancestors(_w("tr"))) is row]


def _blocks(container: etree._Element) -> list[Block]:
    blocks: list[Block] = []
    for child in container:
        if child.tag == _w("p"):
            blocks.append(Paragraph(paragraph_text(child), child))
        elif child.tag == _w("tbl"):
            rows = [r for r in child if r.tag == _w("tr")]
            cells = tuple(
                tuple(
                    tuple(b for b in _blocks(cell) if isinstance(b, Paragraph))
                    for cell in _cells(row)
                )
                for row in rows
            )
            blocks.append(Table(cells, child, tuple(rows)))
    return blocks


def _body(document: bytes) -> tuple[etree._Element, etree._Element]:
    root = etree.fromstring(document, _parser())
    body = root.find(_w("body"))
    if body is None:
        raise ValueError("not a Word document: no body")
    return root, body


def read_blocks(data: bytes) -> list[Block]:
    """The paragraphs and tables of the DOCX ``data``, in order, as their text."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        _root, body = _body(z.read(DOCUMENT))
    return _blocks(body)


class _Marks:
    """Makes ``w:ins`` and ``w:del`` marks: one author, one date, fresh ids."""

    def __init__(self, author: str, date: str, first_id: int) -> None:
        self.author, self.date, self.next_id = author, date, first_id
        self.made: set[etree._Element] = set()

    def make(self, tag: str) -> etree._Element:
        mark = etree.Element(_w(tag))
        mark.set(_w("id"), str(self.next_id))
        mark.set(_w("author"), self.author)
        mark.set(_w("date"), self.date)
        self.next_id += 1
        self.made.add(mark)
        return mark


def _ensure(parent: etree._Element, tag: str, index: int = 0) -> etree._Element:
    found = parent.find(_w(tag))
    if found is None:
        found = etree.Element(_w(tag))
        parent.insert(index, found)
    return found


def _mark_paragraph(paragraph: etree._Element, tag: str, marks: _Marks) -> None:
    """Mark the paragraph mark itself inserted or deleted (``w:pPr/w:rPr/w:ins``)."""
    ppr = _ensure(paragraph, "pPr")
    rpr = ppr.find(_w("rPr"))
    if rpr is None:
        rpr = etree.Element(_w("rPr"))
        tail = [c for c in ppr if _local(c) in ("sectPr", "pPrChange")]
        if tail:
            tail[0].addprevious(rpr)
        else:
            ppr.append(rpr)
    rpr.insert(0, marks.make(tag))


def _wrap(run: etree._Element, tag: str, marks: _Marks) -> None:
    """Put ``run`` into a ``w:ins``/``w:del`` mark: the one just before it, if it is one
    of ours of that kind, else a new one in its place."""
    before = run.getprevious()
    if before is not None and before in marks.made and before.tag == _w(tag):
        before.append(run)
        return
    mark = marks.make(tag)
    run.addprevious(mark)
    mark.append(run)


def _insert_paragraph(paragraph: etree._Element, marks: _Marks) -> None:
    for run in _runs(paragraph):
        _wrap(run, "ins", marks)
    _mark_paragraph(paragraph, "ins", marks)


def _to_deleted_text(run: etree._Element) -> None:
    for t in run.findall(_w("t")):
        t.tag = _w("delText")


def _deleted_copy(paragraph: etree._Element, marks: _Marks) -> etree._Element:
    """A copy of the old document's paragraph, all of it marked deleted."""
    copied = copy.deepcopy(paragraph)
    for tag in ("bookmarkStart", "bookmarkEnd", "proofErr"):
        for element in copied.findall(f".//{_w(tag)}"):
            element.getparent().remove(element)
    for link in copied.findall(f".//{_w('hyperlink')}"):  # its target is the old document's
        for child in list(link):
            link.addprevious(child)
        link.getparent().remove(link)
    for run in copied.iter(_w("r")):
        for child in list(run):
            if _local(child) not in _KEEP_IN_COPY:
                run.remove(child)
    for run in _runs(copied):
        _to_deleted_text(run)
        _wrap(run, "del", marks)
    _mark_paragraph(copied, "del", marks)
    return copied


def _split_runs(paragraph: etree._Element) -> None:
    """One piece of content per run, so that runs can be cut at any character."""
    for run in _runs(paragraph):
        content = [c for c in run if _local(c) != "rPr"]
        if len(content) < 2:
            continue
        rpr = run.find(_w("rPr"))
        for child in content:
            part = etree.Element(run.tag, attrib=dict(run.attrib))
            if rpr is not None:
                part.append(copy.deepcopy(rpr))
            part.append(child)
            run.addprevious(part)
        run.getparent().remove(run)


def _text_run(like: etree._Element | None, text: str, tag: str) -> etree._Element:
    """A run holding ``text`` (tabs and line breaks as Word's own), formatted like ``like``."""
    run = etree.Element(_w("r"))
    rpr = like.find(_w("rPr")) if like is not None else None
    if rpr is not None:
        run.append(copy.deepcopy(rpr))
    chunk = ""
    for char in text + "\0":
        if char in ("\t", "\n", "\0"):
            if chunk:
                t = etree.SubElement(run, _w(tag))
                t.text = chunk
                t.set(XML_SPACE, "preserve")
            chunk = ""
            if char != "\0":
                etree.SubElement(run, _w("tab" if char == "\t" else "br"))
        else:
            chunk += char
    return run


def _edit_paragraph(paragraph: etree._Element, spans: Sequence[Span], marks: _Marks) -> None:
    """Mark the word changes ``spans`` in ``paragraph`` (whose text is their new text)."""
    _split_runs(paragraph)
    text = paragraph_text(paragraph)
    if text != new_text(spans):
        raise ValueError("the paragraph's text is not the new text of its changes")
    segments: list[tuple[int, int, str]] = []
    deletions: list[tuple[int, str]] = []
    at = 0
    for span in spans:
        if span.op == "-":
            deletions.append((at, span.text))
        else:
            segments.append((at, at + len(span.text), span.op))
            at += len(span.text)

    def op_at(x: int) -> str:
        return next((op for a, b, op in segments if a <= x < b), "=")

    cuts = sorted({a for a, _, _ in segments} | {b for _, b, _ in segments})
    pieces: list[tuple[etree._Element, int, int, str]] = []
    at = 0
    for run in _runs(paragraph):
        content = [c for c in run if _local(c) != "rPr"]
        piece = "".join(_piece_text(c) for c in content)
        is_text = len(content) == 1 and _local(content[0]) == "t"
        inner = [c for c in cuts if at < c < at + len(piece)] if is_text else []
        if not inner:
            pieces.append((run, at, at + len(piece), op_at(at)))
        else:
            bounds = [at, *inner, at + len(piece)]
            for a, b in itertools.pairwise(bounds):
                part = copy.deepcopy(run)
                t = part.find(_w("t"))
                t.text = piece[a - at : b - at]
                t.set(XML_SPACE, "preserve")
                run.addprevious(part)
                pieces.append((part, a, b, op_at(a)))
            run.getparent().remove(run)
        at += len(piece)
    for run, _a, _b, op in pieces:
        if op == "+":
            _wrap(run, "ins", marks)

    def outer(run: etree._Element) -> etree._Element:
        parent = run.getparent()
        return parent if parent in marks.made else run

    for pos, deleted in deletions:
        after = next((p for p in pieces if p[1] >= pos), None)
        before = next((p for p in reversed(pieces) if p[2] <= pos), None)
        like = before[0] if before is not None else after[0] if after is not None else None
        mark = marks.make("del")
        mark.append(_text_run(like, deleted, "delText"))
        if after is not None:
            outer(after[0]).addprevious(mark)
        elif before is not None:
            outer(before[0]).addnext(mark)
        else:
            paragraph.append(mark)


def _mark_row(row: etree._Element, tag: str, marks: _Marks) -> None:
    trpr = row.find(_w("trPr"))
    if trpr is None:
        trpr = etree.Element(_w("trPr"))
        prex = row.find(_w("tblPrEx"))
        if prex is not None:
            prex.addnext(trpr)
        else:
            row.insert(0, trpr)
    change = trpr.find(_w("trPrChange"))
    if change is not None:
        change.addprevious(marks.make(tag))
    else:
        trpr.append(marks.make(tag))


def _row_paragraphs(row: etree._Element) -> list[etree._Element]:
    return [p for cell in _cells(row) for p in cell if p.tag == _w("p")]


def _insert_row(row: etree._Element, marks: _Marks) -> None:
    _mark_row(row, "ins", marks)
    for paragraph in _row_paragraphs(row):
        _insert_paragraph(paragraph, marks)


def _deleted_row(row: etree._Element, marks: _Marks) -> etree._Element:
    copied = copy.deepcopy(row)
    _mark_row(copied, "del", marks)
    for cell in _cells(copied):
        for paragraph in [p for p in cell if p.tag == _w("p")]:
            paragraph.addprevious(_deleted_copy(paragraph, marks))
            cell.remove(paragraph)
    return copied


def _insert_table(table: etree._Element, marks: _Marks) -> None:
    for row in table.findall(_w("tr")):
        _insert_row(row, marks)


def _deleted_table(table: etree._Element, marks: _Marks) -> etree._Element:
    copied = copy.deepcopy(table)
    for row in copied.findall(_w("tr")):
        row.addprevious(_deleted_row(row, marks))
        copied.remove(row)
    return copied


class _Placer:
    """Places what was deleted where it stood: after the last element placed, or at
    the start of the container."""

    def __init__(self, start: Callable[[etree._Element], None]) -> None:
        self.start, self.last = start, None

    def put(self, element: etree._Element) -> None:
        if self.last is None:
            self.start(element)
        else:
            self.last.addnext(element)
        self.last = element


def _at_start(container: etree._Element, skip: tuple[str, ...]) -> Callable:
    def start(element: etree._Element) -> None:
        index = 0
        for i, child in enumerate(container):
            if _local(child) in skip:
                index = i + 1
        container.insert(index, element)

    return start


def _apply(
    changes: Sequence[BlockChange], container: etree._Element, marks: _Marks, *, skip=()
) -> None:
    placer = _Placer(_at_start(container, skip))
    for change in changes:
        new, old = change.new, change.old
        if change.kind == "delete":
            assert old is not None
            if isinstance(old, Paragraph):
                placer.put(_deleted_copy(old.element, marks))
            else:
                placer.put(_deleted_table(old.element, marks))
            continue
        assert new is not None
        if change.kind == "insert":
            if isinstance(new, Paragraph):
                _insert_paragraph(new.element, marks)
            else:
                _insert_table(new.element, marks)
        elif change.kind == "edit":
            if isinstance(new, Paragraph):
                _edit_paragraph(new.element, change.words, marks)
            else:
                assert isinstance(old, Table)
                _edit_table(old, new, change.rows, marks)
        placer.last = new.element


def _edit_table(old: Table, new: Table, rows: Sequence[RowChange], marks: _Marks) -> None:
    placer = _Placer(_at_start(new.element, ("tblPr", "tblGrid")))
    for row in rows:
        if row.kind == "delete":
            assert row.old is not None
            placer.put(_deleted_row(old.row_elements[row.old], marks))
            continue
        assert row.new is not None
        element = new.row_elements[row.new]
        if row.kind == "insert":
            _insert_row(element, marks)
        elif row.kind == "edit":
            for cell, changes in zip(_cells(element), row.cells, strict=True):
                _apply(changes, cell, marks, skip=("tcPr",))
        placer.last = element


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _largest_id(root: etree._Element) -> int:
    ids = [
        int(v)
        for e in root.iter()
        if (v := e.get(_w("id"))) is not None and v.lstrip("-").isdigit()
    ]
    return max(ids, default=0)


def tracked_changes_docx(
    old: bytes, new: bytes, *, author: str, epoch: int
) -> tuple[bytes, list[BlockChange]]:
    """The DOCX ``new`` with its changes since the DOCX ``old`` as tracked changes by
    ``author`` dated ``epoch`` (seconds); and the changes (:func:`diff_blocks`)."""
    from refracture.report.docx_tables import with_document

    with zipfile.ZipFile(io.BytesIO(old)) as z:
        _old_root, old_body = _body(z.read(DOCUMENT))
    with zipfile.ZipFile(io.BytesIO(new)) as z:
        document = z.read(DOCUMENT)
    root, body = _body(document)
    changes = diff_blocks(_blocks(old_body), _blocks(body))
    marks = _Marks(author, _iso(epoch), _largest_id(root) + 1)
    _apply(changes, body, marks)
    tree = root.getroottree()
    xml = etree.tostring(
        tree, xml_declaration=True, encoding="UTF-8", standalone=tree.docinfo.standalone
    )
    return with_document(new, xml), changes


def revision_author(meta: ManuscriptMeta) -> str:
    """Whose changes the marks are: the corresponding author, else the first author."""
    corresponding = [a for a in meta.authors if a.corresponding] or list(meta.authors)
    return corresponding[0].name if corresponding else "refracture"


def write_marked_up(
    old_docx: bytes, folder: Path, meta: ManuscriptMeta, epoch: int, formats: Sequence[str]
) -> list[str]:
    """Write the marked-up manuscript into the build folder ``folder``:
    ``manuscript-changes.docx`` (its ``manuscript.docx`` with the changes since
    ``old_docx`` tracked) and, for ``html`` and ``pdf`` among ``formats``,
    ``manuscript-changes.html`` and ``.pdf`` (:mod:`refracture.report.marked_up`).
    Returns the names written."""
    from refracture.report.marked_up import write_marked_up_html_pdf

    new = (folder / "manuscript.docx").read_bytes()
    marked, changes = tracked_changes_docx(old_docx, new, author=revision_author(meta), epoch=epoch)
    (folder / "manuscript-changes.docx").write_bytes(marked)
    written = ["manuscript-changes.docx"]
    others = [f for f in formats if f in ("html", "pdf")]
    if others:
        written += write_marked_up_html_pdf(changes, folder, others, title=meta.title, epoch=epoch)
    return written
