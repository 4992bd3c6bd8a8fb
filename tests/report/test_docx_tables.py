"""The layout of Word tables (refracture.report.docx_tables) on DOCX made for the test.

The tables are written by pandoc with refracture's reference document, as the
embedded engine writes them; one is wrapped the way Quarto wraps a
cross-referenced table. The LibreOffice side (what a person sees) is in
test_docx_libreoffice.py.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from refracture.report.docx_tables import (
    DEFAULT_PAGE,
    PAGES,
    Page,
    _Font,
    _glue,
    lay_out_docx,
    lay_out_docx_file,
    page_of,
    text_width,
    with_page,
)
from tests.report.docx_checks import (
    PAGE_BREAK,
    W,
    cell_text,
    document,
    pandoc_docx,
    quarto_floats,
    replace_document,
    rows,
    tables,
)

MINUS = "\u2212"
LOW = (f"{MINUS}2.9 [{MINUS}3.4, {MINUS}2.3]", f"{MINUS}3.1 [{MINUS}3.6, {MINUS}2.6]")

LABELS = f"""Text before the table.

| Characteristic | All patients | With a subsequent fracture | P |
|:---|---:|---:|---:|
| Age at the index procedure, years, mean (SD) | 71.2 (8.4) | 72.0 (7.9) | 0.688 |
| Lowest T-score of L1–L4, median [interquartile range] | {LOW[0]} | {LOW[1]} | < 0.001 |
| Levels with T ≤ {MINUS}2.5 (n = 12) | 12 (10.3%) | 7 (36.8%) | 0.04 |
| Odds ratio of a fracture per unit | 2.55 (0.31–20.96) | 16.98 (2.08–138.37) | 0.12 |
| Hostile text {{{{ 7\\*7 }}}} \\<script\\> &amp; | 1 | 2 | 0.5 |

