"""Source rows to contract rows: a table read column by column, or levels reshaped from wide.

:func:`long_table` makes a contract table from a source table with one row per contract
row (the patients' rows; a REDCap repeating instrument's instances; a levels file):
each mapped contract column is the resolved source column
(:func:`~refracture.data.importing.values.resolve_column`).

:func:`wide_levels` makes the levels from a row per patient with a column per level
(``tscore_L1 … tscore_L4``, ``treated_T12``): a level becomes a row when the patient has
something at that level, that is when one of its mapped cells holds a value other than
a no (a blank, and a ``no`` in a yes/no column, say nothing happened there; the
contract's levels are the treated ones, those with a T-score and those that fractured).
Rows come in the patients' order, each patient's levels cranio-caudally.

Both return the text table (contract columns in the contract's order, the rows
numbered 2, 3, … as the contract's loader numbers them), its
:class:`~refracture.data.origin.TableOrigin` and what was done, for the import report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from refracture.data import schema as S
from refracture.data.importing.mapping import ColumnSpec, WideSpec
from refracture.data.importing.sources import SourceTable
from refracture.data.importing.values import Recode, ResolvedColumn, resolve_column
from refracture.data.origin import TableOrigin

__all__ = ["BuiltTable", "ColumnUse", "describe_how", "find_column", "long_table", "wide_levels"]


@dataclass(frozen=True)
class ColumnUse:
    """One contract column as the mapping fills it, for the import report."""

    table: str
    column: str
    source: str
    how: str


@dataclass
class _Done:
    """What filling a table did, gathered column by column (for the import report)."""

    uses: list[ColumnUse] = field(default_factory=list)
    recodes: list[tuple[str, Recode]] = field(default_factory=list)
    used_columns: set[str] = field(default_factory=set)

    def add(self, column: str, source: str, res: ResolvedColumn) -> None:
        self.used_columns.add(source)
        self.recodes += [(column, r) for r in res.recodes]


@dataclass(frozen=True)
class BuiltTable:
    """A contract table made by an import: its text cells, their origin, what was done."""

    frame: pd.DataFrame
    origin: TableOrigin
    uses: list[ColumnUse]
    recodes: list[tuple[str, Recode]]
    used_columns: set[str]


def find_column(name: str, columns: list[str]) -> str | None:
    """``name`` among ``columns``: exactly, else the one column equal to it in any case."""
    if name in columns:
        return name
    folded = [c for c in columns if c.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def _number(x: float) -> str:
    return f"{x:g}" if abs(x) >= 1e-4 else repr(x)


def describe_how(column: S.Column, spec: ColumnSpec | None, labels_from: str | None) -> str:
    """How a column's values are read, in words (``"× 0.0329, rounded to 1 decimal"``)."""
    parts = []
    if spec is not None and spec.values:
        n = len(spec.values)
        parts.append(f"the mapping's values ({n} entr{'y' if n == 1 else 'ies'})")
    if column.kind in (S.Kind.CATEGORY, S.Kind.YESNO):
        if labels_from:
            parts.append(labels_from)
        parts.append("the contract's synonyms")
    elif column.kind is S.Kind.NUMBER and spec is not None:
        calc = ""
        if spec.scale is not None:
            calc += f" × {_number(spec.scale)}"
        if spec.offset is not None:
            calc += f" {'+' if spec.offset >= 0 else '−'} {_number(abs(spec.offset))}"
        if spec.round is not None:
            calc += f", rounded to {spec.round} decimal{'s' if spec.round != 1 else ''}"
        if calc:
            parts.append("value" + calc)
    return ", then ".join(parts) if parts else "as written"


def _frame(columns: dict[str, np.ndarray], n: int) -> pd.DataFrame:
    index = pd.RangeIndex(2, n + 2, name="_row")
    return pd.DataFrame(
        {k: pd.Series(v, index=index, dtype=object).astype(str) for k, v in columns.items()},
        index=index,
    )


def long_table(
    table: S.Table,
    src: SourceTable,
    specs: Mapping[str, ColumnSpec],
    mapping_label: str,
) -> BuiltTable:
    """The contract table ``table`` from ``src``, one row per source row."""
    n = len(src.frame)
    texts: dict[str, np.ndarray] = {}
    origin_columns, origin_values, hints = {}, {}, {}
    done = _Done()
    for col in table.columns:
        spec = specs.get(col.name)
        if spec is None:
            continue
        name = spec.column
        raw = src.frame[name].to_numpy(dtype=object)
        labels = src.value_labels.get(name)
        res = resolve_column(raw, col, spec, labels, src.labels_from)
        texts[col.name], hints[col.name] = res.text, res.hints
        origin_columns[col.name] = np.full(n, name, dtype=object)
        origin_values[col.name] = raw
        done.add(col.name, name, res)
        coded = col.kind in (S.Kind.CATEGORY, S.Kind.YESNO)
        how = describe_how(col, spec, src.labels_from if coded and labels else None)
        done.uses.append(ColumnUse(table.name, col.name, name, how))
    origin = TableOrigin(
        file=src.file,
        mapping=mapping_label,
        rows=np.arange(2, n + 2, dtype=np.int64),
        where=np.asarray(src.where, dtype=object),
        columns=origin_columns,
        values=origin_values,
        hints=hints,
    )
    return BuiltTable(_frame(texts, n), origin, done.uses, done.recodes, done.used_columns)


