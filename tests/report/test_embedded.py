"""The embedded engine (pandoc + typst) renders the sample .qmd for real.

A project is built in a temporary folder from tests/report/fixtures/sample.qmd,
the installed assets (with the test-local bibliography and CSL style of
fixtures/embedded/) and a small matplotlib figure saved as PNG, SVG and PDF.
"""

from __future__ import annotations

import base64
import re
import shutil
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from refracture.errors import RenderError
from refracture.report import embedded

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE = FIXTURES / "sample.qmd"
DOCUMENT = "report/manuscript.qmd"
MINUS = "\u2212"
HOSTILE = ("{{ 7*7 }}", "<script>", "#import", "@fig-x", "$x$")


def _draw_figures(folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context({"svg.hashsalt": "refracture", "svg.fonttype": "path"}):
        fig, ax = plt.subplots(figsize=(3.2, 2.4), layout="constrained")
        ax.plot([0, 0.2, 0.5, 1], [0, 0.6, 0.85, 1], color="black")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
        ax.set_xlabel(f"1 {MINUS} specificity")
        ax.set_ylabel("Sensitivity")
        fig.savefig(folder / "roc.png", dpi=150)
        fig.savefig(folder / "roc.svg", metadata={"Date": None})
        fig.savefig(folder / "roc.pdf", metadata={"CreationDate": None})
        plt.close(fig)


def _make_project(root: Path, text: str | None = None) -> Path:
    report = root / "report"
    report.mkdir(parents=True)
    (report / "manuscript.qmd").write_text(
        SAMPLE.read_text(encoding="utf-8") if text is None else text, encoding="utf-8"
    )
    assets = embedded.prepare_assets(report / "assets")
    for name in ("references.bib", "refracture-numeric.csl"):
        shutil.copyfile(FIXTURES / "embedded" / name, assets / name)
    _draw_figures(root / "figures")
    return root


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = SAMPLE.read_text(encoding="utf-8")
    assert old in text
    return _make_project(tmp_path / "variant", text.replace(old, new, 1))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_project(tmp_path_factory.mktemp("embedded") / "project")


@pytest.fixture(scope="module")
def rendered(project: Path) -> dict[str, Path]:
    return {fmt: embedded.render(project, DOCUMENT, fmt) for fmt in embedded.FORMATS}


def _pdf_text(path: Path) -> tuple[str, int]:
    from pypdf import PdfReader

    reader = PdfReader(path)
    text = " ".join(page.extract_text() for page in reader.pages)
    return " ".join(text.split()), len(reader.pages)


# ----------------------------------------------------------------- outputs


def test_outputs_are_written_beside_the_document(project: Path, rendered: dict[str, Path]) -> None:
    for fmt, path in rendered.items():
        assert path == project / "report" / f"manuscript.{fmt}"
        assert path.stat().st_size > 1000
    leftovers = [p.name for p in (project / "report").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_pdf_text(rendered: dict[str, Path]) -> None:
    text, pages = _pdf_text(rendered["pdf"])
    assert pages >= 2  # title page and {{< pagebreak >}}
    # Captions and cross-references, numbered by crossref.lua.
    assert "Table 1. Odds ratios of a subsequent fracture" in text
    assert "Figure 1. Receiver operating characteristic curve" in text
    assert "see Table 1 and Figure 1." in text
    assert "As Figure 1 and Table 1 show" in text
    assert "@tbl-cutoffs" not in text
    assert "@fig-roc" not in text
    # Citations and the reference list.
    assert "common [1,2]." in text
    assert "1. Firth D. Bias reduction of maximum likelihood estimates." in text
    assert "2. DeLong ER, DeLong DM, Clarke-Pearson DL." in text
    # Escaped text stays literal; numbers keep the true minus.
    for literal in HOSTILE:
        assert literal in text, literal
    assert "6.88" in text
    assert f"{MINUS}2.2" in text
    # The title page.
    assert "Level-specific T-scores and the <next> fracture" in text
    assert "Ada Example1,*, Ben Sample2" in text
    assert "see Table 1 and Figure 1." in text
    assert "Corresponding author: Ada Example, ada@example.org" in text
    assert "Keywords: vertebroplasty, kyphoplasty, bone density" in text


def test_pdf_page_break_and_title_page(rendered: dict[str, Path]) -> None:
    from pypdf import PdfReader

    pages = [" ".join(p.extract_text().split()) for p in PdfReader(rendered["pdf"]).pages]
    assert "Keywords:" in pages[0]  # the title page, on its own
    assert "Abstract" not in pages[0]
    introduction = next(i for i, p in enumerate(pages) if "Escaped text stays literal" in p)
    results = next(i for i, p in enumerate(pages) if "Table 1. Odds ratios" in p)
    assert results == introduction + 1  # {{< pagebreak >}}


def test_docx_native_tables_and_page_breaks(rendered: dict[str, Path]) -> None:
    import docx

    document = docx.Document(str(rendered["docx"]))
    assert len(document.tables) == 1
    rows = [[cell.text for cell in row.cells] for row in document.tables[0].rows]
    assert rows[0] == ["Cutoff", "Fractured, n/N", "OR (95% CI)", "P"]
    assert rows[1] == [f"T ≤ {MINUS}2.2", "15/33", "6.88 (0.85–55.90)", "0.047"]
    texts = [p.text for p in document.paragraphs]
    assert "Table\u00a01. Odds ratios of a subsequent fracture by T-score cutoff." in texts
    assert any(t.startswith("Figure\u00a01. Receiver operating") for t in texts)
    assert any("see Table\u00a01 and Figure\u00a01." in t for t in texts)
    assert any("common [1,2]." in t for t in texts)
    body = " ".join(texts)
    for literal in HOSTILE:
        assert literal in body, literal
    with zipfile.ZipFile(rendered["docx"]) as z:
        xml = z.read("word/document.xml").decode("utf-8")
        styles = z.read("word/styles.xml").decode("utf-8")
        assert any(n.startswith("word/media/") and n.endswith(".png") for n in z.namelist())
    # {{< pagebreak >}} and the end of the title page (submission style).
    assert xml.count('<w:br w:type="page"/>') == 2
    assert 'w:anchor="tbl-cutoffs"' in xml  # cross-references are links
    assert "Times New Roman" in styles
    assert 'w:line="480"' in styles  # double spacing


class _Resources(HTMLParser):
    """Every URL an HTML page would load or link to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if value is not None and (
                name in {"src", "href", "srcset", "poster", "data"}
                or name.endswith(":href")
                or name == "style"
            ):
                self.urls.append((tag, name, value))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def _external(value: str) -> bool:
    value = value.strip().lower()
    return value.startswith(("http://", "https://", "//", "ftp://")) or "url(http" in value


def test_html_is_self_contained(rendered: dict[str, Path]) -> None:
    html = rendered["html"].read_text(encoding="utf-8")
    parser = _Resources()
    parser.feed(html)
    external = [u for u in parser.urls if _external(u[2])]
    assert external == []
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", " ".join(parser.styles))
    assert "<script" not in html  # nothing to run (MathML, no MathJax)
    assert "<link" not in html  # the CSS is inlined
    # The figure is embedded; look inside it as well.
    images = [v for tag, name, v in parser.urls if tag == "img" and name == "src"]
    assert len(images) == 1
    assert images[0].startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(images[0].split(",", 1)[1]).decode("utf-8")
    assert not re.search(r"""(?:href|src)\s*=\s*["'](?:https?:)?//""", svg)
    assert "max-width: 42em" in html  # refracture.css


def test_html_content(rendered: dict[str, Path]) -> None:
    html = rendered["html"].read_text(encoding="utf-8")
    assert '<a href="#tbl-cutoffs">Table\u00a01</a>' in html
    assert '<a href="#fig-roc">Figure\u00a01</a>' in html
    assert '<table id="tbl-cutoffs">' in html
    assert '<figure id="fig-roc">' in html
    assert "<strong>Table\u00a01.</strong> Odds ratios" in html
    assert '<div style="page-break-after: always;"></div>' in html
    assert "{{ 7*7 }}, &lt;script&gt;, #import, @fig-x, $x$" in html
    assert 'class="table-note"' in html
    assert "Ada Example<sup>1,*</sup>, Ben Sample<sup>2</sup>" in html


def test_renders_are_byte_identical(
    project: Path, rendered: dict[str, Path], tmp_path: Path
) -> None:
    first = {fmt: path.read_bytes() for fmt, path in rendered.items()}
    again = {fmt: embedded.render(project, DOCUMENT, fmt).read_bytes() for fmt in first}
    assert again == first
    # ... and do not depend on where the project is.
    moved = tmp_path / "elsewhere"
    shutil.copytree(project, moved)
    elsewhere = {fmt: embedded.render(moved, DOCUMENT, fmt).read_bytes() for fmt in first}
    assert elsewhere == first


def test_render_all_gives_the_same_bytes(
    project: Path, rendered: dict[str, Path], tmp_path: Path
) -> None:
    first = {fmt: path.read_bytes() for fmt, path in rendered.items()}
    moved = tmp_path / "batch"
    shutil.copytree(project, moved)
    (moved / "report" / "copy.qmd").write_bytes((moved / DOCUMENT).read_bytes())
    paths = embedded.render_all(moved, [DOCUMENT, "report/copy.qmd"], jobs=2)
    assert sorted(paths) == sorted(
        (doc, fmt) for doc in (DOCUMENT, "report/copy.qmd") for fmt in embedded.FORMATS
    )
    for fmt, data in first.items():
        assert paths[(DOCUMENT, fmt)].read_bytes() == data, fmt
        assert paths[("report/copy.qmd", fmt)] == moved / "report" / f"copy.{fmt}"
    assert paths[("report/copy.qmd", "pdf")].read_bytes() == first["pdf"]


def test_render_all_fails_like_render(tmp_path: Path) -> None:
    project = _variant(tmp_path, "As @fig-roc and", "As @fig-nope and")
    with pytest.raises(RenderError, match="@fig-nope"):
        embedded.render_all(project, DOCUMENT)


def test_source_date_epoch_is_the_pdf_and_docx_date(project: Path, tmp_path: Path) -> None:
    moved = tmp_path / "dated"
    shutil.copytree(project, moved)
    pdf = embedded.render(moved, DOCUMENT, "pdf", source_date_epoch=1_700_000_000).read_bytes()
    assert b"D:20231114" in pdf
    docx_path = embedded.render(moved, DOCUMENT, "docx", source_date_epoch=1_700_000_000)
    with zipfile.ZipFile(docx_path) as z:
        assert z.getinfo("word/document.xml").date_time[:3] == (2023, 11, 14)
        assert b"2023-11-14T" in z.read("docProps/core.xml")


# ------------------------------------------------------------------ styles


def test_both_styles_compile(project: Path, rendered: dict[str, Path]) -> None:
    submission_text, submission_pages = _pdf_text(rendered["pdf"])
    submission = rendered["pdf"].read_bytes()
    article = embedded.render(project, DOCUMENT, "pdf", style="article")
    try:
        text, pages = _pdf_text(article)
        assert article.read_bytes() != submission
        assert "Table 1. Odds ratios" in text
        assert "Figure 1. Receiver operating" in text
        assert pages < submission_pages  # no title page, single spacing
        # Line numbers are a submission thing: "1 2 3 …" after the title page text.
        assert "2026-11-25 1 2 3 4" in submission_text
        assert "1 2 3 4 5" not in text
    finally:
        embedded.render(project, DOCUMENT, "pdf")  # leave the submission PDF for other tests


def test_front_matter_style_and_docx_reference(tmp_path: Path) -> None:
    project = _variant(tmp_path, "refracture-style: submission", "refracture-style: article")
    path = embedded.render(project, DOCUMENT, "docx")
    with zipfile.ZipFile(path) as z:
        xml = z.read("word/document.xml").decode("utf-8")
        styles = z.read("word/styles.xml").decode("utf-8")
    assert xml.count('<w:br w:type="page"/>') == 1  # no separate title page
    assert 'w:line="480"' not in styles
    text, _ = _pdf_text(embedded.render(project, DOCUMENT, "pdf"))
    assert "1 2 3 4 5" not in text  # no line numbers


def test_unknown_style_is_a_render_error(project: Path) -> None:
    with pytest.raises(RenderError, match="unknown style 'preprint'"):
        embedded.render(project, DOCUMENT, "pdf", style="preprint")


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("fmt", embedded.FORMATS)
def test_unknown_cross_reference_is_an_error(tmp_path: Path, fmt: str) -> None:
    project = _variant(tmp_path, "As @fig-roc and", "As @fig-nope and")
    with pytest.raises(RenderError, match="@fig-nope") as info:
        embedded.render(project, DOCUMENT, fmt)
    assert "unknown cross-reference" in str(info.value)
    assert not (project / "report" / f"manuscript.{fmt}").exists()


def test_unknown_table_reference_is_an_error(tmp_path: Path) -> None:
    project = _variant(tmp_path, "see @tbl-cutoffs", "see @tbl-cutofs")
    with pytest.raises(RenderError, match="@tbl-cutofs"):
        embedded.render(project, DOCUMENT, "html")


def test_duplicate_label_is_an_error(tmp_path: Path) -> None:
    project = _variant(
        tmp_path, "As @fig-roc and", "![Again](../figures/roc){#fig-roc}\n\nAs @fig-roc and"
    )
    with pytest.raises(RenderError, match="duplicate cross-reference label #fig-roc"):
        embedded.render(project, DOCUMENT, "html")


@pytest.mark.parametrize(
    ("markdown", "named"),
    [
        ("{{< video intro.mp4 >}}", "{{< video intro.mp4 >}}"),
        ("Watch {{< video intro.mp4 >}} now.", "{{< video intro.mp4 >}}"),
        ("A *{{< var x >}}* here.", "{{<"),
    ],
)
def test_unknown_shortcode_is_an_error(tmp_path: Path, markdown: str, named: str) -> None:
    project = _variant(tmp_path, "{{< pagebreak >}}", markdown)
    with pytest.raises(RenderError, match="unsupported shortcode") as info:
        embedded.render(project, DOCUMENT, "docx")
    assert named in str(info.value)


def test_missing_citation_is_an_error(tmp_path: Path) -> None:
    project = _variant(tmp_path, "[@firth1993; @delong1988]", "[@firth1993; @nobody2020]")
    with pytest.raises(RenderError, match="nobody2020"):
        embedded.render(project, DOCUMENT, "html")


@pytest.mark.parametrize("fmt", embedded.FORMATS)
def test_missing_figure_is_an_error(tmp_path: Path, fmt: str) -> None:
    project = _make_project(tmp_path / "nofig")
    for path in (project / "figures").iterdir():
        path.unlink()
    with pytest.raises(RenderError, match="roc"):
        embedded.render(project, DOCUMENT, fmt)


def test_missing_document_and_bad_format(project: Path) -> None:
    with pytest.raises(RenderError, match="no document"):
        embedded.render(project, "report/nothing.qmd", "pdf")
    with pytest.raises(RenderError, match="unknown output format"):
        embedded.render(project, DOCUMENT, "odt")


# ------------------------------------------------------------------ assets


def test_prepare_assets_and_reference_docx(tmp_path: Path) -> None:
    first = embedded.prepare_assets(tmp_path / "a")
    second = embedded.prepare_assets(tmp_path / "b")
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in (*embedded.STYLE_ASSETS, "reference.docx", "reference-article.docx"):
        assert (first / name).is_file(), name
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    with zipfile.ZipFile(first / "reference.docx") as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        styles = z.read("word/styles.xml").decode("utf-8")
    assert 'w:ascii="Times New Roman"' in styles
    assert 'w:styleId="TableNote"' in styles


def test_missing_assets_are_filled_in(tmp_path: Path) -> None:
    project = _make_project(tmp_path / "bare")
    assets = project / "report" / "assets"
    for name in ("crossref.lua", "refracture.typ", "reference.docx"):
        (assets / name).unlink()
    embedded.render(project, DOCUMENT, "pdf")
    embedded.render(project, DOCUMENT, "docx")
    assert (assets / "crossref.lua").is_file()
    assert (assets / "reference.docx").is_file()


def test_version_info() -> None:
    info = embedded.version_info()
    assert re.fullmatch(r"\d+(\.\d+)+", info["pandoc"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", info["typst"])


# --------------------------------------------------- the Quarto typst partials


QUARTO_LIKE = """\
$typst-template.typ()$

$typst-show.typ()$

$body$
"""


def test_quarto_partials_use_the_same_style(project: Path, tmp_path: Path) -> None:
    """Quarto is not installable here, so mimic its typst template.

    Quarto inlines typst-template.typ and typst-show.typ into its template and
    lets typst number the figures; the `by-author` metadata comes from
    shortcodes.lua here (Quarto makes the same structure).
    """
    import subprocess

    import typst

    moved = tmp_path / "quarto"
    shutil.copytree(project, moved)
    report = moved / "report"
    (report / "assets" / "quarto-like.typ").write_text(QUARTO_LIKE, encoding="utf-8")
    # Quarto writes its cross-references as typst references.
    text = (report / "manuscript.qmd").read_text(encoding="utf-8")
    text = re.sub(r"(?<![\\\w])@((?:fig|tbl)-[\w-]+)", r"`#ref(<\1>)`{=typst}", text)
    (report / "manuscript.qmd").write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [
            embedded.pandoc_path(),
            "manuscript.qmd",
            "--from=markdown-citations",
            "--to=typst",
            "--standalone",
            "--template=assets/quarto-like.typ",
            "--lua-filter=assets/shortcodes.lua",
            "--default-image-extension=svg",
            "--output=manuscript.typ",
        ],
        cwd=report,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    source = (report / "manuscript.typ").read_text(encoding="utf-8")
    assert "#show: refracture.with(" in source
    pdf = typst.compile(
        str(report / "manuscript.typ"), root=str(moved), ignore_system_fonts=True, format="pdf"
    )
    out = report / "quarto-like.pdf"
    out.write_bytes(pdf)
    text, pages = _pdf_text(out)
    assert pages >= 2
    assert "Table 1. Odds ratios of a subsequent fracture" in text  # typst's own numbering
    assert "Figure 1. Receiver operating characteristic curve" in text
    assert "Ada Example1,*, Ben Sample2" in text
    assert "see Table 1 and Figure 1." in text