: Characteristics of the patients. {{#tbl-labels}}

::: {{custom-style="Table Note"}}
A note under the table.
:::

Text after the table.
"""


def _wide_table(columns: int) -> str:
    header = "| Cutoff | " + " | ".join(f"Column {i}" for i in range(columns)) + " |"
    rule = "|:---|" + "---:|" * columns
    cells = " | ".join("12.57 (1.55–102.19)" for _ in range(columns))
    body = "\n".join(f"| T ≤ {MINUS}{1.5 + i / 10:.1f} | {cells} |" for i in range(4))
    return f"{header}\n{rule}\n{body}\n\n: A table wider than the page. {{#tbl-wide}}\n"


WIDE = f"""Portrait text before.

{PAGE_BREAK}
{_wide_table(6)}
::: {{custom-style="Table Note"}}
A note of the wide table.
:::

{PAGE_BREAK}
Portrait text after.
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("docx-tables")


@pytest.fixture(scope="module")
def labels(folder: Path) -> bytes:
    return pandoc_docx(LABELS, folder)


@pytest.fixture(scope="module")
def wide(folder: Path) -> bytes:
    return pandoc_docx(WIDE, folder)


def _widths(table: etree._Element) -> list[int]:
    return [int(g.get(f"{W}w")) for g in table.findall(f"{W}tblGrid/{W}gridCol")]


def _cell_widths(table: etree._Element) -> list[list[int]]:
    return [
        [int(tc.find(f"{W}tcPr/{W}tcW").get(f"{W}w")) for tc in tr.findall(f"{W}tc")]
        for tr in table.findall(f"{W}tr")
    ]


def _sections(root: etree._Element) -> list[etree._Element]:
    """Every w:sectPr of the body in order (the last one is the body's own)."""
    return list(root.iter(f"{W}sectPr"))


def _size(sectpr: etree._Element) -> tuple[int, int, str | None]:
    size = sectpr.find(f"{W}pgSz")
    return int(size.get(f"{W}w")), int(size.get(f"{W}h")), size.get(f"{W}orient")


# ------------------------------------------------------------------ text


@pytest.mark.parametrize(
    ("text", "glued"),
    [
        ("2.55 (0.31–20.96)", "2.55\u00a0(0.31–20.96)"),
        (f"T ≤ {MINUS}2.2", f"T\u00a0≤\u00a0{MINUS}2.2"),
        ("< 0.001", "<\u00a00.001"),
        ("P < 0.001", "P\u00a0<\u00a00.001"),
        ("0.8 to 1.4", "0.8\u00a0to\u00a01.4"),
        (f"{MINUS}2.9 [{MINUS}3.4, {MINUS}2.3]", f"{MINUS}2.9\u00a0[{MINUS}3.4,\u00a0{MINUS}2.3]"),
        ("12 (10.3%)", "12\u00a0(10.3%)"),
        ("Levels with T ≤ −2.5 (n = 12)", "Levels with T\u00a0≤\u00a0−2.5\u00a0(n\u00a0=\u00a012)"),
        # words, and lists of numbers, still wrap
        ("Age at the index procedure", "Age at the index procedure"),
        ("-1.5, -1.6, -1.7", "-1.5, -1.6, -1.7"),
        (
            "from 0 to 100; required where treated",
            "from 0\u00a0to\u00a0100; required where treated",
        ),
        ("went to 12 levels", "went to 12 levels"),
        (" yes", " yes"),
        ("{{ 7*7 }}", "{{ 7*7 }}"),
    ],
)
def test_glue_keeps_numbers_whole(text: str, glued: str) -> None:
    assert _glue(text) == glued


def test_text_is_measured_with_the_times_metrics() -> None:
    roman, bold = _Font("times", 20, False, False), _Font("times", 20, True, False)
    assert roman.width("0.688") == 450  # four digits of 500 and a period of 250 per mille, 10 pt
    assert roman.width("W") > roman.width("i")
    assert bold.width("Fractured") > roman.width("Fractured")
    assert roman.width("T\u00a0≤") == roman.width("T ≤")
    assert _Font("times", 24, False, False).width("0.688") == 540  # 12 pt


# ------------------------------------------------------------------ layout


def test_every_table_spans_the_text_width_with_content_widths(labels: bytes) -> None:
    out, layouts = lay_out_docx(labels)
    (table,) = tables(document(out))
    width = PAGES["submission"].text_width
    assert page_of(out) == PAGES["submission"]  # the reference document's page
    properties = table.find(f"{W}tblPr")
    assert properties.find(f"{W}tblW").get(f"{W}w") == str(width)
    assert properties.find(f"{W}tblW").get(f"{W}type") == "dxa"
    assert properties.find(f"{W}tblLayout").get(f"{W}type") == "fixed"
    columns = _widths(table)
    assert sum(columns) == width
    assert all(row == columns for row in _cell_widths(table))
    (layout,) = layouts
    assert layout.columns == tuple(columns)
    assert not layout.landscape
    assert layout.fits
    # each column is at least its longest unbreakable piece; the labels take what is left
    assert all(c >= m for c, m in zip(columns, layout.minimum, strict=True))
    assert columns[0] == max(columns)
    assert columns[0] > layout.minimum[0]
    # a column gets at least its widest value; one with nothing to wrap gets just that
    interval = _Font("times", 20, False, False).width("16.98 (2.08–138.37)")
    assert columns[2] >= interval + 2 * layout.margin
    assert columns[3] == layout.minimum[3]
    assert columns[3] < _Font("times", 20, False, False).width("< 0.001") * 1.1 + 2 * 85
    # every row is kept on one page
    assert all(tr.find(f"{W}trPr/{W}cantSplit") is not None for tr in table.findall(f"{W}tr"))


def test_numbers_never_break_and_labels_wrap_at_spaces_only(labels: bytes) -> None:
    out, _ = lay_out_docx(labels)
    (table,) = tables(document(out))
    body = rows(table)
    assert body[0] == ["Characteristic", "All patients", "With a subsequent fracture", "P"]
    assert body[2][0] == "Lowest T\u2011score of L1–L4, median [interquartile range]"
    assert body[2][1:] == [
        f"{MINUS}2.9\u00a0[{MINUS}3.4,\u00a0{MINUS}2.3]",
        f"{MINUS}3.1\u00a0[{MINUS}3.6,\u00a0{MINUS}2.6]",
        "<\u00a00.001",
    ]
    assert body[3][0] == "Levels with T\u00a0≤\u00a0−2.5\u00a0(n\u00a0=\u00a012)"
    assert body[4][1:3] == ["2.55\u00a0(0.31–20.96)", "16.98\u00a0(2.08–138.37)"]
    # a hyphen is Word's no-break hyphen, not a character a reader could not search for
    xml = etree.tostring(table, encoding="unicode")
    assert "<w:noBreakHyphen/>" in xml
    assert "-" not in "".join(t.text or "" for t in table.iter(f"{W}t"))


def test_text_from_data_stays_inert(labels: bytes) -> None:
    out, _ = lay_out_docx(labels)
    (table,) = tables(document(out))
    assert rows(table)[5][0] == "Hostile text {{ 7*7 }} <script> &"
    with zipfile.ZipFile(io.BytesIO(out)) as z:
        xml = z.read("word/document.xml").decode("utf-8")
    assert "&lt;script&gt;" in xml
    assert "<script>" not in xml


def test_the_rest_of_the_document_is_untouched(labels: bytes) -> None:
    out, _ = lay_out_docx(labels)
    before, after = document(labels), document(out)
    for root in (before, after):
        for table in tables(root):
            table.getparent().remove(table)
        for sectpr in root.iter(f"{W}sectPr"):
            sectpr.getparent().remove(sectpr)
    assert etree.tostring(before) == etree.tostring(after)
    with zipfile.ZipFile(io.BytesIO(labels)) as a, zipfile.ZipFile(io.BytesIO(out)) as b:
        assert [(i.filename, i.date_time) for i in a.infolist()] == [
            (i.filename, i.date_time) for i in b.infolist()
        ]
        for name in a.namelist():
            if name != "word/document.xml":
                assert a.read(name) == b.read(name), name


def test_same_input_same_bytes_and_a_second_layout_changes_nothing(
    labels: bytes, wide: bytes
) -> None:
    for data in (labels, wide):
        once, layouts = lay_out_docx(data)
        assert lay_out_docx(data)[0] == once
        again, layouts_again = lay_out_docx(once)
        assert again == once
        assert layouts_again == layouts


def test_a_wide_table_gets_a_landscape_section(wide: bytes) -> None:
    out, (layout,) = lay_out_docx(wide)
    assert layout.landscape
    assert layout.fits
    root = document(out)
    page = PAGES["submission"]
    sections = _sections(root)
    # portrait up to the table, landscape for it, portrait again after it
    assert [_size(s) for s in sections] == [
        (page.width, page.height, None),
        (page.height, page.width, "landscape"),
        (page.width, page.height, None),
    ]
    (table,) = tables(root)
    assert sum(_widths(table)) == page.height - page.left - page.right
    body = list(root.find(f"{W}body"))
    ends = [i for i, el in enumerate(body) if el.find(f"{W}pPr/{W}sectPr") is not None]
    start, stop = ends
    inside = body[start + 1 : stop + 1]
    styles = [el.find(f"{W}pPr/{W}pStyle") for el in inside if el.tag == f"{W}p"]
    names = [s.get(f"{W}val") for s in styles if s is not None]
    assert "TableCaption" in names  # the caption goes with its table ...
    assert "TableNote" in names  # ... and so does the note
    assert table in inside
    texts = ["".join(t.text or "" for t in el.iter(f"{W}t")) for el in body]
    assert "Portrait text before." in texts[:start]
    assert "Portrait text after." in texts[stop + 1 :]
    # the page breaks around the table became the section breaks: no blank pages
    breaks = [b for b in root.iter(f"{W}br") if b.get(f"{W}type") == "page"]
    assert breaks == []
    assert len(body) == len(document(wide).find(f"{W}body"))


def test_a_wide_table_at_the_end_makes_the_last_section_landscape(folder: Path) -> None:
    data = pandoc_docx(f"Portrait text.\n\n{_wide_table(6)}", folder)
    out, (layout,) = lay_out_docx(data)
    assert layout.landscape
    sections = _sections(document(out))
    page = PAGES["submission"]
    assert [_size(s) for s in sections] == [
        (page.width, page.height, None),
        (page.height, page.width, "landscape"),
    ]
    assert lay_out_docx(out)[0] == out


def test_a_table_too_wide_even_for_landscape_is_shrunk_to_the_page(folder: Path) -> None:
    data = pandoc_docx(_wide_table(30), folder)
    out, (layout,) = lay_out_docx(data)
    assert layout.landscape
    assert not layout.fits
    (table,) = tables(document(out))
    assert sum(_widths(table)) == PAGES["submission"].turned().text_width


def test_narrow_cell_margins_before_landscape(folder: Path) -> None:
    """A table that fits portrait only with the narrow cell margins keeps to portrait."""
    values = " | ".join("12.57 (1.55–102.19)" for _ in range(3))
    markdown = (
        "| Cutoff | A | B | C | Sensitivity | Specificity | PPV | n |\n"
        "|:--|--:|--:|--:|--:|--:|--:|--:|\n"
        f"| T ≤ {MINUS}1.5 | {values} | 90.0% | 22.0% | 8.3% | 9 |\n"
    )
    out, (layout,) = lay_out_docx(pandoc_docx(markdown, folder))
    assert not layout.landscape
    assert layout.margin == 57
    # with the wide margins it would not have fitted
    assert sum(layout.minimum) + len(layout.minimum) * 2 * (85 - 57) > text_width()
    (table,) = tables(document(out))
    margins = table.find(f"{W}tblPr/{W}tblCellMar")
    assert [(etree.QName(m).localname, m.get(f"{W}w")) for m in margins] == [
        ("left", "57"),
        ("right", "57"),
    ]


def test_quarto_layout_table_is_unwrapped(labels: bytes) -> None:
    """Quarto puts a cross-referenced table and its caption in a one-cell table: the
    layout step gives the same table as for the embedded engine's DOCX."""
    wrapped = quarto_floats(labels)
    root = document(wrapped)
    assert len(tables(root)) == 2  # the wrapper and the table inside it
    out, layouts = lay_out_docx(wrapped)
    (table,) = tables(document(out))
    (expected,) = tables(document(lay_out_docx(labels)[0]))
    assert etree.tostring(table) == etree.tostring(expected)
    assert len(layouts) == 1


def test_a_table_holding_a_picture_is_left_alone(labels: bytes) -> None:
    root = document(labels)
    (table,) = tables(root)
    run = next(table.iter(f"{W}r"))
    run.append(etree.Element(f"{W}drawing"))
    data = replace_document(labels, root)
    out, layouts = lay_out_docx(data)
    assert layouts == []
    (after,) = tables(document(out))
    assert etree.tostring(after) == etree.tostring(table)


def test_the_page_comes_from_the_document(folder: Path, labels: bytes) -> None:
    letter = Page(12240, 15840, top=1440, right=1440, bottom=1440, left=1440)
    root = document(labels)
    data = replace_document(labels, etree.fromstring(with_page(etree.tostring(root), letter)))
    out, _ = lay_out_docx(data)
    (table,) = tables(document(out))
    assert sum(_widths(table)) == 9360 == text_width(letter)
    # an explicit page wins, and is written into the document
    out, _ = lay_out_docx(data, PAGES["article"])
    assert page_of(out) == PAGES["article"]
    (table,) = tables(document(out))
    assert sum(_widths(table)) == PAGES["article"].text_width


def test_a_document_without_a_page_gets_the_default_page(labels: bytes) -> None:
    root = document(labels)
    for sectpr in list(root.iter(f"{W}sectPr")):
        sectpr.getparent().remove(sectpr)
    out, _ = lay_out_docx(replace_document(labels, root))
    assert page_of(out) == DEFAULT_PAGE
    assert text_width() == DEFAULT_PAGE.text_width


MINIMAL = (
    f'<w:document xmlns:w="{W[1:-1]}"><w:body>'
    "<w:tbl><w:tblPr/><w:tblGrid><w:gridCol/><w:gridCol/><w:gridCol/></w:tblGrid>"
    '<w:tr><w:tc><w:tcPr><w:gridSpan w:val="2"/></w:tcPr><w:p><w:r>'
    "<w:t>A heading that spans two columns</w:t></w:r></w:p></w:tc>"
    "<w:tc><w:p><w:r><w:t>P</w:t></w:r></w:p></w:tc></w:tr>"
    "<w:tr><w:tc><w:p><w:r><w:t>a</w:t></w:r></w:p></w:tc>"
    "<w:tc><w:p><w:r><w:t>b</w:t></w:r></w:p></w:tc>"
    "<w:tc><w:p><w:r><w:t>0.001</w:t></w:r></w:p></w:tc></w:tr>"
    "</w:tbl><w:p/></w:body></w:document>"
)


def _minimal_docx(xml: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("word/document.xml", xml)
    return out.getvalue()


def test_a_spanning_cell_widens_its_columns() -> None:
    out, layouts = lay_out_docx(_minimal_docx(MINIMAL))
    assert len(layouts) == 1
    (table,) = tables(document(out))
    columns = _widths(table)
    assert sum(columns) == DEFAULT_PAGE.text_width
    heading = _Font("helvetica", 20, True, False).width("heading")  # no styles: Helvetica
    assert columns[0] + columns[1] >= heading
    widths = _cell_widths(table)
    assert widths[0] == [columns[0] + columns[1], columns[2]]
    assert widths[1] == columns
    assert cell_text(table.find(f"{W}tr/{W}tc")) == "A heading that spans two columns"


def test_not_a_word_document_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a Word document"):
        lay_out_docx(b"rendered by a fake quarto")
    with pytest.raises(ValueError, match="not a Word document"):
        lay_out_docx(_minimal_docx("<w:document"))


def test_lay_out_a_file_in_place(tmp_path: Path, labels: bytes) -> None:
    path = tmp_path / "tables.docx"
    path.write_bytes(labels)
    path.chmod(0o640)
    layouts = lay_out_docx_file(path)
    assert path.read_bytes() == lay_out_docx(labels)[0]
    assert len(layouts) == 1
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["tables.docx"]


def test_the_reference_documents_carry_the_pdf_page(tmp_path: Path) -> None:
    from refracture.report.docx_reference import reference_docx
    from refracture.report.embedded import pandoc_path

    for style in ("submission", "article"):
        assert page_of(reference_docx(pandoc_path(), style)) == PAGES[style]
