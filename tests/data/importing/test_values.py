"""Value resolution: the mapping's map, then labels, then synonyms; never a guess."""

from __future__ import annotations

import numpy as np
import pytest

from refracture.data import schema as S
from refracture.data.importing.mapping import ColumnSpec
from refracture.data.importing.values import contract_value, resolve_column, target_problem

SEX = S.PATIENTS.column("sex")
PROCEDURE = S.PATIENTS.column("procedure")
LEVEL = S.LEVELS.column("level")
TREATED = S.LEVELS.column("treated")
FOLLOWUP = S.PATIENTS.column("followup_months")


def _resolve(values, column, spec=None, labels=None):
    return resolve_column(np.array(values, dtype=object), column, spec, labels, "the labels")


@pytest.mark.parametrize(
    ("column", "text", "code"),
    [
        (SEX, "Female", "F"),
        (SEX, " woman ", "F"),
        (SEX, "m", "M"),
        (PROCEDURE, "Vertebroplasty", "VP"),
        (PROCEDURE, "balloon  kyphoplasty", "KP"),
        (PROCEDURE, "kp", "KP"),
        (LEVEL, "Th12", "T12"),
        (LEVEL, "l 1", "L1"),
        (LEVEL, "T-05", "T5"),
        (TREATED, "Yes", "yes"),
        (TREATED, "1", "yes"),
        (TREATED, "Checked", "yes"),
        (TREATED, "FALSE", "no"),
        (TREATED, "Unchecked", "no"),
    ],
)
def test_synonyms_of_the_contracts_codes(column, text: str, code: str) -> None:
    assert contract_value(column, text) == code


@pytest.mark.parametrize(
    ("column", "text"),
    [(SEX, "Other"), (SEX, "x"), (LEVEL, "T13"), (LEVEL, "S1"), (TREATED, "maybe")],
)
def test_no_synonym_no_value(column, text: str) -> None:
    assert contract_value(column, text) is None


def test_explicit_map_then_labels_then_synonyms() -> None:
    spec = ColumnSpec(column="s", values={"9": "M", "Weiblich": "F"})
    labels = {"1": "Female", "2": "Weiblich", "3": "Other"}
    res = _resolve(["9", "1", "2", "Male", "3", ""], SEX, spec, labels)
    assert res.text.tolist() == ["M", "F", "F", "M", "3", ""]
    by = {(r.source, r.target): r.by for r in res.recodes}
    assert by == {
        ("9", "M"): "values map",
        ("1", "F"): "the labels",
        ("2", "F"): "values map",  # its label is a key of the map
        ("Male", "M"): "synonym",
    }
    assert [(r.source, r.meaning) for r in res.unresolved] == [("3", "Other")]
    assert "'Other' in the labels" in res.hints[4]
    assert res.resolves.tolist() == [True, True, True, True, False, True]


def test_a_labelled_code_is_read_by_its_label_only() -> None:
    """A radio 1 = No, 2 = Yes: the code 1 is a no, though "1" alone would be a yes."""
    res = _resolve(["1", "2"], TREATED, None, {"1": "No", "2": "Yes"})
    assert res.text.tolist() == ["no", "yes"]


def test_labels_match_codes_written_as_numbers() -> None:
    res = _resolve(["1", "2"], SEX, None, {"1.0": "Female", "2": "Male"})
    assert res.text.tolist() == ["F", "M"]


def test_map_keys_match_case_and_number_forms() -> None:
    spec = ColumnSpec(column="s", values={"FEMALE": "F", "2": "M"})
    assert _resolve(["female", "2.0"], SEX, spec).text.tolist() == ["F", "M"]


def test_an_unresolved_value_is_kept_as_written_with_a_hint() -> None:
    res = _resolve(["Unbekannt", "Unbekannt"], SEX)
    assert res.text.tolist() == ["Unbekannt", "Unbekannt"]
    assert res.unresolved[0].rows == 2
    assert "add it to values:" in res.hints[0]


def test_numbers_are_kept_as_written_unless_converted() -> None:
    assert _resolve(["21", "-1.0", "", "abc"], FOLLOWUP).text.tolist() == ["21", "-1.0", "", "abc"]
    spec = ColumnSpec(column="d", scale=12 / 365.25, round=1)
    res = _resolve(["639", "", "abc", "30"], FOLLOWUP, spec)
    assert res.text.tolist() == ["21", "", "abc", "1"]
    assert res.converted == 2
    offset = ColumnSpec(column="d", scale=2.0, offset=-1.5)
    assert _resolve(["3", "0.25"], FOLLOWUP, offset).text.tolist() == ["4.5", "-1"]


def test_a_numbers_values_map_gives_the_value_itself() -> None:
    spec = ColumnSpec(column="d", values={"-99": ""}, scale=2.0)
    assert _resolve(["-99", "3"], FOLLOWUP, spec).text.tolist() == ["", "6"]


@pytest.mark.parametrize(
    ("column", "target", "problem"),
    [
        (SEX, "F", None),
        (SEX, "female", "must be F or M"),
        (TREATED, "Yes", None),
        (TREATED, "perhaps", "must be yes or no"),
        (FOLLOWUP, "3.5", None),
        (FOLLOWUP, "", "followup_months may not be blank"),
        (S.PATIENTS.column("bmi"), "", None),
        (S.PATIENTS.column("bmi"), "n/a", "must be a number (or blank)"),
    ],
)
def test_map_targets_must_be_contract_values(column, target: str, problem) -> None:
    assert target_problem(column, target) == problem
