"""Journal profiles: what a journal asks of a submission, read from YAML data files.

The profiles are data shipped with the templates (``templates/journals/NAME.yml``):
``generic`` (refracture's defaults, no limit) and ``spine`` (the study's target
journal). A project overrides or adds one as it overrides templates: a file
``journals/NAME.yml`` in its ``manuscript.templates`` folder is used instead of the
shipped profile of that name.

Every profile is read over the generic one: a key it leaves out keeps the generic
value. :attr:`JournalProfile.own` records which keys the profile set itself, so a
check can say whether a value is the journal's or refracture's default. A limit
the journal's instructions did not confirm is left out of a profile, never
guessed; a check without a limit reports its count only.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from refracture.errors import ConfigError
from refracture.report.assets import templates_dir

__all__ = [
    "FOLDER",
    "GENERIC",
    "TITLE_PAGE_ITEMS",
    "JournalProfile",
    "available_journals",
    "load_journal",
]

FOLDER = "journals"
"""The profiles' folder, in the shipped templates and in a project's templates."""

GENERIC = "generic"
"""The profile every other one is read over."""

TITLE_PAGE_ITEMS = ("corresponding_author_email", "keywords", "running_title")
"""What a profile's ``title_page`` may require."""

Count = Annotated[int, Field(strict=True, gt=0)]
Size = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AbstractRules(_Model):
    structure: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    """Headings the structured abstract must have, in order."""
    max_words: Count | None = None


class FigureRules(_Model):
    format: Literal["tiff", "eps", "pdf"]
    dpi: Count
    single_column_mm: Size
    double_column_mm: Size
    colour: Literal["rgb", "cmyk", "grayscale"]


class Source(_Model):
    page: Annotated[str, Field(min_length=1)]
    title: str = ""
    read: Annotated[str, Field(min_length=1)]
    """The date the page was read (ISO date)."""


class JournalProfile(_Model):
    """One journal's profile, read over the generic one (see the module doc)."""

    key: str
    """The profile's file name without ``.yml`` (``spine``)."""
    origin: Literal["refracture", "project"]
    own: frozenset[str]
    """Dotted keys this profile set itself (``figures.dpi``); the rest are generic."""
    name: Annotated[str, Field(min_length=1)]
    article_type: Annotated[str, Field(min_length=1)]
    abstract: AbstractRules
    max_main_text_words: Count | None = None
    max_tables: Count | None = None
    max_figures: Count | None = None
    max_references: Count | None = None
    figures: FigureRules
    tables: Literal["manuscript", "separate"]
    reference_style: Annotated[str, Field(min_length=1)]
    title_page: tuple[Literal[TITLE_PAGE_ITEMS], ...] = ()  # type: ignore[valid-type]
    level_of_evidence: bool = False
    notes: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    sources: tuple[Source, ...] = ()

    def is_own(self, key: str) -> bool:
        """True when the journal's profile itself set ``key`` (not inherited from generic)."""
        return self.key == GENERIC or key in self.own


def _folders(project: Path | None) -> list[tuple[str, Path]]:
    found = [("refracture", templates_dir() / FOLDER)]
    if project is not None:
        found.insert(0, ("project", Path(project) / FOLDER))
    return found


def available_journals(project: Path | None = None) -> list[str]:
    """The names of every profile, shipped or the project's, sorted."""
    names = {
        p.stem for _, folder in _folders(project) if folder.is_dir() for p in folder.glob("*.yml")
    }
    return sorted(names)


def _file(name: str, project: Path | None) -> tuple[str, Path]:
    for origin, folder in _folders(project):
        path = folder / f"{name}.yml"
        if path.is_file():
            return origin, path
    known = ", ".join(available_journals(project)) or "none"
    raise ConfigError(f"unknown journal {name!r} (available: {known})")


def _shown(origin: str, path: Path) -> str:
    return f"refracture's {FOLDER}/{path.name}" if origin == "refracture" else str(path)


def _read(origin: str, path: Path, text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{_shown(origin, path)}: cannot be read: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{_shown(origin, path)}: a journal profile is a mapping of keys")
    return data


def _dotted(data: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in data.items():
        yield f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _dotted(value, f"{prefix}{key}.")


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_journal(name: str, project: Path | None = None) -> JournalProfile:
    """The profile ``name`` (the project's ``journals/NAME.yml`` first), read over generic.

    An unknown name or an invalid profile is a :class:`ConfigError` naming the file
    and every problem.
    """
    origin, path = _file(name, project)
    generic_origin, generic_path = _file(GENERIC, project)
    generic = (generic_origin, generic_path, _text(generic_origin, generic_path))
    return _profile(name, (origin, path, _text(origin, path)), generic)


def _text(origin: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{_shown(origin, path)}: cannot be read: {exc}") from exc


@functools.lru_cache(maxsize=8)
def _profile(
    name: str, own: tuple[str, Path, str], generic: tuple[str, Path, str]
) -> JournalProfile:
    """The profile of these files' texts, read once per text (the template lint of
    every preview rebuild asks for one; a profile is immutable)."""
    origin, path, _ = own
    raw = _read(*own)
    base = _read(*generic) if name != GENERIC else {}
    reserved = {"key", "origin", "own"} & set(raw)
    if reserved:
        raise ConfigError(f"{_shown(origin, path)}: unknown key {sorted(reserved)[0]!r}")
    merged = _merge(base, raw)
    try:
        return JournalProfile.model_validate(
            {**merged, "key": name, "origin": origin, "own": frozenset(_dotted(raw))}
        )
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(profile)"
            message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{_shown(origin, path)}: {loc}: {message}")
        raise ConfigError("\n".join(problems)) from None
