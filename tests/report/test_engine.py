"""Engine choice (auto, quarto, embedded) and the render loop.

The Quarto side runs against a fake ``quarto`` script: this proves how the
engine is chosen and driven, not that Quarto renders the paper.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from refracture.common.dates import source_date_epoch
from refracture.errors import ConfigError, RenderError
from refracture.report.engine import choose_engine, render_all

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the fake quarto is a shebang script")

FAKE = """#!{python}
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
if args == ["--version"]:
    print("{version}")
    sys.exit(0)
log = Path(os.environ["FAKE_LOG"])
calls = json.loads(log.read_text()) if log.exists() else []
calls.append({{"argv": args, "cwd": os.getcwd(), "epoch": os.environ.get("SOURCE_DATE_EPOCH")}})
log.write_text(json.dumps(calls))
doc = Path(args[1])
ext = {{"html": ".html", "typst": ".pdf", "docx": ".docx"}}[args[3]]
if ext == ".docx" and not os.environ.get("FAKE_BROKEN_DOCX"):
    import zipfile
    with zipfile.ZipFile(doc.with_suffix(ext), "w") as z:
        z.writestr("word/document.xml", {docx!r})
else:
    doc.with_suffix(ext).write_text("rendered by a fake quarto")
"""

# A DOCX with one table of two columns, as small as Word reads it.
DOCX = (
    '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    "<w:body><w:tbl><w:tblPr/><w:tblGrid><w:gridCol/><w:gridCol/></w:tblGrid><w:tr>"
    "<w:tc><w:p><w:r><w:t>Age, years</w:t></w:r></w:p></w:tc>"
    "<w:tc><w:p><w:r><w:t>71.2 (8.4)</w:t></w:r></w:p></w:tc>"
    "</w:tr></w:tbl><w:p/></w:body></w:document>"
)


def _fake(tmp_path: Path, version: str = "1.7.32") -> Path:
    path = tmp_path / "bin" / "quarto"
    path.parent.mkdir()
    path.write_text(FAKE.format(python=sys.executable, version=version, docx=DOCX))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_auto_uses_quarto_when_found(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("QUARTO_PATH", str(_fake(tmp_path)))
    engine = choose_engine("auto", 0)
    assert engine.name == "quarto"
    assert "Quarto 1.7.32" in engine.description


def test_auto_falls_back_to_embedded_and_says_why(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("QUARTO_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no quarto anywhere
    engine = choose_engine("auto", 0)
    assert engine.name == "embedded"
    assert "Quarto is not usable" in engine.reason
    assert "pandoc" in engine.description


def test_auto_falls_back_when_quarto_is_too_old(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("QUARTO_PATH", str(_fake(tmp_path, "1.3.450")))
    engine = choose_engine("auto", 0)
    assert engine.name == "embedded"
    assert "1.3.450" in engine.reason


def test_quarto_requested_but_missing_is_a_render_error(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("QUARTO_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RenderError, match=r"[Qq]uarto"):
        choose_engine("quarto", 0)


def test_unknown_engine_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="auto, quarto, embedded"):
        choose_engine("latex", 0)


def test_source_date_epoch(monkeypatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert source_date_epoch(5) == 5
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert source_date_epoch(5) == 1700000000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH"):
        source_date_epoch(5)


def test_render_all_drives_quarto_per_document_and_format(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("QUARTO_PATH", str(_fake(tmp_path)))
    log = tmp_path / "calls.json"
    monkeypatch.setenv("FAKE_LOG", str(log))
    project = tmp_path / "project"
    (project / "report").mkdir(parents=True)
    for doc in ("manuscript", "supplementary"):
        (project / "report" / f"{doc}.qmd").write_text("---\ntitle: x\n---\n")
    engine = choose_engine("quarto", 1234)
    made = render_all(engine, project, ("manuscript", "supplementary"), ("pdf", "docx"), "article")
    assert [p.name for p in made] == [
        "manuscript.pdf",
        "manuscript.docx",
        "supplementary.pdf",
        "supplementary.docx",
    ]
    calls = json.loads(log.read_text())
    assert calls[0]["argv"] == [
        "render",
        "report/manuscript.qmd",
        "--to",
        "typst",
        "-M",
        "refracture-style:article",
    ]
    assert {c["cwd"] for c in calls} == {str(project)}
    assert {c["epoch"] for c in calls} == {"1234"}


def _quarto_project(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("QUARTO_PATH", str(_fake(tmp_path)))
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.json"))
    project = tmp_path / "project"
    (project / "report").mkdir(parents=True)
    (project / "report" / "manuscript.qmd").write_text("---\ntitle: x\n---\n")
    return project


def test_render_all_lays_out_the_tables_of_every_docx(tmp_path, monkeypatch) -> None:
    """Quarto's DOCX goes through the same table layout as the embedded engine's."""
    import zipfile

    from lxml import etree

    from refracture.report.docx_tables import PAGES

    project = _quarto_project(tmp_path, monkeypatch)
    (made,) = render_all(choose_engine("quarto", 0), project, ("manuscript",), ("docx",), "article")
    with zipfile.ZipFile(made) as z:
        root = etree.fromstring(z.read("word/document.xml"))
    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    assert root.find(f".//{w}tblLayout").get(f"{w}type") == "fixed"
    widths = [int(g.get(f"{w}w")) for g in root.iter(f"{w}gridCol")]
    assert sum(widths) == PAGES["article"].text_width  # the style's page
    assert int(root.find(f".//{w}pgSz").get(f"{w}w")) == PAGES["article"].width


def test_a_docx_that_is_no_word_document_is_a_render_error(tmp_path, monkeypatch) -> None:
    project = _quarto_project(tmp_path, monkeypatch)
    monkeypatch.setenv("FAKE_BROKEN_DOCX", "1")
    with pytest.raises(RenderError, match=r"cannot lay out the tables of manuscript\.docx"):
        render_all(choose_engine("quarto", 0), project, ("manuscript",), ("docx",), "submission")
