"""Reading one CSV table, every cell as text.

The header line is read and checked first (empty file, binary or non-UTF-8 content,
semicolon or tab separators, duplicate names), with a message that says how to re-save
the file. Files without double quotes are then parsed by pyarrow's multithreaded reader
into Arrow-backed string columns (``string[pyarrow]``), every cell kept as written and
blank lines kept as blank rows. Files with quotes, and any file pyarrow does not read
exactly so (ragged rows, invalid UTF-8, …), are read by pandas' C parser, whose messages
name the problem. Either way the cells are the same text (tested against each other on
generated files).
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from refracture.data.raw_table import UNNAMED, check_duplicate_names, finish_table, short_error
from refracture.errors import DataError

__all__ = ["read_csv_table"]

_HEAD_BYTES = 64 * 1024


def read_csv_table(path: Path, label: str) -> pd.DataFrame:
    header = _csv_header(path, label)
    unnamed = frozenset(h for h in header if h.startswith(UNNAMED))
    frame = _read_csv_arrow(path, header)
    if frame is not None:
        return finish_table(frame, np.arange(2, len(frame) + 2), label, unnamed)
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
            index_col=False,
            engine="c",
        )
    except UnicodeDecodeError:
        raise DataError(_encoding_message(path, label)) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{label} is empty") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{label} could not be read as CSV: {short_error(exc)}") from None
    if len(frame.columns) != len(header):  # pragma: no cover - defensive
        raise DataError(f"{label} could not be read as CSV: the header could not be parsed")
    frame.columns = pd.Index(header)
    return finish_table(frame, np.arange(2, len(frame) + 2), label, unnamed)


def _has_quote(path: Path) -> bool:
    """Whether the file holds a double quote anywhere (one memory-mapped scan)."""
    import mmap

    with path.open("rb") as fh:
        if path.stat().st_size == 0:
            return False
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return mm.find(b'"') >= 0


def _read_csv_arrow(path: Path, header: list[str]) -> pd.DataFrame | None:
    """The CSV as ``string[pyarrow]`` columns named ``header``, every cell as written
    (blank = ""), or None where pyarrow does not read it exactly as pandas' C parser
    with the options of :func:`read_csv_table` would (then that parser is used)."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    if _has_quote(path):
        # pyarrow accepts a quoted field left open at the end of the file, which
        # pandas rejects; files with quotes take pandas' path
        return None
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    try:
        first = next(csv.reader(io.StringIO(head.decode("utf-8-sig", errors="replace"))))
    except (StopIteration, csv.Error):  # pragma: no cover - _csv_header has checked it
        return None
    if len(first) != len(header):
        return None
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=True),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(first, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
                check_utf8=True,
            ),
        )
    except (pa.ArrowException, OSError, ValueError):
        return None
    if table.num_columns != len(header) or table.column_names != first:
        return None
    dtype = pd.StringDtype("pyarrow")
    columns = {
        name: pd.Series(pd.array(table.column(i), dtype=dtype), copy=False)
        for i, name in enumerate(header)
    }
    return pd.DataFrame(columns, copy=False)


def _csv_header(path: Path, label: str) -> list[str]:
    """Read and check the header line; detect encodings other than UTF-8 early."""
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if not head.strip():
        raise DataError(f"{label} is empty")
    binary = _binary_message(head, label)
    if binary is not None:
        raise DataError(binary)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head:
        raise DataError(_encoding_message(path, label))
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        text = decoder.decode(head, final=len(head) < _HEAD_BYTES)
    except UnicodeDecodeError:
        raise DataError(_encoding_message(path, label)) from None
    try:
        header = next(csv.reader(io.StringIO(text)))
    except (StopIteration, csv.Error):
        raise DataError(f"{label} could not be read as CSV: no header line") from None
    names = ["" if h.strip() == "" else h for h in header]
    if len(names) == 1:
        for sep, sep_name in ((";", "semicolons"), ("\t", "tabs")):
            if sep in names[0]:
                raise DataError(
                    f"{label}: the columns seem to be separated by {sep_name}; "
                    "save it as comma-separated CSV (CSV UTF-8)"
                )
    check_duplicate_names(names, label)
    return [n if n != "" else f"{UNNAMED}{i}" for i, n in enumerate(names)]


#: File signatures of formats people save under a .csv name by mistake.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive, e.g. an Excel .xlsx workbook renamed to .csv"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook renamed to .csv"),
    (b"PAR1", "a Parquet file renamed to .csv"),
    (b"%PDF", "a PDF document"),
)


def _binary_message(head: bytes, label: str) -> str | None:
    """A message if ``head`` (the start of a file) is not text at all, else None."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f"{label} is not a CSV text file (it looks like {what}); export it as CSV UTF-8"
    sample = head[:4096]
    if not sample:
        return None
    even, odd = sample[0::2], sample[1::2]
    # UTF-16 without BOM: ASCII text has a NUL in every other byte
    if max(even.count(0), odd.count(0)) > 0.4 * len(odd or even) and min(
        even.count(0), odd.count(0)
    ) < 0.05 * len(odd or even):
        return None
    control = sum(1 for b in sample if b < 0x20 and b not in b"\t\n\r\x0c\x1a")
    if b"\x00" in sample or control > 0.01 * len(sample):
        return (
            f"{label} is not a CSV text file (it holds binary data); "
            "export the table as CSV UTF-8 (Comma delimited)"
        )
    return None


def _encoding_message(path: Path, label: str) -> str:
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    binary = _binary_message(head, label)
    if binary is not None:
        return binary
    data = path.read_bytes()
    guess, where = "latin-1/Windows-1252", ""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data[:4096]:
        guess = "UTF-16"
    else:
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            where = f"; first undecodable byte on line {line}"
    return (
        f"{label} is not UTF-8 text (it looks like {guess}{where}); "
        "save it as UTF-8 (in Excel: 'CSV UTF-8 (Comma delimited)') and try again"
    )
