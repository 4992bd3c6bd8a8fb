"""The whole import: a mapping and its source files in, contract-format tables out.

:func:`import_mapping` reads the mapping (:mod:`~.mapping`, its shape), checks it
against the contract and the source, then builds the two tables:

* **against the contract**: every key of ``patients``/``levels`` is a contract column of
  that table, every required one is mapped (``levels.patient_id`` and ``level`` come by
  themselves from a REDCap instance's record and a wide level's columns), ``scale``,
  ``offset`` and ``round`` are given to number columns only, and every target of a
  ``values:`` map is a value the column accepts;
* **against the source**: the files can be read, every source column exists (a name
  that differs in case only is named), none is an identifier (a REDCap field flagged
  so, or a name such as ``mrn`` or ``dob``: those are never copied into a cohort), a
  REDCap field feeds the table its form fills (the level columns come from the
  repeating instrument), the repeating instrument has rows, and every wide pattern has
  ``{level}`` and matches columns.

Every problem of both kinds is collected and raised together as one
:class:`~refracture.errors.ConfigProblems` (``mapping.yml: patients.sexe: unknown
contract column …``). Problems with the *values* are not the mapping's: they are
validation's, which reports them at their source cells (:mod:`refracture.data.origin`).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path

from refracture.data import schema as S
from refracture.data.importing.assemble import (
    ColumnUse,
    WideLevel,
    find_column,
    long_table,
    wide_levels,
)
from refracture.data.importing.mapping import ColumnSpec, LoadedMapping, load_mapping
from refracture.data.importing.redcap import (
    INSTANCE,
    INSTRUMENT,
    Dictionary,
    normalise_name,
    read_dictionary,
    read_export,
    split_rows,
)
from refracture.data.importing.sources import KINDS, TABLE_SUFFIXES, SourceTable, read_table
from refracture.data.importing.values import Recode, contract_value, target_problem
from refracture.data.origin import TableOrigin
from refracture.errors import ConfigProblems, DataError

__all__ = ["ImportSummary", "ImportedTables", "import_mapping"]


@dataclass(frozen=True)
class ImportSummary:
    """What an import read, did and left out (:mod:`~.report` writes it out)."""

    mapping: str
    kind: str
    files: list[tuple[str, str]]
    rows: list[tuple[str, str, int, int]]
    uses: list[ColumnUse]
    recodes: list[tuple[str, str, Recode]]
    unused: list[str]
    identifiers: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportedTables:
    """The contract tables an import made, with their origins and source files."""

    mapping_path: Path
    tables: dict[str, object]
    origins: dict[str, TableOrigin]
    labels: dict[str, str]
    paths: dict[str, Path]
    extra_inputs: tuple[tuple[str, str, Path], ...]
    summary: ImportSummary


class _Problems:
    def __init__(self, label: str) -> None:
        self.label = label
        self.lines: list[str] = []

    def add(self, key: str, message: str) -> None:
        line = f"{self.label}: {key}: {message}"
        if line not in self.lines:
            self.lines.append(line)


def _did_you_mean(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


# ---------------------------------------------------------------------------
# Against the contract
# ---------------------------------------------------------------------------


def _implicit_levels_columns(m: LoadedMapping) -> set[str]:
    """Level columns the source gives by itself (never mapped by hand)."""
    lv = m.spec.levels
    if lv.wide is not None:
        return {"patient_id", "level"}
    if m.spec.format == "redcap":
        return {"patient_id"}
    return set()


def _check_contract(m: LoadedMapping, out: _Problems) -> list[WideLevel]:
    """Check the mapping against the contract; return the wide layout's levels."""
    _check_layout(m, out)
    _check_columns(m, out)
    return _wide_levels(m, out)


