"""The one shape every analysis returns: a frozen result with a tidy table.

Every table, sentence and plot is formatted from ``Result.table``; nothing
downstream recomputes a statistic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["TIDY_COLUMNS", "Result", "tidy_row"]

TIDY_COLUMNS: tuple[str, ...] = ("term", "estimate", "ci_low", "ci_high", "p", "n")
"""Columns every result table starts with; analyses may add more after them."""


def tidy_row(term: str, **values: Any) -> dict[str, Any]:
    """A table row: the tidy columns not estimated (NaN, ``n`` 0), then ``values``."""
    row: dict[str, Any] = {
        "term": term,
        "estimate": math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "p": math.nan,
        "n": 0,
    }
    row.update(values)
    return row


def _plain(value: Any) -> Any:
    """A JSON-ready scalar: NaN/inf become ``None`` (never a fake number)."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


@dataclass(frozen=True)
class Result:
    """Outcome of one analysis.

    ``table`` has the columns of :data:`TIDY_COLUMNS` first (missing values are
    NaN, serialised as ``null``); ``notes`` says in words what could not be
    estimated or which method was substituted; ``meta`` holds method choices.
    """

    name: str
    table: pd.DataFrame
    notes: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in TIDY_COLUMNS if c not in self.table.columns]
        if missing:
            raise ValueError(f"result {self.name!r} lacks tidy columns {missing}")
        extra = [c for c in self.table.columns if c not in TIDY_COLUMNS]
        ordered = self.table[list(TIDY_COLUMNS) + extra].reset_index(drop=True)
        object.__setattr__(self, "table", ordered)

    def row(self, term: str) -> pd.Series:
        """The row of ``term`` (exactly one must exist)."""
        hit = self.table.loc[self.table["term"] == term]
        if len(hit) != 1:
            raise KeyError(f"{self.name}: no single row for term {term!r}")
        return hit.iloc[0]

    def value(self, term: str, column: str = "estimate") -> Any:
        return _plain(self.row(term)[column])

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data. A result never changes once made, so the
        dict is made once and kept (a rebuild that reuses the analyses serialises
        them again for ``results.json`` and the figures' keys); do not modify it."""
        kept = self.__dict__.get("_as_dict")
        if kept is None:
            kept = self._as_dict_now()
            object.__setattr__(self, "_as_dict", kept)
        return kept

    def _as_dict_now(self) -> dict[str, Any]:
        records = [
            {k: _plain(v) for k, v in rec.items()} for rec in self.table.to_dict(orient="records")
        ]
        return {
            "name": self.name,
            "notes": list(self.notes),
            "meta": {
                k: _plain(v) if not isinstance(v, list | dict) else v for k, v in self.meta.items()
            },
            "table": records,
        }
