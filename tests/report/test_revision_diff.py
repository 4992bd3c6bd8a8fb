"""The word-level diff of two manuscripts on constructed pairs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from refracture.report.revision_diff import (
    Paragraph,
    Span,
    Table,
    changed,
    diff_blocks,
    diff_words,
    new_text,
    old_text,
)


def _table(*rows: tuple[str, ...]) -> Table:
    return Table(tuple(tuple((Paragraph(cell),) for cell in row) for row in rows))


def _marks(spans) -> list[tuple[str, str]]:
    return [(s.op, s.text) for s in spans if s.op != "="]


def test_no_change_gives_no_marks():
    old = [Paragraph("Results."), _table(("Level", "OR"), ("T12", "1.52"))]
    new = [Paragraph("Results."), _table(("Level", "OR"), ("T12", "1.52"))]
    changes = diff_blocks(old, new)
    assert [c.kind for c in changes] == ["equal", "equal"]
    assert not changed(changes)
    assert diff_words("P = 0.047.", "P = 0.047.") == (Span("=", "P = 0.047."),)


def test_inserted_word():
    spans = diff_words("The odds ratio was 1.52.", "The adjusted odds ratio was 1.52.")
    assert _marks(spans) == [("+", " adjusted")]
    assert new_text(spans) == "The adjusted odds ratio was 1.52."
    assert old_text(spans) == "The odds ratio was 1.52."


def test_deleted_words():
    spans = diff_words(
        "Fractures were more frequent at T12 and L1.", "Fractures were frequent at T12."
    )
    assert _marks(spans) == [("-", " more"), ("-", " and L1")]
    assert old_text(spans) == "Fractures were more frequent at T12 and L1."
    assert new_text(spans) == "Fractures were frequent at T12."


def test_replaced_number_is_one_word():
    spans = diff_words("P = 0.047 at T12.", "P = 0.031 at T12.")
    assert _marks(spans) == [("-", "0.047"), ("+", "0.031")]


def test_replaced_phrase_reads_as_one_deletion_and_one_insertion():
    spans = diff_words(
        "The risk rose sharply below −2.5 at each level.",
        "The risk did not differ by T-score at each level.",
    )
    assert _marks(spans) == [
        ("-", "rose sharply below −2.5"),
        ("+", "did not differ by T-score"),
    ]


def test_number_change_in_a_table_cell_is_marked_in_its_cell():
    old = [_table(("Level", "n", "OR"), ("T11", "40", "1.21"), ("T12", "52", "1.52"))]
    new = [_table(("Level", "n", "OR"), ("T11", "40", "1.21"), ("T12", "51", "1.52"))]
    (change,) = diff_blocks(old, new)
    assert change.kind == "edit"
    assert [r.kind for r in change.rows] == ["equal", "equal", "edit"]
    cells = change.rows[2].cells
    assert [c[0].kind for c in cells] == ["equal", "edit", "equal"]
    assert _marks(cells[1][0].words) == [("-", "52"), ("+", "51")]


def test_table_row_inserted_and_deleted():
    old = [_table(("Level", "OR"), ("T11", "1.21"), ("T12", "1.52"))]
    new = [_table(("Level", "OR"), ("T12", "1.52"), ("L1", "0.98"))]
    (change,) = diff_blocks(old, new)
    assert [(r.kind, r.old, r.new) for r in change.rows] == [
        ("equal", 0, 0),
        ("delete", 1, None),
        ("equal", 2, 1),
        ("insert", None, 2),
    ]


def test_paragraph_inserted_and_deleted():
    old = [Paragraph("Introduction."), Paragraph("An old aside."), Paragraph("Methods.")]
    new = [Paragraph("Introduction."), Paragraph("Methods."), Paragraph("A new closing line.")]
    changes = diff_blocks(old, new)
    assert [c.kind for c in changes] == ["equal", "delete", "equal", "insert"]
    assert changes[1].old == Paragraph("An old aside.")
    assert not any(c.moved for c in changes)


def test_edited_paragraph_is_paired_with_its_old_self():
    old = [
        Paragraph("Head."),
        Paragraph("Of 120 patients, 30 had a new fracture."),
        Paragraph("End."),
    ]
    new = [
        Paragraph("Head."),
        Paragraph("Of 119 patients, 30 had a new fracture."),
        Paragraph("End."),
    ]
    changes = diff_blocks(old, new)
    assert [c.kind for c in changes] == ["equal", "edit", "equal"]
    assert _marks(changes[1].words) == [("-", "120"), ("+", "119")]


def test_unlike_paragraphs_are_deleted_and_inserted_not_edited():
    changes = diff_blocks([Paragraph("Alpha beta gamma delta.")], [Paragraph("One two three.")])
    assert [c.kind for c in changes] == ["delete", "insert"]


def test_moved_paragraph():
    a, b, c = (Paragraph(t) for t in ("First point.", "Second point.", "Third point."))
    changes = diff_blocks([a, b, c], [b, c, a])
    assert [(x.kind, x.moved) for x in changes] == [
        ("delete", True),
        ("equal", False),
        ("equal", False),
        ("insert", True),
    ]
    assert changes[0].old == a
    assert changes[-1].new == a


def test_accepting_and_rejecting_give_new_and_old_text():
    pairs = [
        ("", "New paragraph."),
        ("Old paragraph.", ""),
        ("a  b\tc", "a b c d"),
        ("  leading space", "leading  space "),
        ("OR 1.52 (1.10–2.01)", "OR 1.61 (1.20–2.01), P = 0.012"),
    ]
    for old, new in pairs:
        spans = diff_words(old, new)
        assert new_text(spans) == new
        assert old_text(spans) == old


@given(st.text(), st.text())
def test_any_text_is_given_back_by_accepting_and_rejecting(old, new):
    spans = diff_words(old, new)
    assert new_text(spans) == new
    assert old_text(spans) == old


def test_markup_like_text_keeps_every_character():
    spans = diff_words("Site <b>A</b> & co", "Site <script>alert(1)</script> & co")
    assert new_text(spans) == "Site <script>alert(1)</script> & co"