def _check_layout(m: LoadedMapping, out: _Problems) -> None:
    """The options fit the format: where the levels come from, sheets, catalogs."""
    spec, lv = m.spec, m.spec.levels
    if spec.format == "redcap":
        if lv.records is not None:
            out.add(
                "levels.records",
                "a REDCap export holds the levels itself: give "
                "levels.repeating_instrument or levels.wide",
            )
        if (lv.repeating_instrument is None) == (lv.wide is None):
            out.add(
                "levels",
                "give repeating_instrument (each instance of it is a level row) "
                "or wide (a column per level in the record's row), one of them",
            )
        for key in ("sheet", "catalog"):
            if getattr(spec, key) is not None:
                out.add(key, "not for a REDCap export (format: table files only)")
        if m.records.suffix.lower() != ".csv":
            out.add("records", f"a REDCap records export is a .csv file (got {m.records.name})")
    else:
        if spec.dictionary is not None:
            out.add(
                "dictionary",
                "only for format: redcap (a table's value labels are read from the file itself)",
            )
        if lv.repeating_instrument is not None:
            out.add("levels.repeating_instrument", "only for format: redcap")
        if (lv.records is None) == (lv.wide is None):
            out.add(
                "levels",
                "give wide (a column per level in the patients' rows) or "
                "records (a second file with a row per level), one of them",
            )
        for key, path in (("records", m.records), ("levels.records", m.levels_records)):
            if path is not None and path.suffix.lower() not in TABLE_SUFFIXES:
                out.add(
                    key, f"cannot read {path.name}: expected one of {', '.join(TABLE_SUFFIXES)}"
                )
        if spec.sheet is not None and m.records.suffix.lower() != ".xlsx":
            out.add("sheet", "only for an .xlsx workbook")
        if lv.sheet is not None and (
            m.levels_records is None or m.levels_records.suffix.lower() != ".xlsx"
        ):
            out.add("levels.sheet", "only for an .xlsx workbook given as levels.records")
        if spec.catalog is not None and m.records.suffix.lower() != ".sas7bdat":
            out.add("catalog", "only for a .sas7bdat file (its format catalog)")
    if lv.sheet is not None and spec.format == "redcap":
        out.add("levels.sheet", "not for a REDCap export")


def _check_columns(m: LoadedMapping, out: _Problems) -> None:
    """Every key is a contract column, every required one is mapped, every spec fits."""
    spec, lv = m.spec, m.spec.levels
    sections = [("patients", S.PATIENTS, spec.patients, "patients")]
    if lv.wide is not None:
        for key in lv.columns:
            out.add(f"levels.{key}", "with wide, the level columns go under levels.wide.columns")
        sections.append(("levels.wide.columns", S.LEVELS, lv.wide.columns, "levels"))
    else:
        sections.append(("levels", S.LEVELS, lv.columns, "levels"))
    implicit = _implicit_levels_columns(m)
    for where, table, columns, name in sections:
        names = list(table.names)
        for key, col_spec in columns.items():
            if key not in names:
                out.add(
                    f"{where}.{key}",
                    f"unknown contract column ({_did_you_mean(key, names)}"
                    f"{name} columns: {', '.join(names)})",
                )
                continue
            if name == "levels" and lv.wide is not None and key in implicit:
                out.add(
                    f"{where}.{key}",
                    f"comes from the wide layout itself ({key} is not a column per level)",
                )
                continue
            _check_spec(f"{where}.{key}", table.column(key), col_spec, out)
        for col in table.columns:
            if (
                col.presence is S.Presence.REQUIRED
                and col.name not in columns
                and not (name == "levels" and col.name in implicit)
            ):
                out.add(
                    where,
                    f"{col.name} is required by the data contract ({col.description}) "
                    "but not mapped",
                )


def _wide_levels(m: LoadedMapping, out: _Problems) -> list[WideLevel]:
    """The levels of a wide layout, each a contract level once; patterns with {level}."""
    lv = m.spec.levels
    levels: list[WideLevel] = []
    if lv.wide is not None:
        level_col = S.LEVELS.column("level")
        seen: dict[str, str] = {}
        for i, listed in enumerate(lv.wide.levels):
            code = contract_value(level_col, listed)
            if code is None:
                out.add(
                    f"levels.wide.levels[{i}]", f"{listed!r} is no vertebral level (T1…T12, L1…L5)"
                )
            elif code in seen:
                out.add(
                    f"levels.wide.levels[{i}]",
                    f"{listed!r} is {code} again (listed as {seen[code]!r})",
                )
            else:
                seen[code] = listed
                levels.append(WideLevel(listed, code))
        for key, col_spec in lv.wide.columns.items():
            if "{level}" not in col_spec.column:
                out.add(
                    f"levels.wide.columns.{key}",
                    f"the pattern {col_spec.column!r} has no {{level}} (e.g. tscore_{{level}})",
                )
    return levels


