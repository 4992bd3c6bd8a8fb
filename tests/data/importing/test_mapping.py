"""The mapping file: its shape, its checks against the contract and the source, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from refracture.data.importing.inputs import mapping_inputs
from refracture.data.importing.mapping import load_mapping, value_text
from refracture.data.importing.run import import_mapping
from refracture.errors import ConfigError, ConfigProblems
from tests.data.importing import fixtures as F


def _problems(mapping: Path) -> list[str]:
    with pytest.raises(ConfigProblems) as info:
        import_mapping(mapping)
    return list(info.value.problems)


def _rewrite(mapping: Path, *edits: tuple[str, str]) -> Path:
    text = mapping.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    mapping.write_text(text, encoding="utf-8")
    return mapping


@pytest.fixture(scope="module")
def wide(tmp_path_factory) -> Path:
    return F.wide_xlsx(tmp_path_factory.mktemp("wide"))


@pytest.fixture(scope="module")
def redcap(tmp_path_factory) -> Path:
    return F.redcap_raw(tmp_path_factory.mktemp("redcap"))


def _copy(mapping: Path, tmp_path: Path) -> Path:
    """The mapping beside its source, under a new name (the source is shared)."""
    copy = mapping.parent / f"{tmp_path.name}.yml"
    copy.write_text(mapping.read_text(encoding="utf-8"), encoding="utf-8")
    return copy


def test_bad_mapping_lists_every_problem_in_one_error(wide, tmp_path) -> None:
    """Unknown source column, unknown contract column, a wide pattern matching nothing,
    a value mapped to no contract code: one error names them all."""
    mapping = _rewrite(
        _copy(wide, tmp_path),
        ("sex: gender", "sex: {column: gendr, values: {Female: W, Male: M}}"),
        ("  bmi: bmi\n", "  bmi: bmi\n  weight: weight_kg\n"),
        ('"new_fx_{level}"', '"newfx_{level}"'),
    )
    name = mapping.name
    assert sorted(_problems(mapping)) == sorted(
        [
            f"{name}: patients.sex.values: 'Female' maps to 'W', but sex must be F or M",
            f"{name}: patients.weight: unknown contract column (patients columns: patient_id, "
            "age, sex, procedure, followup_months, bmi, steroid_use, osteoporosis_treatment)",
            f"{name}: patients.sex: no column 'gendr' in cohort.xlsx[cohort]; "
            "did you mean 'gender'?",
            f"{name}: levels.wide.columns.subsequent_fracture: 'newfx_{{level}}' matches no "
            "column of cohort.xlsx[cohort] for any of "
            "T5, T6, T7, T8, T9, T10, T11, T12, L1, L2, L3, L4, L5",
        ]
    )


def test_the_error_message_counts_and_lists_them(wide, tmp_path) -> None:
    mapping = _rewrite(
        _copy(wide, tmp_path), ("age: age_years", "age: agee"), ("bmi: bmi", "bmi: bm")
    )
    with pytest.raises(ConfigProblems) as info:
        import_mapping(mapping)
    text = str(info.value)
    assert text.startswith("2 problems in the mapping:\n")
    assert "patients.age: no column 'agee'" in text


def test_shape_problems_are_all_reported(tmp_path) -> None:
    path = tmp_path / "m.yml"
    path.write_text(
        "format: csv\nrecords: 3\npatients: {sex: {column: s, scale: x, foo: 1}}\n"
        "levels: {wide: {levels: []}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigProblems) as info:
        load_mapping(path)
    assert list(info.value.problems) == [
        "m.yml: format: must be one of 'redcap' or 'table' (got 'csv')",
        "m.yml: records: must be text (got 3)",
        "m.yml: patients.sex.scale: must be a number (got 'x')",
        "m.yml: patients.sex.foo: unknown key (valid keys in patients.sex: column, values, "
        "scale, offset, round)",
        "m.yml: levels.wide.levels: must not be empty (got [])",
        "m.yml: levels.wide.columns: is required",
    ]


def test_level_columns_sit_beside_the_options_in_messages(tmp_path) -> None:
    path = tmp_path / "m.yml"
    path.write_text(
        "format: redcap\nrecords: e.csv\npatients: {patient_id: id}\n"
        "levels: {repeating_instrument: lv, level: {column: x, round: -1}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigProblems) as info:
        load_mapping(path)
    assert info.value.problems == (
        "m.yml: levels.level.round: input should be greater than or equal to 0 (got -1)",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("format: [", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping with format, records, patients and levels"),
        ("format: table\nformat: redcap\n", "duplicate key 'format'"),
    ],
)
def test_unreadable_mapping_is_one_clear_error(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "m.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_mapping(path)


def test_a_missing_mapping_file_is_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yml: mapping file not found"):
        load_mapping(tmp_path / "nope.yml")


def test_values_maps_keep_yes_no_on_off_as_words(tmp_path) -> None:
    """YAML 1.1 would read Yes/No/on/off as booleans; a values map must see the words."""
    path = tmp_path / "m.yml"
    path.write_text(
        "format: table\nrecords: x.csv\npatients:\n  steroid_use: {column: s, values: "
        "{Yes: no, on: yes, 1: yes, 2.0: no, ~: no}}\n  sex: {column: s, values: {false: F}}\n"
        "levels: {records: l.csv}\n",
        encoding="utf-8",
    )
    patients = load_mapping(path).spec.patients
    assert patients["steroid_use"].values == {
        "Yes": "no",
        "on": "yes",
        "1": "yes",
        "2": "no",
        "": "no",
    }
    assert patients["sex"].values == {"no": "F"}  # a YAML boolean is the yes/no it says
    assert value_text(0.5) == "0.5"


def test_paths_resolve_against_the_mapping_folder(tmp_path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "m.yml"
    path.write_text(
        "format: redcap\nrecords: ../data/export.csv\ndictionary: dict.csv\n"
        "patients: {}\nlevels: {repeating_instrument: x}\n",
        encoding="utf-8",
    )
    m = load_mapping(path)
    assert m.records == tmp_path / "data" / "export.csv"
    assert m.dictionary == tmp_path / "sub" / "dict.csv"
    assert mapping_inputs(path) == [
        ("records", tmp_path / "data" / "export.csv"),
        ("dictionary", tmp_path / "sub" / "dict.csv"),
    ]


def test_mapping_inputs_of_a_broken_file_are_none(tmp_path) -> None:
    path = tmp_path / "m.yml"
    path.write_text("records: [", encoding="utf-8")
    assert mapping_inputs(path) == []
    assert mapping_inputs(tmp_path / "missing.yml") == []


def test_required_columns_must_be_mapped_and_options_fit_the_format(redcap, tmp_path) -> None:
    mapping = _rewrite(
        _copy(redcap, tmp_path),
        ("  sex: sex\n", ""),
        ("  level: vert_level\n", ""),
        ("  bmi: bmi\n", "  bmi: {column: bmi, values: {x: '12,5'}}\n"),
        ("  steroid_use: steroids\n", "  steroid_use: {column: steroids, scale: 2}\n"),
        ("dictionary: dictionary.csv\n", "dictionary: dictionary.csv\nsheet: one\n"),
    )
    name = mapping.name
    problems = _problems(mapping)
    assert f"{name}: sheet: not for a REDCap export (format: table files only)" in problems
    assert (
        f"{name}: patients: sex is required by the data contract (sex) but not mapped" in problems
    )
    assert (
        f"{name}: levels: level is required by the data contract (vertebral level) but not mapped"
        in problems
    )
    assert (
        f"{name}: patients.bmi.values: 'x' maps to '12,5', but bmi must be a number (or blank)"
        in problems
    )
    assert (
        f"{name}: patients.steroid_use.scale: only for number columns (steroid_use is yes/no)"
        in (problems)
    )


def test_a_redcap_field_from_the_wrong_form_is_named(redcap, tmp_path) -> None:
    mapping = _rewrite(
        _copy(redcap, tmp_path),
        ("  tscore: tscore\n", "  tscore: bmi\n"),
        ("  bmi: bmi\n", "  bmi: cement_ml\n"),
    )
    name = mapping.name
    assert sorted(_problems(mapping)) == [
        f"{name}: levels.tscore: field 'bmi' is on the form baseline, not on the repeating "
        "instrument vertebral_levels (its cells are blank on the instance rows)",
        f"{name}: patients.bmi: field 'cement_ml' is on the repeating instrument "
        "vertebral_levels (its cells are blank on the record rows)",
    ]


def test_an_identifier_column_is_never_mapped(redcap, tmp_path) -> None:
    mapping = _rewrite(
        _copy(redcap, tmp_path), ("patient_id: record_id", "patient_id: patient_name")
    )
    assert _problems(mapping) == [
        f"{mapping.name}: patients.patient_id: 'patient_name' looks like it holds an identifier "
        "flagged in the data dictionary (a personal identifier); refracture never copies one "
        "into the cohort: map a pseudonymous study id",
    ]


def test_an_unknown_repeating_instrument_lists_those_found(redcap, tmp_path) -> None:
    mapping = _rewrite(
        _copy(redcap, tmp_path),
        ("repeating_instrument: vertebral_levels", "repeating_instrument: levels"),
    )
    assert (
        f"{mapping.name}: levels.repeating_instrument: export.csv has no rows of the repeating "
        "instrument 'levels' (repeating instruments found: vertebral_levels)"
    ) in _problems(mapping)


def test_wide_levels_and_patterns_are_checked(wide, tmp_path) -> None:
    mapping = _rewrite(
        _copy(wide, tmp_path),
        ("levels: [T5,", "levels: [X9, Th5, T5,"),
        ('tscore: "tscore_{level}"', 'tscore: "tscore"'),
        ("  wide:\n", "  level: lv\n  wide:\n"),
    )
    name = mapping.name
    problems = _problems(mapping)
    assert f"{name}: levels.wide.levels[0]: 'X9' is no vertebral level (T1…T12, L1…L5)" in problems
    assert f"{name}: levels.wide.levels[2]: 'T5' is T5 again (listed as 'Th5')" in problems
    assert (
        f"{name}: levels.wide.columns.tscore: the pattern 'tscore' has no {{level}} "
        "(e.g. tscore_{level})" in problems
    )
    assert f"{name}: levels.level: with wide, the level columns go under levels.wide.columns" in (
        problems
    )


def test_unreadable_source_files_are_problems_of_the_mapping(tmp_path) -> None:
    path = tmp_path / "m.yml"
    path.write_text(
        "format: redcap\nrecords: export.csv\ndictionary: dictionary.csv\n"
        "patients: {patient_id: record_id}\nlevels: {repeating_instrument: x, level: l}\n",
        encoding="utf-8",
    )
    problems = _problems(path)
    assert (
        "m.yml: dictionary: dictionary.csv: no such file (the REDCap data dictionary)" in problems
    )
    assert "m.yml: records: export.csv: no such file (the REDCap records export)" in problems


def test_a_column_differing_in_case_only_is_named(wide, tmp_path) -> None:
    mapping = _rewrite(_copy(wide, tmp_path), ("bmi: bmi", "bmi: BMI"))
    assert _problems(mapping) == [
        f"{mapping.name}: patients.bmi: no column 'BMI' in cohort.xlsx[cohort]; found 'bmi' "
        "(column names are case-sensitive here)"
    ]
