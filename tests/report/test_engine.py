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
doc.with_suffix(ext).write_text("rendered by a fake quarto")
"""


def _fake(tmp_path: Path, version: str = "1.7.32") -> Path:
    path = tmp_path / "bin" / "quarto"
    path.parent.mkdir()
    path.write_text(FAKE.format(python=sys.executable, version=version))
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
