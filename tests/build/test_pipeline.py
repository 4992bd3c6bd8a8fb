"""The whole build, end to end, with the embedded engine (pandoc + typst, for real).

Checks what a reader gets: the PDF text holds the headline numbers of
results.json as the formatter prints them, the DOCX holds native Word tables,
the HTML loads nothing from outside, and both documents exist in three formats.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from refracture.common.format import Formatter

F = Formatter()
ROOT = Path(__file__).resolve().parents[2]


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    text = " ".join(page.extract_text() or "" for page in PdfReader(path).pages)
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def results(example_build) -> dict:
    return json.loads((example_build / "results.json").read_text(encoding="utf-8"))


def _rows(results: dict, name: str) -> dict[str, dict]:
    return {r["term"]: r for r in results["analyses"][name]["table"]}


def test_every_document_in_every_format(example_build) -> None:
    for doc in ("manuscript", "supplementary"):
        for ext in ("html", "pdf", "docx"):
            path = example_build / f"{doc}.{ext}"
            assert path.is_file(), path
            assert path.stat().st_size > 10_000, path
    assert (example_build / "tables.xlsx").is_file()
    assert (example_build / "report" / "manuscript.qmd").is_file()
    assert (example_build / "_quarto.yml").read_text() == (ROOT / "_quarto.yml").read_text()


def test_pdf_text_holds_the_headline_numbers(example_build, results) -> None:
    text = _pdf_text(example_build / "manuscript.pdf")
    cohort = _rows(results, "cohort")
    tscore = _rows(results, "level_tscore")
    thr = results["analyses"]["thresholds"]["meta"]
    multi = _rows(results, "multivariable")
    expected = [
        f"{F.count(cohort['patients']['estimate'])} patients",
        f"{F.count(cohort['refracture']['estimate'])} patients "
        f"({F.percent(cohort['refracture']['percent'])})",
        F.mean_range(cohort["age"]["estimate"], cohort["age"]["min"], cohort["age"]["max"]),
        F.num(tscore["fractured"]["estimate"], 2),
        F.ci(tscore["fractured"]["ci_low"], tscore["fractured"]["ci_high"], 2),
        f"T ≤ {F.cutoff(thr['first_significant_cutoff'])}",
        F.p_value(thr["p_at_first_significant"], symbol=True),
        F.p_value(multi["age"]["p"], symbol=True),
        F.p_value(multi["height_loss_max"]["p"], symbol=True),
    ]
    for snippet in expected:
        assert snippet in text, snippet
    # cross-references and citations were resolved, not printed raw
    for resolved in ("Table 1", "Figure 1"):
        assert resolved in text
    for raw in ("@tbl", "@fig", "??"):
        assert raw not in text
    assert re.search(r"\[\d+(?:[–,]\d+)*\]", text)
    for bad in (" nan ", " inf ", "None"):
        assert bad not in text


def test_supplement_pdf_numbers_its_tables(example_build) -> None:
    text = _pdf_text(example_build / "supplementary.pdf")
    for n in range(1, 9):
        assert f"Supplementary Table {n}." in text


def test_docx_has_native_tables(example_build) -> None:
    import docx

    document = docx.Document(str(example_build / "manuscript.docx"))
    assert len(document.tables) == 4
    first = document.tables[0]
    assert first.cell(0, 0).text == "Characteristic"
    assert first.cell(1, 1).text == "93"
    with zipfile.ZipFile(example_build / "manuscript.docx") as z:
        assert "w:tbl>" in z.read("word/document.xml").decode("utf-8")


def test_html_loads_nothing_from_outside(example_build) -> None:
    for doc in ("manuscript", "supplementary"):
        html = (example_build / f"{doc}.html").read_text(encoding="utf-8")
        # resources: src=, href= on link/script, url() in CSS; namespace URIs are not loads
        loads = re.findall(r"""(?:src|href)\s*=\s*["'](https?:)?//""", html)
        loads += re.findall(r"""<(?:link|script)[^>]+(?:src|href)=["']https?:""", html)
        loads += re.findall(r"url\(\s*['\"]?https?:", html)
        assert not loads, loads
        assert "data:image/" in html or "<svg" in html


