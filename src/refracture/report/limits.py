"""The checks of a submission against its journal's profile: pass, or a finding.

Each :class:`Check` compares one measured fact of the submission (words of the
abstract, number of tables, a figure file's resolution and width, an item of the
title page) with what the profile asks; a check whose limit the profile does not
set reports the fact alone and passes. A finding says the number against the
limit ("abstract: 274 words, 24 over the limit of 250"). The facts are measured
by the caller from the files of the submission (:class:`Facts`); nothing here
reads a file or formats a document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from refracture.report.journal import JournalProfile
from refracture.report.strobe import Checklist

__all__ = ["Check", "Facts", "FigureFacts", "findings", "run_checks", "strobe_findings"]

_FORMAT_NAME = {"tiff": "TIFF (LZW)", "eps": "EPS", "pdf": "PDF"}
_COLOUR_NAME = {"rgb": "RGB", "cmyk": "CMYK", "grayscale": "greyscale"}
_TOLERANCE_MM = 0.5


@dataclass(frozen=True)
class Check:
    what: str
    value: str
    """What the submission has ("274 words")."""
    limit: str
    """What the profile asks ("at most 250 words"), or that it asks nothing."""
    finding: str | None = None
    """None when the check passes; else the problem, with the number against the limit."""

    @property
    def passed(self) -> bool:
        return self.finding is None

    @property
    def result(self) -> str:
        return "pass" if self.finding is None else "finding"


@dataclass(frozen=True)
class FigureFacts:
    """A figure file as measured on disk."""

    number: int
    name: str
    format: str
    """"tiff", "eps" or "pdf"."""
    column: str
    width_mm: float
    height_mm: float
    dpi: float | None = None
    pixels: tuple[int, int] | None = None
    colour: str = "rgb"
    compression: str | None = None


@dataclass(frozen=True)
class Facts:
    abstract_words: int
    main_words: int
    abstract: str
    """The abstract's rendered Markdown (for its headings)."""
    tables: int
    figures: int
    references: int
    figure_files: tuple[FigureFacts, ...] = ()
    corresponding_email: str = ""
    keywords: int = 0
    running_title: str = ""
    level_of_evidence: bool = False
    reference_style: str = ""
    synthetic: bool = False
    style: str = "submission"
    table_files: tuple[str, ...] = field(default=())


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _limit_check(what: str, n: int, noun: str, limit: int | None, journal: str) -> Check:
    value = _count(n, noun)
    if limit is None:
        return Check(what, value, "no limit in the profile")
    shown = f"at most {limit} ({journal})"
    if n <= limit:
        return Check(what, value, shown)
    return Check(what, value, shown, f"{what}: {value}, {n - limit} over the limit of {limit}")


def _source(profile: JournalProfile, key: str) -> str:
    return profile.name if profile.is_own(key) else "refracture's default"


def _abstract_structure(profile: JournalProfile, abstract: str) -> Check | None:
    wanted = profile.abstract.structure
    if not wanted:
        return None
    at = 0
    missing = []
    for heading in wanted:
        pattern = re.compile(rf"^\W*{re.escape(heading)}\W*(?:[.:]|$)", re.M | re.I)
        match = pattern.search(abstract, at)
        if match is None:
            missing.append(heading)
        else:
            at = match.end()
    limit = ", ".join(wanted) + f" ({profile.name})"
    if not missing:
        return Check("Abstract headings", "all, in order", limit)
    return Check(
        "Abstract headings",
        f"{len(wanted) - len(missing)} of {len(wanted)} in order",
        limit,
        "Abstract headings: missing or out of order: " + ", ".join(missing),
    )


def _figure_check(profile: JournalProfile, fig: FigureFacts) -> Check:
    rules = profile.figures
    width = rules.single_column_mm if fig.column == "single" else rules.double_column_mm
    parts = [_FORMAT_NAME.get(fig.format, fig.format)]
    problems: list[str] = []
    if fig.format != rules.format:
        problems.append(
            f"{_FORMAT_NAME.get(fig.format, fig.format)}, not {_FORMAT_NAME[rules.format]}"
        )
    if fig.format == "tiff":
        if fig.compression != "tiff_lzw":
            problems.append(f"compression {fig.compression or 'none'}, not LZW")
        dpi = round(fig.dpi or 0)
        parts.append(f"{dpi} dpi")
        if dpi < rules.dpi:
            problems.append(f"{dpi} dpi, {rules.dpi - dpi} below the minimum of {rules.dpi}")
        if fig.pixels is not None:  # the width below is pixels / dpi
            parts.append(f"{fig.pixels[0]} × {fig.pixels[1]} px")
    else:
        parts.append("vector")
    parts.append(f"{fig.width_mm:.1f} × {fig.height_mm:.1f} mm ({fig.column} column)")
    if abs(fig.width_mm - width) > _TOLERANCE_MM:
        problems.append(f"{fig.width_mm:.1f} mm wide, not {width:g} mm")
    colour = fig.colour if fig.format == "tiff" else "rgb"
    parts.append(_COLOUR_NAME[colour])
    if colour != rules.colour:
        problems.append(f"{_COLOUR_NAME[colour]}, not {_COLOUR_NAME[rules.colour]}")
    wanted = [_FORMAT_NAME[rules.format]]
    if rules.format == "tiff":
        wanted.append(f"at least {rules.dpi} dpi")
    wanted.append(f"{width:g} mm wide")
    wanted.append(_COLOUR_NAME[rules.colour])
    limit = ", ".join(wanted) + f" ({_source(profile, 'figures')})"
    finding = f"{fig.name}: " + "; ".join(problems) if problems else None
    return Check(f"Figure {fig.number} ({fig.name})", ", ".join(parts), limit, finding)


