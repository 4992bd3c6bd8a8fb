"""The data dictionary, rendered from the one schema declaration.

``docs/data-dictionary.md`` is this module's output (a test keeps the two equal,
and another checks the schema against the shared data contract), so the
documentation cannot drift from what the validator enforces.
"""

from __future__ import annotations

from refracture.data.schema import NO_TOKENS, TABLES, YES_TOKENS, Column, Kind, Presence, Table

__all__ = ["data_dictionary_markdown"]

_INTRO = """\
# Data dictionary

A cohort is two tables: `patients` (one row per patient) and `levels` (one row per
vertebral level of interest per patient: every treated level, every level with a
DXA T-score and every level that fractured later). Give them as `patients.csv` and
`levels.csv` in one folder (UTF-8, with or without BOM), as `patients.parquet` and
`levels.parquet`, or as one `.xlsx` workbook with sheets `patients` and `levels`.
Column names are case-sensitive. Extra columns are allowed and carried along but
never printed. Blank cells are missing values; numbers use a dot as decimal
separator (the Unicode minus sign − is accepted). Yes/no cells accept {yes} and
{no}, in any case.

`refracture validate DATA` checks every rule below and lists every problem at
once with its file, spreadsheet row (header = row 1), column, value and rule.

This file is generated from `src/refracture/data/schema.py`
(`python -m refracture.data.dictionary > docs/data-dictionary.md`).
"""

_DERIVED = """\
## Derived quantities (computed, never entered)

Computed in `src/refracture/data/derive.py`, the only place that derives them:

| quantity | definition |
|---|---|
| refracture (patient) | any level of the patient with `subsequent_fracture` |
| months to refracture (patient) | the earliest `months_to_fracture` of the patient |
| adjacent (level) | an untreated level directly above or below a treated level of the same patient (T12 and L1 are neighbours) |
| adjacent refracture (patient) | any fractured level of the patient is adjacent |
| levels treated (patient) | number of treated rows |
| largest anterior height loss (patient) | maximum `anterior_height_loss_pct` over treated levels |
| lowest L1–L4 T-score (patient) | minimum `tscore` over the patient's L1–L4 rows |
| region T11–L2 (level) | the level is T11, T12, L1 or L2 |
| level-specific analysis set | untreated levels with a `tscore`; outcome = that level's `subsequent_fracture` |
"""


def _rules(col: Column, tbl: Table) -> str:
    parts: list[str] = []
    if col.kind is Kind.NUMBER and col.range_text():
        parts.append(col.range_text())
    if col.kind is Kind.CATEGORY:
        parts.append(col.expected())
    if tbl.key and col.name == tbl.key[-1]:
        parts.append(tbl.key_text)
    if tbl.foreign_key and col.name == tbl.foreign_key.column:
        parts.append(f"must exist in `{tbl.foreign_key.parent_table}`")
    if col.required_if:
        parts.append(f"required where `{col.required_if}` is yes")
    if col.only_if and col.only_if != col.required_if:
        parts.append(f"only where `{col.only_if}` is yes")
    elif col.only_if:
        parts.append(f"blank where `{col.only_if}` is no")
    if col.must_be_no_if:
        parts.append(f"must be no where `{col.must_be_no_if}` is yes")
    if col.at_most:
        parts.append(f"≤ the patient's `{col.at_most.column}`")
    if col.warn_if:
        parts.append(f"warning where `{col.warn_if}` is yes")
    if tbl.requires_child and col.name == tbl.requires_child.key:
        rc = tbl.requires_child
        parts.append(f"at least one row in `{rc.child_table}` with `{rc.where}` yes")
    if col.name == "patient_id" and tbl.name == "patients":
        parts.append("never printed in any output")
    return "; ".join(parts)


def _table(tbl: Table) -> str:
    lines = [
        f"## `{tbl.name}`",
        "",
        "| column | type | column present | cell | rule | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for col in tbl.columns:
        present = "required" if col.presence is Presence.REQUIRED else "optional"
        cell = (
            "required"
            if col.cells_required
            else ("conditional" if col.required_if else "may be blank")
        )
        lines.append(
            f"| `{col.name}` | {col.kind.value} | {present} | {cell} | "
            f"{_rules(col, tbl)} | {col.description} |"
        )
    return "\n".join(lines) + "\n"


def data_dictionary_markdown() -> str:
    intro = _INTRO.format(yes="/".join(YES_TOKENS), no="/".join(NO_TOKENS))
    return "\n".join([intro, *(_table(t) for t in TABLES), _DERIVED])


if __name__ == "__main__":
    print(data_dictionary_markdown(), end="")
