"""Lazy validation of a cohort against the data contract.

:func:`validate` checks a :class:`~refracture.data.load.RawCohort` against the
declarations in :mod:`refracture.data.schema` and collects *every* problem in one
pass; it never raises for data problems. It works in three steps, all vectorised:

1. **parse**: every cell of a contract column is stripped and read according to
   its kind (number, yes/no, category, text); blank required cells and cells that
   cannot be read (``"abc"``, ``"2,5"``, ``"nan"``, ``"maybe"``) become problems
   that keep the cell text as written;
2. **pandera** (``lazy=True``) checks the parsed values: number ranges and allowed
   category values; its ``failure_cases`` are turned into problems (pandera runs on
   a column only when the same comparisons in NumPy find a failing value, so valid
   data do not pay for importing it);
3. **row and cross-table rules** (conditional columns, unique keys, unknown
   patients, months ≤ follow-up, a treated level for every patient) run on cells
   that passed steps 1-2 only, so one bad cell yields one problem.

:func:`load_cohort` = :func:`~refracture.data.load.read_raw` + :func:`validate`,
raising :class:`~refracture.errors.DataValidationError` unless the data are valid.

Steps 1 and 2 work on the *distinct* cell texts of each column: a column is
factorised once (a million rows of yes/no hold a handful of distinct texts), each
distinct text is stripped, read and checked once, and the outcome is spread back
to the rows by their codes. Every check is a function of the cell text alone, so
each row gets exactly the value and the problems it would get on its own; the
problems still name every offending row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from refracture.data import schema as S
from refracture.data.load import RawCohort, Source, read_raw
from refracture.data.text import is_arrow_text, to_text
from refracture.errors import DataValidationError

__all__ = ["Cohort", "Problem", "ValidationReport", "load_cohort", "validate"]

Severity = Literal["error", "warning"]

#: A number as the contract allows it: dot decimal separator, optional sign and
#: exponent (after the Unicode minus U+2212 has been turned into "-").
_NUMBER_RE = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_COMMA_RE = r"[+-]?[0-9]*,[0-9]+"
_UNICODE_MINUS = "\u2212"


@dataclass(frozen=True)
class Problem:
    """One broken rule.

    ``row`` is the row number as seen in a spreadsheet (header = 1) or ``None`` for
    a problem with the whole table; ``value`` is the cell text as written (``""``
    for blank). ``check`` is a stable identifier of the kind of rule (see
    :data:`refracture.data.schema.CHECK_TITLES`).
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    rule: str
    severity: Severity = "error"
    check: str = ""


@dataclass(frozen=True, eq=False)
class Cohort:
    """The validated cohort with typed columns, in the contract's column order.

    * patients: ``patient_id`` str; ``age``, ``followup_months``, ``bmi`` float64;
      ``sex`` categorical [F, M]; ``procedure`` categorical [VP, KP];
      ``steroid_use``, ``osteoporosis_treatment`` nullable ``"boolean"``.
    * levels: ``patient_id`` str; ``level`` ordered categorical T1 < … < T12 < L1
      < … < L5; ``treated``, ``subsequent_fracture`` bool; ``tscore``,
      ``anterior_height_loss_pct``, ``cement_volume_ml``, ``months_to_fracture``
      float64; ``cement_leakage`` nullable ``"boolean"``.

    Absent optional columns are present as all-missing; extra columns follow as
    text, unchanged. Both frames keep the file order (index 0..n-1) and end with
    ``_row``, the spreadsheet row number, for messages that point back at the file.
    """

    patients: pd.DataFrame
    levels: pd.DataFrame
    warnings: tuple[Problem, ...]
    source: Source