def _required(what: str, value: str, present: bool, source: str, finding: str) -> Check:
    return Check(
        what, value if present else "missing", f"required ({source})", None if present else finding
    )


def run_checks(profile: JournalProfile, facts: Facts) -> list[Check]:
    """Every check of ``facts`` against ``profile``, in the order submission-check lists them."""
    journal = profile.name
    checks = [
        _limit_check("Abstract", facts.abstract_words, "word", profile.abstract.max_words, journal),
    ]
    structure = _abstract_structure(profile, facts.abstract)
    if structure is not None:
        checks.append(structure)
    checks += [
        _limit_check("Main text", facts.main_words, "word", profile.max_main_text_words, journal),
        _limit_check("Tables", facts.tables, "table", profile.max_tables, journal),
        _limit_check("Figures", facts.figures, "figure", profile.max_figures, journal),
        _limit_check("References", facts.references, "reference", profile.max_references, journal),
    ]
    checks += [_figure_check(profile, f) for f in facts.figure_files]
    source = _source(profile, "title_page")
    if "corresponding_author_email" in profile.title_page:
        checks.append(
            _required(
                "Corresponding author e-mail",
                facts.corresponding_email,
                bool(facts.corresponding_email),
                source,
                "title page: no e-mail address of a corresponding author "
                "(manuscript.authors: email and corresponding: true)",
            )
        )
    if "keywords" in profile.title_page:
        checks.append(
            _required(
                "Keywords",
                _count(facts.keywords, "keyword"),
                facts.keywords > 0,
                source,
                "title page: no keywords (manuscript.keywords)",
            )
        )
    if "running_title" in profile.title_page:
        checks.append(
            _required(
                "Running title",
                facts.running_title,
                bool(facts.running_title),
                source,
                "title page: no running title (manuscript.running_title)",
            )
        )
    if profile.level_of_evidence:
        checks.append(
            _required(
                "Level of evidence",
                "stated",
                facts.level_of_evidence,
                journal,
                "the manuscript states no level of evidence",
            )
        )
    style_source = _source(profile, "reference_style")
    checks.append(
        Check(
            "Reference style",
            facts.reference_style,
            f"{profile.reference_style} ({style_source})",
            None
            if facts.reference_style == profile.reference_style
            else f"references: rendered in {facts.reference_style}, the profile asks for "
            f"{profile.reference_style}",
        )
    )
    checks.append(
        Check(
            "Tables as separate files",
            ", ".join(facts.table_files) if facts.table_files else "none (in the manuscript)",
            ("separate .docx files" if profile.tables == "separate" else "in the manuscript")
            + f" ({_source(profile, 'tables')})",
        )
    )
    checks.append(
        Check(
            "Manuscript style",
            facts.style,
            "submission (double-spaced, line numbers)",
            None
            if facts.style == "submission"
            else f"the manuscript was built in the {facts.style} style; a submission is "
            "reviewed in the submission style (output.style: submission)",
        )
    )
    checks.append(
        Check(
            "Real data",
            "synthetic: the title page says the data are simulated" if facts.synthetic else "yes",
            "required",
            "the title page says the data are simulated (manuscript.synthetic: true, or the "
            "built-in example cohort); no journal would take them"
            if facts.synthetic
            else None,
        )
    )
    return checks


def strobe_findings(checklist: Checklist) -> list[str]:
    """Every item the manuscript does not report, tags naming unknown items, sections
    whose heading the PDF does not show."""
    name = checklist.guideline.name
    out = [
        f"{name} {row.item.id} ({row.item.topic}) is not reported in the manuscript"
        for row in checklist.not_reported
    ]
    out += [
        f"a {name.lower()} tag names item {x}, which the checklist does not have"
        for x in checklist.unknown
    ]
    out += [
        f"the heading of {section} was not found in the PDF, so its {name} items have no page"
        for section in checklist.unplaced
    ]
    return out


def findings(checks: Sequence[Check], checklist: Checklist | None) -> list[str]:
    """The findings of ``checks`` and of the reporting ``checklist``, in that order."""
    out = [c.finding for c in checks if c.finding is not None]
    return out + (strobe_findings(checklist) if checklist is not None else [])
