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


def test_sources_refuses_a_report_folder_of_the_users(cli, project, tmp_path) -> None:
    import shutil

    copy = tmp_path / "paper"
    shutil.copytree(project, copy)
    shutil.rmtree(copy / "report")
    (copy / "report").mkdir()
    (copy / "report" / "my-report.docx").write_bytes(b"mine")
    before = _tree(copy)
    r = cli("sources", cwd=copy)
    assert r.returncode == 1
    assert "holds files refracture did not write (my-report.docx)" in r.stderr
    assert _tree(copy) == before
