"""Cells as text: how every value a reader meets becomes the text the validator parses.

:func:`to_text` converts a column (numbers in shortest round-trip form, booleans as
``true``/``false``, blank or missing as ``""``), :func:`cell_text` one cell (an Excel
value, an object column's element), :func:`frame_to_text` a whole frame;
:func:`blank_cells` is the blank test after ``str.strip()``, for Python and Arrow strings
alike (:func:`is_arrow_text` tells them apart).
"""

from __future__ import annotations

import datetime as _dt
import decimal
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PY_WHITESPACE", "blank_cells", "cell_text", "frame_to_text", "is_arrow_text", "to_text"]

#: Every character ``str.isspace`` accepts (what ``str.strip()`` removes), for the
#: same stripping of Arrow strings (``pyarrow.compute.utf8_trim``); tested complete.
PY_WHITESPACE = "".join(
    map(chr, (9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, *range(8192, 8203), 8232))
) + "".join(map(chr, (8233, 8239, 8287, 12288)))


def is_arrow_text(series: pd.Series) -> bool:
    """The column holds Arrow-backed strings (as the CSV reader makes them)."""
    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype):
        return dtype.storage == "pyarrow"
    return isinstance(dtype, pd.ArrowDtype) and str(dtype.pyarrow_dtype) in (
        "string",
        "large_string",
    )


def blank_cells(series: pd.Series) -> np.ndarray:
    """True where a text cell is blank after ``str.strip()`` (or missing)."""
    if is_arrow_text(series):
        import pyarrow as pa
        import pyarrow.compute as pc

        trimmed = pc.utf8_trim(pa.array(series.array), characters=PY_WHITESPACE)
        blank = pc.fill_null(pc.equal(pc.utf8_length(trimmed), 0), True)
        return np.asarray(blank.to_numpy(zero_copy_only=False), dtype=bool)
    return (series.str.strip() == "").to_numpy(dtype=bool, na_value=True)


def frame_to_text(frame: pd.DataFrame) -> pd.DataFrame:
    out = {str(c): to_text(frame[c]) for c in frame.columns}
    return pd.DataFrame(out, index=frame.index)


def to_text(series: pd.Series) -> pd.Series:
    """Cells of ``series`` as text: blank/NA -> ``""``, integral floats -> ``"2"``,
    other floats in shortest round-trip form, booleans -> ``"true"``/``"false"``."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        na = series.isna().to_numpy()
        vals = np.where(series.fillna(False).to_numpy(dtype=bool), "true", "false")
        return pd.Series(np.where(na, "", vals), index=series.index, dtype=str)
    if pd.api.types.is_integer_dtype(dtype):
        na = series.isna().to_numpy()
        vals = series.astype("Int64").astype(str).to_numpy(dtype=object)
        return pd.Series(np.where(na, "", vals), index=series.index, dtype=str)
    if pd.api.types.is_float_dtype(dtype):
        arr = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return pd.Series(_floats_to_text(arr), index=series.index, dtype=str)
    if is_arrow_text(series):
        return series.fillna("") if series.hasnans else series
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return series.fillna("").astype(str)
    if isinstance(dtype, pd.CategoricalDtype):
        return to_text(series.astype(object))
    values = series.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) == "string":
        # strings (and missing cells): the text of each distinct value, spread by code
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        lookup = np.array([*(cell_text(u) for u in uniques), ""], dtype=object)
        return pd.Series(lookup[codes], index=series.index, dtype=str)
    return pd.Series([cell_text(v) for v in values], index=series.index, dtype=str)


def _floats_to_text(arr: np.ndarray) -> np.ndarray:
    out = np.full(arr.shape, "", dtype=object)
    finite = np.isfinite(arr)
    integral = finite & (np.floor(arr) == arr) & (np.abs(arr) < 1e15)
    out[integral] = arr[integral].astype(np.int64).astype(str)
    other = ~np.isnan(arr) & ~integral
    out[other] = arr[other].astype(str)
    return out


def cell_text(v: Any) -> str:
    """Text of one cell value (Excel cell, object column element)."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return str(_floats_to_text(np.array([float(v)]))[0])
    if isinstance(v, decimal.Decimal):
        return "" if v.is_nan() else str(v)
    if isinstance(v, _dt.datetime):
        if v is pd.NaT:  # a missing date of a Parquet date column: NaT is a datetime
            return ""
        if v.time() == _dt.time(0):
            return v.date().isoformat()
        return v.isoformat(sep=" ")
    if isinstance(v, _dt.date | _dt.time):
        return v.isoformat()
    try:
        if pd.isna(v):
            return ""
    except (TypeError, ValueError):
        pass
    return str(v)
