"""Helpers of the Word-table tests: DOCX made by pandoc, their tables read back, and
DOCX converted to PDF by headless LibreOffice and checked there.

LibreOffice is a system package (``libreoffice-writer-nogui`` and the Liberation
fonts on Debian), installed by ``.ci/run``: where it is missing the LibreOffice
tests are skipped on a developer's machine and fail under CI.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from refracture.report.docx_tables import Page, page_of

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W = f"{{{W_NS}}}"
NO_BREAK = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2011": "-"})
PAGE_BREAK = '```{=openxml}\n<w:p><w:r><w:br w:type="page"/></w:r></w:p>\n```\n'


def pandoc_docx(markdown: str, tmp_path: Path, style: str = "submission") -> bytes:
    """``markdown`` as pandoc writes it to DOCX with refracture's reference document."""
    from refracture.report.docx_reference import reference_docx
    from refracture.report.embedded import pandoc_path

    reference = tmp_path / f"reference-{style}.docx"
    reference.write_bytes(reference_docx(pandoc_path(), style))
    source = tmp_path / "table.md"
    source.write_text(markdown, encoding="utf-8")
    target = tmp_path / "table.docx"
    subprocess.run(
        [
            pandoc_path(),
            str(source),
            "--from=markdown",
            "--columns=100000",
            f"--reference-doc={reference}",
            f"--output={target}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "SOURCE_DATE_EPOCH": "0"},
    )
    return target.read_bytes()


def document(data: bytes) -> etree._Element:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return etree.fromstring(z.read("word/document.xml"))


def replace_document(data: bytes, root: etree._Element) -> bytes:
    """``data`` with ``word/document.xml`` replaced by ``root`` (other entries as they are)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "word/document.xml":
                content = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
            target.writestr(item, content)
    return out.getvalue()


def cell_text(cell: etree._Element) -> str:
    """A cell's text as Word shows it: a no-break hyphen as U+2011, paragraphs by spaces."""
    text = []
    for element in cell.iter(f"{W}t", f"{W}noBreakHyphen", f"{W}br", f"{W}p"):
        if element.tag == f"{W}t":
            text.append(element.text or "")
        elif element.tag == f"{W}noBreakHyphen":
            text.append("\u2011")
        else:
            text.append(" ")
    return "".join(text).strip()


def tables(root: etree._Element) -> list[etree._Element]:
    return list(root.iter(f"{W}tbl"))


def rows(table: etree._Element) -> list[list[str]]:
    return [[cell_text(tc) for tc in tr.findall(f"{W}tc")] for tr in table.findall(f"{W}tr")]


def quarto_floats(data: bytes) -> bytes:
    """The DOCX as Quarto writes a cross-referenced table: caption and table in the
    one cell of a full-width layout table (quarto-cli's FloatRefTarget for docx)."""
    root = document(data)
    body = root.find(f"{W}body")
    for table in list(body.findall(f"{W}tbl")):
        index = body.index(table)
        caption = body[index - 1] if index and body[index - 1].tag == f"{W}p" else None
        wrapper = etree.fromstring(
            f'<w:tbl xmlns:w="{W_NS}"><w:tblPr><w:tblStyle w:val="Table"/>'
            '<w:tblW w:type="pct" w:w="5000"/><w:tblLook w:firstRow="0" w:lastRow="0" '
            'w:firstColumn="0" w:lastColumn="0" w:noHBand="0" w:noVBand="0" w:val="0000"/>'
            '</w:tblPr><w:tblGrid><w:gridCol w:w="7920"/></w:tblGrid>'
            "<w:tr><w:tc><w:tcPr/></w:tc></w:tr></w:tbl>"
        )
        cell = wrapper.find(f"{W}tr/{W}tc")
        body.insert(index, wrapper)
        if caption is not None:
            cell.append(caption)
        cell.append(table)
        cell.append(etree.fromstring(f'<w:p xmlns:w="{W_NS}"/>'))
    return replace_document(data, root)


# ------------------------------------------------------------------ LibreOffice


def soffice() -> str:
    """The LibreOffice binary; skips the test where it is missing (fails under CI)."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice (soffice) is not installed: .ci/run installs it")
        pytest.skip("LibreOffice (soffice) is not installed")
    return found


def to_pdf(docs: list[Path], out: Path) -> list[Path]:
    """Convert DOCX files to PDF with headless LibreOffice (its own profile folder, so
    that parallel test workers do not share one)."""
    out.mkdir(parents=True, exist_ok=True)
    profile = out / "lo-profile"
    subprocess.run(
        [
            soffice(),
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            *map(str, docs),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    pdfs = [out / f"{d.stem}.pdf" for d in docs]
    for pdf in pdfs:
        assert pdf.is_file(), f"LibreOffice wrote no {pdf.name}"
    return pdfs


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(NO_BREAK)).strip()


def pdf_pages(pdf: Path) -> list[tuple[float, float, str]]:
    """(width, height, whitespace-normalised text) of each page."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    try:
        out = []
        for page in doc:
            width, height = page.get_size()
            out.append((width, height, _normal(page.get_textpage().get_text_range())))
        return out
    finally:
        doc.close()


def horizontal_rules(pdf: Path) -> dict[int, list[tuple[float, float]]]:
    """(left, right) of the horizontal lines drawn on each page (table rules), in pt."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    doc = pdfium.PdfDocument(str(pdf))
    try:
        rules: dict[int, list[tuple[float, float]]] = {}
        for number, page in enumerate(doc):
            for obj in page.get_objects(filter=[raw.FPDF_PAGEOBJ_PATH]):
                left, bottom, right, top = obj.get_bounds()
                if top - bottom <= 3 and right - left > 20:
                    rules.setdefault(number, []).append((left, right))
        return rules
    finally:
        doc.close()


def assert_tables_fit(docx: Path, pdf: Path) -> int:
    """Every cell's text is unbroken in the PDF and every table spans the text width.

    Each row's text (cell after cell, as LibreOffice writes a row) must appear in
    the PDF with its words whole: a word or number broken inside a cell ("Fractu
    red", "0.68 8", "(0.31– 20.96)") is not found. Each table's page must have
    horizontal rules, and every rule there runs from the left to the right margin
    (the page's own, landscape pages turned). Returns the number of tables checked.
    """
    data = docx.read_bytes()
    portrait: Page | None = page_of(data)
    assert portrait is not None, f"{docx.name} names no page"
    pages = pdf_pages(pdf)
    rules = horizontal_rules(pdf)
    text = " ".join(p[2] for p in pages)
    found = 0
    for table in tables(document(data)):
        table_rows = rows(table)
        for cells in table_rows:
            row = _normal(" ".join(cells))
            assert row in text, f"{docx.name}: a row is broken or missing in the PDF: {row!r}"
        first = next((_normal(" ".join(r)) for r in table_rows[1:] if any(r)), None)
        first = first or _normal(" ".join(table_rows[0]))
        number = next(i for i, p in enumerate(pages) if first in p[2])
        width, height, _ = pages[number]
        page = portrait.turned() if width > height else portrait
        left = page.left / 20
        right = (page.width - page.right) / 20
        assert rules.get(number), f"{docx.name}: no table rules on page {number + 1}"
        for rule_left, rule_right in rules[number]:
            assert abs(rule_left - left) < 2, (docx.name, number + 1, rule_left, left)
            assert abs(rule_right - right) < 2, (docx.name, number + 1, rule_right, right)
        found += 1
    return found


def landscape_pages(pdf: Path) -> list[str]:
    """The text of the landscape pages of a PDF."""
    return [text for width, height, text in pdf_pages(pdf) if width > height]


__all__ = [
    "PAGE_BREAK",
    "W",
    "assert_tables_fit",
    "cell_text",
    "document",
    "landscape_pages",
    "pandoc_docx",
    "quarto_floats",
    "replace_document",
    "rows",
    "soffice",
    "tables",
    "to_pdf",
]