@dataclass(frozen=True, eq=False)
class ValidationReport:
    errors: list[Problem]
    warnings: list[Problem]
    cohort: Cohort | None
    source: Source | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def problems(self) -> list[Problem]:
        return [*self.errors, *self.warnings]

    def render(self, max_per_rule: int = 20) -> str:
        """A plain-text table of the problems: errors, then warnings, with counts.

        At most ``max_per_rule`` lines are shown per (file, column, kind of rule);
        the rest are summarised as "… and N more".
        """
        ne, nw = len(self.errors), len(self.warnings)
        where = f" in {self.source.path}" if self.source is not None else ""
        head = f"Input data check{where}: {_count(ne, 'error')}, {_count(nw, 'warning')}"
        if self.ok:
            head += " - the data are valid"
        parts = [head]
        for title, items in (("Errors", self.errors), ("Warnings", self.warnings)):
            if items:
                parts.append(f"\n{title} ({len(items)})\n" + _render_table(items, max_per_rule))
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.render()


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _render_table(items: Sequence[Problem], cap: int) -> str:
    shown: list[Problem] = []
    per_group: dict[tuple[str, str | None, str], int] = {}
    for p in items:
        g = (p.file, p.column, p.check or p.rule)
        per_group[g] = per_group.get(g, 0) + 1
        if per_group[g] <= cap:
            shown.append(p)
    header = ("file", "row", "column", "value", "rule")
    lines = [
        (
            p.file,
            "-" if p.row is None else str(p.row),
            p.column or "-",
            "-" if p.value is None else _show_value(p.value),
            p.rule,
        )
        for p in shown
    ]
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(4)]

    def fmt(r: tuple[str, ...]) -> str:
        return "  ".join(
            [r[0].ljust(widths[0]), r[1].rjust(widths[1])]
            + [r[i].ljust(widths[i]) for i in (2, 3)]
            + [r[4]]
        ).rstrip()

    out = [fmt(header), fmt((*("-" * w for w in widths), "-" * 4))]
    out += [fmt(r) for r in lines]
    for (file, column, check), n in per_group.items():
        if n > cap:
            title = S.CHECK_TITLES.get(check, check)
            out.append(f"… and {n - cap:,} more '{title}' in {file}, column {column or '-'}")
    return "\n".join(out)


def _show_value(v: str) -> str:
    if v == "":
        return "(blank)"
    v = v.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return v if len(v) <= 30 else v[:29] + "…"


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def load_cohort(path: str | Path) -> Cohort:
    """Read and validate the cohort at ``path``.

    Raises :class:`~refracture.errors.DataError` if it cannot be read and
    :class:`~refracture.errors.DataValidationError` (carrying the report) if it
    breaks the contract. Warnings are kept on ``cohort.warnings``.
    """
    report = validate(read_raw(path))
    _release_arrow_memory()  # the raw Arrow text is gone; give its pages back
    if not report.ok or report.cohort is None:
        raise DataValidationError(report)
    return report.cohort


def _release_arrow_memory() -> None:
    """Return memory pyarrow's allocator keeps after the raw tables are freed (a
    million-row CSV leaves some hundreds of MB otherwise)."""
    import sys

    pa = sys.modules.get("pyarrow")
    if pa is not None:
        pa.default_memory_pool().release_unused()


def validate(raw: RawCohort) -> ValidationReport:
    """Check ``raw`` against the contract; collect every problem (never raises for data)."""
    out = _Collector()
    tables = {
        spec.name: _TableState(spec, raw.table(spec.name), raw.label(spec.name), i)
        for i, spec in enumerate(S.TABLES)
    }
    for note in raw.notes:  # e.g. identifier-like columns dropped by the loader
        out.table(tables[note.table], note.column, note.check, note.rule, "warning")
    for t in tables.values():
        _check_columns(t, out)
        _parse(t, out)
    _pandera_checks(tables, out)
    for t in tables.values():
        _row_rules(t, out, must_be_no=True)
    for t in tables.values():
        _key_rule(t, out)
    for t in tables.values():
        _foreign_key_rule(t, tables, out)
        _row_rules(t, out, must_be_no=False)
        _parent_bound_rules(t, tables, out)
    for t in tables.values():
        _requires_child_rule(t, tables, out)

    errors, warnings = out.sorted()
    cohort = None
    if not errors:
        cohort = Cohort(
            patients=_typed(tables["patients"]),
            levels=_typed(tables["levels"]),
            warnings=tuple(warnings),
            source=raw.source,
        )
    return ValidationReport(errors=errors, warnings=warnings, cohort=cohort, source=raw.source)


