"""REDCap: the data dictionary and the records export, raw or with labels.

The **data dictionary** (Project Setup → Data Dictionary → download; or the API's
metadata export) lists each field with its form, type, label, choices and whether it
is an identifier. Choice fields (dropdown, radio, checkbox) give their choices as
``1, Female | 2, Male``; ``yesno`` fields are coded ``1, Yes | 0, No``, ``truefalse``
fields ``1, True | 0, False``; a checkbox exports one column per choice
(``meds___2``), ticked ``1``/``Checked``. Both the download's headers (``Variable /
Field Name``, ``Choices, Calculations, OR Slider Labels``, ``Identifier?``) and the
API's (``field_name``, ``select_choices_or_calculations``, ``identifier``) are read.

The **records export** (CSV) has one row per record and, in a project with repeating
instruments, one more row per instance of each repeating instrument: those rows name
the instrument in ``redcap_repeat_instrument`` and number the instance in
``redcap_repeat_instance``, with the record's other fields blank. A "raw" export holds
variable names and choice codes; a "labels" export field labels as headers (a
repeated ``Complete?`` per form) and choice labels as values. Headers of a labels
export are turned back into variable names through the dictionary (a label that
names several fields is kept as written), so one mapping reads either export; the
values resolve through the dictionary's choices either way
(:mod:`refracture.data.importing.values`).

Fields the dictionary flags as identifiers, and columns whose names look like one, are
dropped on reading (by name; their values are never read into a cohort).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from refracture.data.importing.sources import SourceTable
from refracture.data.raw_table import short_error
from refracture.errors import DataError

__all__ = [
    "INSTANCE",
    "INSTRUMENT",
    "Dictionary",
    "Field",
    "normalise_name",
    "read_dictionary",
    "read_export",
    "split_rows",
]

INSTRUMENT = "redcap_repeat_instrument"
INSTANCE = "redcap_repeat_instance"
_SPECIAL_HEADERS = {
    "repeat instrument": INSTRUMENT,
    "repeat instance": INSTANCE,
    "event name": "redcap_event_name",
    "data access group": "redcap_data_access_group",
    "survey identifier": "redcap_survey_identifier",
}
_DICTIONARY_HEADERS = {
    "variablefieldname": "name",
    "fieldname": "name",
    "formname": "form",
    "fieldtype": "type",
    "fieldlabel": "label",
    "choicescalculationsorsliderlabels": "choices",
    "selectchoicesorcalculations": "choices",
    "identifier": "identifier",
}
_CHOICE_TYPES = frozenset({"dropdown", "radio", "checkbox"})
_FIXED_CHOICES = {
    "yesno": {"1": "Yes", "0": "No"},
    "truefalse": {"1": "True", "0": "False"},
}
_CHECKBOX = {"1": "Checked", "0": "Unchecked"}


def normalise_name(text: str) -> str:
    """An instrument or label compared loosely: ``"Vertebral Levels"`` is
    ``vertebral_levels``, as REDCap makes a form name from its label."""
    return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_")


def _squash(text: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", text).split()).casefold()


@dataclass(frozen=True)
class Field:
    name: str
    form: str
    type: str
    label: str
    choices: dict[str, str]
    identifier: bool


@dataclass(frozen=True)
class Dictionary:
    """A REDCap data dictionary: its fields in order (the first is the record id)."""

    file: str
    fields: dict[str, Field]

    @property
    def record_id(self) -> str:
        return next(iter(self.fields))

    def _checkbox(self, column: str) -> tuple[Field, str] | None:
        name, sep, code = column.partition("___")
        f = self.fields.get(name)
        if sep and f is not None and f.type == "checkbox":
            return f, code
        return None

    def field_of(self, column: str) -> Field | None:
        """The field an export column belongs to (a checkbox choice's column too)."""
        if column in self.fields:
            return self.fields[column]
        box = self._checkbox(column)
        return box[0] if box else None

    def value_labels(self, column: str) -> dict[str, str] | None:
        f = self.fields.get(column)
        if f is not None:
            return f.choices or None
        return dict(_CHECKBOX) if self._checkbox(column) else None

    def column_label(self, column: str) -> str | None:
        f = self.fields.get(column)
        if f is not None:
            return f.label
        box = self._checkbox(column)
        if box is None:
            return None
        f, code = box
        choice = next((lab for c, lab in f.choices.items() if _code(c) == code), code)
        return f"{f.label} (choice={choice})"

    def identifiers(self) -> set[str]:
        return {n for n, f in self.fields.items() if f.identifier}


def _code(code: str) -> str:
    """A checkbox choice code as REDCap writes it in the column name."""
    return re.sub(r"[^a-z0-9]", "_", code.casefold())


def _choices(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split("|"):
        code, sep, label = item.partition(",")
        if sep and code.strip():
            out.setdefault(code.strip(), label.strip())
    return out


def read_dictionary(path: Path) -> Dictionary:
    """The data dictionary at ``path`` (CSV)."""
    from refracture.data.csv_reader import read_csv_table

    if not path.is_file():
        raise DataError(f"{path.name}: no such file (the REDCap data dictionary)")
    frame = read_csv_table(path, path.name)
    columns = {}
    for col in frame.columns:
        key = _DICTIONARY_HEADERS.get(re.sub(r"[^a-z]", "", str(col).casefold()))
        if key is not None:
            columns.setdefault(key, str(col))
    if "name" not in columns or "type" not in columns:
        raise DataError(
            f"{path.name} is not a REDCap data dictionary: it has no 'Variable / Field Name' "
            "and 'Field Type' columns (download it from Project Setup → Data Dictionary)"
        )
    fields: dict[str, Field] = {}
    for _, row in frame.iterrows():

        def get(key: str, row: pd.Series = row) -> str:
            return str(row[columns[key]]).strip() if key in columns else ""

        name, kind = get("name"), get("type").casefold()
        if not name or kind == "descriptive":
            continue
        choices = _choices(get("choices")) if kind in _CHOICE_TYPES else {}
        fields[name] = Field(
            name=name,
            form=get("form"),
            type=kind,
            label=get("label"),
            choices=_FIXED_CHOICES.get(kind, choices),
            identifier=get("identifier").casefold() in ("y", "yes", "1"),
        )
    if not fields:
        raise DataError(f"{path.name}: the data dictionary lists no fields")
    return Dictionary(path.name, fields)


def _variable_names(header: list[str], dictionary: Dictionary | None) -> list[str]:
    """The export's header as variable names (a labels export's field labels turned back)."""
    if dictionary is None or dictionary.record_id in header:
        return header
    by_label: dict[str, list[str]] = {}
    for f in dictionary.fields.values():
        if f.type == "checkbox":
            for code, lab in f.choices.items():
                key = _squash(f"{f.label} (choice={lab})")
                by_label.setdefault(key, []).append(f"{f.name}___{_code(code)}")
        else:
            by_label.setdefault(_squash(f.label), []).append(f.name)
    out: list[str] = []
    form = None
    for h in header:
        key = _squash(h)
        names = by_label.get(key, [])
        if key in _SPECIAL_HEADERS:
            out.append(_SPECIAL_HEADERS[key])
        elif key == "complete?" and form:
            out.append(f"{form}_complete")
        elif len(names) == 1:
            out.append(names[0])
            field = dictionary.field_of(names[0])
            form = field.form if field is not None else form
        else:
            out.append(h)
    return out


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out


def read_export(path: Path, dictionary: Dictionary | None) -> SourceTable:
    """The records export at ``path`` (CSV, raw or labels), headers as variable names."""
    label = path.name
    if not path.is_file():
        raise DataError(f"{label}: no such file (the REDCap records export)")
    try:
        cells = pd.read_csv(
            path,
            dtype=str,
            header=None,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except UnicodeDecodeError:
        raise DataError(
            f"{label} is not UTF-8 text; export the records again from REDCap as CSV"
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{label} is empty") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{label} could not be read as CSV: {short_error(exc)}") from None
    header = [str(h).strip() for h in cells.iloc[0].tolist()]
    frame = cells.iloc[1:].copy()
    frame.columns = pd.Index(_unique(_variable_names(header, dictionary)))
    frame.index = pd.Index(np.arange(2, len(frame) + 2, dtype=np.int64), name="_row")
    blank = (frame.apply(lambda c: c.str.strip()) == "").all(axis=1)
    frame = frame.loc[~blank]
    table = SourceTable(label, label, path, frame, labels_from="the data dictionary")
    if dictionary is not None:
        for col in table.columns:
            labels = dictionary.value_labels(col)
            if labels:
                table.value_labels[col] = labels
            text = dictionary.column_label(col)
            if text:
                table.column_labels[col] = text
        flagged = {
            c: "an identifier flagged in the data dictionary"
            for c in table.columns
            if (f := dictionary.field_of(c)) is not None and f.identifier
        }
        table.drop_identifiers(flagged)
    else:
        table.drop_identifiers()
    return table


@dataclass(frozen=True)
class SplitRows:
    """The export's rows by what they hold."""

    record_rows: SourceTable
    instance_rows: SourceTable | None
    instruments: dict[str, int]  # repeating instruments found: rows each
    other_rows: int


def _subset(table: SourceTable, mask: np.ndarray, where: np.ndarray) -> SourceTable:
    return SourceTable(
        table.label,
        table.file,
        table.path,
        table.frame.loc[mask],
        value_labels=table.value_labels,
        labels_from=table.labels_from,
        column_labels=table.column_labels,
        identifiers=table.identifiers,
        where=where[mask],
    )


def split_rows(table: SourceTable, record_id: str, instrument: str | None) -> SplitRows:
    """Record rows (no repeating instrument) and the rows of instances of ``instrument``,
    each described as the user finds it: ``record P0003 (row 4)``, ``record P0003,
    instance 2 (row 9)``."""
    frame = table.frame
    n = len(frame)
    ids = frame[record_id].to_numpy(dtype=object) if record_id in frame else np.full(n, "")
    rows = np.asarray(frame.index, dtype=np.int64)
    repeat = (
        frame[INSTRUMENT].str.strip().to_numpy(dtype=object)
        if INSTRUMENT in frame
        else np.full(n, "", dtype=object)
    )
    instance = (
        frame[INSTANCE].str.strip().to_numpy(dtype=object)
        if INSTANCE in frame
        else np.full(n, "", dtype=object)
    )
    where = np.array(
        [
            f"record {i.strip()} (row {r})"
            if not rep
            else f"record {i.strip()}, instance {k} (row {r})"
            for i, r, rep, k in zip(
                ids.tolist(), rows.tolist(), repeat.tolist(), instance.tolist(), strict=True
            )
        ],
        dtype=object,
    )
    records = repeat == ""
    found: dict[str, int] = {}
    for name in repeat[~records].tolist():
        found[name] = found.get(name, 0) + 1
    wanted = None if instrument is None else normalise_name(instrument)
    mine = np.array(
        [bool(wanted) and normalise_name(r) == wanted for r in repeat.tolist()], dtype=bool
    )
    return SplitRows(
        record_rows=_subset(table, records, where),
        instance_rows=_subset(table, mine, where) if wanted else None,
        instruments=found,
        other_rows=int((~records & ~mine).sum()),
    )
