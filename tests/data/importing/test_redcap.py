"""REDCap data dictionaries and records exports, raw and with labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from refracture.data.importing.redcap import (
    normalise_name,
    read_dictionary,
    read_export,
    split_rows,
)
from refracture.errors import DataError
from tests.data.importing import fixtures as F

API_DICTIONARY = """\
field_name,form_name,field_type,field_label,select_choices_or_calculations,identifier
study_id,enrol,text,Study ID,,
dob,enrol,text,Date of birth,,y
meds,enrol,checkbox,Medications,"1, Steroids | 2, Bisphosphonates | -9, Other",
smoker,enrol,truefalse,Smoker,,
intro,enrol,descriptive,Welcome,,
lvl,levels,radio,Level,"12, T12|13 ,L1",
"""


@pytest.fixture
def api_dictionary(tmp_path) -> Path:
    path = tmp_path / "api.csv"
    path.write_text(API_DICTIONARY, encoding="utf-8")
    return path


def test_dictionary_download_headers(tmp_path) -> None:
    F.redcap_raw(tmp_path)
    d = read_dictionary(tmp_path / "dictionary.csv")
    assert d.record_id == "record_id"
    assert d.fields["sex"].choices == {"1": "Female", "2": "Male"}
    assert d.fields["steroids"].choices == {"1": "Yes", "0": "No"}
    assert d.fields["vert_level"].choices["13"] == "L1"
    assert d.identifiers() == {"patient_name"}
    assert d.column_label("age") == "Age at the index procedure (years)"


def test_dictionary_api_headers_checkboxes_and_odd_choices(api_dictionary) -> None:
    d = read_dictionary(api_dictionary)
    assert list(d.fields) == ["study_id", "dob", "meds", "smoker", "lvl"]  # no descriptive
    assert d.identifiers() == {"dob"}
    assert d.fields["smoker"].choices == {"1": "True", "0": "False"}
    assert d.fields["lvl"].choices == {"12": "T12", "13": "L1"}
    assert d.value_labels("meds___2") == {"1": "Checked", "0": "Unchecked"}
    assert d.column_label("meds___2") == "Medications (choice=Bisphosphonates)"
    assert d.column_label("meds____9") == "Medications (choice=Other)"
    assert d.field_of("meds___1") is d.fields["meds"]
    assert d.value_labels("nothing") is None


def test_a_file_that_is_no_dictionary_is_refused(tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="is not a REDCap data dictionary"):
        read_dictionary(path)


def test_labels_export_headers_become_variable_names(tmp_path, api_dictionary) -> None:
    export = tmp_path / "labels.csv"
    export.write_text(
        "Study ID,Repeat Instrument,Repeat Instance,Date of birth,"
        "Medications (choice=Bisphosphonates),Smoker,Complete?,Level,Complete?,Unknown\n"
        "S1,,,1950-01-01,Checked,True,Complete,,,\n"
        "S1,Levels,1,,,,,T12,Complete,\n",
        encoding="utf-8",
    )
    table = read_export(export, read_dictionary(api_dictionary))
    assert table.columns == [
        "study_id",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
        "meds___2",
        "smoker",
        "enrol_complete",
        "lvl",
        "levels_complete",
        "Unknown",
    ]  # the identifier dob is dropped on reading
    assert table.identifiers == {"dob": "an identifier flagged in the data dictionary"}
    assert table.value_labels["lvl"] == {"12": "T12", "13": "L1"}
    split = split_rows(table, "study_id", "levels")
    assert split.record_rows.where.tolist() == ["record S1 (row 2)"]
    assert split.instance_rows is not None
    assert split.instance_rows.where.tolist() == ["record S1, instance 1 (row 3)"]
    assert split.instruments == {"Levels": 1}


def test_an_export_without_a_dictionary_drops_identifier_names(tmp_path) -> None:
    export = tmp_path / "e.csv"
    export.write_text("record_id,first_name,age\n1,Ann,80\n\n2,Bob,70\n", encoding="utf-8")
    table = read_export(export, None)
    assert table.columns == ["record_id", "age"]
    assert table.frame.index.tolist() == [2, 4]  # blank line dropped, rows as in the file
    assert table.identifiers == {"first_name": "a name"}


def test_an_export_that_is_not_utf8_is_refused(tmp_path) -> None:
    export = tmp_path / "e.csv"
    export.write_bytes("record_id,name\n1,Müller\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_export(export, None)


def test_instrument_names_compare_as_redcap_makes_form_names() -> None:
    assert normalise_name("Vertebral Levels") == normalise_name("vertebral_levels")
