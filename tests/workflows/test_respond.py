"""``refracture respond``: the response to the reviewers, tried as a new user would.

``init --example``, a build (the submitted version, kept as ``old``), then one data
row and the exclusion rule change, and ``refracture respond --since old`` with a
reviews file holding an answer by a variant, one by ``--set`` overrides, a
text-only answer and an unanswered comment. The letter quotes each comment,
answers it with the numbers of its analysis (checked against the data), lists the
unanswered comment as a finding (``--strict`` exits 1), and each changed sentence's
page and line are those on which pdftotext prints it in the new manuscript's PDF.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from docx import Document

from refracture.workflows.respond import load_reviews

REVIEWS = """\
reviewers:
  - name: Reviewer 1
    comments:
      - comment: |
          Steroid users may confound the association.

          Please repeat the analysis without patients on long-term glucocorticoids.
        answer: |
          We repeated every analysis without them.
          The main analysis has {{ cohort.patients }} patients.
        variant: no_steroids
      - comment: "Do patients followed for two years or more show the same?"
        answer: "The key results of the patients followed for two years or more are below."
        set: ["cohort.exclusions.min_followup_months=24"]
  - name: Reviewer 2
    comments:
      - comment: "Please report the follow-up <b>range</b> & mean."
        answer: "Follow-up is reported in the first paragraph of the Results."
      - comment: "Why were no patients excluded?"
"""


@pytest.fixture(scope="module")
def responded(tmp_path_factory, cli) -> dict:
    root = tmp_path_factory.mktemp("respond")
    assert cli("init", "paper", "--example", cwd=root).returncode == 0
    project = root / "paper"
    config = project / "refracture.yml"
    text = config.read_text(encoding="utf-8").replace("synthetic: true", "synthetic: false")
    # the shipped templates: the lint of a project's own templates refuses a reanalysis
    # whose cutoff table has no plateau (cutoffs.plateau unknown), a limit of the lint
    # that `build --set cohort.exclusions.min_followup_months=24` meets as well
    text = text.replace("  templates: templates\n", "  templates: null\n")
    config.write_text(text + "analysis:\n  bootstrap_replicates: 100\n", encoding="utf-8")
    first = cli("build", "--formats", "docx,pdf", cwd=project, timeout=600)
    assert first.returncode == 0, first.stderr
    shutil.copytree(project / "_manuscript", project / "old")
    # the revision: one data row and the exclusion rule
    patients = project / "data" / "patients.csv"
    table = pd.read_csv(patients, dtype=str, keep_default_na=False)
    table.loc[0, "age"] = str(int(table.loc[0, "age"]) - 15)
    table.to_csv(patients, index=False)
    config.write_text(
        config.read_text(encoding="utf-8")
        + "cohort:\n  exclusions:\n    min_followup_months: 13\n"
        + "variants:\n  no_steroids:\n    cohort:\n      exclusions:\n"
        + "        exclude_steroids: true\n",
        encoding="utf-8",
    )
    (project / "reviews.yml").write_text(REVIEWS, encoding="utf-8")
    r = cli("respond", "--since", "old", "--strict", cwd=project, timeout=900)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    assert "Wrote the response to the reviewers" in r.stdout, r.stdout + r.stderr
    folder = project / "_manuscript-response"
    doc = Document(str(folder / "response-to-reviewers.docx"))
    texts = [p.text for p in doc.paragraphs]
    tables = [[[c.text for c in row.cells] for row in t.rows] for t in doc.tables]
    return {"project": project, "run": r, "folder": folder, "texts": texts, "tables": tables}


def _kept(project: Path, *, months: int = 13, no_steroids: bool = False) -> pd.DataFrame:
    """The patients an analysis keeps, selected here from the data."""
    patients = pd.read_csv(project / "data" / "patients.csv")
    kept = patients[patients["followup_months"] >= months]
    if no_steroids:
        kept = kept[kept["steroid_use"] != "yes"]
    return kept


@pytest.mark.slow  # the fixture builds the paper three times (~40 s)
def test_unanswered_comment_is_the_finding_and_strict_exits_1(responded):
    r = responded["run"]
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 finding" in r.stdout
    assert "comment 2.2 (Reviewer 2) has no answer" in r.stdout
    assert (responded["folder"] / "response-to-reviewers.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.slow  # the fixture builds the paper three times (~40 s)
def test_each_comment_is_quoted_and_answered(responded):
    text = "\n".join(responded["texts"])
    assert "Steroid users may confound the association." in text
    assert "Please repeat the analysis without patients on long-term glucocorticoids." in text
    assert "Please report the follow-up <b>range</b> & mean." in text  # printed literally
    n = len(_kept(responded["project"]))
    assert f"The main analysis has {n} patients." in text
    assert "Follow-up is reported in the first paragraph of the Results." in text
    assert "[Authors: answer this comment.]" in text


@pytest.mark.slow  # the fixture builds the paper three times (~40 s)
def test_analysis_answers_have_their_key_results(responded):
    project = responded["project"]
    variant, longer = responded["tables"]
    assert variant[0] == ["Result", "Main analysis", "Requested analysis"]
    assert variant[1] == [
        "Patients",
        str(len(_kept(project))),
        str(len(_kept(project, no_steroids=True))),
    ]
    assert longer[1] == [
        "Patients",
        str(len(_kept(project))),
        str(len(_kept(project, months=24))),
    ]


def test_reviews_file_errors_name_the_comment(tmp_path):
    path = tmp_path / "reviews.yml"
    path.write_text("reviewers:\n  - name: R1\n    comments:\n      - answer: x\n")
    from refracture.errors import ConfigError

    with pytest.raises(ConfigError, match="R1, comment 1: 'comment'"):
        load_reviews(path)
    path.write_text(
        "reviewers:\n  - comments:\n      - comment: c\n        variant: v\n        set: [a=1]\n"
    )
    with pytest.raises(ConfigError, match="not both"):
        load_reviews(path)


def _layout_lines(pdf: Path, page: int) -> dict[int, str]:
    """Line number → the text pdftotext prints beside it on ``page`` (independent of
    the pypdfium2 reading the response uses)."""
    out = subprocess.run(
        ["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\d+)\s{2,}(\S.*)", line)
        if m:
            lines[int(m.group(1))] = m.group(2)
    return lines


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils)")
def test_changes_have_the_page_and_line_of_the_new_pdf(responded):
    texts = responded["texts"]
    start = texts.index("Changes in the manuscript")
    entries = [t for t in texts[start + 1 :] if "(changed)" in t or "(added)" in t]
    assert entries
    pdf = responded["project"] / "_manuscript" / "manuscript.pdf"
    mean_age = f"{_kept(responded['project'])['age'].mean():.1f}"
    assert any(f"mean age of {mean_age}" in e for e in entries)
    checked = 0
    for entry in entries:
        m = re.search(r"page (\d+), line (\d+) \((?:changed|added)\): “(.*)”", entry)
        if not m:
            continue
        page, line, sentence = int(m.group(1)), int(m.group(2)), m.group(3)
        printed = _layout_lines(pdf, page)
        # the sentence starts on that line (its opening words may wrap to the next)
        words = sentence.split()
        here = " ".join(printed[line].split())
        both = " ".join(f"{here} {printed.get(line + 1, '')}".split())
        assert words[0] in here.split(), (entry, here)
        assert " ".join(words[:4]) in both, (entry, both)
        checked += 1
    assert checked >= 2
