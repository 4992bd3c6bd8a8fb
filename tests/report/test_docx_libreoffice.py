"""The Word documents as a co-author sees them: converted to PDF by headless LibreOffice.

For the manuscript and the supplement of the example, built with each engine,
every cell's text must appear unbroken among the PDF's words and every table must
span the text width (issue 18, item 5). Quarto cannot be installed here: its
side runs a stand-in ``quarto`` that renders the document with the embedded
pandoc and then wraps each table the way Quarto does (caption and table in a
one-cell layout table), so what is tested is that a DOCX of Quarto's shape goes
through the same layout step.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from tests.report.docx_checks import (
    assert_tables_fit,
    landscape_pages,
    pandoc_docx,
    soffice,
    to_pdf,
)

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the stand-in quarto is a shebang script")

FAKE_QUARTO = """#!{python}
# A stand-in for Quarto: renders with the embedded pandoc, then wraps each table
# with its caption in a one-cell table, as Quarto's docx writer does.
import sys
from pathlib import Path

args = sys.argv[1:]
if args == ["--version"]:
    print("1.7.32")
    sys.exit(0)
sys.path.insert(0, {tests!r})
from refracture.report import embedded
from tests.report.docx_checks import quarto_floats

document, fmt = args[1], args[3]
style = args[args.index("-M") + 1].split(":", 1)[1] if "-M" in args else None
fmt = "pdf" if fmt == "typst" else fmt
path = embedded.render(Path.cwd(), document, fmt, style=style)
if fmt == "docx":
    path.write_bytes(quarto_floats(path.read_bytes()))
"""


def _fake_quarto(folder: Path) -> Path:
    path = folder / "quarto"
    root = str(Path(__file__).resolve().parents[2])
    path.write_text(FAKE_QUARTO.format(python=sys.executable, tests=root), encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture(scope="module")
def quarto_build(tmp_path_factory, cli) -> Path:
    soffice()  # skip (or fail under CI) before building
    folder = tmp_path_factory.mktemp("quarto-docx")
    out = folder / "_manuscript"
    r = cli(
        "build",
        "--out",
        str(out),
        "--engine",
        "quarto",
        "--formats",
        "docx",
        env={"QUARTO_PATH": str(_fake_quarto(folder))},
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def pdfs(example_build: Path, quarto_build: Path, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("docx-pdf")
    made = {}
    for engine, build in (("embedded", example_build), ("quarto", quarto_build)):
        docs = [build / "manuscript.docx", build / "supplementary.docx"]
        for doc, pdf in zip(docs, to_pdf(docs, out / engine), strict=True):
            made[f"{engine}/{doc.stem}"] = pdf
    return made


@pytest.mark.parametrize("engine", ["embedded", "quarto"])
@pytest.mark.parametrize("name", ["manuscript", "supplementary"])
def test_every_cell_unbroken_and_every_table_full_width(
    engine: str, name: str, pdfs: dict[str, Path], example_build: Path, quarto_build: Path
) -> None:
    build = example_build if engine == "embedded" else quarto_build
    checked = assert_tables_fit(build / f"{name}.docx", pdfs[f"{engine}/{name}"])
    assert checked == (4 if name == "manuscript" else 11)


@pytest.mark.parametrize("engine", ["embedded", "quarto"])
def test_only_the_widest_table_turns_to_landscape(engine: str, pdfs: dict[str, Path]) -> None:
    # Table 3 (nine columns) keeps to the portrait page; the supplement's table of
    # every cutoff with all tests (eleven columns) gets a landscape page of its own
    assert landscape_pages(pdfs[f"{engine}/manuscript"]) == []
    (page,) = landscape_pages(pdfs[f"{engine}/supplementary"])
    assert page.startswith("Supplementary Table 1.")


def test_the_issue_s_broken_words_are_whole(pdfs: dict[str, Path]) -> None:
    from tests.report.docx_checks import pdf_pages

    for engine in ("embedded", "quarto"):
        text = " ".join(p[2] for p in pdf_pages(pdfs[f"{engine}/manuscript"]))
        for word in ("Cutoff", "Fractured", "Sensitivity", "Specificity"):
            assert word in text
        for broken in ("Cuto ff", "Fract ured", "Sensi tivity", "0.68 8"):
            assert broken not in text


def test_a_landscape_table_in_libreoffice(tmp_path: Path) -> None:
    """A constructed table too wide for portrait: landscape page, words whole, full width."""
    from refracture.report.docx_tables import lay_out_docx_file
    from tests.report.test_docx_tables import WIDE

    path = tmp_path / "wide.docx"
    path.write_bytes(pandoc_docx(WIDE, tmp_path))
    (layout,) = lay_out_docx_file(path)
    assert layout.landscape
    (pdf,) = to_pdf([path], tmp_path / "pdf")
    assert assert_tables_fit(path, pdf) == 1
    (page,) = landscape_pages(pdf)
    assert page.startswith("A table wider than the page.")
