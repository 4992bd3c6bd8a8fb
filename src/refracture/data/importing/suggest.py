"""Drafting a mapping from a source: ``refracture import --suggest``.

The source's columns are matched to the contract's, each with a confidence:

* **exact** (1.0): the source column has the contract's name;
* **synonym** (0.95): its name is one refracture knows for the contract column
  (``gender`` for sex, ``fu_days`` for follow-up, ``new_fx`` for a subsequent fracture);
* **label** (0.9): its description (a REDCap field label, an SPSS or Stata variable
  label) is the contract column's description;
* **similar**: the best rapidfuzz ``token_sort_ratio`` of its name with the contract's
  names, or of its label with the contract's description, × 0.9 (so only a near-identical
  name is taken without a check).

Unit words in a name (``age_years``, ``fu_days``, ``cement_ml``) are set aside when it is
compared with the names refracture knows.

The values then vouch for the match or against it: a category or yes/no column whose
values (or their labels) are mostly not the contract's codes, or a number column whose
values are mostly not numbers, keeps 70 % of its confidence (so even an exact name is
then only a guess). Each source column is given to
one contract column at most, best matches first.

The draft is written as YAML with a comment on every line saying why and how sure.
A match of at least :data:`CONFIDENT` is written as a mapping line; one of at least
:data:`POSSIBLE` is written commented out (``# ?``), for the user to check and uncomment;
anything weaker is not written. So a mapping never maps a column on a weak guess
without saying so, and the contract columns left unmapped are listed at the top (and
returned, for the command line to print). Follow-up in days, weeks or years gets the
``scale`` to months (rounded to 0.1 month); values no label or synonym resolves are
named in the comment, for a ``values:`` map.

The layout is found from the source: a REDCap export's repeating instrument whose
fields best match the level columns; else columns named per level (``tscore_L1``,
``L1_tscore``, ``treated_Th12``), which become ``levels.wide``; else a second file of
levels given with ``levels`` (a row per level).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from refracture.data import schema as S
from refracture.data.importing.redcap import (
    INSTRUMENT,
    normalise_name,
    read_dictionary,
    read_export,
    split_rows,
)
from refracture.data.importing.sources import KINDS, SourceTable, read_table
from refracture.data.importing.values import contract_value, resolve_column
from refracture.data.rules import read_number
from refracture.errors import DataError

__all__ = ["CONFIDENT", "POSSIBLE", "Suggestion", "suggest_mapping"]

CONFIDENT = 0.85
POSSIBLE = 0.6

#: Names refracture knows for each contract column (compared normalised: lower case,
#: words separated by one space).
ALIASES: dict[str, tuple[str, ...]] = {
    "patient_id": (
        "patient id",
        "record id",
        "study id",
        "subject id",
        "participant id",
        "pid",
        "case id",
        "patient",
        "subject",
        "id",
    ),
    "age": ("age", "age years", "age at surgery", "age at procedure", "age at operation"),
    "sex": ("sex", "gender"),
    "procedure": (
        "procedure",
        "proc",
        "index procedure",
        "augmentation",
        "operation",
        "procedure type",
        "surgery type",
    ),
    "followup_months": (
        "followup months",
        "follow up months",
        "followup",
        "follow up",
        "fu months",
        "fu",
        "followup days",
        "follow up days",
        "fu days",
        "followup weeks",
        "followup years",
        "months followed",
        "last followup",
    ),
    "bmi": ("bmi", "body mass index"),
    "steroid_use": (
        "steroid use",
        "steroid",
        "steroids",
        "glucocorticoids",
        "corticosteroids",
        "glucocorticoid use",
        "corticosteroid use",
    ),
    "osteoporosis_treatment": (
        "osteoporosis treatment",
        "osteoporosis tx",
        "osteo tx",
        "osteoporosis therapy",
        "anti osteoporotic",
        "antiosteoporotic",
        "bisphosphonates",
        "bisphosphonate",
    ),
    "level": ("level", "vert level", "vertebral level", "vertebra", "segment", "vertebral body"),
    "treated": ("treated", "cemented", "augmented", "treated level", "cement augmented"),
    "tscore": ("tscore", "t score", "dxa t score", "dxa tscore", "bmd t score"),
    "anterior_height_loss_pct": (
        "anterior height loss pct",
        "anterior height loss",
        "height loss",
        "height loss pct",
        "ahl",
        "ahl pct",
    ),
    "cement_volume_ml": ("cement volume ml", "cement volume", "cement ml", "cement vol", "cement"),
    "cement_leakage": ("cement leakage", "leakage", "leak", "cement leak"),
    "subsequent_fracture": (
        "subsequent fracture",
        "new fracture",
        "new fx",
        "subsequent fx",
        "subseq fx",
        "refracture",
        "adjacent fracture",
        "new vcf",
    ),
    "months_to_fracture": (
        "months to fracture",
        "months to fx",
        "time to fracture",
        "fracture months",
        "fx months",
        "fracture days",
        "days to fracture",
        "days to fx",
        "fx days",
        "time to fx",
        "months to new fracture",
    ),
}
#: Months per unit, for a months column recorded in other units (name or label says so).
_UNITS: tuple[tuple[str, str, float], ...] = (
    (r"\b(?:days?|d)\b", "days", 12 / 365.25),
    (r"\b(?:weeks?|wks?)\b", "weeks", 12 / 52.1775),
    (r"\b(?:years?|yrs?|y)\b", "years", 12.0),
)
#: Unit words a name may carry besides what it names (``age_years``, ``fu_days``).
_UNIT_WORDS = frozenset(
    [
        "days",
        "day",
        "d",
        "weeks",
        "week",
        "wks",
        "wk",
        "months",
        "month",
        "mo",
        "years",
        "year",
        "yrs",
        "yr",
        "ml",
        "pct",
        "percent",
        "kg",
    ]
)
_WIDE = (
    re.compile(r"(?P<stem>.+?)[_\-. ]*(?P<level>(?:th|t|l)[_\-. ]?\d{1,2})", re.IGNORECASE),
    re.compile(r"(?P<level>(?:th|t|l)[_\-. ]?\d{1,2})[_\-. ]*(?P<stem>.+)", re.IGNORECASE),
)
_LEVEL = S.LEVELS.column("level")


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.casefold()).split())


@dataclass
class _Candidate:
    """A source column (or a wide pattern) that may fill a contract column."""

    column: str
    label: str
    texts: np.ndarray  # every non-blank cell, as text
    labels: dict[str, str] | None
    levels: tuple[str, ...] = ()


@dataclass
class _Match:
    table: str
    contract: S.Column
    candidate: _Candidate
    confidence: float
    why: str
    unit: tuple[str, float] | None = None
    unresolved: list[tuple[str, int]] = field(default_factory=list)


def _name_score(col: S.Column, cand: _Candidate) -> tuple[float, str]:
    from rapidfuzz import fuzz

    name = _norm(cand.column.replace("{level}", ""))
    core = " ".join(w for w in name.split() if w not in _UNIT_WORDS)
    if cand.column.replace("{level}", "").strip("_-. ") == col.name:
        return 1.0, "exact name"
    known = (_norm(col.name), *ALIASES.get(col.name, ()))
    if name in known or (core and core in known):
        return 0.95, "synonym"
    label = _norm(cand.label)
    if label and label in (_norm(col.description), _norm(col.name), *ALIASES.get(col.name, ())):
        return 0.9, "label"
    # a similar name or label is never as sure as a known one: × 0.9
    by_name = max(fuzz.token_sort_ratio(name, n) for n in known) / 100
    by_label = fuzz.token_sort_ratio(label, _norm(col.description)) / 100 if label else 0
    if by_label > by_name:
        return 0.9 * by_label, f"similar label ({round(100 * by_label)} %)"
    return 0.9 * by_name, f"similar name ({round(100 * by_name)} %)"


def _unit(col: S.Column, cand: _Candidate) -> tuple[str, float] | None:
    if not col.name.endswith("months") and col.name != "months_to_fracture":
        return None
    words = f"{_norm(cand.column)} {_norm(cand.label)}"
    if re.search(r"\bmonths?\b", words):
        return None
    for rx, unit, scale in _UNITS:
        if re.search(rx, words):
            return unit, scale
    return None


_DOUBT = 0.7  # values that speak against a match: even an exact name is only a guess


def _evidence(match: _Match) -> None:
    """Let the values vouch for a match, or take :data:`_DOUBT` of its confidence."""
    col, cand = match.contract, match.candidate
    texts = cand.texts
    if len(texts) == 0:
        return
    if col.kind is S.Kind.NUMBER:
        numbers = sum(read_number(t) is not None for t in set(texts.tolist()))
        if numbers < 0.9 * len(set(texts.tolist())):
            match.confidence *= _DOUBT
            match.why += "; its values are mostly not numbers"
        return
    if col.kind in (S.Kind.CATEGORY, S.Kind.YESNO):
        res = resolve_column(texts, col, None, cand.labels)
        values, counts = (
            np.unique(texts[~res.resolves], return_counts=True)
            if len(texts)
            else (np.array([]), np.array([]))
        )
        match.unresolved = sorted(
            zip(values.tolist(), counts.tolist(), strict=True), key=lambda vc: (-vc[1], vc[0])
        )
        distinct = len(set(texts.tolist()))
        if len(match.unresolved) > 0.5 * distinct:
            match.confidence *= _DOUBT
            match.why += "; its values are mostly not the contract's codes"


def _candidates(table: SourceTable, columns: list[str]) -> list[_Candidate]:
    out = []
    for c in columns:
        cells = table.frame[c].to_numpy(dtype=object)
        texts = np.array([str(t).strip() for t in cells.tolist()], dtype=object)
        out.append(
            _Candidate(
                c, table.column_labels.get(c, ""), texts[texts != ""], table.value_labels.get(c)
            )
        )
    return out


def _wide_candidates(table: SourceTable) -> tuple[list[_Candidate], set[str], list[str]]:
    """Patterns of columns named per level, the columns they cover, and the levels (as
    written in the names, cranio-caudally)."""
    groups: dict[str, dict[str, str]] = {}
    for c in table.columns:
        for rx in _WIDE:
            m = rx.fullmatch(c)
            if m is None or not m.group("stem").strip("_-. "):
                continue
            code = contract_value(_LEVEL, m.group("level"))
            if code is None:
                continue
            pattern = c[: m.start("level")] + "{level}" + c[m.end("level") :]
            groups.setdefault(pattern, {})[code] = m.group("level")
            break
    groups = {p: g for p, g in groups.items() if len(g) >= 2}
    covered: set[str] = set()
    levels: dict[str, str] = {}
    out = []
    for pattern, found in groups.items():
        names = [pattern.replace("{level}", text) for text in found.values()]
        covered.update(names)
        for code, text in found.items():
            levels.setdefault(code, text)
        texts = np.concatenate([_candidates(table, [n])[0].texts for n in names])
        labels: dict[str, str] = {}
        for n in names:
            labels.update(table.value_labels.get(n) or {})
        out.append(_Candidate(pattern, "", texts, labels or None, tuple(found.values())))
    ordered = [levels[c] for c in S.LEVEL_CODES if c in levels]
    return out, covered, ordered


def _assign(
    table: str, spec: S.Table, candidates: list[_Candidate], skip: frozenset[str] = frozenset()
) -> list[_Match]:
    scored = []
    for col in spec.columns:
        if col.name in skip:
            continue
        for cand in candidates:
            score, why = _name_score(col, cand)
            if score >= POSSIBLE:
                scored.append(_Match(table, col, cand, score, why, _unit(col, cand)))
    for m in scored:
        _evidence(m)
    scored.sort(
        key=lambda m: (-m.confidence, spec.names.index(m.contract.name), m.candidate.column)
    )
    taken_cols: set[str] = set()
    taken_src: set[str] = set()
    chosen = []
    for m in scored:
        if m.confidence < POSSIBLE:
            continue
        if m.contract.name in taken_cols or m.candidate.column in taken_src:
            continue
        taken_cols.add(m.contract.name)
        taken_src.add(m.candidate.column)
        chosen.append(m)
    chosen.sort(key=lambda m: spec.names.index(m.contract.name))
    return chosen


# ---------------------------------------------------------------------------
# The draft
# ---------------------------------------------------------------------------


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def _yaml(text: str) -> str:
    """A scalar as YAML reads it back unchanged (plain where safe, else double-quoted)."""
    if _PLAIN.fullmatch(text) and text.casefold() not in ("true", "false", "null", "~"):
        return text
    return json.dumps(text, ensure_ascii=False)


def _spec_text(m: _Match) -> str:
    column = _yaml(m.candidate.column)
    if m.unit is None:
        return column
    return f"{{column: {column}, scale: {m.unit[1]:.8g}, round: 1}}"


def _comment(m: _Match) -> str:
    parts = [f"{m.why}, {round(100 * min(m.confidence, 1.0))} % sure"]
    if m.candidate.label:
        parts.append(f"label: {m.candidate.label}")
    if m.unit is not None:
        parts.append(f"{m.unit[0]} to months, rounded to 0.1 month")
    if m.unresolved:
        shown = ", ".join(f"{v!r} ({n} row{'' if n == 1 else 's'})" for v, n in m.unresolved[:3])
        parts.append(f"no contract value for {shown}: add them to values:")
    return "; ".join(parts)


@dataclass(frozen=True)
class Suggestion:
    """A drafted mapping (YAML text) and the contract columns it leaves unmapped."""

    text: str
    unmapped: tuple[str, ...]
    required_unmapped: tuple[str, ...]
    guesses: tuple[str, ...]


def _lines(matches: list[_Match], indent: str) -> list[str]:
    out = []
    for m in matches:
        line = f"{m.contract.name}: {_spec_text(m)}"
        if m.confidence >= CONFIDENT:
            out.append(f"{indent}{line}  # {_comment(m)}")
        else:
            out.append(f"{indent}# ? {line}  # check: {_comment(m)}")
    return out


def _relative(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path.absolute(), base.absolute())).as_posix()
    except ValueError:  # another drive
        return path.absolute().as_posix()


def suggest_mapping(
    source: Path,
    dictionary: Path | None = None,
    levels: Path | None = None,
    base: Path | None = None,
) -> Suggestion:
    """Draft a mapping of ``source`` (with a REDCap ``dictionary``, or a second file of
    ``levels``); file paths in it are written relative to ``base`` (the folder the
    mapping will be in; default: the working folder)."""
    base = base if base is not None else Path.cwd()
    source = Path(source)
    header: list[str] = []
    top: list[str] = []
    level_lines: list[str] = []
    patient_matches: list[_Match] = []
    level_matches: list[_Match] = []
    implicit: set[str] = set()
    if _is_redcap(source, dictionary):
        dic = read_dictionary(dictionary) if dictionary is not None else None
        export = read_export(source, dic)
        record_id = (
            dic.record_id if dic and dic.record_id in export.columns else (export.columns[0])
        )
        top += ["format: redcap", f"records: {_yaml(_relative(source, base))}"]
        if dictionary is not None:
            top.append(f"dictionary: {_yaml(_relative(dictionary, base))}")
        what = "a REDCap records export" + (" with its data dictionary" if dic else "")
        if dic is None:
            header.append(
                "No --dictionary given: choice codes resolve only through values: "
                "maps and synonyms. Add dictionary: for REDCap's own labels."
            )
        columns = [
            c for c in export.columns if not c.startswith("redcap_") and not c.endswith("_complete")
        ]
        split = split_rows(export, record_id, None)
        best: tuple[int, str, list[_Match], list[str]] | None = None
        for instrument in sorted(split.instruments):
            rows = split_rows(export, record_id, instrument).instance_rows
            assert rows is not None
            filled = [
                c for c in columns if c != record_id and (rows.frame[c].str.strip() != "").any()
            ]
            found = _assign(
                "levels", S.LEVELS, _candidates(rows, filled), frozenset({"patient_id"})
            )
            if best is None or len(found) > best[0]:
                best = (len(found), instrument, found, filled)
        if best is not None and best[0] > 0:
            _, instrument, level_matches, level_cols = best
            level_lines.append(
                f"  repeating_instrument: {_yaml(instrument)}  # "
                f"{best[0]} of its fields match level columns"
            )
            implicit = {"patient_id"}
            patient_cols = [c for c in columns if c not in level_cols or c == record_id]
            patient_matches = _assign(
                "patients", S.PATIENTS, _candidates(split.record_rows, patient_cols)
            )
        else:
            wide, covered, listed = _wide_candidates(split.record_rows)
            patient_matches = _assign(
                "patients",
                S.PATIENTS,
                _candidates(split.record_rows, [c for c in columns if c not in covered]),
            )
            level_matches, level_lines, implicit = _wide(wide, listed)
    else:
        table = read_table(source)
        top += ["format: table", f"records: {_yaml(_relative(source, base))}"]
        if table.label != table.file:
            top.append(f"sheet: {_yaml(table.label[len(table.file) + 1 : -1])}")
        if levels is not None:
            lev = read_table(levels)
            patient_matches = _assign("patients", S.PATIENTS, _candidates(table, table.columns))
            level_matches = _assign("levels", S.LEVELS, _candidates(lev, lev.columns))
            level_lines.append(f"  records: {_yaml(_relative(levels, base))}  # a row per level")
            if lev.label != lev.file:
                level_lines.append(f"  sheet: {_yaml(lev.label[len(lev.file) + 1 : -1])}")
        else:
            wide, covered, listed = _wide_candidates(table)
            patient_matches = _assign(
                "patients",
                S.PATIENTS,
                _candidates(table, [c for c in table.columns if c not in covered]),
            )
            level_matches, level_lines, implicit = _wide(wide, listed)
        what = KINDS.get(source.suffix.lower(), "a table")
    return _draft(source, what, header, top, patient_matches, level_matches, level_lines, implicit)


def _wide(wide: list[_Candidate], listed: list[str]) -> tuple[list[_Match], list[str], set[str]]:
    if not wide:
        return (
            [],
            [
                "  # no repeating instrument and no columns named per level (tscore_L1) "
                "found: give levels.records (a file with a row per level) or levels.wide"
            ],
            set(),
        )
    matches = _assign("levels", S.LEVELS, wide, frozenset({"patient_id", "level"}))
    lines = [
        "  wide:",
        f"    levels: [{', '.join(_yaml(t) for t in listed)}]"
        "  # the levels named in the column names",
        "    columns:",
    ]
    return matches, lines, {"patient_id", "level"}


def _is_redcap(source: Path, dictionary: Path | None) -> bool:
    if dictionary is not None:
        if source.suffix.lower() != ".csv":
            raise DataError(
                f"{source.name}: a data dictionary goes with a REDCap records export (.csv)"
            )
        return True
    if source.suffix.lower() != ".csv":
        return False
    try:
        head = pd.read_csv(source, nrows=0, encoding="utf-8-sig").columns
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{source.name} could not be read: {exc}") from None
    names = {normalise_name(str(c)) for c in head}
    return INSTRUMENT in names or "repeat_instrument" in names


def _draft(
    source: Path,
    what: str,
    header: list[str],
    top: list[str],
    patients: list[_Match],
    levels: list[_Match],
    level_lines: list[str],
    implicit: set[str],
) -> Suggestion:
    mapped = {("patients", m.contract.name) for m in patients if m.confidence >= CONFIDENT}
    mapped |= {("levels", m.contract.name) for m in levels if m.confidence >= CONFIDENT}
    mapped |= {("levels", name) for name in implicit}
    unmapped, required = [], []
    for table in S.TABLES:
        for col in table.columns:
            if (table.name, col.name) in mapped:
                continue
            unmapped.append(f"{table.name}.{col.name}")
            if col.presence is S.Presence.REQUIRED:
                required.append(f"{table.name}.{col.name}")
    guesses = tuple(
        f"{m.table}.{m.contract.name}" for m in [*patients, *levels] if m.confidence < CONFIDENT
    )
    lines = [
        f"# A mapping drafted by refracture import --suggest from {source.name} ({what}).",
        "# Each line says why it matches and how sure that is. Lines starting with '# ?' are",
        f"# guesses below {round(100 * CONFIDENT)} %: check them, then remove the '# ? '.",
        *(f"# {h}" for h in header),
    ]
    if required:
        lines.append("# Required by the data contract, not mapped: " + ", ".join(required))
    optional = [u for u in unmapped if u not in required]
    if optional:
        lines.append("# Optional, not mapped: " + ", ".join(optional))
    lines += top
    lines.append("patients:")
    lines += _lines(patients, "  ") or ["  {}"]
    lines.append("levels:")
    lines += level_lines
    indent = "      " if any(line.strip() == "columns:" for line in level_lines) else "  "
    lines += _lines(levels, indent)
    return Suggestion(
        text="\n".join(lines) + "\n",
        unmapped=tuple(unmapped),
        required_unmapped=tuple(required),
        guesses=guesses,
    )
