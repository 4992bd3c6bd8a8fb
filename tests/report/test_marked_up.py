"""The marked-up manuscript as HTML: deletions and insertions marked, text inert."""

from __future__ import annotations

import lxml.html

from refracture.report.marked_up import marked_up_html
from refracture.report.revision_diff import Paragraph, Table, diff_blocks


def _table(*rows: tuple[str, ...]) -> Table:
    return Table(tuple(tuple((Paragraph(cell),) for cell in row) for row in rows))


def _page(old, new) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(marked_up_html(diff_blocks(old, new), title="A <title>"))


def test_changes_are_marked_and_unchanged_text_is_plain():
    page = _page(
        [Paragraph("Of 120 patients."), Paragraph("Kept."), _table(("T12", "52"))],
        [Paragraph("Of 119 patients."), Paragraph("Kept."), _table(("T12", "51"))],
    )
    assert [d.text for d in page.iter("del")] == ["120", "52"]
    assert [i.text for i in page.iter("ins")] == ["119", "51"]
    paragraphs = page.findall(".//p")
    assert paragraphs[1].text_content() == "Kept."
    assert not paragraphs[1].findall(".//*")
    cell = page.find(".//td[2]")
    assert cell.text_content() == "5251"


def test_text_from_data_prints_literally():
    old = [Paragraph("Site <b>A</b> & co")]
    new = [Paragraph("Site <script>alert(1)</script> & co")]
    html = marked_up_html(diff_blocks(old, new), title="A <title>")
    assert b"<script>" not in html
    assert b"<b>" not in html
    page = lxml.html.fromstring(html)
    assert page.find(".//p").text_content() == "Site <b>A</b><script>alert(1)</script> & co"
    assert page.find(".//title").text == "A <title>"


def test_deleted_and_inserted_rows_and_paragraphs():
    page = _page(
        [Paragraph("Gone."), _table(("Level", "OR"), ("T11", "1.2"))],
        [_table(("Level", "OR"), ("L1", "0.9")), Paragraph("New.")],
    )
    assert page.find(".//p/del").text == "Gone."
    assert page.findall(".//p")[-1].find("ins").text == "New."
    classes = [tr.get("class") for tr in page.iter("tr")]
    assert classes == [None, "deleted", "inserted"]


def test_same_changes_same_bytes():
    old, new = [Paragraph("a b")], [Paragraph("a c")]
    first = marked_up_html(diff_blocks(old, new), title="t")
    assert first == marked_up_html(diff_blocks(old, new), title="t")
