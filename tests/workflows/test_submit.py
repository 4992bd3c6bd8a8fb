"""``refracture submit``: the bundle a submission system takes, checked against a profile.

Tried as a new user would: ``init --example`` (marked as real data, so that the
synthetic-data finding stays out of the way), a journal profile of the project's
own, ``refracture submit``. Every file of the bundle opens; figures have the
profile's resolution and width; the zip is the same bytes on a second run; a
limit exceeded is exactly one finding and ``--strict`` exits 1; the checklist's
pages are those on which the section headings are printed in the PDF.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn
from PIL import Image
from pypdf import PdfReader

from refracture.figures.export import pixel_width
from refracture.workflows.submit import ZIP_TIME

PROFILE = """\
name: Test Journal
article_type: Original article
abstract:
  structure: [Study Design, Objective, Summary of Background Data, Methods, Results, Conclusion]
  max_words: 300
max_main_text_words: 3000
max_tables: 4
max_figures: 6
max_references: 40
figures:
  dpi: 300
  single_column_mm: 80
  double_column_mm: 170
tables: separate
"""
TIGHT = "name: Tight Journal\nmax_tables: 3\nfigures:\n  dpi: 300\n"
WIDTHS = {pixel_width(80, 300): "single", pixel_width(170, 300): "double"}
BUNDLE = [
    "cover-letter.docx",
    "figure-1.tif",
    "figure-2.tif",
    "figure-3.tif",
    "figure-4.tif",
    "manuscript.docx",
    "manuscript.pdf",
    "strobe-checklist.docx",
    "strobe-checklist.pdf",
    "supplementary.docx",
    "supplementary.pdf",
    "table-1.docx",
    "table-2.docx",
    "table-3.docx",
    "table-4.docx",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory, cli) -> Path:
    root = tmp_path_factory.mktemp("submit")
    assert cli("init", "paper", "--example", cwd=root).returncode == 0
    project = root / "paper"
    config = project / "refracture.yml"
    text = config.read_text(encoding="utf-8")
    text = text.replace("synthetic: true", "synthetic: false")
    # fewer bootstrap replicates: the build and the submission's analyses run faster
    config.write_text(text + "analysis:\n  bootstrap_replicates: 100\n", encoding="utf-8")
    journals = project / "templates" / "journals"
    journals.mkdir()
    (journals / "test.yml").write_text(PROFILE, encoding="utf-8")
    (journals / "tight.yml").write_text(TIGHT, encoding="utf-8")
    return project


@pytest.fixture(scope="module")
def submitted(project, cli) -> dict:
    """Two runs of ``refracture submit --journal test --strict``: the folder, the outputs
    and the zip's bytes of the first run."""
    first = cli("submit", "--journal", "test", "--strict", cwd=project, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    folder = project / "_submission"
    zip_bytes = (folder / "test-submission.zip").read_bytes()
    second = cli("submit", "--journal", "test", "--strict", cwd=project, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    return {"folder": folder, "first": first, "second": second, "zip": zip_bytes}


def test_the_bundle_is_complete_and_every_file_opens(submitted) -> None:
    folder = submitted["folder"]
    assert "No findings." in submitted["first"].stdout
    with zipfile.ZipFile(folder / "test-submission.zip") as archive:
        assert archive.namelist() == BUNDLE  # sorted; submission-check.md stays out
        for info in archive.infolist():
            assert info.date_time == ZIP_TIME
            assert (info.external_attr >> 16) & 0o777 == 0o644
            assert archive.read(info) == (folder / info.filename).read_bytes()
    for name in BUNDLE:
        path = folder / name
        if path.suffix == ".docx":
            assert Document(str(path)).paragraphs or Document(str(path)).tables
        elif path.suffix == ".pdf":
            assert len(PdfReader(path).pages) >= 1
    assert (
        (folder / "submission-check.md")
        .read_text(encoding="utf-8")
        .startswith("# Submission check: Test Journal")
    )
    assert (folder / "manuscript.pdf").read_bytes() == (
        folder.parent / "_manuscript" / "manuscript.pdf"
    ).read_bytes()


def test_figures_have_the_profiles_resolution_and_width(submitted) -> None:
    columns = []
    for n in range(1, 5):
        with Image.open(submitted["folder"] / f"figure-{n}.tif") as image:
            assert image.info["dpi"] == pytest.approx((300, 300))
            assert image.info["compression"] == "tiff_lzw"
            assert image.size[0] in WIDTHS
            columns.append(WIDTHS[image.size[0]])
    # Figures 1 and 3 (T-scores, ROC) are single-column, 2 and 4 (forest plots) double
    assert columns == ["single", "double", "single", "double"]


def test_tables_are_separate_editable_files_numbered_as_in_the_manuscript(submitted) -> None:
    folder = submitted["folder"]
    manuscript = Document(str(folder / "manuscript.docx"))
    for n in range(1, 5):
        table = Document(str(folder / f"table-{n}.docx"))
        assert len(table.tables) == 1
        caption = next(p.text for p in table.paragraphs if p.text.startswith("Table"))
        assert caption.startswith(f"Table\u00a0{n}. ")  # as the manuscript numbers it
        assert any(p.text == caption for p in manuscript.paragraphs)
        header = [c.text for c in table.tables[0].rows[0].cells]
        assert header == [c.text for c in manuscript.tables[n - 1].rows[0].cells]
        # laid out like the manuscript's tables: fixed column widths at the text width
        layout = table.tables[0]._tbl.tblPr.find(qn("w:tblLayout"))
        assert layout is not None
        assert layout.get(qn("w:type")) == "fixed"


def test_the_zip_is_the_same_bytes_on_a_second_run(submitted) -> None:
    assert "up to date" not in submitted["first"].stderr
    assert "_manuscript is up to date" in submitted["second"].stderr  # not built again
    assert (submitted["folder"] / "test-submission.zip").read_bytes() == submitted["zip"]


def _pdf_lines(pdf: Path) -> list[list[str]]:
    """Each page's lines of text, by pypdf (an extractor independent of refracture's)."""
    return [
        [" ".join(line.split()) for line in (page.extract_text() or "").splitlines()]
        for page in PdfReader(pdf).pages
    ]


def test_checklist_pages_are_the_pages_of_the_section_headings(submitted) -> None:
    folder = submitted["folder"]
    pages = _pdf_lines(folder / "manuscript.pdf")
    checklist = Document(str(folder / "strobe-checklist.docx"))
    places = []
    for table in checklist.tables:
        for row in table.rows[1:]:
            item, where = row.cells[0].text, row.cells[3].text
            assert where, item
            if where.startswith("not reported"):
                assert item.startswith("13c")  # optional ("consider a flow diagram")
                continue
            places += re.findall(r"(?:^|; )([^;]+?), pp?\.\s(\d+)(?:–(\d+))?", where)
    assert len(places) >= 31
    for section, first, last in places:
        heading = section.split(" › ")[-1]
        page = int(first)
        assert heading in pages[page - 1], f"{heading!r} is not a line of page {page}"
        earlier = section.split(" › ")[0]
        if earlier != heading:  # a subsection: its section's heading is on or before it
            assert any(earlier in pages[p] for p in range(page)), section
        if last:
            assert int(last) > page


def test_the_counts_are_those_of_the_title_page_and_the_rendered_references(submitted) -> None:
    build = submitted["folder"].parent / "_manuscript"
    qmd = (build / "report" / "manuscript.qmd").read_text(encoding="utf-8")
    words = re.search(r'wordcount: "Abstract (\d+) words; main text (\d+) words"', qmd)
    assert words is not None
    references = (build / "manuscript.html").read_text(encoding="utf-8").count('id="ref-')
    check = (submitted["folder"] / "submission-check.md").read_text(encoding="utf-8")
    assert f"| Abstract | {words.group(1)} words | at most 300 (Test Journal) | pass |" in check
    assert f"| Main text | {words.group(2)} words | at most 3000 (Test Journal) | pass |" in check
    assert f"| References | {references} references | at most 40 (Test Journal) | pass |" in check


def test_the_cover_letter_is_a_draft_from_the_title_page(submitted) -> None:
    letter = "\n".join(
        p.text for p in Document(str(submitted["folder"] / "cover-letter.docx")).paragraphs
    )
    assert "Level-specific bone density and the site of the next vertebral fracture" in letter
    assert "Test Journal" in letter
    assert "original article" in letter
    assert re.search(r"The abstract has \d+ words and the main text \d+ words", letter)
    assert "4 tables and 4 figures" in letter
    assert "[Authors:" in letter  # the declarations the authors complete
    assert "first.author@example.org" in letter


def test_a_limit_exceeded_is_exactly_that_finding_and_strict_exits_1(
    project, submitted, cli
) -> None:
    r = cli("submit", "--journal", "tight", "--out", "_tight", "--strict", cwd=project, timeout=600)
    assert r.returncode == 1, r.stderr
    findings = [line[4:] for line in r.stdout.splitlines() if line.startswith("  - ")]
    assert findings == ["Tables: 4 tables, 1 over the limit of 3"]
    check = (project / "_tight" / "submission-check.md").read_text(encoding="utf-8")
    assert "1 finding to resolve" in check
    assert "- Tables: 4 tables, 1 over the limit of 3" in check
    assert "| Tables | 4 tables | at most 3 (Tight Journal) | finding |" in check


def test_an_unknown_journal_is_refused_before_any_work(project, cli) -> None:
    r = cli("submit", "--journal", "nature", "--out", "_nature", cwd=project)
    assert r.returncode == 1
    assert "unknown journal 'nature' (available: generic, spine, test, tight)" in r.stderr
    assert not (project / "_nature").exists()


def test_a_folder_of_the_users_is_never_replaced(project, cli) -> None:
    mine = project / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me", encoding="utf-8")
    r = cli("submit", "--journal", "test", "--out", "mine", cwd=project)
    assert r.returncode == 1
    assert "The submission folder mine holds files refracture did not write" in r.stderr
    assert "notes.txt" in r.stderr
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "keep me"
    same = cli("submit", "--out", "_manuscript", cwd=project)
    assert same.returncode == 1
    assert "separate folders" in same.stderr


@pytest.mark.slow
def test_a_removed_tagged_paragraph_is_not_reported_end_to_end(project, submitted, cli, tmp_path):
    copy = tmp_path / "paper"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("_*"))
    discussion = copy / "templates" / "partials" / "discussion.md.j2"
    text = discussion.read_text(encoding="utf-8")
    cut = re.sub(
        r"\nThis study has limitations\..*?<!-- strobe: 19 21 -->\n", "\n", text, flags=re.S
    )
    assert cut != text
    discussion.write_text(cut, encoding="utf-8")
    r = cli("submit", "--journal", "test", "--strict", cwd=copy, timeout=600)
    assert r.returncode == 1
    findings = [line[4:] for line in r.stdout.splitlines() if line.startswith("  - ")]
    assert findings == [
        "STROBE 19 (Limitations) is not reported in the manuscript",
        "STROBE 21 (Generalisability) is not reported in the manuscript",
    ]
    checklist = Document(str(copy / "_submission" / "strobe-checklist.docx"))
    rows = {r.cells[0].text: r.cells[3].text for t in checklist.tables for r in t.rows[1:]}
    assert rows["19"] == rows["21"] == "not reported"
    assert rows["18"].startswith("Discussion, p")
