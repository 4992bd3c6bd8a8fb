"""Reading one source table of an import: spreadsheets, Parquet, SPSS, Stata and SAS files.

Every reader returns a :class:`SourceTable`: the cells as text (as the contract's
loader reads them, :mod:`refracture.data.text`), the row numbers the user sees in the
program the file belongs to (a spreadsheet's row, header = 1; SPSS's case number; Stata's
and SAS's observation number), the value labels and column labels the file carries,
and the identifier-like columns dropped right after reading (by name only: their values
never leave this module; :func:`~refracture.data.identifiers.is_identifier_column`).

CSV, XLSX and Parquet are read by the contract's own readers; ``.sav``, ``.zsav``,
``.por``, ``.dta``, ``.sas7bdat`` and ``.xpt`` by pyreadstat, with the values as stored
(codes, not labels) and the value labels beside them, so that a label resolves a code
(:mod:`refracture.data.importing.values`) and a code without a label is reported,
not dropped. SPSS and Stata user-missing values are read as blank, as those programs
treat them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from refracture.data.identifiers import is_identifier_column
from refracture.data.raw_table import check_duplicate_names, short_error
from refracture.data.text import cell_text, frame_to_text
from refracture.errors import DataError

__all__ = ["KINDS", "STAT_SUFFIXES", "TABLE_SUFFIXES", "SourceTable", "read_table"]

#: Statistics packages' files pyreadstat reads, and the word for a row in each.
STAT_SUFFIXES: dict[str, str] = {
    ".sav": "case",
    ".zsav": "case",
    ".por": "case",
    ".dta": "observation",
    ".sas7bdat": "observation",
    ".xpt": "observation",
}
TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".xlsx", ".parquet", *STAT_SUFFIXES)
#: What a file of each suffix is, in words.
KINDS: dict[str, str] = {
    ".csv": "a CSV file",
    ".xlsx": "an Excel workbook",
    ".parquet": "a Parquet file",
    ".sav": "an SPSS file",
    ".zsav": "an SPSS file",
    ".por": "an SPSS file",
    ".dta": "a Stata file",
    ".sas7bdat": "a SAS file",
    ".xpt": "a SAS transport file",
}


@dataclass(eq=False)
class SourceTable:
    """One table of the source, every cell as text.

    ``frame``'s index is the row number as the user sees it (``row_word`` says in
    what: ``"row"``, ``"case"``, ``"observation"``). ``value_labels`` maps a column to
    {value as text: label}; ``column_labels`` a column to its description (an SPSS
    variable label, a REDCap field label); ``identifiers`` the dropped identifier-like
    columns to what they look like they hold.
    """

    label: str
    file: str
    path: Path
    frame: pd.DataFrame
    row_word: str = "row"
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    labels_from: str = "the value labels"
    column_labels: dict[str, str] = field(default_factory=dict)
    identifiers: dict[str, str] = field(default_factory=dict)
    where: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.where is None:
            rows = np.asarray(self.frame.index, dtype=np.int64)
            self.where = np.array([f"{self.row_word} {r}" for r in rows.tolist()], dtype=object)

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def drop_identifiers(self, flagged: dict[str, str] | None = None) -> None:
        """Drop identifier-like columns (by name, or ``flagged`` by the source itself)."""
        found = dict(flagged or {})
        for col in self.columns:
            what = is_identifier_column(col)
            if what is not None:
                found.setdefault(col, what)
        found = {c: w for c, w in found.items() if c in self.frame.columns}
        if found:
            self.frame = self.frame.drop(columns=list(found))
            for col in found:
                self.value_labels.pop(col, None)
        self.identifiers.update(found)


def read_table(
    path: Path,
    *,
    sheet: str | None = None,
    catalog: Path | None = None,
    header_names: frozenset[str] = frozenset(),
) -> SourceTable:
    """The table at ``path`` (by its suffix: :data:`TABLE_SUFFIXES`), identifiers dropped.

    ``sheet`` picks a workbook's sheet (default: the first), ``catalog`` a SAS format
    catalog (``.sas7bcat``) with the value labels of a ``.sas7bdat``; ``header_names``
    are the columns a mapping reads, which find a spreadsheet's header row.
    """
    suffix = path.suffix.lower()
    if not path.is_file():
        raise DataError(
            f"{path.name}: no such file" if not path.exists() else f"{path.name}: not a file"
        )
    if suffix == ".csv":
        from refracture.data.csv_reader import read_csv_table

        table = SourceTable(path.name, path.name, path, read_csv_table(path, path.name))
    elif suffix == ".xlsx":
        from refracture.data.xlsx_reader import read_sheet

        frame, name = read_sheet(path, sheet, header_names)
        table = SourceTable(f"{path.name}[{name}]", path.name, path, frame)
    elif suffix == ".parquet":
        from refracture.data.parquet_reader import read_parquet_table

        table = SourceTable(path.name, path.name, path, read_parquet_table(path, path.name))
    elif suffix in STAT_SUFFIXES:
        table = _read_stat(path, catalog)
    else:
        raise DataError(
            f"{path.name}: cannot read {suffix or 'a file without a suffix'} files; "
            f"expected one of {', '.join(TABLE_SUFFIXES)}"
        )
    table.drop_identifiers()
    return table


def _read_stat(path: Path, catalog: Path | None) -> SourceTable:
    import pyreadstat

    suffix = path.suffix.lower()
    readers = {
        ".sav": pyreadstat.read_sav,
        ".zsav": pyreadstat.read_sav,
        ".por": pyreadstat.read_por,
        ".dta": pyreadstat.read_dta,
        ".sas7bdat": pyreadstat.read_sas7bdat,
        ".xpt": pyreadstat.read_xport,
    }
    kwargs: dict[str, object] = {}
    if suffix == ".sas7bdat" and catalog is not None:
        if not catalog.is_file():
            raise DataError(f"{catalog.name}: no such file (the SAS format catalog)")
        kwargs["catalog_file"] = str(catalog)
    try:
        frame, meta = readers[suffix](str(path), **kwargs)
    except Exception as exc:  # pyreadstat raises its own types and OSError alike
        raise DataError(f"{path.name} could not be read: {short_error(exc)}") from None
    names = [str(c) for c in frame.columns]
    check_duplicate_names(names, path.name)
    frame.columns = pd.Index(names)
    text = frame_to_text(frame)
    text.index = pd.Index(np.arange(1, len(text) + 1, dtype=np.int64), name="_row")
    value_labels = {
        str(col): {cell_text(k).strip(): str(v) for k, v in labels.items()}
        for col, labels in (getattr(meta, "variable_value_labels", None) or {}).items()
    }
    column_labels = {
        str(col): str(lab)
        for col, lab in (getattr(meta, "column_names_to_labels", None) or {}).items()
        if lab
    }
    return SourceTable(
        path.name,
        path.name,
        path,
        text,
        row_word=STAT_SUFFIXES[suffix],
        value_labels=value_labels,
        column_labels=column_labels,
    )
