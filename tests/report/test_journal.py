"""Journal profiles: shipped data files, sourced limits, read over generic, overridable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from refracture.errors import ConfigError
from refracture.report.assets import templates_dir
from refracture.report.journal import FOLDER, GENERIC, available_journals, load_journal

SHIPPED = templates_dir() / FOLDER
LIMITS = ("max_main_text_words", "max_tables", "max_figures", "max_references")
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")


def test_generic_and_spine_are_shipped() -> None:
    assert {"generic", "spine"} <= set(available_journals())
    assert load_journal("spine").name == "Spine"


def test_the_generic_profile_sets_no_limit() -> None:
    generic = load_journal(GENERIC)
    assert generic.abstract.max_words is None
    assert generic.abstract.structure == ()
    assert all(getattr(generic, key) is None for key in LIMITS)
    assert generic.sources == ()


def _entries_with_comments(text: str) -> list[tuple[str, str]]:
    """Each value a profile sets (a key with a value on its line, or a list item) with the
    comment lines right above it; keys under ``sources`` are the sources themselves."""
    out = []
    comments: list[str] = []
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comments.append(stripped)
            continue
        if not stripped:
            continue
        top = re.match(r"^([A-Za-z_]+):\s*(.*)$", line)
        if top:
            section = top.group(1)
        key = re.match(r"^\s*(?:- )?([A-Za-z_]+):\s*(\S.*)?$", line)
        if section != "sources":
            if stripped.startswith("- ") and not key:
                out.append((f"{section}[]", " ".join(comments)))
            elif key and key.group(2):
                out.append((key.group(1), " ".join(comments)))
        comments = []
    return out


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.yml")), ids=lambda p: p.stem)
def test_every_requirement_of_a_journal_names_where_and_when_it_was_read(path: Path) -> None:
    if path.stem == GENERIC:
        return  # refracture's defaults, no journal's requirement
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    entries = [(k, c) for k, c in _entries_with_comments(text) if k != "name"]
    assert entries, "the profile sets nothing"
    for key, comment in entries:
        assert re.search(r"https?://", comment) or "as above" in comment.lower(), (
            f"{path.name}: {key} names no page it was read in"
        )
        assert DATE.search(comment), f"{path.name}: {key} gives no date it was read"
    for source in data.get("sources", []):
        assert source["page"].startswith("http")
        assert DATE.fullmatch(str(source["read"]))


def test_spine_sets_no_limit_it_could_not_confirm() -> None:
    # the stored instructions that could be read confirm no word, table, figure or
    # reference limit, nor the artwork rules: each must come from the generic profile
    spine = load_journal("spine")
    assert spine.abstract.max_words is None
    assert all(getattr(spine, key) is None for key in LIMITS)
    assert not any(k.startswith(("figures", "abstract", "max_")) for k in spine.own)
    assert spine.figures == load_journal(GENERIC).figures
    assert not spine.is_own("figures.dpi")
    assert spine.is_own("level_of_evidence")
    assert spine.level_of_evidence


def test_a_profile_is_read_over_generic(tmp_path: Path) -> None:
    folder = tmp_path / "templates" / FOLDER
    folder.mkdir(parents=True)
    (folder / "tight.yml").write_text(
        "name: Tight\nmax_tables: 3\nfigures:\n  dpi: 300\n", encoding="utf-8"
    )
    tight = load_journal("tight", tmp_path / "templates")
    generic = load_journal(GENERIC)
    assert tight.origin == "project"
    assert (tight.max_tables, tight.figures.dpi) == (3, 300)
    assert tight.figures.format == generic.figures.format == "tiff"  # inherited
    assert tight.figures.single_column_mm == generic.figures.single_column_mm
    assert tight.is_own("figures.dpi")
    assert not tight.is_own("figures.format")
    assert "tight" in available_journals(tmp_path / "templates")


def test_a_project_profile_overrides_the_shipped_one(tmp_path: Path) -> None:
    folder = tmp_path / FOLDER
    folder.mkdir()
    (folder / "spine.yml").write_text("name: Spine (ours)\nmax_references: 40\n")
    ours = load_journal("spine", tmp_path)
    assert (ours.name, ours.max_references, ours.origin) == ("Spine (ours)", 40, "project")
    assert load_journal("spine").max_references is None  # the shipped one is unchanged


def test_an_unknown_journal_lists_the_available_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown journal 'nature' \(available: generic, spine\)"
    ):
        load_journal("nature")


def test_an_invalid_profile_names_its_file_and_each_key(tmp_path: Path) -> None:
    folder = tmp_path / FOLDER
    folder.mkdir()
    (folder / "bad.yml").write_text(
        "name: Bad\nmax_tables: -1\nfigures:\n  format: jpeg\nwords: 3\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as info:
        load_journal("bad", tmp_path)
    message = str(info.value)
    assert "bad.yml: max_tables:" in message
    assert "bad.yml: figures.format:" in message
    assert "bad.yml: words: unknown key" in message


def test_an_edited_profile_is_read_again(tmp_path: Path) -> None:
    """Profiles are kept by their text (the preview's lint asks for one at every
    rebuild): an edit of the file is seen at once, and an error is never kept."""
    folder = tmp_path / FOLDER
    folder.mkdir()
    path = folder / "tight.yml"
    path.write_text("name: Tight\nmax_tables: 3\n", encoding="utf-8")
    assert load_journal("tight", tmp_path).max_tables == 3
    path.write_text("name: Tight\nmax_tables: 5\n", encoding="utf-8")
    assert load_journal("tight", tmp_path).max_tables == 5
    path.write_text("name: Tight\nmax_tables: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tight\.yml: cannot be read"):
        load_journal("tight", tmp_path)
    path.write_text("name: Tight\nmax_tables: 4\n", encoding="utf-8")
    assert load_journal("tight", tmp_path).max_tables == 4
