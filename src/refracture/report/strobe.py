"""The reporting checklist (STROBE, case-control): where the manuscript addresses each item.

The guideline's items are data (``templates/reporting/strobe-case-control.yml``,
in refracture's own words; a project may replace the file in its templates). The
templates declare what each paragraph addresses with a comment in it::

    This retrospective case-control study included all consecutive patients ...
    <!-- strobe: 4 5 6a -->

The comment is Markdown, so it survives into the rendered ``.qmd`` (and the HTML,
invisibly) but prints in no document, and only when the paragraph it stands in is
rendered: a paragraph left out by its condition, or deleted by the authors, takes
its items with it. :func:`find_tags` reads the rendered manuscript and gives each tag
the section (the chain of headings) it stands under; :func:`heading_pages` finds
each heading in the text of the submitted PDF, in order, and :func:`checklist`
puts it together: for every item, the sections and pages where it is addressed,
or "not reported".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from refracture.errors import ConfigError
from refracture.report.assets import templates_dir

__all__ = [
    "GUIDELINE",
    "Checklist",
    "Guideline",
    "Heading",
    "Item",
    "Row",
    "Tag",
    "checklist",
    "find_tags",
    "heading_pages",
    "load_guideline",
    "section_pages",
]

GUIDELINE = "strobe-case-control"
"""The reporting guideline of a case-control study (``reporting/NAME.yml``)."""

TITLE_PAGE = "Title page"
"""Where a tag before the first heading stands (page 1)."""

_TAG = re.compile(r"<!--\s*strobe:\s*(.*?)\s*-->", re.S | re.I)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*(?:\{[^{}]*\})?[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^(```|~~~)")


@dataclass(frozen=True)
class Item:
    id: str
    section: str
    topic: str
    text: str
    optional: bool = False
    separately: bool = False


@dataclass(frozen=True)
class Guideline:
    name: str
    title: str
    citation: str
    licence: str
    separately: str
    items: tuple[Item, ...]


def load_guideline(project: Path | None = None, name: str = GUIDELINE) -> Guideline:
    """The guideline ``reporting/NAME.yml``: the project's templates first, else shipped."""
    folders = [Path(project)] if project is not None else []
    folders.append(templates_dir())
    path = next(
        (
            f / "reporting" / f"{name}.yml"
            for f in folders
            if (f / "reporting" / f"{name}.yml").is_file()
        ),
        None,
    )
    if path is None:
        raise ConfigError(f"refracture is installed without its reporting guideline {name!r}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{path.name}: not a reporting guideline refracture can read ({exc})"
        ) from exc
    return _guideline(path.name, text)


@functools.lru_cache(maxsize=8)
def _guideline(file: str, text: str) -> Guideline:
    """The guideline of the YAML ``text`` of ``file``, read once per text (the template
    lint of every preview rebuild asks for it; a Guideline is immutable)."""
    try:
        data = yaml.safe_load(text)
        items = tuple(
            Item(
                id=str(i["id"]),
                section=str(i["section"]),
                topic=str(i["topic"]),
                text=" ".join(str(i["text"]).split()),
                optional=bool(i.get("optional", False)),
                separately=bool(i.get("separately", False)),
            )
            for i in data["items"]
        )
        guideline = Guideline(
            name=str(data["name"]),
            title=str(data["title"]),
            citation=" ".join(str(data["citation"]).split()),
            licence=" ".join(str(data["licence"]).split()),
            separately=str(data.get("separately", "")),
            items=items,
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"{file}: not a reporting guideline refracture can read ({exc})") from exc
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{file}: an item is listed twice")
    return guideline


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    index: int
    """Position among the document's headings (0 for the first)."""


@dataclass(frozen=True)
class Tag:
    items: tuple[str, ...]
    heading: int | None
    """Index of the heading the tag stands under; None before the first heading."""


def _plain_heading(text: str) -> str:
    text = re.sub(r"\\(.)", r"\1", text)  # Markdown escapes
    text = re.sub(r"[*`]", "", text)
    return " ".join(text.split())


def find_tags(qmd: str) -> tuple[list[Heading], list[Tag]]:
    """The headings of a rendered ``.qmd`` and its reporting tags, in document order."""
    lines = qmd.splitlines()
    start = 0
    if lines and lines[0].strip() == "---":  # YAML front matter
        for i in range(1, len(lines)):
            if lines[i].strip() in ("---", "..."):
                start = i + 1
                break
    headings: list[Heading] = []
    tags: list[Tag] = []
    fence: str | None = None
    for line in lines[start:]:
        opener = _FENCE.match(line.strip())
        if fence is not None:
            if opener and opener.group(1) == fence:
                fence = None
            continue
        if opener:
            fence = opener.group(1)
            continue
        match = _HEADING.match(line)
        if match:
            headings.append(
                Heading(len(match.group(1)), _plain_heading(match.group(2)), len(headings))
            )
            continue
        for found in _TAG.finditer(line):
            items = tuple(x for x in re.split(r"[\s,;]+", found.group(1)) if x)
            tags.append(Tag(items, headings[-1].index if headings else None))
    return headings, tags


