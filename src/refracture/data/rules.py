"""The rules of the data contract, run in order by :func:`refracture.data.validate.validate`.

Step 0 checks which columns are present; step 1 parses every cell by its kind (once per
distinct text); step 2 checks parsed values against ranges and allowed categories with
pandera (imported only when NumPy finds a failing value); step 3 runs the row rules, the
unique keys and the cross-table rules (unknown patients, months ≤ follow-up, a treated level
for every patient) on cells that passed steps 1-2. Each rule records its problems in a
:class:`~refracture.data.problems.ProblemCollector` and marks the cells it failed on the
:class:`~refracture.data.table_state.TableState`.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from refracture.data import schema as S
from refracture.data.problems import ProblemCollector
from refracture.data.table_state import TableState
from refracture.data.text import is_arrow_text, to_text

__all__ = [
    "check_columns",
    "foreign_key_rule",
    "key_rule",
    "pandera_checks",
    "parent_bound_rules",
    "parse_cells",
    "read_number",
    "requires_child_rule",
    "row_rules",
]

#: A number as the contract allows it: dot decimal separator, optional sign and
#: exponent (after the Unicode minus U+2212 has been turned into "-").
_NUMBER_RE = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_COMMA_RE = r"[+-]?[0-9]*,[0-9]+"
_UNICODE_MINUS = "\u2212"


def read_number(text: str) -> float | None:
    """One cell read as the contract reads a number (None: blank or not a number), for
    the importer's arithmetic on source values (days to months)."""
    t = text.strip().replace(_UNICODE_MINUS, "-")
    if not re.fullmatch(_NUMBER_RE, t):
        return None
    value = float(t)
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------
# Step 0: columns present?
# ---------------------------------------------------------------------------


def check_columns(t: TableState, out: ProblemCollector) -> None:
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


def parse_cells(t: TableState, out: ProblemCollector) -> None:
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
    t: TableState, col: S.Column, stripped: np.ndarray, codes: np.ndarray, out: ProblemCollector
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
    t: TableState, col: S.Column, stripped: np.ndarray, codes: np.ndarray, out: ProblemCollector
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


def pandera_checks(tables: dict[str, TableState], out: ProblemCollector) -> None:
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


def _failures_to_problems(t: TableState, fc: pd.DataFrame, out: ProblemCollector) -> None:
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
    """:func:`_member` on value ids (:meth:`TableState.value_ids`): True where a row's
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


def row_rules(t: TableState, out: ProblemCollector, *, must_be_no: bool) -> None:
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


def key_rule(t: TableState, out: ProblemCollector) -> None:
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
    rules = [S.msg_duplicate_key(t.spec, t.where(int(r))) for r in first[dup]]
    out.cells(t, key[-1], mask, "duplicate_key", rules)
    t.duplicate = mask


def foreign_key_rule(t: TableState, tables: dict[str, TableState], out: ProblemCollector) -> None:
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


def parent_bound_rules(t: TableState, tables: dict[str, TableState], out: ProblemCollector) -> None:
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
                S.msg_above_parent(col, parent.label, parent.where(int(r)), str(v))
                for r, v in zip(prows[ploc], ptext[ploc], strict=True)
            ]
            out.cells(t, col.name, mask, "above_parent", rules)
            t.bad[col.name] |= mask


def requires_child_rule(
    t: TableState, tables: dict[str, TableState], out: ProblemCollector
) -> None:
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
