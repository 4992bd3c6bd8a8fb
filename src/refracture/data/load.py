"""Reading a cohort from disk, every cell as text.

:func:`read_raw` accepts

* a folder with ``patients.csv`` and ``levels.csv`` (UTF-8, with or without BOM),
* a folder with ``patients.parquet`` and ``levels.parquet``,
* an ``.xlsx`` workbook with sheets ``patients`` and ``levels``, or a folder that
  contains exactly one ``.xlsx`` workbook,

and returns a :class:`RawCohort` whose two tables hold the cells as text, exactly
as written (blank = ``""``); nothing is converted or dropped except rows that are
entirely blank and extra columns that look like personal identifiers (names, dates
of birth, record numbers, addresses, phone numbers, e-mail addresses; see
:func:`is_identifier_column`): those are dropped right after reading, their values
never leave this module, and a :class:`LoadNote` per dropped column becomes a
warning of the validation report. Typing and checking the cells is
:mod:`refracture.data.validate`'s job. Anything that prevents reading raises
:class:`~refracture.errors.DataError` with a one-line message naming the file.

In a workbook, formula cells are read as their last computed value; a formula
whose result was never saved (e.g. written by a script, never opened in Excel) and
merged cells in or below the header row are errors, since the values they hold
cannot be known. Title rows above the header are skipped: the header is the first
row (of the first 20 filled rows) that holds a column name of the contract.

The index of each table is the row number as the user sees it in a spreadsheet
(header = row 1, first data row = 2), named ``_row``.

CSV files without double quotes are parsed by pyarrow's multithreaded reader into
Arrow-backed string columns (``string[pyarrow]``: a million rows take a fraction
of the memory and time of Python strings), every cell kept as written and blank
lines kept as blank rows. Files with quotes, and any file pyarrow does not read
exactly so (ragged rows, invalid UTF-8, …), are read by pandas' C parser as
before, whose messages name the problem. Either way the cells are the same text
(tested against each other on generated files).
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import decimal
import io
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd

from refracture.data.schema import TABLES
from refracture.errors import DataError

__all__ = [
    "Format",
    "LoadNote",
    "RawCohort",
    "Source",
    "is_identifier_column",
    "read_raw",
    "to_text",
]

Format = Literal["csv", "xlsx", "parquet"]

#: Every character ``str.isspace`` accepts (what ``str.strip()`` removes), for the
#: same stripping of Arrow strings (``pyarrow.compute.utf8_trim``); tested complete.
PY_WHITESPACE = "".join(
    map(chr, (9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, *range(8192, 8203), 8232))
) + "".join(map(chr, (8233, 8239, 8287, 12288)))

_TABLE_NAMES: tuple[str, ...] = tuple(t.name for t in TABLES)
_HEAD_BYTES = 64 * 1024
_UNNAMED = "Unnamed: "  # name given to a column with a blank header cell (as pandas does)


@dataclass(frozen=True)
class Source:
    """Where a cohort was read from."""

    path: Path
    format: Format
    patients_file: str
    levels_file: str
    patients_path: Path
    levels_path: Path

    def label(self, table: str) -> str:
        """The file name as the user sees it, e.g. ``"levels.csv"`` or ``"cohort.xlsx[levels]"``."""
        if table == "patients":
            return self.patients_file
        if table == "levels":
            return self.levels_file
        raise KeyError(table)

    @classmethod
    def in_memory(cls) -> Source:
        """A placeholder source for tables built in code."""
        return cls(
            path=Path("<in memory>"),
            format="csv",
            patients_file="patients.csv",
            levels_file="levels.csv",
            patients_path=Path("patients.csv"),
            levels_path=Path("levels.csv"),
        )


@dataclass(frozen=True)
class LoadNote:
    """Something the loader did to the data that the user must hear about (a
    warning of the validation report), e.g. an identifier-like column dropped.
    It names the file and the column, never a cell value."""

    table: str
    file: str
    column: str | None
    rule: str
    check: str


# ---------------------------------------------------------------------------
# Identifier-like extra columns
# ---------------------------------------------------------------------------

#: Normalised column names (lower case, runs of other characters -> "_") of
#: columns that hold personal identifiers. ``_?`` lets "FirstName", "first name"
#: and "first_name" all match.
_NUM = r"(?:_?(?:number|num|nr|no|nbr|id))?"
_IDENTIFIER_COLUMN_PATTERNS: dict[str, str] = {
    "a name": r"(?:(?:patient|pt|first|last|given|family|full|middle|maiden|sur|fore|christian)_?)?"
    r"names?|initials",
    "a date of birth": r"dob|d_o_b|date_?of_?birth|birth_?(?:date|day)|born(?:_?on)?",
    "a record number": r"mrn|medical_?record"
    + _NUM
    + r"|(?:patient_?)?record_?(?:number|num|nr|no)"
    r"|hospital_?(?:number|num|nr|no)|nhs" + _NUM + r"|chi_?(?:number|num|nr|no)",
    "a social security number": r"ssn|social_?security" + _NUM + r"|national_?insurance" + _NUM,
    "an address": r"(?:home_?|street_?|postal_?|mailing_?|patient_?)?address(?:_?line)?(?:_?\d+)?"
    r"|street(?:_?name)?|zip(?:_?code)?|post_?code|postal_?code",
    "a phone number": r"(?:tele)?phone"
    + _NUM
    + r"|tel|telephone|(?:mobile|cell)(?:_?phone)?"
    + _NUM
    + r"|fax"
    + _NUM,
    "an e-mail address": r"e_?mail(?:_?address)?",
}
_IDENTIFIER_COLUMN_RES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (what, re.compile(rx)) for what, rx in _IDENTIFIER_COLUMN_PATTERNS.items()
)
_CONTRACT_NAMES: frozenset[str] = frozenset(n for t in TABLES for n in t.names)


def _normalise_column_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def is_identifier_column(name: str) -> str | None:
    """What a column named ``name`` looks like it holds (e.g. ``"a date of birth"``)
    if it looks like a personal identifier, else ``None``. Contract columns (such as
    ``patient_id``, the pseudonymous study id) never match."""
    if name in _CONTRACT_NAMES:
        return None
    norm = _normalise_column_name(str(name))
    for what, rx in _IDENTIFIER_COLUMN_RES:
        if rx.fullmatch(norm):
            return what
    return None


def _drop_identifier_columns(
    frame: pd.DataFrame, table: str, label: str
) -> tuple[pd.DataFrame, list[LoadNote]]:
    notes, drop = [], []
    for col in map(str, frame.columns):
        what = is_identifier_column(col)
        if what is not None:
            drop.append(col)
            notes.append(
                LoadNote(
                    table=table,
                    file=label,
                    column=col,
                    rule=(
                        f"column {col!r} looks like it holds {what} (a personal identifier); "
                        "dropped at load, so its values never reach the results"
                    ),
                    check="identifier_column",
                )
            )
    if drop:
        frame = frame.drop(columns=drop)
    return frame, notes


@dataclass(frozen=True, eq=False)
class RawCohort:
    """The two tables as read, every cell as text.

    ``patients`` and ``levels`` are DataFrames of strings (blank = ``""``) whose
    index is the spreadsheet row number (header = 1). A frame passed with a default
    ``RangeIndex`` starting at 0 is taken as positional and renumbered 2, 3, …

    Extra columns that look like personal identifiers (:func:`is_identifier_column`)
    are dropped on construction, whatever the source; ``notes`` says which.
    """

    patients: pd.DataFrame
    levels: pd.DataFrame
    source: Source
    notes: tuple[LoadNote, ...] = ()

    def __post_init__(self) -> None:
        notes = list(self.notes)
        for name in _TABLE_NAMES:
            frame = getattr(self, name)
            idx = frame.index
            if isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1:
                frame = frame.set_axis(pd.RangeIndex(2, len(frame) + 2, name="_row"), axis=0)
            frame, dropped = _drop_identifier_columns(frame, name, self.source.label(name))
            notes += dropped
            object.__setattr__(self, name, frame)
        object.__setattr__(self, "notes", tuple(notes))

    @classmethod
    def from_frames(
        cls, patients: pd.DataFrame, levels: pd.DataFrame, source: Source | None = None
    ) -> RawCohort:
        """Build from frames made in code; cells are converted to text as :func:`read_raw` would."""
        return cls(
            patients=_frame_to_text(patients.reset_index(drop=True)),
            levels=_frame_to_text(levels.reset_index(drop=True)),
            source=source or Source.in_memory(),
        )

    @property
    def format(self) -> Format:
        return self.source.format

    @property
    def labels(self) -> dict[str, str]:
        """File label per table, e.g. ``{"patients": "patients.csv", ...}``."""
        return {n: self.source.label(n) for n in _TABLE_NAMES}

    @property
    def paths(self) -> dict[str, Path]:
        """Source path per table (the workbook for both tables of an .xlsx)."""
        return {"patients": self.source.patients_path, "levels": self.source.levels_path}

    def table(self, name: str) -> pd.DataFrame:
        if name not in _TABLE_NAMES:
            raise KeyError(name)
        return getattr(self, name)

    def label(self, name: str) -> str:
        return self.source.label(name)


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def read_raw(path: str | Path) -> RawCohort:
    """Read the cohort at ``path`` (see module docstring) with every cell as text."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if not path.is_file() and not path.is_dir():
        raise DataError(f"{path}: {_kind(path)}, not a cohort; {_EXPECTED}")
    if path.is_file():
        if path.suffix.lower() == ".xlsx":
            return _read_xlsx(path, path)
        if path.suffix.lower() in {".csv", ".parquet"}:
            raise DataError(
                f"{path}: give the folder that holds patients{path.suffix} and "
                f"levels{path.suffix}, not one of the files"
            )
        raise DataError(f"{path}: not a cohort; {_EXPECTED}")
    return _read_folder(path)