# ---------------------------------------------------------------------------
# State of one table during validation
# ---------------------------------------------------------------------------


@dataclass(eq=False)
class _TableState:
    spec: S.Table
    raw: pd.DataFrame
    label: str
    order: int
    rows: np.ndarray = field(init=False)
    n: int = field(init=False)
    #: Contract columns not in the file whose cells are not checked (required ones).
    skipped: set[str] = field(default_factory=set)
    #: Extra (non-contract) columns, in file order.
    extras: list[str] = field(default_factory=list)
    #: Per contract column: the code of each row's distinct cell text and the
    #: distinct texts, stripped (absent optional columns: one code, text "").
    codes: dict[str, np.ndarray] = field(default_factory=dict)
    stripped: dict[str, np.ndarray] = field(default_factory=dict)
    blank: dict[str, np.ndarray] = field(default_factory=dict)
    #: Parsed values (NA where blank or unreadable), per row and per distinct text.
    values: dict[str, pd.Series] = field(default_factory=dict)
    distinct_values: dict[str, np.ndarray] = field(default_factory=dict)
    #: Cells with an error.
    bad: dict[str, np.ndarray] = field(default_factory=dict)
    #: Rows that repeat the table's key of an earlier row.
    duplicate: np.ndarray = field(init=False)
    col_order: dict[str, int] = field(init=False)
    _raw_cache: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.n = len(self.raw)
        self.rows = np.asarray(self.raw.index, dtype=np.int64)
        self.duplicate = np.zeros(self.n, dtype=bool)
        names = list(self.spec.names) + [
            c for c in map(str, self.raw.columns) if c not in self.spec.names
        ]
        self.col_order = {c: i for i, c in enumerate(names)}

    def text(self, col: str, positions: np.ndarray | None = None) -> np.ndarray:
        """The stripped cell text of ``col`` (object array), at ``positions`` or all rows."""
        codes = self.codes[col] if positions is None else self.codes[col][positions]
        return self.stripped[col][codes]

    def value_ids(self, col: str) -> tuple[np.ndarray, np.ndarray] | None:
        """For a text or category column: per row an id of its valid value (-1 where the
        cell is blank or has an error, as :meth:`valid` is NA), and the distinct values
        the ids index; None for other kinds."""
        if self.spec.column(col).kind not in (S.Kind.TEXT, S.Kind.CATEGORY):
            return None
        id_u, values = pd.factorize(self.stripped[col])
        ids = id_u[self.codes[col]]
        ids[self.blank[col] | self.bad[col]] = -1
        return ids, np.asarray(values, dtype=object)

    def has(self, col: str) -> bool:
        """Cells of ``col`` can be checked (present, or an absent optional column)."""
        return col in self.values

    def valid(self, col: str) -> pd.Series:
        """Parsed values with every cell that has an error set to NA."""
        v = self.values[col]
        bad = self.bad[col]
        return v.mask(bad) if bad.any() else v

    def raw_text(self, col: str | None, positions: np.ndarray) -> np.ndarray:
        """The cell text as written in the file (unstripped) at ``positions``."""
        if col is None or col not in self.raw.columns:
            return np.full(len(positions), "", dtype=object)
        if col not in self._raw_cache:
            self._raw_cache[col] = to_text(self.raw[col]).to_numpy(dtype=object)
        return self._raw_cache[col][positions]


