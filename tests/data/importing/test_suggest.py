"""Drafted mappings: confident lines mapped, weak ones only commented, the rest listed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from refracture.data.importing.mapping import MappingLoader
from refracture.data.importing.suggest import suggest_mapping
from refracture.errors import DataError


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _mapping(text: str) -> dict:
    return yaml.load(text, Loader=MappingLoader)


def test_weak_matches_are_only_commented_and_unmapped_columns_listed(tmp_path) -> None:
    source = _write(
        tmp_path / "cohort.csv",
        "pat_identifier,agee,sexx,procedure,fu_weeks,L1_tscore,L2_tscore,treated_L1,"
        "treated_L2,new_fx_L1,new_fx_L2,colour\n"
        "A1,80,Female,VP,100,-2.5,,Yes,No,No,Yes,red\n",
    )
    drafted = suggest_mapping(source, base=tmp_path)
    mapping = _mapping(drafted.text)
    assert mapping["format"] == "table"
    assert mapping["records"] == "cohort.csv"
    patients = mapping["patients"]
    # sure: the exact name, the weeks converted to months
    assert patients["procedure"] == "procedure"
    assert patients["followup_months"] == {"column": "fu_weeks", "scale": 0.22998419, "round": 1}
    # similar names only: written commented out, for the user to check
    assert "age" not in patients
    assert "sex" not in patients
    assert "  # ? age: agee  # check: similar name (" in drafted.text
    assert "  # ? sex: sexx  # check: similar name (" in drafted.text
    assert set(drafted.guesses) >= {"patients.age", "patients.sex"}
    # nothing like a patient id: not written at all, listed as unmapped and required
    assert "patient_id" not in patients
    assert "pat_identifier" not in drafted.text.split("patients:")[1]
    assert "patients.patient_id" in drafted.required_unmapped
    assert "patients.age" in drafted.required_unmapped
    assert "# Required by the data contract, not mapped: patients.patient_id" in drafted.text
    # both spellings of per-level columns make patterns; the levels as written
    wide = mapping["levels"]["wide"]
    assert wide["levels"] == ["L1", "L2"]
    assert wide["columns"] == {
        "treated": "treated_{level}",
        "tscore": "{level}_tscore",
        "subsequent_fracture": "new_fx_{level}",
    }
    assert "levels.anterior_height_loss_pct" in drafted.required_unmapped


def test_values_without_a_contract_code_are_named(tmp_path) -> None:
    source = _write(
        tmp_path / "c.csv",
        "patient_id,sex,treated_L1,treated_L2\nA,Female,Yes,No\nB,Diverse,No,Yes\nC,Male,No,No\n",
    )
    drafted = suggest_mapping(source, base=tmp_path)
    assert "sex: sex  # exact name, 100 % sure; no contract value for 'Diverse' (1 row)" in (
        drafted.text
    )


def test_values_that_are_not_the_columns_kind_halve_the_confidence(tmp_path) -> None:
    source = _write(tmp_path / "c.csv", "patient_id,age\nA,old\nB,young\n")
    drafted = suggest_mapping(source, base=tmp_path)
    assert "# ? age: age  # check: exact name; its values are mostly not numbers, 70 % sure" in (
        drafted.text
    )
    assert "patients.age" in drafted.required_unmapped


def test_odd_column_names_are_quoted_so_they_read_back(tmp_path) -> None:
    source = _write(tmp_path / "c.csv", "Patient ID,age: years,sex\nA,80,F\n")
    drafted = suggest_mapping(source, base=tmp_path / "sub")
    mapping = _mapping(drafted.text)
    assert mapping["records"] == "../c.csv"
    assert mapping["patients"]["patient_id"] == "Patient ID"
    assert "no columns named per level" in drafted.text


def test_suggest_never_proposes_an_identifier_column(tmp_path) -> None:
    source = _write(tmp_path / "c.csv", "mrn,patient_name,age\n123,Ann,80\n")
    drafted = suggest_mapping(source, base=tmp_path)
    assert "mrn" not in drafted.text
    assert "patient_name" not in drafted.text


def test_a_dictionary_goes_with_a_redcap_export_only(tmp_path) -> None:
    with pytest.raises(DataError, match="goes with a REDCap records export"):
        suggest_mapping(tmp_path / "c.sav", tmp_path / "d.csv")
