"""Text from data or configuration renders literally in HTML, PDF and DOCX.

Hostile strings (Markdown, HTML, Jinja, LaTeX, typst, Quarto syntax) go into
the title, an author's name, an affiliation and a keyword; the example is
rendered for real with the embedded engine and each output must show the
characters themselves, with no markup, evaluation or page break made of them.
"""

from __future__ import annotations

import re
import zipfile

import pytest

from refracture.report.context import Author, ManuscriptMeta
from refracture.report.sources import software_versions, write_sources

HOSTILE = "{{ 7*7 }} <script>x</script> #import @fig-x $x$ | | *a* \\LaTeX [@firth1993]"


@pytest.fixture(scope="module")
def rendered(example_results, tmp_path_factory):
    from refracture.figures.build import draw_all
    from refracture.report import embedded

    project = tmp_path_factory.mktemp("inert")
    draw_all(example_results, project / "figures")
    meta = ManuscriptMeta(
        title=f"T {HOSTILE}",
        authors=(Author(f"N {HOSTILE}", (f"A {HOSTILE}",), "a@example.org", corresponding=True),),
        keywords=(f"K {HOSTILE}",),
    )
    write_sources(
        example_results, project, style="submission", software=software_versions("x"), meta=meta
    )
    return embedded.render_all(project, ["report/manuscript.qmd"], ["html", "pdf", "docx"])


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_pdf_shows_the_characters(rendered) -> None:
    from pypdf import PdfReader

    pdf = rendered[("report/manuscript.qmd", "pdf")]
    first = _squash(PdfReader(pdf).pages[0].extract_text())
    for token in ("{{ 7*7 }}", "<script>x</script>", "#import", "@fig-x", "$x$", "*a*"):
        assert token in first, token
    assert "49" not in first


def test_html_escapes_markup(rendered) -> None:
    html = rendered[("report/manuscript.qmd", "html")].read_text(encoding="utf-8")
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html
    assert "[@firth1993]" in html  # not turned into a citation


def test_docx_shows_the_characters(rendered) -> None:
    with zipfile.ZipFile(rendered[("report/manuscript.qmd", "docx")]) as z:
        xml = z.read("word/document.xml").decode("utf-8")
    text = "".join(re.findall(r"<w:t[^>]*>([^<]*)</w:t>", xml))
    for token in ("{{ 7*7 }}", "&lt;script&gt;x&lt;/script&gt;", "#import", "@fig-x", "$x$"):
        assert token in text, token