class _Collector:
    def __init__(self) -> None:
        self._items: list[tuple[tuple[int, int, int, str], Problem]] = []

    def table(
        self,
        t: _TableState,
        column: str | None,
        check: str,
        rule: str,
        severity: Severity = "error",
    ) -> None:
        p = Problem(t.label, None, column, None, rule, severity, check)
        self._items.append(((t.order, -1, t.col_order.get(column or "", -1), check), p))

    def cells(
        self,
        t: _TableState,
        column: str,
        mask: np.ndarray,
        check: str,
        rule: str | Sequence[str],
        severity: Severity = "error",
    ) -> np.ndarray:
        """Record a problem for each row where ``mask`` is true; return the positions."""
        positions = np.flatnonzero(mask)
        if len(positions) == 0:
            return positions
        rows = t.rows[positions].tolist()
        values = t.raw_text(column, positions).tolist()
        rules = [rule] * len(positions) if isinstance(rule, str) else list(rule)
        corder = t.col_order.get(column, -1)
        self._items.extend(
            ((t.order, r, corder, check), Problem(t.label, r, column, v, txt, severity, check))
            for r, v, txt in zip(rows, values, rules, strict=True)
        )
        return positions

    def sorted(self) -> tuple[list[Problem], list[Problem]]:
        items = sorted(self._items, key=lambda kp: kp[0])
        errors = [p for _, p in items if p.severity == "error"]
        warnings = [p for _, p in items if p.severity == "warning"]
        return errors, warnings


# ---------------------------------------------------------------------------
# Step 0: columns present?
# ---------------------------------------------------------------------------


def _check_columns(t: _TableState, out: _Collector) -> None:
    present = [str(c) for c in t.raw.columns]
    if t.n == 0:
        out.table(t, None, "no_rows", S.msg_no_rows())
    for col in t.spec.columns:
        if col.name in present:
            continue
        similar = next((c for c in present if c.strip().lower() == col.name.lower()), None)
        if col.presence is S.Presence.REQUIRED:
            out.table(t, col.name, "missing_column", S.msg_missing_column(col, similar))
            t.skipped.add(col.name)
        else:
            rule = S.msg_missing_optional_column(col, similar)
            out.table(t, col.name, "missing_optional_column", rule, "warning")
    t.extras = [c for c in present if c not in t.spec.names]
    for c in t.extras:
        out.table(t, c, "extra_column", S.msg_extra_column(), "warning")


# ---------------------------------------------------------------------------
# Step 1: parse cells
# ---------------------------------------------------------------------------


