"""The input data contract (v1), declared once.

Every rule the validator checks, and every sentence it prints about a rule, is
derived from the declarations in this module (see ``/work/shared/data-contract.md``
for the contract in prose). :mod:`refracture.data.validate` only knows *how* to
check a kind of rule; *which* rules apply to which column lives here.

Nothing in this module imports pandas or pandera, so it is cheap to import.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from refracture.data.levels import LEVELS as _LEVEL_ORDER

__all__ = [
    "CHECK_TITLES",
    "LEVELS",
    "LEVEL_CODES",
    "MISSING_MARKERS",
    "NO_TOKENS",
    "PATIENTS",
    "TABLES",
    "YES_TOKENS",
    "Bound",
    "ChildRequirement",
    "Column",
    "ForeignKey",
    "Kind",
    "ParentBound",
    "Presence",
    "Table",
    "table",
]


class Kind(StrEnum):
    """How the text of a cell is read."""

    TEXT = "text"
    NUMBER = "number"
    YESNO = "yes/no"
    CATEGORY = "category"


class Presence(StrEnum):
    """Whether the column itself must be in the file."""

    REQUIRED = "required"  # absent column -> one table-level error
    OPTIONAL = "optional"  # absent column -> warning, added as all-missing


#: Vertebral level codes in anatomical (cranio-caudal) order (from :mod:`refracture.data.levels`).
LEVEL_CODES: tuple[str, ...] = _LEVEL_ORDER

#: Accepted spellings of yes/no (compared after stripping and lower-casing).
YES_TOKENS: tuple[str, ...] = ("yes", "true", "1", "y")
NO_TOKENS: tuple[str, ...] = ("no", "false", "0", "n")

#: Cell texts people use for "missing" in number columns (compared lower-cased);
#: they are errors, but the message tells the user to leave the cell blank.
MISSING_MARKERS: frozenset[str] = frozenset(
    {"na", "n/a", "nan", "null", "none", "missing", "-", ".", "?", "#n/a", "nd", "unknown"}
)


@dataclass(frozen=True)
class Bound:
    """One end of a numeric range."""

    value: float
    inclusive: bool = True


@dataclass(frozen=True)
class ParentBound:
    """The value must be ≤ a column of the parent row (joined on the table's foreign key)."""

    column: str


@dataclass(frozen=True)
class Column:
    """One column of the contract."""

    name: str
    kind: Kind
    presence: Presence
    #: Every cell must be filled (blank = error).
    cells_required: bool
    #: The contract's description (documentation only).
    description: str
    minimum: Bound | None = None
    maximum: Bound | None = None
    #: Allowed values of a category column, exact (case-sensitive) and in order.
    allowed: tuple[str, ...] = ()
    #: Ordered categorical in the typed cohort (e.g. vertebral levels).
    ordered: bool = False
    #: Short text for the allowed values in messages (default: listed with "or").
    allowed_text: str | None = None
    #: Cell required where this yes/no column of the same row is yes.
    required_if: str | None = None
    #: Cell must be blank unless this yes/no column of the same row is yes.
    only_if: str | None = None
    #: (yes/no columns) must be no where this yes/no column of the same row is yes.
    must_be_no_if: str | None = None
    #: Human reason for ``must_be_no_if``.
    must_be_no_reason: str = ""
    #: A value where this yes/no column is yes is allowed but earns a warning.
    warn_if: str | None = None
    #: Human reason for ``warn_if``.
    warn_reason: str = ""
    #: Must be ≤ a column of the parent row.
    at_most: ParentBound | None = None

    # -- human-readable rule text, derived from the declaration -------------

    def range_text(self) -> str:
        """``"from 18 to 110"``, ``"> 0"``, ``"≥ 0"``, or ``""`` without bounds."""
        lo, hi = self.minimum, self.maximum
        if lo and hi and lo.inclusive and hi.inclusive:
            return f"from {_num(lo.value)} to {_num(hi.value)}"
        parts = []
        if lo:
            parts.append(f"{'≥' if lo.inclusive else '>'} {_num(lo.value)}")
        if hi:
            parts.append(f"{'≤' if hi.inclusive else '<'} {_num(hi.value)}")
        return " and ".join(parts)

    def expected(self) -> str:
        """What a valid cell looks like, e.g. ``"a number from 18 to 110"``."""
        if self.kind is Kind.NUMBER:
            rng = self.range_text()
            return f"a number {rng}" if rng else "a number"
        if self.kind is Kind.YESNO:
            return "yes or no; also true/false, 1/0, y/n in any case"
        if self.kind is Kind.CATEGORY:
            if self.allowed_text:
                return self.allowed_text
            return " or ".join(self.allowed[:-1]) + f" or {self.allowed[-1]}"
        return "text"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class ForeignKey:
    """Every non-blank ``column`` value must exist in ``parent_table.parent_column``."""

    column: str
    parent_table: str
    parent_column: str


@dataclass(frozen=True)
class ChildRequirement:
    """Every row of this table needs a row in ``child_table`` (joined on ``key``)
    where the yes/no column ``where`` is yes."""

    child_table: str
    key: str
    where: str


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    #: Columns whose combined value must be unique (blank keys are not compared).
    key: tuple[str, ...]
    #: Human wording of the key rule.
    key_text: str
    foreign_key: ForeignKey | None = None
    requires_child: ChildRequirement | None = None

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


# ---------------------------------------------------------------------------
# The contract
# ---------------------------------------------------------------------------

_REQ, _OPT = Presence.REQUIRED, Presence.OPTIONAL

PATIENTS = Table(
    name="patients",
    columns=(
        Column("patient_id", Kind.TEXT, _REQ, True, "pseudonymous study id"),
        Column(
            "age",
            Kind.NUMBER,
            _REQ,
            True,
            "age at the index procedure (years)",
            minimum=Bound(18),
            maximum=Bound(110),
        ),
        Column("sex", Kind.CATEGORY, _REQ, True, "sex", allowed=("F", "M")),
        Column(
            "procedure",
            Kind.CATEGORY,
            _REQ,
            True,
            "vertebroplasty / kyphoplasty at the index operation",
            allowed=("VP", "KP"),
        ),
        Column(
            "followup_months",
            Kind.NUMBER,
            _REQ,
            True,
            "index procedure to last follow-up (months)",
            minimum=Bound(0, inclusive=False),
        ),
        Column(
            "bmi",
            Kind.NUMBER,
            _OPT,
            False,
            "body-mass index",
            minimum=Bound(10),
            maximum=Bound(60),
        ),
        Column("steroid_use", Kind.YESNO, _OPT, False, "long-term glucocorticoids"),
        Column(
            "osteoporosis_treatment",
            Kind.YESNO,
            _OPT,
            False,
            "anti-osteoporotic drug after the procedure",
        ),
    ),
    key=("patient_id",),
    key_text="patient_id must be unique",
    requires_child=ChildRequirement(child_table="levels", key="patient_id", where="treated"),
)

LEVELS = Table(
    name="levels",
    columns=(
        Column("patient_id", Kind.TEXT, _REQ, True, "the patient's study id"),
        Column(
            "level",
            Kind.CATEGORY,
            _REQ,
            True,
            "vertebral level",
            allowed=LEVEL_CODES,
            ordered=True,
            allowed_text="one of T1…T12, L1…L5, in upper case",
        ),
        Column("treated", Kind.YESNO, _REQ, True, "cemented at the index operation"),
        Column(
            "tscore",
            Kind.NUMBER,
            _OPT,
            False,
            "level-specific DXA T-score",
            minimum=Bound(-6),
            maximum=Bound(4),
            warn_if="treated",
            warn_reason="a T-score on a treated level is not used in the level-specific analysis",
        ),
        Column(
            "anterior_height_loss_pct",
            Kind.NUMBER,
            _REQ,
            False,
            "preoperative loss of anterior vertebral height (%)",
            minimum=Bound(0),
            maximum=Bound(100),
            required_if="treated",
        ),
        Column(
            "cement_volume_ml",
            Kind.NUMBER,
            _OPT,
            False,
            "cement volume (ml)",
            minimum=Bound(0),
            only_if="treated",
        ),
        Column("cement_leakage", Kind.YESNO, _OPT, False, "cement leakage", only_if="treated"),
        Column(
            "subsequent_fracture",
            Kind.YESNO,
            _REQ,
            True,
            "a new fracture of this level after the index procedure",
            must_be_no_if="treated",
            must_be_no_reason="a treated level cannot have a subsequent fracture",
        ),
        Column(
            "months_to_fracture",
            Kind.NUMBER,
            _OPT,
            False,
            "index procedure to the subsequent fracture (months)",
            minimum=Bound(0, inclusive=False),
            required_if="subsequent_fracture",
            only_if="subsequent_fracture",
            at_most=ParentBound("followup_months"),
        ),
    ),
    key=("patient_id", "level"),
    key_text="level must be unique within a patient",
    foreign_key=ForeignKey(
        column="patient_id", parent_table="patients", parent_column="patient_id"
    ),
)

#: The tables, in the order they are read, checked and reported.
TABLES: tuple[Table, ...] = (PATIENTS, LEVELS)


def table(name: str) -> Table:
    for t in TABLES:
        if t.name == name:
            return t
    raise KeyError(name)


# ---------------------------------------------------------------------------
# Message texts. ``check`` codes are stable identifiers (Problem.check); the
# functions below produce the sentence shown to the user.
# ---------------------------------------------------------------------------

#: Short title of each check, used when a long list of one kind is abbreviated.
CHECK_TITLES: dict[str, str] = {
    "no_rows": "table has no data rows",
    "missing_column": "required column missing",
    "missing_optional_column": "optional column missing",
    "extra_column": "extra column",
    "blank": "required cell blank",
    "not_number": "not a number",
    "decimal_comma": "decimal comma",
    "not_yesno": "not yes/no",
    "not_allowed": "value not allowed",
    "out_of_range": "out of range",
    "duplicate_key": "duplicate",
    "unknown_parent": "unknown patient_id",
    "must_be_no": "not allowed on this row",
    "required_if": "required on this row",
    "only_if": "not allowed on this row",
    "warn_if": "value on this row is unusual",
    "above_parent": "above the patient's value",
    "no_child": "patient without a treated level row",
}


def msg_no_rows() -> str:
    return "the table has a header but no data rows"


def msg_missing_column(col: Column, similar: str | None = None) -> str:
    text = "required column is missing"
    if col.required_if:
        text += f" (needed where {col.required_if} is yes)"
    if similar is not None:
        text += f"; found {similar!r} (column names are case-sensitive, no spaces)"
    return text


def msg_missing_optional_column(col: Column, similar: str | None = None) -> str:
    text = "optional column is missing; treated as blank in every row"
    if col.required_if:
        text += f" (but it is required where {col.required_if} is yes)"
    if similar is not None:
        text += f"; found {similar!r} (column names are case-sensitive, no spaces)"
    return text


def msg_extra_column() -> str:
    return "column is not in the data contract; carried along unchanged"


def msg_blank(col: Column) -> str:
    return f"required: the cell is blank (expected {col.expected()})"


def msg_decimal_comma(value: str) -> str:
    return f"use a dot as decimal separator: write {value.replace(',', '.')}, not {value}"


def msg_missing_marker(col: Column) -> str:
    return f"not a number; leave the cell blank for a missing value (expected {col.expected()})"


def msg_not_number(col: Column) -> str:
    return f"not a number (expected {col.expected()})"


def msg_not_yesno(col: Column) -> str:
    return f"not a yes/no value (expected {col.expected()})"


def msg_not_allowed(col: Column, hint: str | None = None) -> str:
    text = f"not allowed (expected {col.expected()})"
    if hint is not None:
        text += f"; did you mean {hint}?"
    return text


def msg_out_of_range(col: Column) -> str:
    return f"out of range (expected {col.expected()})"


def msg_duplicate_key(tbl: Table, first: str) -> str:
    """``first`` is the earlier row as the user finds it (``"row 7"``)."""
    return f"{tbl.key_text}: same {' and '.join(tbl.key)} as {first}"


def msg_unknown_parent(fk: ForeignKey, parent_file: str) -> str:
    return f"{fk.column} not found in {parent_file} (column {fk.parent_column})"


def msg_must_be_no(col: Column) -> str:
    return f"must be no where {col.must_be_no_if} is yes: {col.must_be_no_reason}"


def msg_required_if(col: Column) -> str:
    return f"required where {col.required_if} is yes; the cell is blank"


def msg_only_if(col: Column) -> str:
    return f"given but {col.only_if} is no; {col.name} is only for rows where {col.only_if} is yes"


def msg_warn_if(col: Column) -> str:
    return f"given where {col.warn_if} is yes: {col.warn_reason}"


def msg_above_parent(col: Column, parent_file: str, parent_where: str, parent_value: str) -> str:
    """``parent_where`` is the parent's row as the user finds it (``"row 7"``)."""
    assert col.at_most is not None
    return (
        f"must be ≤ the patient's {col.at_most.column} ({parent_value}, "
        f"{parent_file} {parent_where})"
    )


def msg_no_child_row(req: ChildRequirement, child_file: str) -> str:
    return (
        f"patient has no row in {child_file}; every patient needs at least one row "
        f"with {req.where} = yes"
    )


def msg_no_child_where(req: ChildRequirement, child_file: str) -> str:
    return (
        f"patient has no row with {req.where} = yes in {child_file}; every patient needs "
        f"at least one {req.where} level"
    )
