"""``refracture build --since OLD`` writes the marked-up manuscript: the new DOCX with
every change since OLD as a Word tracked change."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import docx
import lxml.html
import pypdfium2
from lxml import etree

from refracture.data.example import example_path
from tests.report.tracked_checks import W, resolve, texts


def test_build_since_writes_tracked_changes(tmp_path: Path, cli, example_build: Path):
    data = tmp_path / "cohort"
    shutil.copytree(example_path(), data)
    patients = (data / "patients.csv").read_text(encoding="utf-8").splitlines()
    header = patients[0].split(",")
    first = patients[1].split(",")
    first[header.index("age")] = str(int(first[header.index("age")]) - 10)
    patients[1] = ",".join(first)
    (data / "patients.csv").write_text("\n".join(patients) + "\n", encoding="utf-8")
    out = tmp_path / "new"
    r = cli(
        "build",
        "--data",
        str(data),
        "--out",
        str(out),
        "--formats",
        "docx,pdf,html",
        "--engine",
        "embedded",
        "--set",
        "cohort.exclusions.min_followup_months=3",
        "--since",
        str(example_build),
        env={"SOURCE_DATE_EPOCH": "1796083200"},  # 2026-12-01
    )
    assert r.returncode == 0, r.stderr
    marked = (out / "manuscript-changes.docx").read_bytes()
    docx.Document(io.BytesIO(marked))
    new = (out / "manuscript.docx").read_bytes()
    old = (example_build / "manuscript.docx").read_bytes()
    assert texts(resolve(marked, accept=True)) == texts(new)
    assert texts(resolve(marked, accept=False)) == texts(old)

    root = etree.fromstring(zipfile.ZipFile(io.BytesIO(marked)).read("word/document.xml"))
    marks = list(root.iter(W + "ins", W + "del"))
    assert marks
    assert {m.get(W + "author") for m in marks} == {"Example Author"}
    assert {m.get(W + "date") for m in marks} == {"2026-12-01T00:00:00Z"}
    inserted = " ".join("".join(m.itertext()) for m in root.iter(W + "ins"))
    assert "follow-up below 3 months" in inserted  # the new exclusion sentence
    # the mean age changed, and is marked where the text and Table 1 give it
    old_mean = _mean_age(example_path())
    new_mean = _mean_age(data)
    assert old_mean != new_mean
    deleted = [t.text for t in root.iter(W + "delText")]
    assert deleted.count(old_mean) >= 2
    assert inserted.split().count(new_mean) >= 2
    # the HTML and PDF show the same marks
    page = lxml.html.fromstring((out / "manuscript-changes.html").read_bytes())
    assert old_mean in [d.text for d in page.iter("del")]
    assert new_mean in [i.text for i in page.iter("ins")]
    pdf = pypdfium2.PdfDocument(out / "manuscript-changes.pdf")
    text = "".join(page.get_textpage().get_text_range() for page in pdf)
    assert f"{old_mean}{new_mean}" in text  # struck-through old, then the new number
    # unchanged paragraphs are the new document's own XML
    new_root = etree.fromstring(zipfile.ZipFile(io.BytesIO(new)).read("word/document.xml"))
    title = etree.tostring(new_root.find(f".//{W}p"))
    assert etree.tostring(root.find(f".//{W}p")) == title


def _mean_age(data: Path) -> str:
    """The mean age as the text prints it, computed here from the data."""
    import pandas as pd

    return f"{pd.read_csv(data / 'patients.csv')['age'].mean():.1f}"