def _distinct_text(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes of each row's cell text and the distinct texts (as :func:`to_text` reads
    them), stripped; one factorisation of the column."""
    text = to_text(column)
    codes, uniques = pd.factorize(text, use_na_sentinel=False)
    distinct = uniques.tolist() if is_arrow_text(text) else list(uniques)
    stripped = np.array([str(u).strip() for u in distinct] or [""], dtype=object)
    return np.asarray(codes, dtype=np.intp), stripped


def _parse(t: _TableState, out: _Collector) -> None:
    index = pd.RangeIndex(t.n)
    for col in t.spec.columns:
        name = col.name
        if name in t.skipped:
            continue
        if name in t.raw.columns:
            codes, stripped = _distinct_text(t.raw[name])
        else:
            codes, stripped = np.zeros(t.n, dtype=np.intp), np.array([""], dtype=object)
        blank_u = stripped == ""
        blank = blank_u[codes]
        bad = np.zeros(t.n, dtype=bool)
        t.codes[name], t.stripped[name] = codes, stripped
        if col.cells_required and blank.any():
            out.cells(t, name, blank, "blank", S.msg_blank(col))
            bad |= blank
        if col.kind is S.Kind.NUMBER:
            values_u, unread_u = _parse_number(t, col, stripped, codes, out)
            values = pd.Series(values_u[codes], index=index, dtype="float64")
        elif col.kind is S.Kind.YESNO:
            yes_u, no_u, unread_u = _parse_yesno(t, col, stripped, codes, out)
            values_u = np.where(yes_u, True, np.where(no_u, False, None))
            known = (yes_u | no_u)[codes]
            values = pd.Series(pd.arrays.BooleanArray(yes_u[codes], ~known), index=index)
        else:  # TEXT, CATEGORY: allowed values are checked by pandera
            # held as object arrays: the later joins and lookups need them so anyway
            values_u = stripped.copy()
            values_u[blank_u] = np.nan
            unread_u = np.zeros(stripped.size, dtype=bool)
            values = pd.Series(values_u[codes], index=index, dtype=object)
        t.blank[name], t.values[name], t.distinct_values[name] = blank, values, values_u
        t.bad[name] = bad | unread_u[codes]


def _parse_number(
    t: _TableState, col: S.Column, stripped: np.ndarray, codes: np.ndarray, out: _Collector
) -> tuple[np.ndarray, np.ndarray]:
    """Read the distinct texts as numbers; report the rows whose text is not one.
    Returns the value and whether it is unreadable, per distinct text."""
    s = pd.Series(stripped, dtype=object).str.replace(_UNICODE_MINUS, "-", regex=False)
    blank = stripped == ""
    ok = s.str.fullmatch(_NUMBER_RE).to_numpy(dtype=bool, na_value=False).copy()
    values = np.full(stripped.size, np.nan)
    if ok.all():
        values = s.astype("float64").to_numpy().copy()
    elif ok.any():
        values[ok] = s[ok].astype("float64").to_numpy()
    with np.errstate(invalid="ignore"):
        ok &= np.isfinite(values)  # e.g. "1e999"
    unread = ~ok & ~blank
    if unread.any():
        cells = s.to_numpy(dtype=object)
        comma = (
            pd.Series(cells, dtype=object)
            .str.fullmatch(_COMMA_RE)
            .to_numpy(dtype=bool, na_value=False)
        )
        rules = np.array(
            [
                (
                    S.msg_decimal_comma(v)
                    if c
                    else (
                        S.msg_missing_marker(col)
                        if v.lower() in S.MISSING_MARKERS
                        else S.msg_not_number(col)
                    )
                )
                if u
                else ""
                for v, c, u in zip(cells, comma, unread, strict=True)
            ],
            dtype=object,
        )
        row_unread = unread[codes]
        for check, which in (("decimal_comma", comma), ("not_number", ~comma)):
            mask = row_unread & which[codes]
            if mask.any():
                out.cells(t, col.name, mask, check, rules[codes[mask]].tolist())
        values[unread] = np.nan
    return values, unread


def _parse_yesno(
    t: _TableState, col: S.Column, stripped: np.ndarray, codes: np.ndarray, out: _Collector
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read the distinct texts as yes/no; report the rows that are neither.
    Returns yes, no and unreadable per distinct text."""
    low = pd.Series(stripped, dtype=object).str.lower()
    yes = low.isin(S.YES_TOKENS).to_numpy(dtype=bool, na_value=False)
    no = low.isin(S.NO_TOKENS).to_numpy(dtype=bool, na_value=False)
    unread = ~(yes | no | (stripped == ""))
    if unread.any():
        out.cells(t, col.name, unread[codes], "not_yesno", S.msg_not_yesno(col))
    return yes, no, unread


# ---------------------------------------------------------------------------
# Step 2: pandera value checks (ranges, allowed values)
# ---------------------------------------------------------------------------


def _fails_value_rule(col: S.Column, values: np.ndarray) -> bool:
    """Whether any of ``values`` (parsed distinct values, NaN = missing) breaks the
    column's range or allowed values: the rules of :func:`_pandera_value_checks`, with
    pandera's semantics (missing values pass, ``nullable=True``)."""
    if col.kind is S.Kind.CATEGORY:
        present = pd.notna(values)
        return not np.isin(values[present].astype(object), list(col.allowed)).all()
    if col.kind is not S.Kind.NUMBER:
        return False
    x = np.asarray(values, dtype="float64")
    x = x[~np.isnan(x)]
    lo, hi = col.minimum, col.maximum
    ok = np.ones(x.size, dtype=bool)
    if lo:
        ok &= (x >= lo.value) if lo.inclusive else (x > lo.value)
    if hi:
        ok &= (x <= hi.value) if hi.inclusive else (x < hi.value)
    return not ok.all()