_EXPECTED = (
    "expected a folder with patients.csv and levels.csv (or .parquet files), or an .xlsx workbook"
)


def _regular(path: Path) -> bool:
    return path.is_file() or path.is_dir()


def _kind(path: Path) -> str:
    """What a path that is neither a regular file nor a folder is (never opened)."""
    import stat

    mode = path.stat().st_mode
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _read_folder(folder: Path) -> RawCohort:
    for entry in folder.iterdir():  # a pipe or device named like a table would block a read
        suffix = entry.suffix.lower()
        if suffix in {".csv", ".parquet", ".xlsx"} and entry.exists() and not _regular(entry):
            raise DataError(f"{entry}: {_kind(entry)}, not a data file")

    def present(ext: str) -> list[str]:
        return [n for n in _TABLE_NAMES if (folder / f"{n}.{ext}").is_file()]

    csv_found, pq_found = present("csv"), present("parquet")
    workbooks = sorted(
        p for p in folder.glob("*") if p.suffix.lower() == ".xlsx" and not p.name.startswith("~$")
    )
    if len(csv_found) == len(_TABLE_NAMES) and len(pq_found) == len(_TABLE_NAMES):
        raise DataError(
            f"{folder}: holds both CSV and Parquet versions of the tables; keep only one"
        )
    for ext, found in (("csv", csv_found), ("parquet", pq_found)):
        if found:
            missing = [n for n in _TABLE_NAMES if n not in found]
            if missing:
                raise DataError(
                    f"{folder}: {missing[0]}.{ext} is missing (found {found[0]}.{ext})"
                    + _similar_file_hint(folder, f"{missing[0]}.{ext}")
                )
            return _read_files(folder, ext)  # type: ignore[arg-type]
    if len(workbooks) == 1:
        return _read_xlsx(workbooks[0], folder)
    if len(workbooks) > 1:
        names = ", ".join(p.name for p in workbooks)
        raise DataError(f"{folder}: holds several .xlsx workbooks ({names}); give one of them")
    hint = _similar_file_hint(folder, "patients.csv") or _similar_file_hint(folder, "levels.csv")
    raise DataError(
        f"{folder}: no cohort found; expected patients.csv and levels.csv, "
        "patients.parquet and levels.parquet, or one .xlsx workbook" + hint
    )