def test_rebuild_is_byte_identical(example_build, cli, tmp_path) -> None:
    """Same inputs, another folder: every output file has the same bytes."""
    again = tmp_path / "again"
    r = cli("build", "--out", str(again), "--engine", "embedded", timeout=600)
    assert r.returncode == 0, r.stderr

    def files(folder: Path) -> dict[str, bytes]:
        return {
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    first, second = files(example_build), files(again)
    assert first.keys() == second.keys()
    differ = [name for name in first if first[name] != second[name]]
    assert not differ, differ
    kinds = {Path(name).suffix for name in first}
    assert {".html", ".pdf", ".docx", ".png", ".svg", ".csv", ".xlsx", ".json"} <= kinds


def test_build_refuses_bad_options_before_reading_data(cli, tmp_path) -> None:
    out = tmp_path / "out"
    for args, words in [
        (("--formats", "pdf,rtf"), "--formats"),
        (("--style", "fancy"), "--style"),
        (("--engine", "latex"), "--engine"),
    ]:
        r = cli("build", "--out", str(out), *args)
        assert r.returncode == 1, args
        assert words in r.stderr
        assert "Traceback" not in r.stderr
        assert not out.exists()


def test_an_identifier_in_an_output_fails_the_build(cli, tmp_path) -> None:
    """A patient id that also occurs in the text (here: a word of the paper) is caught
    by the guard: the build fails, says so without printing the id, publishes nothing."""
    from refracture.data.example import example_path

    data = tmp_path / "data"
    data.mkdir()
    first = None
    for name in ("patients.csv", "levels.csv"):
        text = (example_path() / name).read_text(encoding="utf-8")
        first = first or text.splitlines()[1].split(",")[0]
        (data / name).write_text(text.replace(f"{first},", "Kyphoplasty,"), encoding="utf-8")
    out = tmp_path / "out"
    r = cli("build", "--data", str(data), "--out", str(out), "--formats", "html")
    assert r.returncode == 1, r.stderr
    assert "identifier" in r.stderr.lower()
    assert "Kyphoplasty" not in r.stderr  # the guard masks what it found
    assert "Traceback" not in r.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".out*"))


def _output_texts(folder: Path) -> dict[str, str]:
    """Every output's text as a reader or a program sees it (PDF pages read by pypdf,
    DOCX/XLSX entries unzipped, everything else as bytes)."""
    texts = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(folder).as_posix()
        if p.suffix == ".pdf":
            texts[rel] = _pdf_text(p) + p.read_bytes().decode("latin-1")
        elif p.suffix in (".docx", ".xlsx"):
            with zipfile.ZipFile(p) as zf:
                texts[rel] = "".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist())
        else:
            texts[rel] = p.read_bytes().decode("utf-8", "replace")
    return texts


def _project(root: Path) -> Path:
    """A project under ``root``: data/, refracture.yml beside it, a home folder."""
    from refracture.data.example import example_path

    (root / "data").mkdir(parents=True)
    (root / "home").mkdir()
    for name in ("patients.csv", "levels.csv"):
        (root / "data" / name).write_bytes((example_path() / name).read_bytes())
    (root / "refracture.yml").write_text("data:\n  path: data\n", encoding="utf-8")
    return root