def _pandera_checks(tables: dict[str, _TableState], out: _Collector) -> None:
    """pandera checks each column's distinct values (one row per distinct cell text,
    index = its code); a failing distinct value is a problem in every row holding it.

    pandera is imported (about half a second) only when a column has a value that
    breaks its rule, as :func:`_fails_value_rule` finds with the same comparisons;
    valid data never need it."""
    pa = None
    for t in tables.values():
        if t.n == 0:
            continue
        for col in t.spec.columns:
            if not t.has(col.name):
                continue
            values = t.distinct_values[col.name]
            if not _fails_value_rule(col, values):
                continue
            if pa is None:
                import pandera.pandas as pa  # imported here: it takes half a second
            checks = _pandera_value_checks(pa, col)
            if not checks:  # pragma: no cover - _fails_value_rule found a rule
                continue
            frame = pd.DataFrame(
                {col.name: values.astype("float64" if col.kind is S.Kind.NUMBER else object)}
            )
            schema = {col.name: pa.Column(checks=checks, nullable=True)}
            try:
                pa.DataFrameSchema(schema, name=t.spec.name).validate(frame, lazy=True)
            except pa.errors.SchemaErrors as exc:
                _failures_to_problems(t, exc.failure_cases, out)


def _pandera_value_checks(pa: object, col: S.Column) -> list[object]:
    Check = pa.Check  # type: ignore[attr-defined]
    if col.kind is S.Kind.CATEGORY:
        return [Check.isin(list(col.allowed))]
    if col.kind is not S.Kind.NUMBER:
        return []
    lo, hi = col.minimum, col.maximum
    if lo and hi:
        return [
            Check.in_range(lo.value, hi.value, include_min=lo.inclusive, include_max=hi.inclusive)
        ]
    if lo:
        return [Check.ge(lo.value) if lo.inclusive else Check.gt(lo.value)]
    if hi:
        return [Check.le(hi.value) if hi.inclusive else Check.lt(hi.value)]
    return []


def _failures_to_problems(t: _TableState, fc: pd.DataFrame, out: _Collector) -> None:
    """Problems for pandera's failure cases, whose ``index`` is a distinct-value code."""
    for name, grp in fc.groupby("column", sort=False):
        idx = pd.to_numeric(grp["index"], errors="coerce")
        col = t.spec.column(str(name))
        if idx.isna().any():  # pragma: no cover - a schema-level failure we did not expect
            for check in grp["check"].astype(str).unique():
                out.table(t, col.name, "pandera", f"failed check {check}")
        failing = np.zeros(t.stripped[col.name].size, dtype=bool)
        failing[idx.dropna().to_numpy(dtype=np.int64)] = True
        mask = failing[t.codes[col.name]]
        pos = np.flatnonzero(mask)
        if len(pos) == 0:
            continue
        if col.kind is S.Kind.CATEGORY:
            hints = _category_hints(col)
            cells = t.text(col.name, pos)
            rules = [S.msg_not_allowed(col, hints.get(_squash(v))) for v in cells]
            out.cells(t, col.name, mask, "not_allowed", rules)
        else:
            out.cells(t, col.name, mask, "out_of_range", S.msg_out_of_range(col))
        t.bad[col.name] |= mask


def _squash(v: str) -> str:
    return "".join(v.split()).upper()


def _category_hints(col: S.Column) -> dict[str, str]:
    return {_squash(a): a for a in col.allowed}


# ---------------------------------------------------------------------------
# Step 3: row rules, keys, cross-table rules (on valid cells only)
# ---------------------------------------------------------------------------


def _member(values: pd.Series, pool: pd.Series) -> np.ndarray:
    """True where ``values`` occurs among the non-NA ``pool`` values (hash join, fast
    also for arrow-backed strings)."""
    index = pd.Index(pool.dropna().to_numpy(dtype=object)).unique()
    return index.get_indexer(values.to_numpy(dtype=object)) >= 0


def _member_ids(
    ids: tuple[np.ndarray, np.ndarray], pool: tuple[np.ndarray, np.ndarray], rows: np.ndarray
) -> np.ndarray:
    """:func:`_member` on value ids (:meth:`_TableState.value_ids`): True where a row's
    valid value is the valid value of a pool row selected by ``rows``. Values are
    compared once per distinct value rather than once per row."""
    row_ids, values = ids
    pool_ids, pool_values = pool
    chosen = pool_ids[rows & (pool_ids >= 0)]
    present = np.bincount(chosen, minlength=len(pool_values)) > 0
    member = pd.Index(pool_values[present]).get_indexer(values) >= 0
    return (row_ids >= 0) & member[np.maximum(row_ids, 0)]