def _norm(text: str) -> str:
    text = text.replace("\ufffe", "-").replace("\u2011", "-").replace("\u00ad", "")
    return " ".join(text.split()).casefold()


def _pdf_lines(pdf: Path) -> list[tuple[int, str]]:
    import pypdfium2 as pdfium

    out: list[tuple[int, str]] = []
    doc = pdfium.PdfDocument(str(pdf))
    try:
        for number in range(len(doc)):
            page = doc[number]
            text = page.get_textpage().get_text_range()
            out += [(number + 1, _norm(line)) for line in text.splitlines() if line.strip()]
            page.close()
    finally:
        doc.close()
    return out


def _found(lines: Sequence[tuple[int, str]], headings: Sequence[Heading]) -> list[int | None]:
    """The index in ``lines`` of each heading's (last) line, or None when not found."""
    found_at: list[int | None] = []
    at = 0
    for heading in headings:
        want = _norm(heading.text)
        found = None
        for i in range(at, len(lines)):
            joined = lines[i][1]
            for k in range(1, 4):
                if joined == want:
                    found = i + k - 1
                    break
                if i + k >= len(lines) or len(joined) >= len(want):
                    break
                nxt = lines[i + k][1]
                joined = joined + nxt if joined.endswith("-") else f"{joined} {nxt}"
            if found is not None:
                break
        found_at.append(found)
        if found is not None:
            at = found + 1
    return found_at


def heading_pages(pdf: Path, headings: Sequence[Heading]) -> list[int | None]:
    """The page (from 1) of the submitted PDF on which each heading is printed.

    Headings are looked for in document order, each after the one before, as a line
    of the page's text (or two or three lines, for a heading that wraps); a heading
    not found gets None and the search goes on from where it stood.
    """
    return [span[0] if span else None for span in section_pages(pdf, headings)]


def section_pages(pdf: Path, headings: Sequence[Heading]) -> list[tuple[int, int] | None]:
    """For each heading, the first and last page of the text under it, up to the next
    heading (of any level) that was found; None for a heading not found."""
    lines = _pdf_lines(pdf)
    found = _found(lines, headings)
    spans: list[tuple[int, int] | None] = []
    for n, index in enumerate(found):
        if index is None:
            spans.append(None)
            continue
        following = next((f for f in found[n + 1 :] if f is not None), None)
        last = lines[following - 1][0] if following is not None else lines[-1][0]
        spans.append((lines[index][0], max(lines[index][0], last)))
    return spans


@dataclass(frozen=True)
class Place:
    section: str
    """The headings the tag stands under, joined with " › " ("Results › Patients")."""
    page: int | None
    """The page where the section's heading is printed (None: not found in the PDF)."""
    last_page: int | None = None
    """The last page of the section's text."""

    @property
    def cite(self) -> str:
        """ "p. 5" or "pp. 5–6"; "" when the heading was not found."""
        if not self.pages:
            return ""
        return ("pp. " if "\u2013" in self.pages else "p. ") + self.pages

    @property
    def pages(self) -> str:
        """ "5", or "5–6" for a section that runs over to the next page; "" when not found."""
        if self.page is None:
            return ""
        if self.last_page is None or self.last_page == self.page:
            return str(self.page)
        return f"{self.page}\u2013{self.last_page}"


@dataclass(frozen=True)
class Row:
    item: Item
    places: tuple[Place, ...]

    @property
    def reported(self) -> bool:
        return bool(self.places)


@dataclass(frozen=True)
class Checklist:
    guideline: Guideline
    rows: tuple[Row, ...]
    unknown: tuple[str, ...]
    """Item ids that tags name but the guideline does not have."""
    unplaced: tuple[str, ...]
    """Sections whose heading was not found in the PDF."""

    @property
    def not_reported(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if not r.reported and not r.item.optional)


def _section_path(headings: Sequence[Heading], index: int) -> list[Heading]:
    chain: list[Heading] = []
    level = 7
    for h in reversed(headings[: index + 1]):
        if h.level < level:
            chain.insert(0, h)
            level = h.level
    return chain


def checklist(guideline: Guideline, qmd: str, pdf: Path) -> Checklist:
    """Each item of ``guideline`` with the sections and PDF pages where the rendered
    manuscript ``qmd`` addresses it (its tags), found in the submitted ``pdf``."""
    headings, tags = find_tags(qmd)
    spans = section_pages(pdf, headings) if headings else []
    places: dict[str, list[Place]] = {}
    unknown: list[str] = []
    unplaced: list[str] = []
    known = {i.id for i in guideline.items}
    for tag in tags:
        if tag.heading is None:
            place = Place(TITLE_PAGE, 1, 1)
        else:
            chain = _section_path(headings, tag.heading)
            span = spans[tag.heading]
            place = Place(" › ".join(h.text for h in chain), *(span or (None, None)))
            if place.page is None and place.section not in unplaced:
                unplaced.append(place.section)
        for item in tag.items:
            if item not in known:
                if item not in unknown:
                    unknown.append(item)
                continue
            found = places.setdefault(item, [])
            if place not in found:
                found.append(place)
    rows = tuple(Row(i, tuple(places.get(i.id, ()))) for i in guideline.items)
    return Checklist(guideline, rows, tuple(unknown), tuple(unplaced))