def _similar_file_hint(folder: Path, name: str) -> str:
    for p in folder.iterdir():
        if p.name.lower() == name.lower() and p.name != name:
            return f"; found {p.name!r} (file names are case-sensitive)"
    return ""


def _read_files(folder: Path, ext: Format) -> RawCohort:
    reader = _read_csv if ext == "csv" else _read_parquet
    paths = {n: folder / f"{n}.{ext}" for n in _TABLE_NAMES}
    frames = {n: reader(p, p.name) for n, p in paths.items()}
    source = Source(
        path=folder,
        format=ext,
        patients_file=paths["patients"].name,
        levels_file=paths["levels"].name,
        patients_path=paths["patients"],
        levels_path=paths["levels"],
    )
    return RawCohort(frames["patients"], frames["levels"], source)


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------


def _read_csv(path: Path, label: str) -> pd.DataFrame:
    header = _csv_header(path, label)
    unnamed = frozenset(h for h in header if h.startswith(_UNNAMED))
    frame = _read_csv_arrow(path, header)
    if frame is not None:
        return _finish(frame, np.arange(2, len(frame) + 2), label, unnamed)
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
        raise DataError(f"{label} could not be read as CSV: {_short(exc)}") from None
    if len(frame.columns) != len(header):  # pragma: no cover - defensive
        raise DataError(f"{label} could not be read as CSV: the header could not be parsed")
    frame.columns = pd.Index(header)
    return _finish(frame, np.arange(2, len(frame) + 2), label, unnamed)


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
    with the options of :func:`_read_csv` would (then that parser is used)."""
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
    _check_duplicate_names(names, label)
    return [n if n != "" else f"{_UNNAMED}{i}" for i, n in enumerate(names)]


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


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ---------------------------------------------------------------------------
# Parquet
# ---------------------------------------------------------------------------


def _read_parquet(path: Path, label: str) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise DataError(f"{label} is empty")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises a variety of types for corrupt files
        raise DataError(f"{label} could not be read as Parquet: {_short(exc)}") from None
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    names = [str(c) for c in frame.columns]
    _check_duplicate_names(names, label)
    frame.columns = pd.Index(names)
    if len(frame.columns) == 0:
        raise DataError(f"{label} is empty (no columns)")
    return _finish(_frame_to_text(frame), np.arange(2, len(frame) + 2), label)


# ---------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------


def _read_xlsx(path: Path, given: Path) -> RawCohort:
    import openpyxl  # imported here: only needed for workbooks

    if path.stat().st_size == 0:
        raise DataError(f"{path.name} is empty")
    try:
        with warnings.catch_warnings():
            # openpyxl warns about workbook features it ignores (styles, validation)
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise DataError(
            f"{path.name} could not be read as an Excel .xlsx workbook: {_short(exc)}"
        ) from None
    oddities = _sheet_oddities(path)
    try:
        frames = {}
        for name in _TABLE_NAMES:
            label = f"{path.name}[{name}]"
            if name not in wb.sheetnames:
                similar = [s for s in wb.sheetnames if s.strip().lower() == name]
                hint = (
                    f"; found {similar[0]!r} (sheet names are case-sensitive)"
                    if similar
                    else f"; sheets found: {', '.join(wb.sheetnames)}"
                )
                raise DataError(f"{path.name}: sheet {name!r} is missing{hint}")
            frames[name] = _read_sheet(wb[name], label, name, oddities.get(name))
    finally:
        wb.close()
    source = Source(
        path=given,
        format="xlsx",
        patients_file=f"{path.name}[patients]",
        levels_file=f"{path.name}[levels]",
        patients_path=path,
        levels_path=path,
    )
    return RawCohort(frames["patients"], frames["levels"], source)


_HEADER_SEARCH_ROWS = 20


@dataclass(frozen=True)
class _SheetOddities:
    """What openpyxl's read-only value reader does not tell: formula cells without a
    saved result and merged cell ranges (as ``(ref, first_row, last_row)``)."""

    unsaved_formulas: tuple[str, ...] = ()
    merged: tuple[tuple[str, int, int], ...] = ()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_ODD_RE = re.compile(rb"<(?:\w+:)?(?:f|mergeCell)[\s/>]")


def _sheet_oddities(path: Path) -> dict[str, _SheetOddities]:
    """Formula cells without a cached value and merged ranges, per contract sheet.

    Read from the sheet XML directly (openpyxl's read-only mode exposes neither).
    Anything unexpected in the package structure just skips these checks: openpyxl
    has already read the workbook, so it is a valid one.
    """
    out: dict[str, _SheetOddities] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            book = ET.fromstring(zf.read("xl/workbook.xml"))
            rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
            targets = {
                r.get("Id"): r.get("Target", "") for r in rels if _local(r.tag) == "Relationship"
            }
            for sheet in book.iter():
                if _local(sheet.tag) != "sheet" or sheet.get("name") not in _TABLE_NAMES:
                    continue
                rid = next((v for k, v in sheet.attrib.items() if _local(k) == "id"), None)
                target = targets.get(rid, "")
                member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                if member not in names:
                    continue
                if not _ODD_RE.search(zf.read(member)):
                    continue
                with zf.open(member) as fh:
                    out[str(sheet.get("name"))] = _scan_sheet_xml(fh)
    except (KeyError, OSError, zipfile.BadZipFile, ET.ParseError):  # pragma: no cover
        return out
    return out


def _scan_sheet_xml(fh: Any) -> _SheetOddities:
    from openpyxl.utils.cell import range_boundaries

    formulas: list[str] = []
    merged: list[tuple[str, int, int]] = []
    for _, el in ET.iterparse(fh, events=("end",)):
        tag = _local(el.tag)
        if tag == "c":
            f = v = None
            for child in el:
                ctag = _local(child.tag)
                if ctag == "f":
                    f = child
                elif ctag == "v":
                    v = child
            if f is not None:
                kind = el.get("t", "n")
                value = None if v is None else v.text
                if value is None and (v is None or kind not in ("str", "inlineStr")):
                    formulas.append(el.get("r", "?"))
        elif tag == "row":
            el.clear()
        elif tag == "mergeCell":
            ref = el.get("ref", "")
            try:
                _, lo, _, hi = range_boundaries(ref)
            except (TypeError, ValueError):
                continue
            if lo is not None and hi is not None:
                merged.append((ref, lo, hi))
    return _SheetOddities(tuple(formulas), tuple(merged))


def _listed(items: list[str] | tuple[str, ...], n: int = 5) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _check_oddities(odd: _SheetOddities | None, header_row: int, label: str) -> None:
    """Raise for formulas without a result and merged cells at or below the header
    (``header_row`` as the spreadsheet numbers it); merged title rows above it are fine."""
    if odd is None:
        return
    if odd.unsaved_formulas:
        n = len(odd.unsaved_formulas)
        raise DataError(
            f"{label}: {'cell' if n == 1 else f'{n} cells'} "
            f"{_listed(odd.unsaved_formulas)} hold{'s' if n == 1 else ''} a formula whose "
            "result was never saved; open the workbook in Excel (or LibreOffice) and save it, "
            "or replace the formulas by their values"
        )
    head = [ref for ref, lo, hi in odd.merged if lo <= header_row <= hi]
    body = [ref for ref, lo, hi in odd.merged if lo > header_row]
    if head:
        raise DataError(
            f"{label}: header cells {_listed(head)} are merged; unmerge them so that every "
            f"column has its own name in row {header_row}"
        )
    if body:
        raise DataError(
            f"{label}: cells {_listed(body)} are merged; unmerge them and fill in every cell "
            "(a merged range holds its value in its first cell only)"
        )


def _find_header(rows: list[tuple[Any, ...]], table: str) -> int | None:
    """Index of the header row: the first filled row that holds a contract column
    name of ``table`` (within the first filled rows), else the first filled row."""
    names = frozenset(next(t.names for t in TABLES if t.name == table))
    first = None
    seen = 0
    for i, r in enumerate(rows):
        texts = [_cell_text(v).strip() for v in r]
        if not any(texts):
            continue
        if first is None:
            first = i
        if names.intersection(texts):
            return i
        seen += 1
        if seen >= _HEADER_SEARCH_ROWS:
            break
    return first


def _read_sheet(ws: Any, label: str, table: str, odd: _SheetOddities | None = None) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = [tuple(r) for r in ws.iter_rows(min_row=1, values_only=True)]
    except Exception as exc:  # a corrupt sheet part: openpyxl raises many types
        raise DataError(f"{label} could not be read: {_short(exc)}") from None
    header_at = _find_header(rows, table)
    if header_at is None:
        raise DataError(f"{label} is empty")
    _check_oddities(odd, header_at + 1, label)
    header = [_cell_text(v).strip() for v in rows[header_at]]
    body = rows[header_at + 1 :]
    width = max([len(header), *(len(r) for r in body)])
    header += [""] * (width - len(header))
    cells = [[_cell_text(v) for v in r] + [""] * (width - len(r)) for r in body]
    _check_duplicate_names([h for h in header if h != ""], label)
    names = [h if h != "" else f"{_UNNAMED}{i}" for i, h in enumerate(header)]
    frame = pd.DataFrame(cells, columns=names, dtype=object)
    frame = frame.astype(str) if len(frame) else frame
    unnamed = frozenset(n for n, h in zip(names, header, strict=True) if h == "")
    # spreadsheet rows: header_at is 0-based, data starts one below the header
    rownums = np.arange(header_at + 2, header_at + 2 + len(frame))
    return _finish(frame, rownums, label, unnamed)


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def _check_duplicate_names(names: list[str], label: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen and n != "":
            raise DataError(f"{label}: column {n!r} appears more than once in the header")
        seen.add(n)


def _finish(
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


def _frame_to_text(frame: pd.DataFrame) -> pd.DataFrame:
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
        lookup = np.array([*(_cell_text(u) for u in uniques), ""], dtype=object)
        return pd.Series(lookup[codes], index=series.index, dtype=str)
    return pd.Series([_cell_text(v) for v in values], index=series.index, dtype=str)


def _floats_to_text(arr: np.ndarray) -> np.ndarray:
    out = np.full(arr.shape, "", dtype=object)
    finite = np.isfinite(arr)
    integral = finite & (np.floor(arr) == arr) & (np.abs(arr) < 1e15)
    out[integral] = arr[integral].astype(np.int64).astype(str)
    other = ~np.isnan(arr) & ~integral
    out[other] = arr[other].astype(str)
    return out


def _cell_text(v: Any) -> str:
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