def _is(series: pd.Series, value: bool) -> np.ndarray:
    """True where a boolean series equals ``value`` (NA -> False)."""
    return (series == value).to_numpy(dtype=bool, na_value=False)


def _row_rules(t: _TableState, out: _Collector, *, must_be_no: bool) -> None:
    for col in t.spec.columns:
        name = col.name
        if not t.has(name):
            continue
        if must_be_no:
            cond = col.must_be_no_if
            if cond and t.has(cond):
                mask = _is(t.valid(cond), True) & _is(t.valid(name), True)
                out.cells(t, name, mask, "must_be_no", S.msg_must_be_no(col))
                t.bad[name] |= mask
            continue
        if col.required_if and t.has(col.required_if):
            mask = t.blank[name] & _is(t.valid(col.required_if), True)
            out.cells(t, name, mask, "required_if", S.msg_required_if(col))
        if col.only_if and t.has(col.only_if):
            mask = t.valid(name).notna().to_numpy() & _is(t.valid(col.only_if), False)
            out.cells(t, name, mask, "only_if", S.msg_only_if(col))
            t.bad[name] |= mask
        if col.warn_if and t.has(col.warn_if):
            mask = t.valid(name).notna().to_numpy() & _is(t.valid(col.warn_if), True)
            out.cells(t, name, mask, "warn_if", S.msg_warn_if(col), "warning")


def _key_rule(t: _TableState, out: _Collector) -> None:
    key = list(t.spec.key)
    if not key or not all(t.has(k) for k in key) or t.n == 0:
        return
    ids = [t.value_ids(k) for k in key]
    if all(i is not None for i in ids):  # quick test on integer ids: any duplicate?
        combined = np.zeros(t.n, dtype=np.int64)
        complete = np.ones(t.n, dtype=bool)
        for row_ids, values in ids:  # type: ignore[misc]
            combined = combined * (len(values) + 1) + row_ids
            complete &= row_ids >= 0
        if not pd.Series(combined[complete]).duplicated().any():
            return
    frame = pd.DataFrame({k: t.valid(k).astype(object) for k in key})
    frame["_row"] = t.rows
    complete = frame[key].notna().all(axis=1).to_numpy()
    sub = frame.loc[complete]
    dup = sub.duplicated(subset=key, keep="first").to_numpy()
    if not dup.any():
        return
    first = sub.groupby(key, sort=False)["_row"].transform("first").to_numpy()
    mask = np.zeros(t.n, dtype=bool)
    mask[np.flatnonzero(complete)[dup]] = True
    rules = [S.msg_duplicate_key(t.spec, int(r)) for r in first[dup]]
    out.cells(t, key[-1], mask, "duplicate_key", rules)
    t.duplicate = mask


def _foreign_key_rule(t: _TableState, tables: dict[str, _TableState], out: _Collector) -> None:
    fk = t.spec.foreign_key
    if fk is None or not t.has(fk.column):
        return
    parent = tables[fk.parent_table]
    if not parent.has(fk.parent_column):
        return
    ids, pool = t.value_ids(fk.column), parent.value_ids(fk.parent_column)
    if ids is not None and pool is not None:
        mask = (ids[0] >= 0) & ~_member_ids(ids, pool, np.ones(parent.n, dtype=bool))
    else:
        values = t.valid(fk.column)
        mask = values.notna().to_numpy() & ~_member(values, parent.valid(fk.parent_column))
    out.cells(t, fk.column, mask, "unknown_parent", S.msg_unknown_parent(fk, parent.label))
    t.bad[fk.column] |= mask


