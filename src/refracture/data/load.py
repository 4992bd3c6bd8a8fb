"""Reading a cohort from disk, every cell as text.

:func:`read_raw` accepts

* a folder with ``patients.csv`` and ``levels.csv`` (UTF-8, with or without BOM),
* a folder with ``patients.parquet`` and ``levels.parquet``,
* an ``.xlsx`` workbook with sheets ``patients`` and ``levels``, or a folder that
  contains exactly one ``.xlsx`` workbook,
* an import mapping (``.yml``/``.yaml``): a study's own export (REDCap, SPSS, Stata,
  SAS, a wide spreadsheet) read through :mod:`refracture.data.importing`, whose tables
  carry the way back to each source cell (:attr:`RawCohort.origins`),

and returns a :class:`RawCohort` whose two tables hold the cells as text, exactly
as written (blank = ``""``); nothing is converted or dropped except rows that are
entirely blank and extra columns that look like personal identifiers (names, dates
of birth, record numbers, addresses, phone numbers, e-mail addresses; see
:func:`is_identifier_column`): those are dropped right after reading, their values
never leave this module, and a :class:`LoadNote` per dropped column becomes a
warning of the validation report. Typing and checking the cells is
:mod:`refracture.data.validate`'s job. Anything that prevents reading raises
:class:`~refracture.errors.DataError` with a one-line message naming the file.

The formats are read by :mod:`refracture.data.csv_reader`,
:mod:`refracture.data.parquet_reader` and :mod:`refracture.data.xlsx_reader` (which say
what each accepts and refuses), their cells converted by :mod:`refracture.data.text`;
this module finds the tables, names their source and drops identifier columns.

The index of each table is the row number as the user sees it in a spreadsheet
(header = row 1, first data row = 2), named ``_row``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd

from refracture.data.csv_reader import read_csv_table
from refracture.data.identifiers import is_identifier_column
from refracture.data.parquet_reader import read_parquet_table
from refracture.data.schema import TABLES
from refracture.data.text import frame_to_text
from refracture.data.xlsx_reader import read_workbook
from refracture.errors import DataError

if TYPE_CHECKING:
    from refracture.data.importing.run import ImportedTables
    from refracture.data.origin import TableOrigin

__all__ = [
    "Format",
    "LoadNote",
    "RawCohort",
    "Source",
    "cohort_from_import",
    "is_identifier_column",
    "read_raw",
]

Format = Literal["csv", "xlsx", "parquet", "mapping"]

MAPPING_SUFFIXES = (".yml", ".yaml")
"""A cohort path with one of these suffixes is an import mapping."""

_TABLE_NAMES: tuple[str, ...] = tuple(t.name for t in TABLES)


@dataclass(frozen=True)
class Source:
    """Where a cohort was read from.

    ``extra_inputs`` are further files the tables were made from, as (role, file name,
    path): an import's mapping and data dictionary, recorded in a build's provenance."""

    path: Path
    format: Format
    patients_file: str
    levels_file: str
    patients_path: Path
    levels_path: Path
    extra_inputs: tuple[tuple[str, str, Path], ...] = ()

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
# Identifier-like extra columns (recognised by refracture.data.identifiers)
# ---------------------------------------------------------------------------


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
    ``origins`` holds, for tables made by an import mapping, where each row and cell
    came from (validation then names the source cells).
    """

    patients: pd.DataFrame
    levels: pd.DataFrame
    source: Source
    notes: tuple[LoadNote, ...] = ()
    origins: Mapping[str, TableOrigin] = field(default_factory=dict)

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
            patients=frame_to_text(patients.reset_index(drop=True)),
            levels=frame_to_text(levels.reset_index(drop=True)),
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
        if path.suffix.lower() in MAPPING_SUFFIXES:
            from refracture.data.importing.run import import_mapping

            return cohort_from_import(import_mapping(path))
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
    "expected a folder with patients.csv and levels.csv (or .parquet files), an .xlsx "
    "workbook, or an import mapping (.yml)"
)


def cohort_from_import(imported: ImportedTables) -> RawCohort:
    """The cohort an import mapping made: its tables, their origins, its source files."""
    source = Source(
        path=imported.mapping_path,
        format="mapping",
        patients_file=imported.labels["patients"],
        levels_file=imported.labels["levels"],
        patients_path=imported.paths["patients"],
        levels_path=imported.paths["levels"],
        extra_inputs=imported.extra_inputs,
    )
    return RawCohort(
        imported.tables["patients"], imported.tables["levels"], source, origins=imported.origins
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
    reader = read_csv_table if ext == "csv" else read_parquet_table
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


def _read_xlsx(path: Path, given: Path) -> RawCohort:
    frames = read_workbook(path)
    source = Source(
        path=given,
        format="xlsx",
        patients_file=f"{path.name}[patients]",
        levels_file=f"{path.name}[levels]",
        patients_path=path,
        levels_path=path,
    )
    return RawCohort(frames["patients"], frames["levels"], source)
