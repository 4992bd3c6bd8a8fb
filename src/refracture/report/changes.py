"""What changed between two builds: a diff of two ``results.json`` documents.

Every analysis table is matched row by row (by ``term``, plus a column such as
``model`` or ``section`` where a term repeats) and compared column by column;
the top-level and per-analysis ``meta`` are compared key by key (nested keys
dotted, e.g. ``group_n.le``). Differences below a relative 1e-12 are float noise
and ignored. Changes a reader of the paper must notice are flagged:

* ``first significant cutoff change`` — the cutoff the paper is about moved;
* ``significance flip`` — a P value crossed α (from the results' ``meta``);
* ``direction change`` — an odds or hazard ratio crossed 1, a coefficient, a z
  statistic or a difference changed sign, or the AUC crossed 0.5;
* ``N change`` — a number of patients, levels, events or a 2×2 cell changed.

:func:`format_diff` gives plain text, :func:`to_markdown` a Markdown section for
the supplement. Numbers are formatted as the paper prints them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refracture.common.format import Formatter
from refracture.errors import DataError
from refracture.report.tables import true_minus

__all__ = [
    "CUTOFF_CHANGE",
    "DIRECTION_CHANGE",
    "N_CHANGE",
    "SIGNIFICANCE_FLIP",
    "Change",
    "Diff",
    "diff_results",
    "format_diff",
    "load_results",
    "to_markdown",
]

CUTOFF_CHANGE = "first significant cutoff change"
SIGNIFICANCE_FLIP = "significance flip"
DIRECTION_CHANGE = "direction change"
N_CHANGE = "N change"
FLAGS: tuple[str, ...] = (CUTOFF_CHANGE, SIGNIFICANCE_FLIP, DIRECTION_CHANGE, N_CHANGE)
"""Flags in the order they are listed."""

NOISE = 1e-12
"""Relative difference below which two floats count as equal."""

TOP = ""
"""The analysis name under which top-level ``meta`` changes are filed."""

TITLES: dict[str, str] = {
    TOP: "Results (top level)",
    "cohort": "Cohort summary",
    "table1": "Table 1 (patients)",
    "table1_levels": "Table 1 (levels)",
    "level_tscore": "Level-specific T-scores",
    "thresholds": "T-score cutoffs",
    "roc": "ROC curve",
    "univariable": "Univariable models",
    "multivariable": "Multivariable model",
    "firth": "Firth model",
    "level_gee": "Level GEE",
    "survival": "Time to refracture",
    "adjacent": "Adjacent versus remote fractures",
}

# Columns that tell rows with the same term apart, tried in this order.
_DISAMBIGUATE = ("model", "section", "group", "variable", "level", "contrast", "label")
# Text columns worth comparing (a method switch); other text columns are formatted numbers.
_TEXT_COLUMNS = ("test", "method")
# Analyses whose ``estimate`` is an odds ratio.
_RATIO_ANALYSES = ("thresholds", "univariable", "multivariable", "firth", "level_gee")
_CUTOFF_KEYS = ("first_significant_cutoff", "first_significant_cutoff_text", "first_cutoff")
_P = re.compile(r"^p$|^p_(?!tableone$|method$)|_p$")
_COUNT = re.compile(
    r"^(?:n|events|[abcd]|at_risk|censored|levels|patients|missing)$"
    r"|^n_|_n$|_events$|_count$|_levels$|_patients$"
)
_FRACTION = re.compile(r"^(?:sens|spec|ppv|npv)(?:_low|_high|_at_first_significant)?$")
_CUTOFF_VALUE = re.compile(r"cutoff$|^or_rises_(?:from|to)$")


@dataclass(frozen=True)
class Change:
    """One difference between the old and the new results."""

    analysis: str
    """Analysis name (``""`` for the top-level ``meta``)."""
    row: str
    """Row key (``term``, with a disambiguating column), ``meta`` or ``notes``."""
    column: str
    """Table column or ``meta`` key (nested keys dotted); empty for an added/removed row."""
    kind: str
    """``changed``, ``row added``, ``row removed``, ``analysis added`` or ``analysis removed``."""
    old: Any = None
    new: Any = None
    flags: tuple[str, ...] = ()

    @property
    def relative(self) -> float | None:
        """``(new − old) / |old|`` for two numbers with ``old`` ≠ 0, else ``None``."""
        if _number(self.old) and _number(self.new) and self.old != 0:
            return (self.new - self.old) / abs(self.old)
        return None


@dataclass(frozen=True)
class Diff:
    """Every difference, in analysis order; empty (and false) when the results agree."""

    changes: tuple[Change, ...] = ()
    alpha: float = 0.05
    analyses: tuple[str, ...] = field(default=())
    """Names compared, in order (``""`` first for the top-level meta)."""

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    @property
    def flagged(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.flags)

    def with_flag(self, flag: str) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if flag in c.flags)

    def by_analysis(self) -> dict[str, list[Change]]:
        """Changes per analysis, flagged first (in :data:`FLAGS` order), then added or
        removed rows, then the other changes."""
        out: dict[str, list[Change]] = {}
        for name in self.analyses:
            mine = [c for c in self.changes if c.analysis == name]
            if mine:
                out[name] = sorted(mine, key=_rank)
        return out


def _rank(c: Change) -> int:
    if c.flags:
        return min(FLAGS.index(f) for f in c.flags)
    return len(FLAGS) + (0 if c.kind != "changed" else 1)


# --------------------------------------------------------------------------- loading


def load_results(path: Path | str) -> dict[str, Any]:
    """A ``results.json`` document, from the file or from a build folder holding it."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        where = f"the build folder {path}" if path.is_dir() else str(file)
        raise DataError(f"no results.json in {where}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{file} is not a readable results.json: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("analyses"), dict):
        raise DataError(f"{file} is not a refracture results.json (it has no 'analyses')")
    return doc


# --------------------------------------------------------------------------- comparing


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _same(a: Any, b: Any) -> bool:
    if _number(a) and _number(b):
        return a == b or abs(a - b) <= NOISE * max(abs(a), abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if _blank(a) and _blank(b):
        return True
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _blank(x: Any) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def _significant(p: Any, alpha: float) -> bool:
    return _number(p) and p < alpha


def _side(x: Any, at: float) -> int:
    return 0 if not _number(x) or x == at else (1 if x > at else -1)


def _flatten(meta: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in meta.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _is_count(analysis: str, row: Mapping[str, Any], column: str) -> bool:
    if any(_COUNT.search(part) for part in column.split(".")):
        return True
    if column != "estimate":
        return False
    term = str(row.get("term", ""))
    # cohort rows without an SD are counts (patients, women, refractures, levels)
    return bool(_COUNT.search(term)) or (analysis == "cohort" and row.get("sd") is None)


def _direction_at(analysis: str, row: Mapping[str, Any], column: str) -> float | None:
    """The value whose crossing reverses a finding's direction, or None."""
    term = str(row.get("term", ""))
    if column in ("coef", "z"):
        return 0.0
    if column == "ml_estimate" or (column == "estimate" and analysis in _RATIO_ANALYSES):
        return 1.0
    if column == "estimate":
        if analysis == "survival" and row.get("section") == "cox" and _number(row.get("coef")):
            return 1.0  # a hazard ratio
        if analysis == "level_tscore" and term.startswith("difference"):
            return 0.0
        if analysis == "roc" and term == "auc":
            return 0.5
    return None


def _flags(
    analysis: str, row: Mapping[str, Any], column: str, old: Any, new: Any, alpha: float, meta: bool
) -> tuple[str, ...]:
    last = column.rsplit(".", 1)[-1]
    out = []
    if meta and (last in _CUTOFF_KEYS or (analysis == "survival" and column == "cutoff")):
        out.append(CUTOFF_CHANGE)
    if _P.search(last) and _significant(old, alpha) != _significant(new, alpha):
        out.append(SIGNIFICANCE_FLIP)
    at = None if meta else _direction_at(analysis, row, column)
    if at is not None and _side(old, at) * _side(new, at) < 0:
        out.append(DIRECTION_CHANGE)
    if _is_count(analysis, row if not meta else {}, column):
        out.append(N_CHANGE)
    return tuple(out)


def _compare_meta(
    analysis: str, row: str, old: Mapping[str, Any], new: Mapping[str, Any], alpha: float
) -> list[Change]:
    a, b = _flatten(old), _flatten(new)
    out = []
    for key in [*a, *(k for k in b if k not in a)]:
        x, y = a.get(key), b.get(key)
        if _same(x, y):
            continue
        flags = _flags(analysis, {}, key, x, y, alpha, meta=True)
        out.append(Change(analysis, row, key, "changed", x, y, flags))
    return out


def _row_keys(rows: list[dict[str, Any]]) -> list[str]:
    """The disambiguating columns that make ``term`` unique in ``rows``."""
    chosen: list[str] = []

    def dupes(cols: list[str]) -> int:
        keys = [(r.get("term"), *(r.get(c) for c in cols)) for r in rows]
        return len(keys) - len(set(keys))

    for col in _DISAMBIGUATE:
        if not dupes(chosen):
            break
        if any(col in r for r in rows) and dupes([*chosen, col]) < dupes(chosen):
            chosen.append(col)
    return chosen


def _keyed(rows: list[dict[str, Any]], cols: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        extra = ", ".join(f"{c}={r.get(c)}" for c in cols if r.get(c) not in (None, ""))
        key = str(r.get("term")) + (f" [{extra}]" if extra else "")
        base, i = key, 2
        while key in out:  # still not unique: number the repeats
            key, i = f"{base} #{i}", i + 1
        out[key] = r
    return out


def _compare_table(
    analysis: str, old: list[dict[str, Any]], new: list[dict[str, Any]], alpha: float
) -> list[Change]:
    cols = _row_keys(old)
    cols += [c for c in _row_keys(new) if c not in cols]
    cols = [c for c in _DISAMBIGUATE if c in cols]
    a, b = _keyed(old, cols), _keyed(new, cols)
    out = []
    for key in [*a, *(k for k in b if k not in a)]:
        if key not in b:
            out.append(Change(analysis, key, "", "row removed", a[key], None))
            continue
        if key not in a:
            out.append(Change(analysis, key, "", "row added", None, b[key]))
            continue
        x_row, y_row = a[key], b[key]
        columns = [*x_row, *(c for c in y_row if c not in x_row)]
        for col in columns:
            if col == "term" or col in cols:
                continue
            x, y = x_row.get(col), y_row.get(col)
            texts = isinstance(x, str) or isinstance(y, str)
            if (texts and col not in _TEXT_COLUMNS) or _same(x, y):
                continue
            flags = _flags(analysis, y_row if y is not None else x_row, col, x, y, alpha, False)
            out.append(Change(analysis, key, col, "changed", x, y, flags))
    return out


NOT_RESULTS: tuple[str, ...] = ("provenance", "data", "refracture_version")
"""Top-level ``meta`` keys that describe the build rather than report a result."""


def diff_results(
    old: Mapping[str, Any], new: Mapping[str, Any], alpha: float | None = None
) -> Diff:
    """Every difference from ``old`` to ``new`` (two ``results.json`` documents).

    ``alpha`` defaults to the new results' ``meta.alpha`` (else the old one's, else 0.05).
    """
    old_meta, new_meta = dict(old.get("meta") or {}), dict(new.get("meta") or {})
    if alpha is None:
        alpha = next(
            (float(m["alpha"]) for m in (new_meta, old_meta) if _number(m.get("alpha"))), 0.05
        )
    # provenance (file hashes, versions, commit, date) and the data label describe the
    # build, not its results: they differ between any two builds and are not diffed
    for m in (old_meta, new_meta):
        for key in NOT_RESULTS:
            m.pop(key, None)
    top_old = {"schema_version": old.get("schema_version"), **old_meta}
    top_new = {"schema_version": new.get("schema_version"), **new_meta}
    changes = _compare_meta(TOP, "meta", top_old, top_new, alpha)
    a, b = old.get("analyses") or {}, new.get("analyses") or {}
    names = [*a, *(k for k in b if k not in a)]
    for name in names:
        if name not in b:
            changes.append(Change(name, "", "", "analysis removed", a[name], None))
            continue
        if name not in a:
            changes.append(Change(name, "", "", "analysis added", None, b[name]))
            continue
        x, y = a[name], b[name]
        changes += _compare_meta(name, "meta", x.get("meta") or {}, y.get("meta") or {}, alpha)
        if not _same(list(x.get("notes") or ()), list(y.get("notes") or ())):
            changes.append(Change(name, "notes", "", "changed", x.get("notes"), y.get("notes")))
        changes += _compare_table(
            name, list(x.get("table") or ()), list(y.get("table") or ()), alpha
        )
    return Diff(tuple(changes), alpha, (TOP, *names))


# --------------------------------------------------------------------------- formatting


def _decimals(x: float) -> int:
    """Two decimals, or as many as three significant digits of a small number need."""
    if x == 0 or abs(x) >= 0.1:
        return 2
    return min(8, max(2, 2 - math.floor(math.log10(abs(x)))))


def _fmt(f: Formatter, c: Change, x: Any) -> str:
    """``x`` (a value of ``c``) as the paper prints it."""
    last = c.column.rsplit(".", 1)[-1]
    if _blank(x):
        return f.missing
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, str):
        return true_minus(x, f)
    if isinstance(x, list):
        if len(x) <= 6 and all(_number(v) or isinstance(v, str) for v in x):
            return "[" + ", ".join(_fmt(f, c, v) for v in x) + "]"
        return f"[{len(x)} values]"
    if isinstance(x, dict):
        return "{…}"
    if not _number(x):
        return str(x)
    if _P.search(last):
        return f.p_value(x)
    if N_CHANGE in c.flags or (c.column and _COUNT.search(last) and float(x).is_integer()):
        return f.count(x)
    if _FRACTION.match(last):
        return f.percent(100 * x)
    if "percent" in last:
        return f.percent(x)
    if _CUTOFF_VALUE.search(last):
        return f.cutoff(x)
    return f.num(x, _decimals(x))


def _relative(f: Formatter, c: Change) -> str:
    rel = c.relative
    if rel is None:
        return ""
    return ("+" if rel > 0 else "") + f.num(100 * rel, 1) + "%"


def _raw(x: Any) -> str:
    return "null" if x is None else repr(x)


def _describe(f: Formatter, c: Change) -> tuple[str, str, str, str]:
    """(what, old, new, raw) of a change, as text."""
    if c.kind in ("row added", "row removed", "analysis added", "analysis removed"):
        return c.kind, "", "", ""
    what = f"{c.row}: {c.column}" if c.column else c.row
    old, new = _fmt(f, c, c.old), _fmt(f, c, c.new)
    # full precision where the rounding hides the change, or decides a flag
    precise = {SIGNIFICANCE_FLIP, DIRECTION_CHANGE}.intersection(c.flags)
    fraction = any(_number(x) and not float(x).is_integer() for x in (c.old, c.new))
    raw = ""
    if (_number(c.old) or _number(c.new)) and (old == new or (precise and fraction)):
        raw = f"{_raw(c.old)} → {_raw(c.new)}"
    return what, old, new, raw


def _summary(diff: Diff) -> str:
    if not diff:
        return "No result changed (differences below a relative 1e-12 are ignored)."
    kinds = [c.kind for c in diff.changes]
    parts = [f"{kinds.count('changed')} value{'s' if kinds.count('changed') != 1 else ''} changed"]
    for kind in ("row added", "row removed", "analysis added", "analysis removed"):
        k = kinds.count(kind)
        if k:
            noun, verb = kind.split()
            parts.append(f"{k} {noun}{'s' if k != 1 else ''} {verb}")
    counts = [
        f"{k} {flag}{'s' if k != 1 else ''}" for flag in FLAGS if (k := len(diff.with_flag(flag)))
    ]
    tail = "; flagged: " + ", ".join(counts) if counts else "; nothing flagged"
    where = len(diff.by_analysis())
    return (
        f"{', '.join(parts)} in {where} part{'s' if where != 1 else ''} of the results"
        f"{tail} (α = {Formatter().num(diff.alpha, 2)})."
    )


def _title(name: str) -> str:
    title = TITLES.get(name, name)
    return title if name in (TOP, title) else f"{title} [{name}]"


def format_diff(diff: Diff, formatter: Formatter | None = None) -> str:
    """The diff as plain text, grouped by analysis, flagged changes first."""
    f = formatter or Formatter(alpha=diff.alpha)
    lines = [_summary(diff)]
    for name, changes in diff.by_analysis().items():
        lines += ["", _title(name)]
        for c in changes:
            what, old, new, raw = _describe(f, c)
            tag = "".join(f"[{flag}] " for flag in c.flags)
            if c.kind != "changed":
                lines.append(f"  {tag}{c.kind}: {c.row}".rstrip(": "))
                continue
            rel = _relative(f, c)
            text = f"  {tag}{what}: {old} → {new}"
            text += f" ({rel})" if rel else ""
            text += f" (raw {raw})" if raw else ""
            lines.append(text)
    return "\n".join(lines) + "\n"


def to_markdown(diff: Diff, formatter: Formatter | None = None, level: int = 1) -> str:
    """A Markdown section "Changes since the previous version" with one table per analysis.

    Every text cell is escaped, so a term or value prints literally.
    """
    from refracture.report.render import md_escape

    f = formatter or Formatter(alpha=diff.alpha)
    h = "#" * level
    out = [f"{h} Changes since the previous version {{.unnumbered}}", "", md_escape(_summary(diff))]
    for name, changes in diff.by_analysis().items():
        out += ["", f"{h}# {md_escape(_title(name))} {{.unnumbered}}", ""]
        out += ["| Row | Value | Previous | Current | Change | Flag |", "|---|---|---|---|---|---|"]
        for c in changes:
            if c.kind != "changed":
                cells = [c.row, "", "", "", c.kind, ", ".join(c.flags)]
            else:
                _, old, new, _raw_values = _describe(f, c)
                rel = _relative(f, c)
                cells = [c.row, c.column, old, new, rel, ", ".join(c.flags)]
            out.append("| " + " | ".join(md_escape(str(x)) for x in cells) + " |")
    return "\n".join(out) + "\n"
