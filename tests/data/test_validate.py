"""Validation against the data contract: one test per rule, several at once,
warnings, typed output, rendering, and Hypothesis properties."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refracture.data.load import RawCohort, Source
from refracture.data.problems import Problem
from refracture.data.schema import LEVEL_CODES
from refracture.data.validate import Cohort, ValidationReport, validate
from tests.data.cohorts import (
    LEVEL_COLUMNS,
    Tables,
    append_row,
    cohorts,
    raw_of,
    set_cell,
    valid_tables,
)

P, L = "patients.csv", "levels.csv"


def run(tables: Tables) -> ValidationReport:
    return validate(raw_of(tables))


def where(p: Problem) -> tuple[str, int | None, str | None, str | None, str]:
    return (p.file, p.row, p.column, p.value, p.check)


def cell(table: str, row: int, column: str, value: str) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        set_cell(t, table, row, column, value)

    return mutate


def cells(*changes: tuple[str, int, str, str]) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        for change in changes:
            set_cell(t, *change)

    return mutate


def drop(table: str, column: str) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        t[table] = t[table].drop(columns=[column])

    return mutate


def add_patient(**values: str) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        row = {"age": "70", "sex": "F", "procedure": "VP", "followup_months": "12"}
        append_row(t, "patients", **(row | values))

    return mutate


# ---------------------------------------------------------------------------
# The valid cohort
# ---------------------------------------------------------------------------


def test_valid_cohort_has_no_problems() -> None:
    report = run(valid_tables())
    assert report.ok
    assert report.errors == []
    assert report.warnings == []
    assert isinstance(report.cohort, Cohort)
    assert "0 errors, 0 warnings" in report.render()


def test_typed_cohort_dtypes() -> None:
    cohort = run(valid_tables()).cohort
    assert cohort is not None
    p, lv = cohort.patients, cohort.levels
    assert pd.api.types.is_string_dtype(p["patient_id"])
    for c in ("age", "followup_months", "bmi"):
        assert p[c].dtype == np.float64
    assert list(p["sex"].cat.categories) == ["F", "M"]
    assert list(p["procedure"].cat.categories) == ["VP", "KP"]
    assert p["steroid_use"].dtype == "boolean"
    assert p["osteoporosis_treatment"].dtype == "boolean"
    assert pd.api.types.is_string_dtype(lv["patient_id"])
    assert lv["level"].cat.ordered
    assert list(lv["level"].cat.categories) == list(LEVEL_CODES)
    assert lv["level"].min() == "T12"
    assert lv["treated"].dtype == np.bool_
    assert lv["subsequent_fracture"].dtype == np.bool_
    for c in ("tscore", "anterior_height_loss_pct", "cement_volume_ml", "months_to_fracture"):
        assert lv[c].dtype == np.float64
    assert lv["cement_leakage"].dtype == "boolean"
    assert p["_row"].tolist() == [2, 3, 4]
    assert lv["_row"].tolist() == list(range(2, 9))


def test_typed_values_parsed() -> None:
    cohort = run(valid_tables()).cohort
    assert cohort is not None
    p, lv = cohort.patients, cohort.levels
    assert p["patient_id"].tolist() == ["P01", "P02", "P03"]  # file order kept
    assert p["age"].tolist() == [70.0, 81.0, 65.0]
    assert np.isnan(p["bmi"].iloc[1])
    assert p["steroid_use"].tolist() == [True, False, False]
    assert p["osteoporosis_treatment"].tolist() == [False, True, True]
    assert lv["tscore"].iloc[4] == -3.1  # Unicode minus sign accepted
    assert lv["treated"].tolist() == [True, False, False, True, False, True, False]
    assert lv["cement_leakage"].isna().tolist() == [False, True, True, False, True, False, True]
    assert lv["months_to_fracture"].iloc[6] == 10.5


def test_whitespace_is_stripped() -> None:
    t = valid_tables()
    set_cell(t, "patients", 2, "sex", " F ")
    set_cell(t, "levels", 2, "patient_id", " P01\t")
    set_cell(t, "levels", 2, "treated", "  YES ")
    set_cell(t, "levels", 2, "cement_volume_ml", " 4.5 ")
    report = run(t)
    assert report.ok, report.render()
    assert report.cohort is not None
    assert report.cohort.levels["patient_id"].iloc[0] == "P01"


def test_missing_optional_columns_added_with_dtype() -> None:
    t = valid_tables()
    for c in ("bmi", "steroid_use", "osteoporosis_treatment"):
        t["patients"] = t["patients"].drop(columns=[c])
    for c in ("tscore", "cement_volume_ml", "cement_leakage"):
        t["levels"] = t["levels"].drop(columns=[c])
    report = run(t)
    assert report.ok, report.render()
    assert [(w.file, w.column, w.check) for w in report.warnings] == [
        (P, "bmi", "missing_optional_column"),
        (P, "steroid_use", "missing_optional_column"),
        (P, "osteoporosis_treatment", "missing_optional_column"),
        (L, "tscore", "missing_optional_column"),
        (L, "cement_volume_ml", "missing_optional_column"),
        (L, "cement_leakage", "missing_optional_column"),
    ]
    cohort = report.cohort
    assert cohort is not None
    assert cohort.patients["bmi"].dtype == np.float64
    assert cohort.patients["bmi"].isna().all()
    assert cohort.patients["steroid_use"].dtype == "boolean"
    assert cohort.patients["steroid_use"].isna().all()
    assert cohort.levels["cement_leakage"].dtype == "boolean"
    assert cohort.levels["tscore"].isna().all()
    assert list(cohort.levels.columns) == [*LEVEL_COLUMNS, "_row"]  # contract order


# ---------------------------------------------------------------------------
# One test per rule: exactly one error, at the right place
# ---------------------------------------------------------------------------

SINGLE_RULE_CASES = [
    # --- patients: cells
    ("age blank", cell("patients", 3, "age", ""), (P, 3, "age", "", "blank")),
    ("age whitespace only", cell("patients", 3, "age", "   "), (P, 3, "age", "   ", "blank")),
    ("age not a number", cell("patients", 3, "age", "abc"), (P, 3, "age", "abc", "not_number")),
    (
        "age decimal comma",
        cell("patients", 2, "age", "70,5"),
        (P, 2, "age", "70,5", "decimal_comma"),
    ),
    (
        "decimal comma shown as written",
        cell("patients", 2, "age", " 70,5 "),
        (P, 2, "age", " 70,5 ", "decimal_comma"),
    ),
    ("age too low", cell("patients", 4, "age", "17"), (P, 4, "age", "17", "out_of_range")),
    ("age too high", cell("patients", 4, "age", "110.5"), (P, 4, "age", "110.5", "out_of_range")),
    ("age unicode minus", cell("patients", 4, "age", "−20"), (P, 4, "age", "−20", "out_of_range")),
    ("age nan", cell("patients", 2, "age", "nan"), (P, 2, "age", "nan", "not_number")),
    ("age inf", cell("patients", 2, "age", "inf"), (P, 2, "age", "inf", "not_number")),
    ("age overflow", cell("patients", 2, "age", "1e999"), (P, 2, "age", "1e999", "not_number")),
    ("age two minus", cell("patients", 2, "age", "--70"), (P, 2, "age", "--70", "not_number")),
    ("age en dash", cell("patients", 2, "age", "–70"), (P, 2, "age", "–70", "not_number")),
    ("age non-ASCII digits", cell("patients", 2, "age", "٧٠"), (P, 2, "age", "٧٠", "not_number")),
    (
        "age thousands",
        cell("patients", 2, "age", "1,000.5"),
        (P, 2, "age", "1,000.5", "not_number"),
    ),
    ("age with unit", cell("patients", 2, "age", "70y"), (P, 2, "age", "70y", "not_number")),
    ("sex blank", cell("patients", 2, "sex", ""), (P, 2, "sex", "", "blank")),
    ("sex not allowed", cell("patients", 2, "sex", "X"), (P, 2, "sex", "X", "not_allowed")),
    ("sex lower case", cell("patients", 2, "sex", "f"), (P, 2, "sex", "f", "not_allowed")),
    ("procedure", cell("patients", 3, "procedure", "PV"), (P, 3, "procedure", "PV", "not_allowed")),
    ("procedure blank", cell("patients", 3, "procedure", ""), (P, 3, "procedure", "", "blank")),
    (
        "followup zero",
        cell("patients", 3, "followup_months", "0"),
        (P, 3, "followup_months", "0", "out_of_range"),
    ),
    (
        "followup negative",
        cell("patients", 3, "followup_months", "-3"),
        (P, 3, "followup_months", "-3", "out_of_range"),
    ),
    (
        "followup blank",
        cell("patients", 2, "followup_months", ""),
        (P, 2, "followup_months", "", "blank"),
    ),
    (
        "followup unreadable does not cascade to months_to_fracture",
        cell("patients", 2, "followup_months", "two years"),
        (P, 2, "followup_months", "two years", "not_number"),
    ),
    ("bmi too low", cell("patients", 2, "bmi", "9.9"), (P, 2, "bmi", "9.9", "out_of_range")),
    ("bmi too high", cell("patients", 2, "bmi", "61"), (P, 2, "bmi", "61", "out_of_range")),
    ("bmi n/a", cell("patients", 2, "bmi", "n/a"), (P, 2, "bmi", "n/a", "not_number")),
    (
        "steroid_use not yes/no",
        cell("patients", 2, "steroid_use", "maybe"),
        (P, 2, "steroid_use", "maybe", "not_yesno"),
    ),
    (
        "osteoporosis_treatment not yes/no",
        cell("patients", 4, "osteoporosis_treatment", "2"),
        (P, 4, "osteoporosis_treatment", "2", "not_yesno"),
    ),
    # --- patients: table rules
    (
        "duplicate patient_id",
        add_patient(patient_id="P01"),
        (P, 5, "patient_id", "P01", "duplicate_key"),
    ),
    (
        "patient without levels",
        add_patient(patient_id="P04"),
        (P, 5, "patient_id", "P04", "no_child"),
    ),
    (
        "patient without treated level",
        cells(
            ("levels", 7, "treated", "no"),
            ("levels", 7, "cement_volume_ml", ""),
            ("levels", 7, "cement_leakage", ""),
        ),
        (P, 4, "patient_id", "P03", "no_child"),
    ),
    (
        "required column missing: age",
        drop("patients", "age"),
        (P, None, "age", None, "missing_column"),
    ),
    (
        "required column missing: patient_id",
        drop("patients", "patient_id"),
        (P, None, "patient_id", None, "missing_column"),
    ),
    # --- levels: cells
    (
        "level patient_id blank",
        cell("levels", 4, "patient_id", ""),
        (L, 4, "patient_id", "", "blank"),
    ),
    (
        "unknown patient_id",
        cell("levels", 4, "patient_id", "P99"),
        (L, 4, "patient_id", "P99", "unknown_parent"),
    ),
    (
        "patient_id is case-sensitive",
        cell("levels", 4, "patient_id", "p01"),
        (L, 4, "patient_id", "p01", "unknown_parent"),
    ),
    ("level blank", cell("levels", 4, "level", ""), (L, 4, "level", "", "blank")),
    ("level unknown", cell("levels", 4, "level", "L6"), (L, 4, "level", "L6", "not_allowed")),
    ("level lower case", cell("levels", 4, "level", "t12"), (L, 4, "level", "t12", "not_allowed")),
    ("level duplicate", cell("levels", 4, "level", "L1"), (L, 4, "level", "L1", "duplicate_key")),
    ("treated blank", cell("levels", 4, "treated", ""), (L, 4, "treated", "", "blank")),
    (
        "treated not yes/no",
        cell("levels", 4, "treated", "maybe"),
        (L, 4, "treated", "maybe", "not_yesno"),
    ),
    (
        "tscore too low",
        cell("levels", 3, "tscore", "-6.1"),
        (L, 3, "tscore", "-6.1", "out_of_range"),
    ),
    (
        "tscore too high",
        cell("levels", 3, "tscore", "4.5"),
        (L, 3, "tscore", "4.5", "out_of_range"),
    ),
    (
        "tscore comma",
        cell("levels", 3, "tscore", "-2,5"),
        (L, 3, "tscore", "-2,5", "decimal_comma"),
    ),
    (
        "height loss required on treated",
        cell("levels", 2, "anterior_height_loss_pct", ""),
        (L, 2, "anterior_height_loss_pct", "", "required_if"),
    ),
    (
        "height loss too high",
        cell("levels", 2, "anterior_height_loss_pct", "101"),
        (L, 2, "anterior_height_loss_pct", "101", "out_of_range"),
    ),
    (
        "height loss negative",
        cell("levels", 5, "anterior_height_loss_pct", "-1"),
        (L, 5, "anterior_height_loss_pct", "-1", "out_of_range"),
    ),
    (
        "cement volume negative",
        cell("levels", 2, "cement_volume_ml", "-0.5"),
        (L, 2, "cement_volume_ml", "-0.5", "out_of_range"),
    ),
    (
        "cement volume on untreated level",
        cell("levels", 3, "cement_volume_ml", "3"),
        (L, 3, "cement_volume_ml", "3", "only_if"),
    ),
    (
        "cement leakage on untreated level",
        cell("levels", 3, "cement_leakage", "no"),
        (L, 3, "cement_leakage", "no", "only_if"),
    ),
    (
        "cement leakage not yes/no",
        cell("levels", 2, "cement_leakage", "sometimes"),
        (L, 2, "cement_leakage", "sometimes", "not_yesno"),
    ),
    (
        "subsequent fracture on treated level",
        cell("levels", 2, "subsequent_fracture", "yes"),
        (L, 2, "subsequent_fracture", "yes", "must_be_no"),
    ),
    (
        "subsequent fracture blank",
        cell("levels", 3, "subsequent_fracture", ""),
        (L, 3, "subsequent_fracture", "", "blank"),
    ),
    (
        "subsequent fracture not yes/no",
        cell("levels", 8, "subsequent_fracture", "ja"),
        (L, 8, "subsequent_fracture", "ja", "not_yesno"),
    ),
    (
        "months required when fractured",
        cell("levels", 3, "months_to_fracture", ""),
        (L, 3, "months_to_fracture", "", "required_if"),
    ),
    (
        "months given without fracture",
        cell("levels", 4, "months_to_fracture", "5"),
        (L, 4, "months_to_fracture", "5", "only_if"),
    ),
    (
        "months zero",
        cell("levels", 3, "months_to_fracture", "0"),
        (L, 3, "months_to_fracture", "0", "out_of_range"),
    ),
    (
        "months above followup",
        cell("levels", 3, "months_to_fracture", "24.5"),
        (L, 3, "months_to_fracture", "24.5", "above_parent"),
    ),
    (
        "followup below months",
        cell("patients", 2, "followup_months", "5"),
        (L, 3, "months_to_fracture", "6", "above_parent"),
    ),
    (
        "months not a number",
        cell("levels", 8, "months_to_fracture", "10.5 months"),
        (L, 8, "months_to_fracture", "10.5 months", "not_number"),
    ),
    (
        "required column missing: treated",
        drop("levels", "treated"),
        (L, None, "treated", None, "missing_column"),
    ),
    (
        "required column missing: height loss",
        drop("levels", "anterior_height_loss_pct"),
        (L, None, "anterior_height_loss_pct", None, "missing_column"),
    ),
    (
        "required column missing: subsequent_fracture",
        drop("levels", "subsequent_fracture"),
        (L, None, "subsequent_fracture", None, "missing_column"),
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=name) for name, m, e in SINGLE_RULE_CASES],
)
def test_single_rule(mutate: Callable[[Tables], None], expected: tuple) -> None:
    t = valid_tables()
    mutate(t)
    report = run(t)
    assert not report.ok
    assert report.cohort is None
    assert [where(p) for p in report.errors] == [expected], report.render()
    assert all(p.severity == "error" for p in report.errors)
    assert report.errors[0].rule  # a human-readable sentence


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        pytest.param(cell("patients", 2, "age", "70,5"), ["dot", "70.5"], id="comma"),
        pytest.param(cell("patients", 2, "sex", "f"), ["did you mean F?"], id="hint-sex"),
        pytest.param(cell("levels", 4, "level", "l1"), ["did you mean L1?"], id="hint-level"),
        pytest.param(cell("patients", 2, "age", "17"), ["18 to 110"], id="range"),
        pytest.param(add_patient(patient_id="P02"), ["row 3"], id="duplicate-first-row"),
        pytest.param(cell("levels", 4, "level", "L1"), ["row 2"], id="duplicate-level-first-row"),
        pytest.param(
            cell("levels", 3, "months_to_fracture", "30"),
            ["followup_months", "(24,"],
            id="followup-value",
        ),
        pytest.param(
            cell("levels", 4, "months_to_fracture", "5"),
            ["given but subsequent_fracture is no"],
            id="given-but-no",
        ),
        pytest.param(cell("patients", 2, "bmi", "NA"), ["leave the cell blank"], id="na-marker"),
        pytest.param(
            cell("levels", 4, "patient_id", "P99"), ["not found in patients.csv"], id="orphan"
        ),
        pytest.param(add_patient(patient_id="P04"), ["no row in levels.csv"], id="no-levels"),
    ],
)
def test_rule_text(mutate: Callable[[Tables], None], words: list[str]) -> None:
    t = valid_tables()
    mutate(t)
    (problem,) = run(t).errors
    for w in words:
        assert w in problem.rule


def test_missing_column_hints_at_similar_name() -> None:
    t = valid_tables()
    t["patients"] = t["patients"].rename(columns={"age": "Age"})
    report = run(t)
    (error,) = report.errors
    assert where(error) == (P, None, "age", None, "missing_column")
    assert "'Age'" in error.rule
    assert [(w.column, w.check) for w in report.warnings] == [("Age", "extra_column")]


def test_blank_patient_id_in_patients_orphans_its_levels() -> None:
    t = valid_tables()
    set_cell(t, "patients", 3, "patient_id", "")
    report = run(t)
    assert [where(p) for p in report.errors] == [
        (P, 3, "patient_id", "", "blank"),
        (L, 5, "patient_id", "P02", "unknown_parent"),
        (L, 6, "patient_id", "P02", "unknown_parent"),
    ]


def test_every_duplicate_is_reported_against_the_first() -> None:
    t = valid_tables()
    add_patient(patient_id="P03")(t)
    add_patient(patient_id="P03")(t)
    errors = run(t).errors
    assert [(e.row, e.check) for e in errors] == [(5, "duplicate_key"), (6, "duplicate_key")]
    assert all("row 4" in e.rule for e in errors)


def test_many_problems_in_both_files_reported_at_once() -> None:
    t = valid_tables()
    set_cell(t, "patients", 2, "age", "17")
    set_cell(t, "patients", 3, "sex", "W")
    set_cell(t, "patients", 3, "bmi", "2,5")
    add_patient(patient_id="P01")(t)  # row 5: duplicate
    t["patients"] = t["patients"].drop(columns=["procedure"])
    set_cell(t, "levels", 2, "subsequent_fracture", "yes")
    set_cell(t, "levels", 3, "months_to_fracture", "")
    set_cell(t, "levels", 4, "patient_id", "P9")
    set_cell(t, "levels", 6, "tscore", "-9")
    set_cell(t, "levels", 7, "cement_volume_ml", "lots")
    set_cell(t, "levels", 8, "level", "L3")
    report = run(t)
    assert [(p.file, p.row, p.column, p.check) for p in report.errors] == [
        (P, None, "procedure", "missing_column"),
        (P, 2, "age", "out_of_range"),
        (P, 3, "sex", "not_allowed"),
        (P, 3, "bmi", "decimal_comma"),
        (P, 5, "patient_id", "duplicate_key"),
        (L, 2, "subsequent_fracture", "must_be_no"),
        (L, 3, "months_to_fracture", "required_if"),
        (L, 4, "patient_id", "unknown_parent"),
        (L, 6, "tscore", "out_of_range"),
        (L, 7, "cement_volume_ml", "not_number"),
        (L, 8, "level", "duplicate_key"),
    ]
    text = report.render()
    assert "Errors (11)" in text
    for p in report.errors:
        assert p.rule in text


def test_problems_are_sorted_by_file_row_column() -> None:
    t = valid_tables()
    set_cell(t, "levels", 8, "tscore", "9")
    set_cell(t, "levels", 2, "cement_leakage", "x")
    set_cell(t, "levels", 2, "level", "X")
    set_cell(t, "patients", 4, "bmi", "1")
    set_cell(t, "patients", 2, "steroid_use", "x")
    errors = run(t).errors
    assert [(e.file, e.row, e.column) for e in errors] == [
        (P, 2, "steroid_use"),
        (P, 4, "bmi"),
        (L, 2, "level"),
        (L, 2, "cement_leakage"),
        (L, 8, "tscore"),
    ]


# ---------------------------------------------------------------------------
# Warnings
# ---------------------------------------------------------------------------


def test_warnings_do_not_fail_and_are_listed_apart() -> None:
    t = valid_tables()
    set_cell(t, "levels", 2, "tscore", "-2.0")  # T-score on a treated level
    t["patients"] = t["patients"].drop(columns=["bmi"])
    t["patients"]["notes"] = ["a", "", "c"]
    report = run(t)
    assert report.ok
    assert report.errors == []
    assert [where(w) for w in report.warnings] == [
        (P, None, "bmi", None, "missing_optional_column"),
        (P, None, "notes", None, "extra_column"),
        (L, 2, "tscore", "-2.0", "warn_if"),
    ]
    assert all(w.severity == "warning" for w in report.warnings)
    cohort = report.cohort
    assert cohort is not None
    assert cohort.warnings == tuple(report.warnings)
    assert cohort.patients["notes"].tolist() == ["a", "", "c"]  # extra column carried as text
    assert cohort.levels["tscore"].iloc[0] == -2.0
    text = report.render()
    assert "0 errors, 3 warnings" in text
    assert "Warnings (3)" in text
    assert "Errors" not in text


def test_missing_months_column_warns_and_requires_it_where_fractured() -> None:
    t = valid_tables()
    t["levels"] = t["levels"].drop(columns=["months_to_fracture"])
    report = run(t)
    assert [where(w) for w in report.warnings] == [
        (L, None, "months_to_fracture", None, "missing_optional_column")
    ]
    assert [where(e) for e in report.errors] == [
        (L, 3, "months_to_fracture", "", "required_if"),
        (L, 8, "months_to_fracture", "", "required_if"),
    ]


def test_warnings_and_errors_rendered_apart() -> None:
    t = valid_tables()
    set_cell(t, "levels", 2, "tscore", "-2")
    set_cell(t, "patients", 2, "age", "")
    text = run(t).render()
    assert "1 error, 1 warning" in text
    errors_at, warnings_at = text.index("Errors (1)"), text.index("Warnings (1)")
    assert errors_at < text.index("(blank)") < warnings_at < text.index("T-score")
    header = text.splitlines()[3]
    assert header.split() == ["file", "row", "column", "value", "rule"]


def test_render_caps_long_lists_but_report_keeps_all() -> None:
    n = 60
    patients = pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "age": ["12"] * n,  # all out of range
            "sex": ["F"] * n,
            "procedure": ["VP"] * n,
            "followup_months": ["12"] * n,
        }
    )
    levels = pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "level": ["L1"] * n,
            "treated": ["yes"] * n,
            "anterior_height_loss_pct": ["10"] * n,
            "subsequent_fracture": ["no"] * n,
        }
    )
    report = validate(RawCohort.from_frames(patients, levels))
    assert len(report.errors) == n
    text = report.render(max_per_rule=20)
    assert text.count("out of range (expected") == 20
    assert "… and 40 more 'out of range' in patients.csv, column age" in text
    assert "Errors (60)" in text


def test_in_memory_frames_with_numbers_and_bools() -> None:
    patients = pd.DataFrame(
        {
            "patient_id": [1, 2],
            "age": [70.0, 80.5],
            "sex": ["F", "M"],
            "procedure": ["VP", "KP"],
            "followup_months": [12, 24],
            "steroid_use": pd.array([True, None], dtype="boolean"),
        }
    )
    levels = pd.DataFrame(
        {
            "patient_id": [1, 2],
            "level": ["L1", "L2"],
            "treated": [True, True],
            "anterior_height_loss_pct": [10.0, np.nan],
            "subsequent_fracture": [False, False],
        }
    )
    report = validate(RawCohort.from_frames(patients, levels))
    assert [where(e) for e in report.errors] == [
        ("levels.csv", 3, "anterior_height_loss_pct", "", "required_if")
    ]
    levels.loc[1, "anterior_height_loss_pct"] = 20.0
    cohort = validate(RawCohort.from_frames(patients, levels)).cohort
    assert cohort is not None
    assert cohort.patients["patient_id"].tolist() == ["1", "2"]
    assert cohort.patients["steroid_use"].isna().tolist() == [False, True]


def test_raw_cohort_row_numbers_from_index() -> None:
    t = valid_tables()
    raw = RawCohort(t["patients"], t["levels"], Source.in_memory())
    assert raw.patients.index.tolist() == [2, 3, 4]
    # a frame whose rows 3.. were read after a dropped blank line keeps its numbers
    p = t["patients"].set_axis([2, 4, 5])
    p.loc[5, "age"] = "5"
    report = validate(RawCohort(p, t["levels"], Source.in_memory()))
    assert [(e.row, e.column) for e in report.errors] == [(5, "age")]


def test_empty_table_in_memory() -> None:
    t = valid_tables()
    report = validate(RawCohort.from_frames(t["patients"], t["levels"].iloc[0:0]))
    assert [where(e) for e in report.errors] == [(L, None, None, None, "no_rows")]


# ---------------------------------------------------------------------------
# Hypothesis properties
# ---------------------------------------------------------------------------

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(tables=cohorts())
def test_random_valid_cohorts_validate(tables: Tables) -> None:
    report = run(tables)
    assert report.ok, report.render()
    assert report.warnings == [], report.render()
    cohort = report.cohort
    assert cohort is not None
    assert len(cohort.patients) == len(tables["patients"])
    assert len(cohort.levels) == len(tables["levels"])
    assert cohort.levels["treated"].groupby(cohort.levels["patient_id"]).any().all()


#: (table, column, new value, expected check): each breaks exactly one rule in any
#: valid cohort, whatever the row.
MUTATIONS = [
    ("patients", "age", "17", "out_of_range"),
    ("patients", "age", "111", "out_of_range"),
    ("patients", "age", "abc", "not_number"),
    ("patients", "age", "70,5", "decimal_comma"),
    ("patients", "age", "", "blank"),
    ("patients", "sex", "X", "not_allowed"),
    ("patients", "sex", "  ", "blank"),
    ("patients", "procedure", "vp", "not_allowed"),
    ("patients", "followup_months", "0", "out_of_range"),
    ("patients", "followup_months", "", "blank"),
    ("patients", "followup_months", "inf", "not_number"),
    ("patients", "bmi", "9", "out_of_range"),
    ("patients", "steroid_use", "maybe", "not_yesno"),
    ("levels", "level", "X1", "not_allowed"),
    ("levels", "level", "", "blank"),
    ("levels", "treated", "maybe", "not_yesno"),
    ("levels", "treated", "", "blank"),
    ("levels", "tscore", "-7", "out_of_range"),
    ("levels", "tscore", "nan", "not_number"),
    ("levels", "anterior_height_loss_pct", "101", "out_of_range"),
    ("levels", "cement_volume_ml", "-1", "out_of_range"),
    ("levels", "cement_leakage", "maybe", "not_yesno"),
    ("levels", "subsequent_fracture", "maybe", "not_yesno"),
    ("levels", "subsequent_fracture", "", "blank"),
    ("levels", "months_to_fracture", "0", "out_of_range"),
    ("levels", "months_to_fracture", "1,5", "decimal_comma"),
]


@FAST
@given(tables=cohorts(), mutation=st.sampled_from(MUTATIONS), data=st.data())
def test_one_mutation_gives_exactly_its_error(
    tables: Tables, mutation: tuple[str, str, str, str], data: st.DataObject
) -> None:
    table, column, value, check = mutation
    row = data.draw(st.integers(2, len(tables[table]) + 1), label="row")
    set_cell(tables, table, row, column, value)
    report = run(tables)
    label = f"{table}.csv"
    assert [where(e) for e in report.errors] == [(label, row, column, value, check)], (
        report.render()
    )
    assert report.warnings == []


@FAST
@given(tables=cohorts(), data=st.data())
def test_duplicated_patient_row_gives_one_error(tables: Tables, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(tables["patients"]) - 1), label="patient")
    first = tables["patients"].iloc[i].to_dict()
    row = append_row(tables, "patients", **first)
    errors = run(tables).errors
    assert [where(e) for e in errors] == [
        ("patients.csv", row, "patient_id", first["patient_id"], "duplicate_key")
    ]
    assert f"row {i + 2}" in errors[0].rule
