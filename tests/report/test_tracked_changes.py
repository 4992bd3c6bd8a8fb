"""Word tracked changes made from two DOCX files: valid, and accepting all of them gives
the new text, rejecting all of them the old."""

from __future__ import annotations

import copy
import io
import zipfile

import docx
import pytest
from lxml import etree

from refracture.report.tracked_changes import tracked_changes_docx
from tests.report.tracked_checks import W, resolve, texts

EPOCH = 1795564800  # 2026-11-25


def _docx(paragraphs: list, table: list[list[str]] | None = None, after: list | None = None):
    """A DOCX of ``paragraphs`` (text, or a list of (text, bold) runs), a table, ``after``."""
    document = docx.Document()
    for item in paragraphs:
        p = document.add_paragraph()
        for text, bold in [(item, False)] if isinstance(item, str) else item:
            p.add_run(text).bold = bold
    if table is not None:
        t = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, text in enumerate(row):
                t.cell(r, c).text = text
    for text in after or []:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _check(old: bytes, new: bytes) -> tuple[bytes, etree._Element]:
    marked, _changes = tracked_changes_docx(old, new, author="A. Author", epoch=EPOCH)
    docx.Document(io.BytesIO(marked))  # python-docx opens it
    assert texts(resolve(marked, accept=True)) == texts(new)
    assert texts(resolve(marked, accept=False)) == texts(old)
    root = etree.fromstring(zipfile.ZipFile(io.BytesIO(marked)).read("word/document.xml"))
    return marked, root


TABLE = [["Level", "n", "OR (95% CI)"], ["T11", "40", "1.21 (0.90–1.60)"], ["T12", "52", "1.52"]]


def test_word_changes_in_paragraphs_and_a_table_cell():
    old = _docx(
        [
            "Title",
            [("Results. ", True), ("Of 120 patients, 30 had a new fracture at T12 and L1.", False)],
            "This paragraph stays.",
        ],
        TABLE,
        ["Figure 1. Odds ratios by level."],
    )
    table = copy.deepcopy(TABLE)
    table[2][1] = "51"
    new = _docx(
        [
            "Title",
            [("Results. ", True), ("Of 119 patients, 30 had a new fracture at T12.", False)],
            "This paragraph stays.",
        ],
        table,
        ["Figure 1. Adjusted odds ratios by level."],
    )
    _marked, root = _check(old, new)
    ins = [m for m in root.iter(W + "ins")]
    dels = [m for m in root.iter(W + "del")]
    inserted = ["".join(m.itertext()) for m in ins]
    deleted = ["".join(t.text for t in m.iter(W + "delText")) for m in dels]
    assert sorted(inserted) == sorted(["119", "51", "Adjusted odds"])
    assert sorted(deleted) == sorted(["120", " and L1", "52", "Odds"])
    for mark in ins + dels:
        assert mark.get(W + "author") == "A. Author"
        assert mark.get(W + "date") == "2026-11-25T00:00:00Z"
    ids = [m.get(W + "id") for m in ins + dels]
    assert len(set(ids)) == len(ids)
    # a deleted word is formatted like the text it stood in: plain here, the bold
    # lead-in stays bold
    results = next(p for p in root.iter(W + "p") if "patients" in "".join(p.itertext()))
    deleted_run = next(r for r in results.iter(W + "r") if r.findtext(W + "delText") == "120")
    lead = next(r for r in results.iter(W + "r") if r.findtext(W + "t") == "Results. ")

    def bold(run) -> bool:
        b = run.find(f"{W}rPr/{W}b")  # python-docx writes w:val="0" for a plain run
        return b is not None and b.get(W + "val") not in ("0", "false")

    assert not bold(deleted_run)
    assert bold(lead)


def test_unchanged_paragraphs_keep_their_exact_xml():
    old = _docx(["Kept one.", "Changed 1.52 here.", "Kept two."])
    new = _docx(["Kept one.", "Changed 1.61 here.", "Kept two."])
    _marked, root = _check(old, new)
    new_root = etree.fromstring(zipfile.ZipFile(io.BytesIO(new)).read("word/document.xml"))
    mine = [etree.tostring(p) for p in root.iter(W + "p")]
    theirs = [etree.tostring(p) for p in new_root.iter(W + "p")]
    assert mine[0] == theirs[0]
    assert mine[2] == theirs[2]
    assert mine[1] != theirs[1]


def test_inserted_deleted_and_moved_paragraphs_and_rows():
    old = _docx(["Intro.", "An aside that goes.", "Point A.", "Point B."], TABLE)
    table = [TABLE[0], TABLE[2], ["L1", "33", "0.98"]]
    new = _docx(["Intro.", "Point B.", "Point A.", "A new closing line."], table)
    _marked, root = _check(old, new)
    marked_paragraphs = root.findall(f".//{W}pPr/{W}rPr/{W}del")
    assert marked_paragraphs  # a deleted paragraph's mark is deleted too
    assert root.findall(f".//{W}trPr/{W}ins")
    assert root.findall(f".//{W}trPr/{W}del")


def test_no_change_leaves_no_mark():
    old = _docx(["One.", "Two."], TABLE)
    _marked, root = _check(old, old)
    assert root.find(f".//{W}ins") is None
    assert root.find(f".//{W}del") is None


def test_same_inputs_give_the_same_bytes():
    old = _docx(["Of 120 patients."])
    new = _docx(["Of 119 patients."])
    first = tracked_changes_docx(old, new, author="A", epoch=EPOCH)[0]
    assert first == tracked_changes_docx(old, new, author="A", epoch=EPOCH)[0]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (["Everything here goes."], []),
        ([], ["Everything here is new."]),
        (["A\tB"], ["A C"]),
    ],
)
def test_edge_cases_accept_and_reject(old, new):
    _check(_docx(old), _docx(new))
