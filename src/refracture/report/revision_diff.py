"""A word-level diff of two rendered manuscripts, as the reader sees them.

A document is a sequence of blocks: paragraphs (their text) and tables (rows of
cells, each cell a sequence of paragraphs). :func:`diff_blocks` aligns the
blocks of the old and the new document (equal paragraphs stay untouched; an
edited paragraph is paired with its old self by likeness), diffs an edited
paragraph word by word (:func:`diff_words`) and an edited table row by row and
cell by cell, so a changed number in a table cell is marked in its cell. A
paragraph that left one place and appears unchanged at another is a deletion
there and an insertion here, flagged ``moved``.

The sequence alignment is :class:`difflib.SequenceMatcher`'s (no junk
heuristic); this module only decides what a token is (a word with its closing
punctuation apart, so a number such as ``0.047`` changes as one word) and merges the
single spaces left equal between two changed words into the change, so a
replaced phrase reads as one deletion and one insertion.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any, Literal

__all__ = [
    "BlockChange",
    "Paragraph",
    "RowChange",
    "Span",
    "Table",
    "changed",
    "diff_blocks",
    "diff_words",
    "new_text",
    "old_text",
]

Op = Literal["=", "+", "-"]
Kind = Literal["equal", "insert", "delete", "edit"]

_TOKEN = re.compile(r"\s+|[(\[]+|[^\s(\[]+?(?=[.,;:!?)\]]*(?:\s|$|[(\[]))|[.,;:!?)\]]+|\S")
"""A word: a run of spaces, opening brackets, a run of non-space characters, or the
punctuation closing a word (so ``L1.`` is ``L1`` and ``.``, and ``0.047`` stays whole)."""

SIMILAR = 0.5
"""How alike (share of words in common) an old and a new block must be to be
shown as one edited block rather than a deletion and an insertion."""


@dataclass(frozen=True)
class Paragraph:
    text: str
    element: Any = field(default=None, compare=False, repr=False)
    """Where the paragraph came from (an XML element), carried for the writer."""

    @property
    def key(self) -> str:
        return self.text


@dataclass(frozen=True)
class Table:
    rows: tuple[tuple[tuple[Paragraph, ...], ...], ...]
    """Rows of cells; each cell is its paragraphs."""
    element: Any = field(default=None, compare=False, repr=False)
    row_elements: tuple[Any, ...] = field(default=(), compare=False, repr=False)
    """The element of each row, carried for the writer."""

    @property
    def key(self) -> str:
        return "\n".join("\t".join(_cell_key(c) for c in row) for row in self.rows)


Block = Paragraph | Table


def _cell_key(cell: Sequence[Paragraph]) -> str:
    return "\n".join(p.text for p in cell)


@dataclass(frozen=True)
class Span:
    """A piece of text: kept (``=``), inserted (``+``) or deleted (``-``)."""

    op: Op
    text: str


@dataclass(frozen=True)
class RowChange:
    kind: Kind
    old: int | None
    """The row's index in the old table (None for an inserted row)."""
    new: int | None
    cells: tuple[tuple[BlockChange, ...], ...] = ()
    """For an edited row: each cell's paragraph changes (the cells of a row are
    paired by position)."""


@dataclass(frozen=True)
class BlockChange:
    kind: Kind
    old: Block | None
    new: Block | None
    words: tuple[Span, ...] = ()
    """For an edited paragraph: its words."""
    rows: tuple[RowChange, ...] = ()
    """For an edited table: its rows."""
    moved: bool = False
    """A deleted block that reappears unchanged elsewhere, or that insertion."""


def new_text(spans: Sequence[Span]) -> str:
    """The text with every change accepted."""
    return "".join(s.text for s in spans if s.op != "-")


def old_text(spans: Sequence[Span]) -> str:
    """The text with every change rejected."""
    return "".join(s.text for s in spans if s.op != "+")


def _tokens(text: str) -> list[str]:
    tokens = _TOKEN.findall(text)
    if "".join(tokens) != text:  # every character is in some token (the last alternative)
        raise AssertionError(f"the word pattern lost text of {text!r}")
    return tokens


