"""What validation reports: a :class:`Problem` per broken rule, the
:class:`ProblemCollector` that gathers them in file order (table, row, column, rule),
and :func:`render_problems`, the plain-text table a report prints them as.

A table made by an import mapping carries its :class:`~refracture.data.origin.TableOrigin`;
its problems then name the source file, the source row as the user sees it (``record
P0003, instance 2 (row 9)``), the source column with the contract column it fills
(``vert_level → level``) and the value as written in the source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from refracture.data import schema as S
from refracture.data.table_state import TableState

__all__ = ["Problem", "ProblemCollector", "Severity", "render_problems"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One broken rule.

    ``row`` is the row number as seen in a spreadsheet (header = 1), the source row
    of an imported table as the user sees it (text, e.g. ``"record P0003 (row 4)"``),
    or ``None`` for a problem with the whole table; ``value`` is the cell text as
    written (``""`` for blank). ``check`` is a stable identifier of the kind of rule (see
    :data:`refracture.data.schema.CHECK_TITLES`).
    """

    file: str
    row: int | str | None
    column: str | None
    value: str | None
    rule: str
    severity: Severity = "error"
    check: str = ""


class ProblemCollector:
    def __init__(self) -> None:
        self._items: list[tuple[tuple[int, int, int, str], Problem]] = []

    def table(
        self,
        t: TableState,
        column: str | None,
        check: str,
        rule: str,
        severity: Severity = "error",
    ) -> None:
        file = t.label
        if t.origin is not None:  # an unmapped column is the mapping's; the rest the source's
            file = t.origin.mapping if column is not None else t.origin.file
        p = Problem(file, None, column, None, rule, severity, check)
        self._items.append(((t.order, -1, t.col_order.get(column or "", -1), check), p))

    def cells(
        self,
        t: TableState,
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
        if t.origin is None:
            self._items.extend(
                ((t.order, r, corder, check), Problem(t.label, r, column, v, txt, severity, check))
                for r, v, txt in zip(rows, values, rules, strict=True)
            )
            return positions
        o = t.origin
        source = o.value(column, positions)
        shown = source.tolist() if source is not None else values
        for r, where, col, v, src, txt, hint in zip(
            rows,
            o.where[positions].tolist(),
            o.column(column, positions),
            values,
            shown,
            rules,
            o.hint(column, positions),
            strict=True,
        ):
            if hint:
                txt += f"; {hint}"
            elif source is not None and v.strip() != src.strip():
                txt += f" (read as {v.strip() or 'blank'})"
            p = Problem(o.file, where, col, src, txt, severity, check)
            self._items.append(((t.order, r, corder, check), p))
        return positions

    def sorted(self) -> tuple[list[Problem], list[Problem]]:
        items = sorted(self._items, key=lambda kp: kp[0])
        errors = [p for _, p in items if p.severity == "error"]
        warnings = [p for _, p in items if p.severity == "warning"]
        return errors, warnings


def render_problems(items: Sequence[Problem], cap: int) -> str:
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
