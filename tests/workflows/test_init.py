"""``refracture init`` and the authors' own templates: a project writes its own paper.

Tried as a new user would: ``init --example``, add a sentence with a live number to
the Discussion, build; the sentence and its number are in the documents, and only
that part of the paper changed. A typed number or an unknown value fails the build
and lint with the file and line.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest

from refracture.report.assets import templates_dir

SENTENCE = "In our own words, {{ cohort.refracture.n }} patients had a new fracture."


def test_init_writes_a_project_and_refuses_a_folder_with_files(cli, tmp_path) -> None:
    r = cli("init", "paper", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    project = tmp_path / "paper"
    files = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    shipped = {p.relative_to(templates_dir()).as_posix() for p in templates_dir().rglob("*.j2")}
    assert {f"templates/{name}" for name in shipped} <= files
    for part in ("introduction", "methods", "results", "discussion", "abstract", "key_points"):
        assert f"templates/partials/{part}.md.j2" in files
    assert {"refracture.yml", "README.md", ".gitignore", "data/README.md", "references.bib"} <= (
        files
    )
    assert "data/patients.csv" not in files  # real data come from the team
    config = (project / "refracture.yml").read_text(encoding="utf-8")
    assert "synthetic: false" in config
    assert "templates: templates" in config
    assert "bibliography: references.bib" in config
    assert "_manuscript/" in (project / ".gitignore").read_text(encoding="utf-8")

    before = sorted(files)
    again = cli("init", "paper", cwd=tmp_path)
    assert again.returncode == 1
    assert "is not empty" in again.stderr
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()) == (
        before
    )
    (tmp_path / "afile").write_text("x")
    assert cli("init", "afile", cwd=tmp_path).returncode == 1


@pytest.fixture(scope="module")
def project(tmp_path_factory, cli) -> Path:
    """``init --example`` with only the Discussion kept as the authors' own template."""
    root = tmp_path_factory.mktemp("init")
    assert cli("init", "paper", "--example", cwd=root).returncode == 0
    project = root / "paper"
    for path in (project / "templates").rglob("*.j2"):
        if path.name != "discussion.md.j2":
            path.unlink()
    return project


def _qmd(build: Path) -> list[str]:
    return (build / "report" / "manuscript.qmd").read_text(encoding="utf-8").splitlines()


def test_one_overridden_partial_changes_exactly_that_part(cli, project) -> None:
    from pypdf import PdfReader

    discussion = project / "templates" / "partials" / "discussion.md.j2"
    discussion.write_text(
        discussion.read_text(encoding="utf-8") + "\n" + SENTENCE + "\n", encoding="utf-8"
    )
    ours = cli("build", "--formats", "html,pdf", cwd=project)
    assert ours.returncode == 0, ours.stderr
    shipped = cli(
        "build",
        "--formats",
        "html",
        "--set",
        "manuscript.templates=null",
        "--out",
        "shipped",
        cwd=project,
    )
    assert shipped.returncode == 0, shipped.stderr
    results = json.loads((project / "_manuscript" / "results.json").read_text(encoding="utf-8"))
    expected = SENTENCE.replace("{{ cohort.refracture.n }}", "16")  # the example's refractures
    diff = [
        line
        for line in difflib.unified_diff(_qmd(project / "shipped"), _qmd(project / "_manuscript"))
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    # the sentence, and the main text's word count on the title page (10 words more)
    removed = [line[1:] for line in diff if line.startswith("-")]
    added = [line[1:] for line in diff if line.startswith("+") and line != "+"]
    assert [re.sub(r"\d+ words\"$", "", r) for r in removed] == [
        re.sub(r"\d+ words\"$", "", a) for a in added if a.startswith("wordcount:")
    ]
    assert len(removed) == 1
    assert removed[0].startswith("wordcount:")
    assert [a for a in added if not a.startswith("wordcount:")] == [expected]
    html = (project / "_manuscript" / "manuscript.html").read_text(encoding="utf-8")
    assert expected in html
    pdf = " ".join(
        p.extract_text() for p in PdfReader(project / "_manuscript" / "manuscript.pdf").pages
    )
    assert expected in re.sub(r"\s+", " ", pdf)
    provenance = results["meta"]["provenance"]["authored"]
    assert [t["file"] for t in provenance["templates"]] == ["templates/partials/discussion.md.j2"]
    assert provenance["bibliography"]["file"] == "references.bib"

    # the rebuild stamp covers the authors' templates
    same = cli("build", "--formats", "html,pdf", cwd=project)
    assert "is up to date" in same.stdout
    discussion.write_text(discussion.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    edited = cli("build", "--formats", "html,pdf", cwd=project)
    assert "is up to date" not in edited.stdout


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("We saw 17 new fractures.", "hard-number: hard-typed number 17"),
        ("{{ cohort.not_a_value }}", "unknown-context: unknown context value cohort.not_a_value"),
    ],
)
def test_a_typed_number_or_unknown_value_fails_build_and_lint(cli, project, line, rule) -> None:
    discussion = project / "templates" / "partials" / "discussion.md.j2"
    original = discussion.read_text(encoding="utf-8")
    try:
        discussion.write_text(original + "\n" + line + "\n", encoding="utf-8")
        where = f"templates/partials/discussion.md.j2:{len(original.splitlines()) + 2}:"
        built = cli("build", "--formats", "html", "--out", "failing", cwd=project)
        assert built.returncode == 1
        assert where in built.stderr
        assert rule in built.stderr
        assert "Traceback" not in built.stderr
        assert not (project / "failing").exists()
        linted = cli("lint", cwd=project)
        assert linted.returncode == 1
        assert f"{where}" in linted.stdout
        assert rule in linted.stdout
    finally:
        discussion.write_text(original, encoding="utf-8")


def test_an_unknown_value_in_a_branch_rendered_fails_with_file_and_line(tmp_path) -> None:
    """Render-time errors of an authors' template name the file and the line too."""
    from refracture.errors import ConfigError
    from refracture.report.render import render_documents

    own = tmp_path / "templates" / "partials"
    own.mkdir(parents=True)
    (own / "abstract.md.j2").write_text("# Abstract\n\nText {{ missing.value }}.\n")
    with pytest.raises(ConfigError, match=r"templates/partials/abstract.md.j2:3: unknown"):
        render_documents({}, tmp_path / "templates")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("# Abstract\n\n{% if %}\n", r"templates/partials/abstract.md.j2:3: template syntax error"),
        (
            "# Abstract\n\nText {{ 7 }}.\n",
            r"templates/partials/abstract.md.j2:3: a template printed",
        ),
    ],
)
def test_other_errors_of_an_authors_template_name_file_and_line(tmp_path, source, message):
    from refracture.errors import ConfigError
    from refracture.report.render import render_documents

    own = tmp_path / "templates" / "partials"
    own.mkdir(parents=True)
    (own / "abstract.md.j2").write_text(source)
    with pytest.raises(ConfigError, match=message):
        render_documents({}, tmp_path / "templates")


def test_an_error_in_a_shipped_template_is_a_render_error_naming_it(tmp_path) -> None:
    """A shipped template that fails (here: for an empty context) is refracture's bug:
    a render error that names refracture's template and line, not the authors'."""
    from refracture.errors import RenderError
    from refracture.report.render import render_documents

    (tmp_path / "templates").mkdir()
    with pytest.raises(RenderError, match=r"refracture's partials/abstract.md.j2:\d+: unknown"):
        render_documents({}, tmp_path / "templates")