@dataclass(frozen=True)
class WideLevel:
    """One level of a wide mapping: as listed (and written in the column names) and
    its contract code."""

    listed: str
    code: str


def wide_levels(
    src: SourceTable,
    wide: WideSpec,
    levels: list[WideLevel],
    patient_id: tuple[str, np.ndarray, np.ndarray],
    mapping_label: str,
) -> tuple[BuiltTable, int]:
    """The levels from ``src``'s patient rows and ``wide``'s column patterns.

    ``patient_id`` is (source column, its text, the patient ids as imported), per
    patient row. Returns the table and the number of (patient, level) places read.
    """
    n, width = len(src.frame), len(levels)
    order = sorted(range(width), key=lambda j: S.LEVEL_CODES.index(levels[j].code))
    levels = [levels[j] for j in order]
    columns = src.columns
    specs = [(S.LEVELS.column(name), spec) for name, spec in wide.columns.items()]
    specs.sort(key=lambda cs: S.LEVELS.names.index(cs[0].name))
    cells: dict[str, dict[str, np.ndarray]] = {}
    exists = np.zeros((n, width), dtype=bool)
    done = _Done()
    for col, spec in specs:
        text = np.full((n, width), "", dtype=object)
        values = np.full((n, width), "", dtype=object)
        hint = np.full((n, width), "", dtype=object)
        names = np.empty(width, dtype=object)
        matched = []
        for j, level in enumerate(levels):
            wanted = spec.column.replace("{level}", level.listed)
            name = find_column(wanted, columns)
            if name is None:
                names[j] = wanted
                hint[:, j] = f"{src.file} has no column {wanted}"
                continue
            names[j] = name
            matched.append(level.listed)
            raw = src.frame[name].to_numpy(dtype=object)
            res = resolve_column(raw, col, spec, src.value_labels.get(name), src.labels_from)
            text[:, j], values[:, j], hint[:, j] = res.text, raw, res.hints
            done.add(col.name, name, res)
            said = np.array([t.strip() != "" for t in res.text.tolist()], dtype=bool)
            if col.kind is S.Kind.YESNO:
                said &= res.text != "no"
            exists[:, j] |= said
        labelled = any(src.value_labels.get(str(c)) for c in names)
        coded = col.kind in (S.Kind.CATEGORY, S.Kind.YESNO)
        how = describe_how(col, spec, src.labels_from if coded and labelled else None)
        shown = f"{spec.column} ({', '.join(matched)})"
        done.uses.append(ColumnUse("levels", col.name, shown, how))
        cells[col.name] = {"text": text, "values": values, "hints": hint, "names": names}
    pi, lj = np.nonzero(exists)  # row-major: patients in order, levels cranio-caudal
    total = len(pi)
    id_column, id_source, id_text = patient_id
    texts: dict[str, np.ndarray] = {
        "patient_id": id_text[pi],
        "level": np.array([levels[j].code for j in lj.tolist()], dtype=object),
    }
    origin_columns = {
        "patient_id": np.full(total, id_column, dtype=object),
        "level": np.full(total, "wide.levels", dtype=object),
    }
    origin_values = {
        "patient_id": id_source[pi],
        "level": np.array([levels[j].listed for j in lj.tolist()], dtype=object),
    }
    hints: dict[str, np.ndarray] = {}
    for name in S.LEVELS.names:
        if name not in cells:
            continue
        c = cells[name]
        texts[name] = c["text"][pi, lj]
        origin_values[name] = c["values"][pi, lj]
        hints[name] = c["hints"][pi, lj]
        origin_columns[name] = c["names"][lj]
    ordered = {k: texts[k] for k in S.LEVELS.names if k in texts}
    uses = [
        ColumnUse("levels", "patient_id", id_column, "the patient's row"),
        ColumnUse("levels", "level", "wide.levels", "a row per level with a value"),
        *done.uses,
    ]
    origin = TableOrigin(
        file=src.file,
        mapping=mapping_label,
        rows=np.arange(2, total + 2, dtype=np.int64),
        where=np.asarray(src.where, dtype=object)[pi],
        columns=origin_columns,
        values=origin_values,
        hints=hints,
    )
    built = BuiltTable(_frame(ordered, total), origin, uses, done.recodes, done.used_columns)
    return built, n * width
