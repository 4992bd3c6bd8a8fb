"""The state of one table while it is validated: its raw cells, the distinct stripped
text of each contract column and the codes that spread it back to the rows, the parsed
values, and which cells already have an error (so that one bad cell yields one problem)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from refracture.data import schema as S
from refracture.data.origin import TableOrigin
from refracture.data.text import to_text

__all__ = ["TableState"]


@dataclass(eq=False)
class TableState:
    spec: S.Table
    raw: pd.DataFrame
    label: str
    order: int
    #: Where an imported table's rows and cells came from (None: the table is the file).
    origin: TableOrigin | None = None
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

    def where(self, row: int) -> str:
        """Row ``row`` as the user finds it: ``"row 7"``, or its source row if imported."""
        if self.origin is not None:
            return self.origin.describe(row)
        return f"row {row}"

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
