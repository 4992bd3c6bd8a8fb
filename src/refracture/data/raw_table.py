"""What every format reader does to the table it has read, whatever the format.

Header names are checked for duplicates (:func:`check_duplicate_names`); a column with a
blank header is named :data:`UNNAMED` + its position, as pandas does; :func:`finish_table`
sets the spreadsheet row numbers as index and drops entirely blank rows and unnamed blank
columns; :func:`short_error` is the first line of a library's exception for a message.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from refracture.data.text import blank_cells
from refracture.errors import DataError

__all__ = ["UNNAMED", "check_duplicate_names", "finish_table", "short_error"]

UNNAMED = "Unnamed: "  # name given to a column with a blank header cell (as pandas does)


def check_duplicate_names(names: list[str], label: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen and n != "":
            raise DataError(f"{label}: column {n!r} appears more than once in the header")
        seen.add(n)


def finish_table(
    frame: pd.DataFrame, rownums: np.ndarray, label: str, unnamed: frozenset[str] = frozenset()
) -> pd.DataFrame:
    """Set the spreadsheet row numbers as index; drop entirely blank rows and
    blank columns without a header (e.g. from trailing commas)."""
    frame.index = pd.Index(rownums.astype(np.int64), name="_row")
    blank_rows = np.ones(len(frame), dtype=bool)
    drop = []
    for col in frame.columns:
        blank = blank_cells(frame[col])
        if col in unnamed and blank.all():
            drop.append(col)
        blank_rows &= blank
    if drop:
        frame = frame.drop(columns=drop)
    if len(frame.columns) == 0:
        raise DataError(f"{label} is empty (no columns)")
    if blank_rows.any():
        frame = frame.loc[~blank_rows]
    if len(frame) == 0:
        raise DataError(f"{label} has no data rows (only a header)")
    return frame


def short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