def _parent_bound_rules(t: _TableState, tables: dict[str, _TableState], out: _Collector) -> None:
    fk = t.spec.foreign_key
    if fk is None:
        return
    parent = tables[fk.parent_table]
    for col in t.spec.columns:
        if col.at_most is None or not t.has(col.name) or not t.has(fk.column):
            continue
        pcol = col.at_most.column
        if not parent.has(fk.parent_column) or not parent.has(pcol):
            continue
        # the parent's first row per id (duplicates are errors of their own)
        pids = parent.valid(fk.parent_column)
        use = pids.notna().to_numpy() & ~parent.duplicate
        lookup = pd.Index(pids[use].to_numpy(dtype=object))
        pvals = parent.valid(pcol).to_numpy(dtype=np.float64, na_value=np.nan)[use]
        prows = parent.rows[use]
        ptext = parent.text(pcol)[use]
        ids = t.value_ids(fk.column)
        if ids is not None:  # look up each distinct id once
            loc_u = lookup.get_indexer(ids[1])
            loc = np.where(ids[0] >= 0, loc_u[np.maximum(ids[0], 0)], -1)
        else:
            loc = lookup.get_indexer(t.valid(fk.column).to_numpy(dtype=object))
        child = t.valid(col.name).to_numpy(dtype=np.float64, na_value=np.nan)
        found = loc >= 0
        limit = np.full(t.n, np.nan)
        limit[found] = pvals[loc[found]]
        with np.errstate(invalid="ignore"):
            mask = child > limit  # NaN on either side -> False
        if mask.any():
            ploc = loc[mask]
            rules = [
                S.msg_above_parent(col, parent.label, int(r), str(v))
                for r, v in zip(prows[ploc], ptext[ploc], strict=True)
            ]
            out.cells(t, col.name, mask, "above_parent", rules)
            t.bad[col.name] |= mask


def _requires_child_rule(t: _TableState, tables: dict[str, _TableState], out: _Collector) -> None:
    req = t.spec.requires_child
    if req is None or not t.has(req.key) or t.n == 0:
        return
    child = tables[req.child_table]
    if child.n == 0 or not child.has(req.key) or not child.has(req.where):
        return
    ids, cids = t.value_ids(req.key), child.value_ids(req.key)
    where = child.valid(req.where)
    if ids is not None and cids is not None:
        candidates = (ids[0] >= 0) & ~t.duplicate
        has_row = _member_ids(ids, cids, np.ones(child.n, dtype=bool))
        has_where = _member_ids(ids, cids, _is(where, True))
        unknown = _member_ids(ids, cids, child.bad[req.where])
    else:
        values, cvalues = t.valid(req.key), child.valid(req.key)
        candidates = values.notna().to_numpy() & ~t.duplicate
        has_row = _member(values, cvalues)
        has_where = _member(values, cvalues[_is(where, True)])
        unknown = _member(values, cvalues[child.bad[req.where]])
    out.cells(t, req.key, candidates & ~has_row, "no_child", S.msg_no_child_row(req, child.label))
    out.cells(
        t,
        req.key,
        candidates & has_row & ~has_where & ~unknown,
        "no_child",
        S.msg_no_child_where(req, child.label),
    )


# ---------------------------------------------------------------------------
# Typed output
# ---------------------------------------------------------------------------


def _typed(t: _TableState) -> pd.DataFrame:
    index = pd.RangeIndex(t.n)
    cols: dict[str, object] = {}
    for col in t.spec.columns:
        values = t.values[col.name]
        if col.kind is S.Kind.NUMBER:
            cols[col.name] = values.astype("float64")
        elif col.kind is S.Kind.YESNO:
            cols[col.name] = values.astype(bool if col.cells_required else "boolean")
        elif col.kind is S.Kind.CATEGORY:
            cat = pd.CategoricalDtype(list(col.allowed), ordered=col.ordered)
            # category code of each distinct text (-1: blank), spread by row code
            position = {a: i for i, a in enumerate(col.allowed)}
            distinct = t.distinct_values[col.name]
            code_u = np.array([position.get(v, -1) for v in distinct], dtype=np.int64)
            cols[col.name] = pd.Series(
                pd.Categorical.from_codes(code_u[t.codes[col.name]], dtype=cat), index=index
            )
        else:
            cols[col.name] = pd.Series(t.text(col.name), index=index, dtype=object).mask(
                t.blank[col.name]
            )
    for name in t.extras:
        cols[name] = to_text(t.raw[name]).set_axis(index).astype(object)
    cols["_row"] = pd.Series(t.rows, index=index, dtype=np.int64)
    return pd.DataFrame(cols, index=index)
