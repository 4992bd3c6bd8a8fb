"""The mapping file: its schema, declared once, and its reading.

A mapping is YAML::

    format: redcap              # redcap | table
    records: export.csv         # redcap: the records export; table: .csv .xlsx .sav .dta
                                # .sas7bdat .parquet
    dictionary: dictionary.csv  # redcap: the data dictionary export (optional, advised)
    patients:                   # contract column: source column, or a spec
      patient_id: record_id
      sex: sex
      followup_months: {column: followup_days, scale: 0.03285421, round: 1}
    levels:
      repeating_instrument: vertebral_levels  # redcap: each instance is one level row
      level: vert_level
      treated: treated

or, for a row per patient with a column per level, ``levels: {wide: {levels: [T12, L1],
columns: {tscore: "tscore_{level}", treated: "treated_{level}"}}}``; a ``table`` may
also give its levels in a second file with a row per level (``levels: {records:
levels.sav, patient_id: pid, level: vertebra, ...}``).

A column spec is ``{column, values, scale, offset, round}``: ``values`` maps source
values (as written, or their labels) to contract values (a blank target leaves the
cell blank); a number is read as ``value × scale + offset``, rounded to ``round``
decimals. :func:`load_mapping` checks the file's shape with pydantic and reports every
problem at once as :class:`~refracture.errors.ConfigProblems` (``mapping.yml:
patients.sex.scale: must be a number (got 'x')``), as ``refracture.yml`` is reported;
what needs the contract or the source (an unknown contract column, a source column
that does not exist, a value mapped to no contract code) is checked by
:mod:`refracture.data.importing.run`, again all at once.

The file is read as YAML 1.2 reads booleans (only ``true``/``false``), so that ``Yes``,
``No``, ``on`` and ``off`` in a ``values:`` map stay the words the source holds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError
from pydantic import model_validator as _model_validator

from refracture.common.settings_file import StrictLoader, describe_error, dotted, read_yaml, show
from refracture.data.importing.inputs import resolve
from refracture.errors import ConfigError, ConfigProblems

__all__ = [
    "ColumnSpec",
    "LevelsSection",
    "LoadedMapping",
    "MappingFile",
    "WideSpec",
    "load_mapping",
    "value_text",
]


class MappingLoader(StrictLoader):
    """Strict YAML (no duplicate keys) with YAML 1.2 booleans."""


_BOOL = "tag:yaml.org,2002:bool"
MappingLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in StrictLoader.yaml_implicit_resolvers.items()
}
MappingLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def value_text(v: Any) -> str:
    """A YAML scalar of a ``values:`` map as the text a cell would hold: ``1`` and
    ``1.0`` are ``"1"``, ``true`` is ``"yes"``, ``null`` is blank."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isfinite(v) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    return str(v)


def _scalar(v: Any) -> Any:
    return value_text(v) if v is None or isinstance(v, bool | int | float | str) else v


def _spec(v: Any) -> Any:
    """A bare source column name is a spec with that column alone."""
    return {"column": v} if isinstance(v, str) else v


Text = Annotated[str, Strict(), Field(min_length=1)]
Scalar = Annotated[str, BeforeValidator(_scalar)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Model):
    """How one contract column is filled from one source column (in ``wide``: a
    pattern with ``{level}``)."""

    column: Text
    values: dict[Scalar, Scalar] | None = None
    scale: Finite | None = None
    offset: Finite | None = None
    round: Annotated[int, Strict(), Field(ge=0, le=12)] | None = None


Spec = Annotated[ColumnSpec, BeforeValidator(_spec)]


class WideSpec(_Model):
    """Levels as columns of the patient row: ``columns`` maps contract columns to
    source column patterns with ``{level}``, filled in for each of ``levels``."""

    levels: Annotated[list[Text], Field(min_length=1)]
    columns: Annotated[dict[str, Spec], Field(min_length=1)]


_LEVEL_OPTIONS = ("repeating_instrument", "wide", "records", "sheet")


class LevelsSection(_Model):
    """Where the level rows come from, and the contract's level columns (every key
    that is not an option is a contract column; they are kept in ``columns``)."""

    repeating_instrument: Text | None = None
    wide: WideSpec | None = None
    records: Text | None = None
    sheet: Text | None = None
    columns: dict[str, Spec] = Field(default_factory=dict)

    @_model_validator(mode="before")
    @classmethod
    def _columns_beside_options(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        options = {k: v for k, v in data.items() if k in _LEVEL_OPTIONS}
        columns = {k: v for k, v in data.items() if k not in _LEVEL_OPTIONS}
        return {**options, "columns": columns}


class MappingFile(_Model):
    """The whole mapping file."""

    format: Literal["redcap", "table"]
    records: Text
    dictionary: Text | None = None
    sheet: Text | None = None
    catalog: Text | None = None
    patients: dict[str, Spec]
    levels: LevelsSection


@dataclass(frozen=True)
class LoadedMapping:
    """A mapping whose shape is valid, with its files resolved against its folder."""

    path: Path
    label: str
    spec: MappingFile
    records: Path
    dictionary: Path | None
    catalog: Path | None
    levels_records: Path | None


def _read(path: Path, label: str) -> dict[str, Any]:
    raw = read_yaml(path, label, "mapping file", MappingLoader)
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{label}: must be a mapping with format, records, patients and levels, not {show(raw)}"
        )
    return raw


def _shown_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A location as the file's author wrote it: the level columns sit beside the
    options of ``levels`` (``levels.level``, not ``levels.columns.level``)."""
    out = tuple(p for p in loc if p != "[key]")
    if out[:2] == ("levels", "columns"):
        out = ("levels", *out[2:])
    return out


def _valid_keys(parent: tuple[Any, ...]) -> list[str] | None:
    """The keys allowed at ``parent`` (a location as shown)."""
    if parent == ():
        return list(MappingFile.model_fields)
    if parent == ("levels",):
        return [*_LEVEL_OPTIONS, "and the contract's level columns"]
    if parent == ("levels", "wide"):
        return list(WideSpec.model_fields)
    if len(parent) in (2, 3, 4) and parent[0] in ("patients", "levels"):
        return list(ColumnSpec.model_fields)
    return None


def load_mapping(path: Path | str) -> LoadedMapping:
    """Read ``path`` and check its shape; every problem in one ConfigProblems."""
    path = Path(path)
    label = path.name
    raw = _read(path, label)
    try:
        spec = MappingFile.model_validate(raw)
    except ValidationError as e:
        lines: list[str] = []
        for err in e.errors():
            loc = _shown_loc(tuple(err["loc"]))
            line = (
                f"{label}: {dotted(loc) or '(top level)'}: {describe_error(err, loc, _valid_keys)}"
            )
            if line not in lines:
                lines.append(line)
        raise ConfigProblems(lines, what="the mapping") from None

    def file(value: str | None) -> Path | None:
        return None if value is None else resolve(value, path)

    records = file(spec.records)
    assert records is not None
    return LoadedMapping(
        path=path,
        label=label,
        spec=spec,
        records=records,
        dictionary=file(spec.dictionary),
        catalog=file(spec.catalog),
        levels_records=file(spec.levels.records),
    )
