"""Resolving source values to contract values: the mapping's map, the labels, the synonyms.

A source cell becomes a contract cell in this order, and stops at the first that
answers:

1. the mapping's explicit ``values:`` map, keyed by the value as written or by its
   label (so one map serves a REDCap raw export and its labels export alike);
2. for category and yes/no columns, the label the source gives the value (a REDCap
   dictionary's choices ``1, Female | 2, Male``, an SPSS or Stata value label), read
   through the contract's synonyms; a value that has a label is read by its label
   only (a radio ``1, No | 2, Yes`` must not make the code ``1`` a yes);
3. the contract's own case-insensitive synonyms of its codes (``Female``/``f`` → ``F``,
   ``Vertebroplasty`` → ``VP``, ``Th12`` → ``T12``, ``Yes``/``1``/``true``/``Checked``
   → ``yes``).

What none of them resolves is kept as written, with a hint saying what it means, so
that validation reports it at its source cell: a value is never guessed. Numbers are
kept as written unless the spec converts them (``value × scale + offset``, rounded to
``round`` decimals; the shortest text that reads back as the result). Each distinct
text is resolved once and spread back to the rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from refracture.data import schema as S
from refracture.data.importing.mapping import ColumnSpec
from refracture.data.rules import read_number
from refracture.data.text import cell_text

__all__ = [
    "Recode",
    "ResolvedColumn",
    "contract_value",
    "resolve_column",
    "target_problem",
]

#: Case-insensitive synonyms of the category codes (besides the codes themselves).
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "sex": {
        "F": ("female", "woman", "women", "girl"),
        "M": ("male", "man", "men", "boy"),
    },
    "procedure": {
        "VP": ("vertebroplasty", "percutaneous vertebroplasty", "pvp"),
        "KP": ("kyphoplasty", "balloon kyphoplasty", "bkp"),
    },
}
#: Spellings of yes and no besides the contract's (REDCap checkboxes say Checked).
_YES = frozenset((*S.YES_TOKENS, "checked"))
_NO = frozenset((*S.NO_TOKENS, "unchecked"))

_LEVEL_RE = re.compile(r"(TH|T|L)[\s.\-_]*0*(\d{1,2})")


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _level(text: str) -> str | None:
    m = _LEVEL_RE.fullmatch(text.strip().upper())
    if not m:
        return None
    code = f"{'T' if m.group(1).startswith('T') else 'L'}{int(m.group(2))}"
    return code if code in S.LEVEL_CODES else None


def contract_value(column: S.Column, text: str) -> str | None:
    """The contract value ``text`` stands for in ``column`` by the contract's codes and
    synonyms (yes/no columns: ``"yes"`` or ``"no"``), or None."""
    if column.kind is S.Kind.YESNO:
        t = _norm(text)
        return "yes" if t in _YES else "no" if t in _NO else None
    if column.kind is not S.Kind.CATEGORY:
        return None
    if text.strip() in column.allowed:
        return text.strip()
    if column.name == "level":
        return _level(text)
    t = _norm(text)
    for code, words in SYNONYMS.get(column.name, {}).items():
        if t == code.casefold() or t in words:
            return code
    return None


def target_problem(column: S.Column, target: str) -> str | None:
    """Why ``target`` (a value of a ``values:`` map) is no value of ``column``, or None."""
    if target == "":
        return None if not column.cells_required else f"{column.name} may not be blank"
    if column.kind is S.Kind.CATEGORY:
        return None if target in column.allowed else f"must be {column.expected()}"
    if column.kind is S.Kind.YESNO:
        return None if contract_value(column, target) else "must be yes or no"
    if column.kind is S.Kind.NUMBER:
        return None if read_number(target) is not None else "must be a number (or blank)"
    return None


@dataclass(frozen=True)
class Recode:
    """Source values that became another contract value, counted."""

    source: str
    meaning: str
    target: str
    rows: int
    by: str


@dataclass
class ResolvedColumn:
    """The contract text of every row, what it took to get there, and what did not
    resolve (kept as written, with a hint per row)."""

    text: np.ndarray
    hints: np.ndarray
    recodes: list[Recode] = field(default_factory=list)
    unresolved: list[Recode] = field(default_factory=list)
    converted: int = 0
    resolves: np.ndarray | None = None


def _key_lookup(table: Mapping[str, str]) -> dict[str, str]:
    """The map's keys as looked up: exact text, then case-insensitive, then as a number."""
    out: dict[str, str] = {}
    for k, v in table.items():
        out.setdefault(k.strip(), v)
    for k, v in table.items():
        out.setdefault("\0" + _norm(k), v)
        n = read_number(k)
        if n is not None:
            out.setdefault("\1" + repr(n), v)
    return out