def test_no_machine_path_in_any_output(cli, tmp_path) -> None:
    """Data, configuration, home and renderer under a telltale path: the path is in no
    output, and a second machine with other paths builds the same bytes."""
    import os
    import subprocess
    import sys

    from tests.report.test_quarto import make_quarto

    marker = "zz-machine-path"
    one = _project(tmp_path / marker / "one")
    other = _project(tmp_path / "elsewhere" / "two")
    quarto = make_quarto(tmp_path / marker / "bin")

    def build(root: Path, *args: str, **env: str) -> Path:
        full = {k: v for k, v in os.environ.items() if k not in ("QUARTO_PATH", "HOME")}
        full.update(HOME=str(root / "home"), **env)
        r = subprocess.run(
            [sys.executable, "-m", "refracture", "build", "--out", "out", *args],
            cwd=root,
            env=full,
            capture_output=True,
            text=True,
            check=False,
        )
        assert r.returncode == 0, r.stderr
        return root / "out"

    embedded = build(one, "--engine", "embedded")  # all three formats
    for rel, text in _output_texts(embedded).items():
        assert marker not in text, f"{rel} names a path of the machine"
        assert str(tmp_path) not in text, rel
    same = _output_texts(build(other, "--engine", "embedded", "--formats", "html"))
    first = _output_texts(embedded)
    shared = sorted(set(same) & set(first) - {".refracture-build.json"})  # it records formats
    assert "results.json" in shared
    assert "manuscript.html" in shared
    assert [rel for rel in shared if same[rel] != first[rel]] == []

    with_quarto = build(one, "--engine", "quarto", "--formats", "html", QUARTO_PATH=str(quarto))
    sources = (with_quarto / "report" / "supplementary.qmd").read_text(encoding="utf-8")
    assert "Quarto 1.7.32" in sources
    for rel, text in _output_texts(with_quarto).items():
        assert marker not in text, f"{rel} names a path of the machine"


def _first_pass_then(tmp: Path, first: dict[str, str], then: dict[str, str]):
    """A guard for PT-90017 that checks ``first`` (file → text) in its first pass, and
    its stages after ``then`` is written and the last pass ran."""
    from refracture.build.pipeline import _Screen
    from refracture.build.stages import Stages
    from refracture.report.guard import Guard

    for name, text in first.items():
        (tmp / name).write_text(text, encoding="utf-8")
    stages = Stages(None)
    screen = _Screen(stages, Guard(["PT-90017"]), tmp)
    screen.check(sorted(first))
    for name, text in then.items():
        (tmp / name).write_text(text, encoding="utf-8")
    screen.finish(stages)
    return stages


@pytest.mark.parametrize(
    "then",
    [{"results.json": '{"who": "PT-90017"}'}, {"manuscript.html": "<p>PT-90017</p>"}],
    ids=["changed since", "new since"],
)
def test_the_guard_checks_again_a_file_changed_after_its_first_pass(tmp_path, monkeypatch, then):
    """The guard checks what is written while the documents render, then the rest: a
    file that changed after the first pass, or appeared since, is checked as it is at
    the end (a verdict holds for the bytes it was given, never for a name)."""
    from refracture.report.guard import IdentifierLeakError

    monkeypatch.setenv("REFRACTURE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(IdentifierLeakError):
        _first_pass_then(tmp_path, {"results.json": '{"n": 3}'}, then)
    clean = _first_pass_then(tmp_path, {"results.json": '{"n": 3}'}, {"manuscript.html": "<p/>"})
    assert clean.ran == ["guard:manuscript.html", "guard:results.json"]


def test_a_template_finding_is_reported_before_a_render_error(tmp_path, monkeypatch) -> None:
    """The lint runs while the documents render; when both fail, the lint's finding
    (file, line) is the error, as when the lint ran first."""
    import refracture.build.pipeline as pipeline
    from refracture.build.pipeline import build
    from refracture.errors import ConfigError, RenderError

    def broken_render(*_args, **_kwargs):
        raise RenderError("pandoc failed")

    def lint(_results):
        raise ConfigError("1 problem in the templates: discussion.md.j2:3:1")

    monkeypatch.setattr(pipeline, "_render", broken_render)
    kwargs = {"engine": "embedded", "figure_workers": 0, "formats": ("html",)}
    with pytest.raises(ConfigError, match=r"discussion\.md\.j2:3:1"):
        build(None, tmp_path / "a", check_templates=lint, **kwargs)
    with pytest.raises(RenderError, match="pandoc failed"):
        build(None, tmp_path / "b", check_templates=lambda _results: None, **kwargs)
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "b").exists()
