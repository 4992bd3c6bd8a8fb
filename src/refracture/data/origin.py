"""Where the rows and cells of an imported table came from, so problems name the source.

A table made by an import mapping (:mod:`refracture.data.importing`) is not a file the
user has seen: its row 7 may be record ``P0003``, instance 2 of a REDCap export, or the
``tscore_L1`` cell of row 5 of a wide spreadsheet. A :class:`TableOrigin` travels with
such a table (:attr:`refracture.data.load.RawCohort.origins`); validation then reports a
problem with the source file, the source row as the user sees it, the source column and
the value as written there, instead of the imported table's coordinates
(:class:`~refracture.data.problems.ProblemCollector`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["TableOrigin"]


@dataclass(frozen=True, eq=False)
class TableOrigin:
    """The source of each row and contract cell of one imported table.

    Arrays are aligned with the table's rows (position 0 = the first row). ``columns``
    and ``values`` hold, per contract column the mapping fills, the source column each
    cell was read from and its text as written there; ``hints`` say, where not blank,
    what a source value that resolved to no contract value means (e.g. its label in a
    REDCap dictionary), so the problem says how to fix it.
    """

    file: str
    mapping: str
    rows: np.ndarray
    where: np.ndarray
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)
    values: Mapping[str, np.ndarray] = field(default_factory=dict)
    hints: Mapping[str, np.ndarray] = field(default_factory=dict)

    def position(self, row: int) -> int:
        """The position of the table's row number ``row``."""
        return int(np.searchsorted(self.rows, row))

    def describe(self, row: int) -> str:
        """The source row of the table's row ``row``, e.g. ``"record P0003 (row 4)"``."""
        return str(self.where[self.position(row)])

    def column(self, name: str, positions: np.ndarray) -> list[str]:
        """The column to show for contract column ``name`` at ``positions``:
        ``"vert_level → level"``, or the name alone where the source uses it."""
        if name not in self.columns:
            return [name] * len(positions)
        source = self.columns[name][positions]
        return [name if s == name else f"{s} → {name}" for s in source.tolist()]

    def value(self, name: str, positions: np.ndarray) -> np.ndarray | None:
        """The source text at ``positions`` of contract column ``name`` (None: unmapped)."""
        values = self.values.get(name)
        return None if values is None else values[positions]

    def hint(self, name: str, positions: np.ndarray) -> list[str]:
        hints = self.hints.get(name)
        return [""] * len(positions) if hints is None else hints[positions].tolist()