def _find(lookup: Mapping[str, str], text: str) -> str | None:
    t = text.strip()
    if t in lookup:
        return lookup[t]
    hit = lookup.get("\0" + _norm(t))
    if hit is not None:
        return hit
    n = read_number(t)
    return lookup.get("\1" + repr(n)) if n is not None else None


def _converted(x: float, spec: ColumnSpec) -> str:
    y = x * (spec.scale if spec.scale is not None else 1.0)
    y += spec.offset if spec.offset is not None else 0.0
    if spec.round is not None:
        y = round(y, spec.round)
    return cell_text(float(y))


def resolve_column(
    source: np.ndarray,
    column: S.Column,
    spec: ColumnSpec | None,
    labels: Mapping[str, str] | None = None,
    labels_from: str = "the value labels",
) -> ResolvedColumn:
    """Resolve the source texts ``source`` (one per row) to ``column``'s contract texts."""
    codes, uniques = pd.factorize(pd.Series(source, dtype=object), use_na_sentinel=False)
    counts = np.bincount(codes, minlength=len(uniques))
    explicit = _key_lookup(spec.values) if spec is not None and spec.values else {}
    label_of = _key_lookup(labels) if labels else {}
    coded = column.kind in (S.Kind.CATEGORY, S.Kind.YESNO)
    convert = spec is not None and any(x is not None for x in (spec.scale, spec.offset, spec.round))
    out_u = np.empty(len(uniques), dtype=object)
    hint_u = np.full(len(uniques), "", dtype=object)
    resolves_u = np.ones(len(uniques), dtype=bool)
    result = ResolvedColumn(text=np.empty(0), hints=np.empty(0))
    for i, raw in enumerate(uniques.tolist()):
        raw = str(raw)
        text = raw.strip()
        meaning = _find(label_of, text) if coded and text else None
        target, by = _find(explicit, text), "values map"
        if target is None and meaning is not None:
            target = _find(explicit, meaning)
        if target is not None:
            if column.kind is S.Kind.YESNO and target:
                target = contract_value(column, target) or target
        elif not text or not coded:
            target, by = raw, ""
            n = read_number(text) if convert and text else None
            if n is not None:
                target, by = _converted(n, spec), "conversion"  # type: ignore[arg-type]
                result.converted += int(counts[i])
        elif meaning is not None:
            target, by = contract_value(column, meaning), labels_from
        else:
            target, by = contract_value(column, text), "synonym"
        if target is None:  # kept as written: validation reports it at its source cell
            target, by = raw, ""
            resolves_u[i] = False
            if meaning is not None:
                hint_u[i] = (
                    f"{text} means {meaning!r} in {labels_from}, which is not "
                    f"{column.expected()}: add it to values: in the mapping"
                )
            else:
                hint_u[i] = (
                    "no label or synonym gives a contract value: add it to values: in the mapping"
                )
            result.unresolved.append(Recode(text, meaning or "", "", int(counts[i]), ""))
        elif by not in ("", "conversion") and target != raw:
            result.recodes.append(Recode(text, meaning or "", target, int(counts[i]), by))
        out_u[i] = target
    result.text = out_u[codes] if len(uniques) else np.empty(0, dtype=object)
    result.hints = hint_u[codes] if len(uniques) else np.empty(0, dtype=object)
    result.resolves = resolves_u[codes] if len(uniques) else np.empty(0, dtype=bool)
    result.recodes.sort(key=lambda r: (-r.rows, r.source))
    result.unresolved.sort(key=lambda r: (-r.rows, r.source))
    return result
