"""Where the changes of a revision are: the changed sentences of the new manuscript,
their section, and their page and line in the new submission-style PDF.

:func:`changed_sentences` takes the block changes of the word diff
(:mod:`refracture.report.revision_diff`, with the new DOCX's paragraphs) and
returns each sentence of the new text that holds an inserted word or stands where
words were deleted, with the heading it is under; a deleted paragraph is listed
with its old text. :func:`find_places` finds each sentence's page (from 1) and
printed line number in the PDF with pypdfium2: the sentence's opening words are
looked for in the page text, and the line number is the one printed in the
margin level with them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from refracture.report.revision_diff import BlockChange, Paragraph, Table

__all__ = ["ChangedSentence", "Place", "changed_sentences", "find_places"]

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(“\"])")
_PROBE = 48
"""How many characters of a sentence's opening are looked for in the PDF."""


@dataclass(frozen=True)
class ChangedSentence:
    section: str
    text: str
    """The sentence as the new manuscript prints it (for a deletion: the old text)."""
    kind: str
    """``changed``, ``added``, ``deleted`` or ``table`` (a changed table row)."""
    probe: str = ""
    """What to look for in the PDF (default: the text; a table row's label)."""

    @property
    def looked_for(self) -> str:
        return self.probe or self.text


@dataclass(frozen=True)
class Place:
    page: int
    line: int | None


def _style(paragraph: Paragraph | None) -> str:
    element = paragraph.element if paragraph is not None else None
    if element is None:
        return ""
    style = element.find(f"{{{W_NS}}}pPr/{{{W_NS}}}pStyle")
    return style.get(f"{{{W_NS}}}val", "") if style is not None else ""


def _is_heading(paragraph: Paragraph | None) -> bool:
    return _style(paragraph).startswith("Heading")


def _sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text``."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def _touched(change: BlockChange) -> list[tuple[int, int]]:
    """Where in the new text the changes are: inserted stretches and deletion points."""
    at, out = 0, []
    for span in change.words:
        if span.op == "+":
            out.append((at, at + len(span.text)))
            at += len(span.text)
        elif span.op == "-":
            out.append((at, at))
        else:
            at += len(span.text)
    return out


def changed_sentences(changes: Sequence[BlockChange]) -> list[ChangedSentence]:
    """Each changed sentence of the new manuscript's text, in order, with its section.
    Tables are listed by the row label of each changed row."""
    out: list[ChangedSentence] = []
    section = ""
    for change in changes:
        block = change.new if change.new is not None else change.old
        if isinstance(block, Paragraph) and change.new is not None and _is_heading(change.new):
            section = change.new.text
        if change.kind == "equal":
            continue
        if isinstance(block, Table):
            out += _table_rows(change, section)
            continue
        assert isinstance(block, Paragraph)
        if not block.text.strip():
            continue
        if change.kind == "delete":
            out.append(ChangedSentence(section, block.text, "deleted"))
        elif change.kind == "insert":
            out += [
                ChangedSentence(section, block.text[a:b], "added")
                for a, b in _sentences(block.text)
            ]
        else:
            touched = _touched(change)
            for a, b in _sentences(block.text):
                if any((s < b and e > a) or (s == e and a <= s <= b) for s, e in touched):
                    out.append(ChangedSentence(section, block.text[a:b], "changed"))
    return out


def _table_rows(change: BlockChange, section: str) -> list[ChangedSentence]:
    new = change.new
    if not isinstance(new, Table) or change.kind != "edit":
        kind = "added" if change.kind == "insert" else "deleted"
        return [ChangedSentence(section, "a table", kind)]
    out = []
    for row in change.rows:
        if row.kind in ("equal", "delete") or row.new is None:
            continue
        cells = new.rows[row.new]
        texts = [" ".join(p.text for p in cell) for cell in cells]
        out.append(ChangedSentence(section, " | ".join(texts), "table", texts[0] if texts else ""))
    return out


def _norm_with_index(text: str) -> tuple[str, list[int]]:
    """``text`` with each whitespace run as one space, hyphen marks as hyphens,
    case folded; and the index in ``text`` of each character kept."""
    out, index = [], []
    space = False
    for i, char in enumerate(text):
        if char in "\ufffe\u2011":
            char = "-"
        if char.isspace():
            if not space and out:
                out.append(" ")
                index.append(i)
            space = True
            continue
        space = False
        out.append(char.casefold())
        index.append(i)
    return "".join(out), index


def _norm(text: str) -> str:
    return _norm_with_index(text)[0].strip()


def find_places(pdf: Path, texts: Sequence[str]) -> list[Place | None]:
    """The page and printed line number of each of ``texts`` in ``pdf``, looked for in
    order (each after the one before when found there, else from the start)."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    try:
        pages = []
        for number in range(len(doc)):
            textpage = doc[number].get_textpage()
            raw = textpage.get_text_range()
            norm, index = _norm_with_index(raw)
            pages.append((raw, norm, index, textpage, _line_numbers(raw, textpage)))
        out: list[Place | None] = []
        for text in texts:
            probe = _norm(text)[:_PROBE].strip()
            found = None
            for number, (_raw, norm, index, textpage, numbers) in enumerate(pages):
                at = norm.find(probe) if probe else -1
                if at < 0:
                    continue
                found = Place(number + 1, _line_at(textpage, index[at], numbers))
                break
            out.append(found)
        return out
    finally:
        doc.close()


def _line_numbers(raw: str, textpage) -> list[tuple[float, int]]:
    """The printed line numbers of a page: ``(vertical centre, number)``; lines of
    the page text that are a number alone and stand left of the text."""
    found = []
    at = 0
    for line in raw.split("\n"):
        stripped = line.strip()
        start = raw.find(stripped, at) if stripped else -1
        at += len(line) + 1
        if not stripped.isdigit() or start < 0:
            continue
        left, bottom, _right, top = textpage.get_charbox(start)
        found.append((left, (bottom + top) / 2, int(stripped)))
    if not found:
        return []
    margin = min(x for x, _, _ in found)
    return [(y, n) for x, y, n in found if x <= margin + 20]


def _line_at(textpage, char: int, numbers: Sequence[tuple[float, int]]) -> int | None:
    if not numbers:
        return None
    _left, bottom, _right, top = textpage.get_charbox(char)
    centre = (bottom + top) / 2
    y, n = min(numbers, key=lambda item: abs(item[0] - centre))
    return n if abs(y - centre) < 8 else None