def diff_words(old: str, new: str) -> tuple[Span, ...]:
    """The word-level changes from ``old`` to ``new``: equal text, then each run of
    changed words as one deletion followed by one insertion."""
    a, b = _tokens(old), _tokens(new)
    raw: list[Span] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            raw.append(Span("=", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            raw.append(Span("-", "".join(a[i1:i2])))
        if j2 > j1:
            raw.append(Span("+", "".join(b[j1:j2])))
    return _merge(raw)


def _merge(raw: list[Span]) -> tuple[Span, ...]:
    """Absorb spaces left equal between two changes, then join each run of changes
    into one deletion and one insertion."""
    spans = list(raw)
    for i in range(1, len(spans) - 1):
        s = spans[i]
        if s.op == "=" and not s.text.strip() and spans[i - 1].op != "=" and spans[i + 1].op != "=":
            spans[i] = Span("~", s.text)  # type: ignore[arg-type]  # kept, but inside a change
    out: list[Span] = []
    deleted: list[str] = []
    inserted: list[str] = []

    def flush() -> None:
        if deleted and inserted and "".join(deleted) == "".join(inserted):
            out.append(Span("=", "".join(deleted)))
        else:
            if deleted:
                out.append(Span("-", "".join(deleted)))
            if inserted:
                out.append(Span("+", "".join(inserted)))
        deleted.clear()
        inserted.clear()

    for s in spans:
        if s.op == "=":
            flush()
            if out and out[-1].op == "=":
                out[-1] = Span("=", out[-1].text + s.text)
            elif s.text:
                out.append(s)
            continue
        if s.op in ("-", "~"):
            deleted.append(s.text)
        if s.op in ("+", "~"):
            inserted.append(s.text)
    flush()
    return tuple(out)


def _words(text: str) -> list[str]:
    return text.split()


def _likeness(a: Block, b: Block) -> float:
    if type(a) is not type(b):
        return 0.0
    wa, wb = _words(a.key), _words(b.key)
    if not wa and not wb:
        return 1.0
    return SequenceMatcher(None, wa, wb, autojunk=False).ratio()


def _pair(old: Sequence[Any], new: Sequence[Any], alike) -> list[tuple[int | None, int | None]]:
    """Pair the items of two unequal stretches in order: each new item with the next
    old one alike enough (skipped old items are deleted), the rest inserted."""
    pairs: list[tuple[int | None, int | None]] = []
    waiting: list[tuple[int | None, int | None]] = []
    i = 0
    for item in new:
        match = next((k for k in range(i, len(old)) if alike(old[k], item)), None)
        if match is None:
            waiting.append((None, item))
            continue
        pairs.extend((old[k], None) for k in range(i, match))
        pairs.extend(waiting)
        waiting.clear()
        pairs.append((old[match], item))
        i = match + 1
    pairs.extend((old[k], None) for k in range(i, len(old)))
    pairs.extend(waiting)
    return pairs


def _aligned(old_keys: Sequence[str], new_keys: Sequence[str], alike):
    """Index pairs ``(old, new)`` in document order: equal items paired by the
    sequence matcher, the stretches between them paired by :func:`_pair`."""
    matcher = SequenceMatcher(None, list(old_keys), list(new_keys), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            yield from ((i1 + k, j1 + k, True) for k in range(i2 - i1))
            continue
        for a, b in _pair(range(i1, i2), range(j1, j2), alike):
            yield a, b, False


def diff_blocks(
    old: Sequence[Block], new: Sequence[Block], *, pair_all: bool = False
) -> list[BlockChange]:
    """The changes from the blocks ``old`` to the blocks ``new``, in document order
    (a deleted block comes where it stood, before the new block that followed it).
    ``pair_all`` shows every changed block as an edit of the one in its place
    however unlike (the paragraphs of a table cell)."""

    def alike(i: int, j: int) -> bool:
        if pair_all:
            return type(old[i]) is type(new[j])
        return _likeness(old[i], new[j]) >= SIMILAR

    changes: list[BlockChange] = []
    for i, j, equal in _aligned([b.key for b in old], [b.key for b in new], alike):
        if equal:
            changes.append(BlockChange("equal", old[i], new[j]))
        elif j is None:
            changes.append(BlockChange("delete", old[i], None))
        elif i is None:
            changes.append(BlockChange("insert", None, new[j]))
        else:
            changes.append(_edit(old[i], new[j]))
    return _flag_moves(changes)


def _edit(old: Block, new: Block) -> BlockChange:
    if isinstance(old, Paragraph) and isinstance(new, Paragraph):
        return BlockChange("edit", old, new, words=diff_words(old.text, new.text))
    assert isinstance(old, Table)
    assert isinstance(new, Table)
    return BlockChange("edit", old, new, rows=_diff_rows(old, new))


def _diff_rows(old: Table, new: Table) -> tuple[RowChange, ...]:
    def key(row) -> str:
        return "\t".join(_cell_key(c) for c in row)

    def alike(i: int, j: int) -> bool:
        a, b = old.rows[i], new.rows[j]
        if len(a) != len(b):
            return False
        wa, wb = _words(key(a)), _words(key(b))
        return SequenceMatcher(None, wa, wb, autojunk=False).ratio() >= SIMILAR

    rows: list[RowChange] = []
    old_keys = [key(r) for r in old.rows]
    new_keys = [key(r) for r in new.rows]
    for i, j, equal in _aligned(old_keys, new_keys, alike):
        if equal:
            rows.append(RowChange("equal", i, j))
        elif j is None:
            rows.append(RowChange("delete", i, None))
        elif i is None:
            rows.append(RowChange("insert", None, j))
        else:
            cells = tuple(
                tuple(diff_blocks(a, b, pair_all=True))
                for a, b in zip(old.rows[i], new.rows[j], strict=True)
            )
            rows.append(RowChange("edit", i, j, cells=cells))
    return tuple(rows)


def _flag_moves(changes: list[BlockChange]) -> list[BlockChange]:
    deleted = {c.old.key for c in changes if c.kind == "delete" and c.old is not None}
    inserted = {c.new.key for c in changes if c.kind == "insert" and c.new is not None}
    moved = {k for k in deleted & inserted if k.strip()}
    if not moved:
        return changes
    out = []
    for c in changes:
        block = c.old if c.kind == "delete" else c.new if c.kind == "insert" else None
        out.append(dataclasses.replace(c, moved=True) if block and block.key in moved else c)
    return out


def changed(changes: Sequence[BlockChange]) -> bool:
    """Whether anything changed."""
    return any(c.kind != "equal" for c in changes)