def _check_spec(key: str, col: S.Column, spec: ColumnSpec, out: _Problems) -> None:
    if col.kind is not S.Kind.NUMBER:
        for option in ("scale", "offset", "round"):
            if getattr(spec, option) is not None:
                out.add(
                    f"{key}.{option}", f"only for number columns ({col.name} is {col.kind.value})"
                )
    for source, target in (spec.values or {}).items():
        why = target_problem(col, target)
        if why is not None:
            out.add(f"{key}.values", f"{source!r} maps to {target!r}, but {col.name} {why}")


# ---------------------------------------------------------------------------
# Against the source
# ---------------------------------------------------------------------------


@dataclass
class _Sources:
    kind: str
    patients: SourceTable
    levels: SourceTable | None
    dictionary: Dictionary | None = None
    files: list[tuple[str, str]] = field(default_factory=list)
    rows: dict[str, tuple[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    bookkeeping: set[str] = field(default_factory=set)
    all_columns: list[str] = field(default_factory=list)
    identifiers: dict[str, str] = field(default_factory=dict)
    record_id: str | None = None  # REDCap: the column every row of a record carries


def _header_names(m: LoadedMapping) -> frozenset[str]:
    names = {s.column for s in m.spec.patients.values()}
    lv = m.spec.levels
    if lv.wide is not None:
        names |= {
            s.column.replace("{level}", level)
            for s in lv.wide.columns.values()
            for level in lv.wide.levels
        }
    return frozenset(names)


def _read(m: LoadedMapping, out: _Problems) -> _Sources | None:
    spec, lv = m.spec, m.spec.levels
    if spec.format == "redcap":
        return _read_redcap(m, out)
    try:
        patients = read_table(
            m.records, sheet=spec.sheet, catalog=m.catalog, header_names=_header_names(m)
        )
    except DataError as exc:
        out.add("records", str(exc))
        return None
    levels = None
    files = [("records", patients.label)]
    if lv.records is not None and m.levels_records is not None:
        names = frozenset(s.column for s in lv.columns.values())
        try:
            levels = read_table(m.levels_records, sheet=lv.sheet, header_names=names)
        except DataError as exc:
            out.add("levels.records", str(exc))
            return None
        files.append(("levels.records", levels.label))
    kind = KINDS.get(m.records.suffix.lower(), "a table")
    if lv.wide is not None:
        kind += " with a row per patient and a column per level"
    else:
        kind += " of patients and a second file of levels"
    src = _Sources(kind, patients, levels, files=files)
    src.rows["patients"] = (f"{patients.row_word}s of {patients.label}", len(patients.frame))
    if levels is not None:
        src.rows["levels"] = (f"{levels.row_word}s of {levels.label}", len(levels.frame))
    src.all_columns = patients.columns + (levels.columns if levels is not None else [])
    src.identifiers = {**patients.identifiers, **(levels.identifiers if levels else {})}
    return src


def _read_redcap(m: LoadedMapping, out: _Problems) -> _Sources | None:
    dictionary = None
    if m.dictionary is not None:
        try:
            dictionary = read_dictionary(m.dictionary)
        except DataError as exc:
            out.add("dictionary", str(exc))
    try:
        export = read_export(m.records, dictionary)
    except DataError as exc:
        out.add("records", str(exc))
        return None
    columns = export.columns
    record_id = (
        dictionary.record_id
        if dictionary and dictionary.record_id in columns
        else (columns[0] if columns else "")
    )
    lv = m.spec.levels
    split = split_rows(export, record_id, lv.repeating_instrument)
    files = [("records", export.label)]
    if dictionary is not None:
        files.append(("dictionary", dictionary.file))
    kind = "a REDCap records export" + (" with its data dictionary" if dictionary else "")
    src = _Sources(kind, split.record_rows, split.instance_rows, dictionary, files)
    src.rows["patients"] = (
        "records (rows without a repeating instrument)",
        len(split.record_rows.frame),
    )
    if lv.repeating_instrument is not None:
        n = len(split.instance_rows.frame) if split.instance_rows is not None else 0
        src.rows["levels"] = (f"instances of {lv.repeating_instrument}", n)
        if n == 0:
            found = ", ".join(sorted(split.instruments)) or "none"
            out.add(
                "levels.repeating_instrument",
                f"{export.label} has no rows of the repeating "
                f"instrument {lv.repeating_instrument!r} (repeating instruments found: "
                f"{found})",
            )
    others = {
        k: v
        for k, v in split.instruments.items()
        if normalise_name(k) != normalise_name(lv.repeating_instrument or "")
    }
    for name, count in sorted(others.items()):
        src.notes.append(
            f"{count} row{'s' if count != 1 else ''} of the repeating instrument "
            f"{name} not read (no level rows)"
        )
    src.bookkeeping = {c for c in columns if c.startswith("redcap_") or c.endswith("_complete")}
    src.all_columns = columns
    src.identifiers = dict(export.identifiers)
    src.record_id = record_id
    if dictionary is None:
        src.notes.append(
            "no data dictionary: choice codes resolve only through the mapping's "
            "values and the contract's synonyms"
        )
    return src


def _missing_column(name: str, table: SourceTable) -> str:
    """Why ``name`` is no column of ``table``, with the column it may have meant."""
    text = f"no column {name!r} in {table.label}"
    folded = find_column(name, table.columns)
    if folded is not None:
        return f"{text}; found {folded!r} (column names are case-sensitive here)"
    close = _did_you_mean(name, table.columns).strip()
    return f"{text}; {close}" if close else text


def _check_form(
    where: str, section: str, name: str, m: LoadedMapping, src: _Sources, out: _Problems
) -> None:
    """A REDCap field feeds the table its form fills: level columns come from the
    repeating instrument, patient columns from the other forms."""
    instrument = m.spec.levels.repeating_instrument
    if src.dictionary is None or instrument is None:
        return
    f = src.dictionary.field_of(name)
    if f is None or not f.form or name == src.dictionary.record_id:
        return
    on_repeating = normalise_name(f.form) == normalise_name(instrument)
    if section == "levels" and not on_repeating:
        out.add(
            where,
            f"field {name!r} is on the form {f.form}, not on the repeating instrument "
            f"{instrument} (its cells are blank on the instance rows)",
        )
    if section == "patients" and on_repeating:
        out.add(
            where,
            f"field {name!r} is on the repeating instrument {instrument} (its cells are "
            "blank on the record rows)",
        )


def _check_sources(m: LoadedMapping, src: _Sources, out: _Problems) -> None:
    """Every source column exists, none is an identifier, each is on the right form,
    every wide pattern matches columns."""
    lv = m.spec.levels
    checks: list[tuple[str, SourceTable, dict[str, ColumnSpec]]] = [
        ("patients", src.patients, m.spec.patients)
    ]
    if lv.wide is None:
        checks.append(("levels", src.levels or src.patients, lv.columns))
    for section, table, specs in checks:
        for key, col_spec in specs.items():
            if key not in S.table(section).names:
                continue  # an unknown contract column: reported already
            name, where = col_spec.column, f"{section}.{key}"
            if name in src.identifiers:
                out.add(
                    where,
                    f"{name!r} looks like it holds {src.identifiers[name]} (a personal "
                    "identifier); refracture never copies one into the cohort: map a "
                    "pseudonymous study id",
                )
            elif name not in table.columns:
                out.add(where, _missing_column(name, table))
            else:
                _check_form(where, section, name, m, src, out)
    if lv.wide is None:
        return
    for key, col_spec in lv.wide.columns.items():
        if "{level}" not in col_spec.column or key not in S.LEVELS.names:
            continue
        names = [col_spec.column.replace("{level}", level) for level in lv.wide.levels]
        flagged = [n for n in names if n in src.identifiers]
        where = f"levels.wide.columns.{key}"
        if flagged:
            out.add(
                where,
                f"{flagged[0]!r} looks like it holds {src.identifiers[flagged[0]]} (a "
                "personal identifier)",
            )
        elif all(find_column(n, src.patients.columns) is None for n in names):
            out.add(
                where,
                f"{col_spec.column!r} matches no column of {src.patients.label} for any of "
                f"{', '.join(lv.wide.levels)}",
            )


# ---------------------------------------------------------------------------
# The import
# ---------------------------------------------------------------------------


def import_mapping(path: Path | str) -> ImportedTables:
    """Read the mapping at ``path`` and its source; return the contract tables.

    Raises :class:`~refracture.errors.ConfigProblems` listing every problem of the
    mapping (against the contract and the source) at once, and
    :class:`~refracture.errors.ConfigError` when the file cannot be read as a mapping.
    """
    m = load_mapping(path)
    out = _Problems(m.label)
    wide = _check_contract(m, out)
    src = _read(m, out)
    if src is not None:
        _check_sources(m, src, out)
    if out.lines:
        raise ConfigProblems(out.lines, what="the mapping")
    assert src is not None
    return _build(m, src, wide)


def _with_record_values(
    instances: SourceTable, records: SourceTable, record_id: str | None, column: str
) -> SourceTable:
    """``instances`` with ``column`` as its record's row has it: a REDCap instance row
    carries the record id and its own fields only, so a patient id kept in another
    field of the record (``study_id``) is looked up by the record id."""
    if record_id is None or column == record_id or column not in records.frame:
        return instances
    ids = records.frame[record_id].str.strip()
    lookup = dict(zip(ids.tolist(), records.frame[column].tolist(), strict=True))
    frame = instances.frame.copy()
    keys = frame[record_id].str.strip().tolist()
    frame[column] = [lookup.get(k, "") for k in keys]
    return dataclasses.replace(instances, frame=frame)


def _merged(table: str, recodes: list[tuple[str, Recode]]) -> list[tuple[str, str, Recode]]:
    """One line per recode of a column (a wide layout recodes each level's column on its
    own), its rows summed, the most frequent first, in the contract's column order."""
    rows: dict[tuple[str, str, str, str, str], int] = {}
    for column, r in recodes:
        key = (column, r.source, r.meaning, r.target, r.by)
        rows[key] = rows.get(key, 0) + r.rows
    names = S.table(table).names
    ordered = sorted(rows.items(), key=lambda kv: (names.index(kv[0][0]), -kv[1], kv[0][1]))
    return [
        (table, c, Recode(src, meaning, target, n, by))
        for (c, src, meaning, target, by), n in ordered
    ]


def _build(m: LoadedMapping, src: _Sources, wide: list[WideLevel]) -> ImportedTables:
    spec, lv = m.spec, m.spec.levels
    patients = long_table(S.PATIENTS, src.patients, spec.patients, m.label)
    pid = spec.patients["patient_id"]
    if lv.wide is not None:
        ids = (
            pid.column,
            src.patients.frame[pid.column].to_numpy(dtype=object),
            patients.frame["patient_id"].to_numpy(dtype=object),
        )
        levels, places = wide_levels(src.patients, lv.wide, wide, ids, m.label)
        read = (f"places (patient rows × {len(wide)} levels) of {src.patients.label}", places)
        levels_label = f"{src.patients.label} [level columns]"
        levels_path = m.records
    else:
        assert src.levels is not None
        specs = dict(lv.columns)
        rows = src.levels
        if "patient_id" not in specs:  # a REDCap instance belongs to its record's patient
            specs["patient_id"] = ColumnSpec(column=pid.column, values=pid.values)
            rows = _with_record_values(src.levels, src.patients, src.record_id, pid.column)
        levels = long_table(S.LEVELS, rows, specs, m.label)
        read = src.rows["levels"]
        if spec.format == "redcap":
            levels_label = f"{src.levels.label} [{lv.repeating_instrument}]"
            levels_path = m.records
        else:
            levels_label = src.levels.label
            levels_path = m.levels_records or m.records
    used = patients.used_columns | levels.used_columns
    unused = [
        c
        for c in dict.fromkeys(src.all_columns)
        if c not in used and c not in src.bookkeeping and c not in (INSTRUMENT, INSTANCE)
    ]
    extra = [("mapping", m.label, m.path)]
    if src.dictionary is not None and m.dictionary is not None:
        extra.append(("data dictionary", m.dictionary.name, m.dictionary))
    if m.catalog is not None:
        extra.append(("format catalog", m.catalog.name, m.catalog))
    summary = ImportSummary(
        mapping=m.label,
        kind=src.kind,
        files=src.files,
        rows=[
            ("patients", *src.rows["patients"], len(patients.frame)),
            ("levels", *read, len(levels.frame)),
        ],
        uses=patients.uses + levels.uses,
        recodes=_merged("patients", patients.recodes) + _merged("levels", levels.recodes),
        unused=unused,
        identifiers=sorted(src.identifiers.items()),
        notes=src.notes,
    )
    return ImportedTables(
        mapping_path=m.path,
        tables={"patients": patients.frame, "levels": levels.frame},
        origins={"patients": patients.origin, "levels": levels.origin},
        labels={"patients": src.patients.label, "levels": levels_label},
        paths={"patients": m.records, "levels": levels_path},
        extra_inputs=tuple(extra),
        summary=summary,
    )
