"""Reading one Parquet table, every cell as text (:func:`~refracture.data.text.to_text`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from refracture.data.raw_table import check_duplicate_names, finish_table, short_error
from refracture.data.text import frame_to_text
from refracture.errors import DataError

__all__ = ["read_parquet_table"]


def read_parquet_table(path: Path, label: str) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise DataError(f"{label} is empty")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises a variety of types for corrupt files
        raise DataError(f"{label} could not be read as Parquet: {short_error(exc)}") from None
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    names = [str(c) for c in frame.columns]
    check_duplicate_names(names, label)
    frame.columns = pd.Index(names)
    if len(frame.columns) == 0:
        raise DataError(f"{label} is empty (no columns)")
    return finish_table(frame_to_text(frame), np.arange(2, len(frame) + 2), label)
