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

The problem type and its rendering are in :mod:`refracture.data.problems`, the rules
of each step in :mod:`refracture.data.rules` (working on a
:class:`~refracture.data.table_state.TableState` per table); this module runs them and
builds the typed :class:`Cohort`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from refracture.common.paths import shown
from refracture.data import schema as S
from refracture.data.load import RawCohort, Source, read_raw
from refracture.data.problems import Problem, ProblemCollector, render_problems
from refracture.data.rules import (
    check_columns,
    foreign_key_rule,
    key_rule,
    pandera_checks,
    parent_bound_rules,
    parse_cells,
    requires_child_rule,
    row_rules,
)
from refracture.data.table_state import TableState
from refracture.data.text import to_text
from refracture.errors import DataValidationError

__all__ = ["Cohort", "ValidationReport", "load_cohort", "validate"]


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
        where = f" in {shown(self.source.path)}" if self.source is not None else ""
        head = f"Input data check{where}: {_count(ne, 'error')}, {_count(nw, 'warning')}"
        if self.ok:
            head += " - the data are valid"
        parts = [head]
        for title, items in (("Errors", self.errors), ("Warnings", self.warnings)):
            if items:
                parts.append(f"\n{title} ({len(items)})\n" + render_problems(items, max_per_rule))
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.render()


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


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
    out = ProblemCollector()
    tables = {
        spec.name: TableState(
            spec, raw.table(spec.name), raw.label(spec.name), i, raw.origins.get(spec.name)
        )
        for i, spec in enumerate(S.TABLES)
    }
    for note in raw.notes:  # e.g. identifier-like columns dropped by the loader
        out.table(tables[note.table], note.column, note.check, note.rule, "warning")
    for t in tables.values():
        check_columns(t, out)
        parse_cells(t, out)
    pandera_checks(tables, out)
    for t in tables.values():
        row_rules(t, out, must_be_no=True)
    for t in tables.values():
        key_rule(t, out)
    for t in tables.values():
        foreign_key_rule(t, tables, out)
        row_rules(t, out, must_be_no=False)
        parent_bound_rules(t, tables, out)
    for t in tables.values():
        requires_child_rule(t, tables, out)

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
# Typed output
# ---------------------------------------------------------------------------


def _typed(t: TableState) -> pd.DataFrame:
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
