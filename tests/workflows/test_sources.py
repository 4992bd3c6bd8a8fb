"""``refracture sources``: the Quarto layout contract at a project's root.

Quarto cannot be installed here, so what ``quarto render`` and ``quarto preview``
need is checked instead: every document ``_quarto.yml`` renders exists, and every
path that ``_quarto.yml`` and each ``.qmd`` refer to (styles, templates, Word
reference, bibliography, CSL, figures in each format's image extension) exists
relative to the document, at an ``init`` project's root after ``refracture sources``
and in a build folder.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml


def _front_matter(qmd: Path) -> dict:
    text = qmd.read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, f"{qmd} has no front matter"
    return yaml.safe_load(match.group(1))


def _missing(project: Path) -> list[str]:
    """Every path the Quarto project at ``project`` refers to that does not exist."""
    config = yaml.safe_load((project / "_quarto.yml").read_text(encoding="utf-8"))
    missing: list[str] = []
    documents = config["project"]["render"]
    assert documents, "_quarto.yml renders nothing"
    for doc in documents:
        qmd = project / doc
        if not qmd.is_file():
            missing.append(doc)
            continue
        here = qmd.parent
        formats = config["format"]
        wanted = [formats["html"]["css"], formats["docx"]["reference-doc"]]
        wanted += formats["typst"]["template-partials"]
        meta = _front_matter(qmd)
        wanted += [meta[key] for key in ("bibliography", "csl") if key in meta]
        images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", qmd.read_text(encoding="utf-8"))
        for image in images:
            if Path(image).suffix:
                wanted.append(image)
            else:  # Quarto adds each format's default image extension
                wanted += sorted(
                    {f"{image}.{f['default-image-extension']}" for f in formats.values()}
                )
        missing += [f"{doc}: {rel}" for rel in wanted if not (here / rel).exists()]
    return missing


@pytest.fixture(scope="module")
def project(tmp_path_factory, cli) -> Path:
    root = tmp_path_factory.mktemp("sources")
    assert cli("init", "paper", "--example", cwd=root).returncode == 0
    made = cli("sources", cwd=root / "paper")
    assert made.returncode == 0, made.stderr
    return root / "paper"


def test_quarto_finds_everything_at_an_init_projects_root(project) -> None:
    assert (project / "report" / "manuscript.qmd").is_file()
    assert any((project / "figures").glob("*.svg"))
    assert _missing(project) == []


def test_quarto_finds_everything_in_a_build_folder(example_build) -> None:
    assert _missing(example_build) == []


def test_the_contract_check_can_fail(project, tmp_path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    (copy / "figures" / "roc.svg").unlink()
    (copy / "report" / "assets" / "refracture.css").unlink()
    assert sorted(_missing(copy)) == [
        "report/manuscript.qmd: ../figures/roc.svg",
        "report/manuscript.qmd: assets/refracture.css",
        "report/supplementary.qmd: assets/refracture.css",
    ]


def _tree(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(p.relative_to(folder).as_posix().encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def _copy(project: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(project, to)
    return to


def test_sources_leaves_the_authors_files_in_report_alone(cli, project, tmp_path) -> None:
    copy = _copy(project, tmp_path / "paper")
    (copy / "report" / "my-notes.docx").write_bytes(b"mine")
    (copy / "report" / "draft.qmd").write_text("my own draft\n", encoding="utf-8")
    before = (copy / "report" / "manuscript.qmd").read_bytes()
    r = cli("sources", cwd=copy)
    assert r.returncode == 0, r.stderr
    assert (copy / "report" / "my-notes.docx").read_bytes() == b"mine"
    assert (copy / "report" / "draft.qmd").read_text(encoding="utf-8") == "my own draft\n"
    assert (copy / "report" / "manuscript.qmd").read_bytes() == before
    assert _missing(copy) == []


def test_sources_refuses_a_hand_edited_document_and_changes_nothing(cli, project, tmp_path) -> None:
    copy = _copy(project, tmp_path / "paper")
    with (copy / "report" / "manuscript.qmd").open("a", encoding="utf-8") as f:
        f.write("A sentence typed into the generated source.\n")
    (copy / "report" / "supplementary.qmd").unlink()
    (copy / "report" / "supplementary.qmd").write_text("not ours\n", encoding="utf-8")
    (copy / "report" / ".refracture-sources.json").write_text(
        (project / "report" / ".refracture-sources.json")
        .read_text(encoding="utf-8")
        .replace('"supplementary.qmd"', '"other.qmd"'),
        encoding="utf-8",
    )
    before = _tree(copy)
    r = cli("sources", cwd=copy)
    assert r.returncode == 1
    assert "report/manuscript.qmd was changed since refracture wrote it" in r.stderr
    assert "report/supplementary.qmd is not refracture's" in r.stderr
    assert "Traceback" not in r.stderr
    assert _tree(copy) == before


def test_sources_refuses_a_document_without_a_record(cli, project, tmp_path) -> None:
    copy = _copy(project, tmp_path / "paper")
    (copy / "report" / ".refracture-sources.json").unlink()
    before = _tree(copy)
    r = cli("sources", cwd=copy)
    assert r.returncode == 1
    assert "report/manuscript.qmd is not refracture's" in r.stderr
    assert _tree(copy) == before


def test_sources_still_refuses_a_foreign_assets_or_figures_folder(cli, project, tmp_path) -> None:
    import shutil

    copy = _copy(project, tmp_path / "paper")
    shutil.rmtree(copy / "figures")
    (copy / "figures").mkdir()
    (copy / "figures" / "my-drawing.png").write_bytes(b"mine")
    before = _tree(copy)
    r = cli("sources", cwd=copy)
    assert r.returncode == 1
    assert "holds files refracture did not write (my-drawing.png)" in r.stderr
    assert _tree(copy) == before


def test_a_write_killed_midway_leaves_documents_refracture_still_owns(
    project, tmp_path, monkeypatch
) -> None:
    from refracture.workflows import sources

    report = _copy(project / "report", tmp_path / "report")
    built = tmp_path / "built"
    built.mkdir()
    for name in sources.DOCUMENTS:
        (built / name).write_text(f"new {name}\n", encoding="utf-8")
    real = sources._replace_bytes
    calls = []

    def dies_on_the_second_document(path: Path, data: bytes) -> None:
        calls.append(path.name)
        if path.name == "supplementary.qmd":
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(sources, "_replace_bytes", dies_on_the_second_document)
    with pytest.raises(KeyboardInterrupt):
        sources._write_documents(report, built)
    assert (report / "manuscript.qmd").read_text(encoding="utf-8") == "new manuscript.qmd\n"
    sources._check_report(report, [])  # both documents are still refracture's: no refusal
    monkeypatch.setattr(sources, "_replace_bytes", real)
    sources._write_documents(report, built)
    assert (report / "supplementary.qmd").read_text(encoding="utf-8") == "new supplementary.qmd\n"
    import json

    record = json.loads((report / sources.RECORD).read_text(encoding="utf-8"))
    assert record["files"] == {  # once done, only the bytes now on disk are refracture's
        name: [hashlib.sha256((report / name).read_bytes()).hexdigest()]
        for name in sources.DOCUMENTS
    }


ROOT = Path(__file__).resolve().parents[2]


def test_sources_at_this_repositorys_root_gives_quarto_everything(cli, tmp_path) -> None:
    """The repository's root as committed: _quarto.yml, refracture.yml, report/README.md."""
    import shutil

    copy = tmp_path / "repo"
    (copy / "report").mkdir(parents=True)
    for rel in ("_quarto.yml", "refracture.yml", "report/README.md"):
        shutil.copyfile(ROOT / rel, copy / rel)
    assert _missing(copy) != []  # what Quarto reported: nothing to render with yet
    r = cli("sources", cwd=copy)
    assert r.returncode == 0, r.stderr
    assert _missing(copy) == []
    assert (copy / "report" / "README.md").read_bytes() == (ROOT / "report/README.md").read_bytes()
    assert (copy / "_quarto.yml").read_bytes() == (ROOT / "_quarto.yml").read_bytes()


def test_what_sources_writes_at_the_root_is_ignored_by_git() -> None:
    import subprocess

    written = [
        "report/manuscript.qmd",
        "report/supplementary.qmd",
        "report/manuscript.html",
        "report/manuscript_files/x.js",
        "report/assets/refracture.css",
        "report/.refracture-sources.json",
        "report/.assets.lock",
        "figures/roc.svg",
    ]
    kept = ["report/README.md", "_quarto.yml", "refracture.yml"]
    r = subprocess.run(
        ["git", "check-ignore", "--no-index", *written, *kept],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert sorted(r.stdout.split()) == sorted(written)
