"""The importer's promise, on every kind of source made from the example cohort.

Each source (REDCap raw and labels exports with their dictionary, a wide XLSX, a wide
SPSS file and a pair of Stata files with value labels) imports to exactly the example's
cohort, and its analyses give the example's ``results.json``: byte for byte, apart from
``meta.data`` and ``meta.provenance.inputs``, which name and hash the files a build read
(by design: the mapping, the export, the dictionary). A broken value in each source is
reported at its source cell: file, row as the user sees it there, column, value.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from refracture.data.importing.run import import_mapping
from refracture.data.importing.suggest import suggest_mapping
from refracture.data.load import cohort_from_import, read_raw
from refracture.data.validate import Cohort, validate
from tests.data.importing import fixtures as F

KINDS = tuple(F.MAKERS)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """Every kind of source, each with its mapping, made once for the module."""
    root = tmp_path_factory.mktemp("sources")
    return {kind: make(root / kind) for kind, make in F.MAKERS.items()}


def _without_source_names(text: str) -> str:
    """results.json without the two entries that name the files read."""
    doc = json.loads(text)
    doc["meta"].pop("data")
    doc["meta"]["provenance"].pop("inputs")
    return json.dumps(doc, indent=2, sort_keys=True)


@pytest.fixture(scope="module")
def example_json() -> str:
    from refracture.build.pipeline import analyse

    _, results = analyse(None, None, "the renderer", 0)
    return results.to_json()


def test_days_round_trip_exactly() -> None:
    """Every month value of the example survives months → whole days → the mapping's
    days × factor rounded to 0.1: the fixtures can stand for the example."""
    patients, levels = F.example()
    months = [m for m in [*patients["followup_months"], *levels["months_to_fracture"]] if m]
    for m in months:
        back = round(float(F.days(m)) * float(F.MONTHS_PER_DAY), 1)
        assert back == float(m)


@pytest.mark.parametrize("kind", KINDS)
def test_each_source_imports_to_the_example_cohort(
    sources, kind: str, example_cohort: Cohort
) -> None:
    report = validate(read_raw(sources[kind]))
    assert report.ok, report.render()
    assert report.warnings == []
    cohort = report.cohort
    assert cohort is not None
    for table in ("patients", "levels"):
        got = getattr(cohort, table).drop(columns="_row")
        want = getattr(example_cohort, table).drop(columns="_row")
        pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize("kind", KINDS)
def test_each_source_gives_the_example_results_json(sources, kind: str, example_json) -> None:
    from refracture.build.pipeline import analyse

    _, results = analyse(sources[kind], None, "the renderer", 0)
    got = results.to_json()
    assert _without_source_names(got) == _without_source_names(example_json)
    meta = json.loads(got)["meta"]
    assert meta["data"] == "mapping.yml"
    tables = [i["table"] for i in meta["provenance"]["inputs"]]
    assert tables[:3] == ["patients", "levels", "mapping"]
    assert all(i["file"] and "/" not in i["file"] for i in meta["provenance"]["inputs"])
    if kind.startswith("redcap"):
        assert tables[3:] == ["data dictionary"]


def test_a_raw_redcap_import_writes_the_example_csv_byte_for_byte(sources) -> None:
    from refracture.data.example import example_path
    from refracture.data.importing.report import contract_csv

    raw = read_raw(sources["redcap-raw"])
    for table in ("patients", "levels"):
        want = (example_path() / f"{table}.csv").read_text(encoding="utf-8")
        assert contract_csv(raw.table(table)) == want


@pytest.mark.parametrize("kind", KINDS)
def test_identifier_columns_never_reach_the_cohort(sources, kind: str) -> None:
    imported = import_mapping(sources[kind])
    for frame in imported.tables.values():
        cells = frame.to_numpy().astype(str)  # type: ignore[union-attr]
        assert not np.char.startswith(cells, "Name of ").any()
    assert imported.summary.identifiers  # named in the report, never read


# ---------------------------------------------------------------------------
# A broken value points at its source cell
# ---------------------------------------------------------------------------


def _redcap_set(record: str, instance: str, column: str, value: str):
    """A patch of the export: the cell of ``column`` on a record's row (instance "") or
    on one instance's row."""

    def patch(rows: list[list[str]]) -> None:
        header = rows[0]
        at = header.index(column) if column in header else None
        for row in rows[1:]:
            if row[0] == record and row[2] == instance:
                assert at is not None
                row[at] = value
                return
        raise AssertionError("no such row")

    return patch


def _first_row_of(rows: list[list[str]], record: str, instance: str) -> int:
    for n, row in enumerate(rows[1:], start=2):
        if row[0] == record and row[2] == instance:
            return n
    raise AssertionError("no such row")


def _only_error(mapping: Path):
    report = validate(read_raw(mapping))
    assert len(report.errors) == 1, report.render()
    return report.errors[0]


def test_redcap_raw_problem_names_record_instance_column_and_code(tmp_path) -> None:
    patch = _redcap_set("P0002", "2", "vert_level", "99")
    mapping = F.redcap_raw(tmp_path, patch)
    row = _first_row_of(F.redcap_records(False), "P0002", "2")
    p = _only_error(mapping)
    assert (p.file, p.row, p.column, p.value) == (
        "export.csv",
        f"record P0002, instance 2 (row {row})",
        "vert_level → level",
        "99",
    )
    assert "not allowed" in p.rule
    assert "values:" in p.rule  # how to fix it


def test_redcap_labels_problem_names_the_label_as_written(tmp_path) -> None:
    patch = _redcap_set("P0005", "", "Sex", "Other")  # the labels export heads it "Sex"
    mapping = F.redcap_labels(tmp_path, patch)
    row = _first_row_of(F.redcap_records(True), "P0005", "")
    p = _only_error(mapping)
    assert (p.file, p.row, p.column, p.value) == (
        "export.csv",
        f"record P0005 (row {row})",
        "sex",
        "Other",
    )
    assert "expected F or M" in p.rule


def test_redcap_a_code_with_a_label_that_resolves_nothing_says_what_it_means(tmp_path) -> None:
    mapping = F.redcap_raw(tmp_path, _redcap_set("P0003", "", "sex", "3"))
    text = (tmp_path / "dictionary.csv").read_text(encoding="utf-8")
    (tmp_path / "dictionary.csv").write_text(
        text.replace("1, Female | 2, Male", "1, Female | 2, Male | 3, Diverse"), encoding="utf-8"
    )
    p = _only_error(mapping)
    assert p.value == "3"
    assert "'Diverse' in the data dictionary" in p.rule


def test_redcap_days_beyond_follow_up_name_the_patients_record(tmp_path) -> None:
    rows = F.redcap_records(False)
    header = rows[0]
    fractured = next(r for r in rows[1:] if r[2] and r[header.index("new_fracture")] == "1")
    record, instance = fractured[0], fractured[2]
    mapping = F.redcap_raw(tmp_path, _redcap_set(record, instance, "fracture_days", "99999"))
    p = _only_error(mapping)
    record_row = _first_row_of(rows, record, "")
    assert p.column == "fracture_days → months_to_fracture"
    assert p.value == "99999"
    assert f"export.csv record {record} (row {record_row})" in p.rule
    assert "(read as " in p.rule  # the value after the mapping's conversion


def test_wide_xlsx_problem_names_the_spreadsheet_row_and_level_column(tmp_path) -> None:
    def patch(frame: pd.DataFrame) -> None:
        frame.loc[3, "tscore_L1"] = -9.0  # the 4th patient: spreadsheet row 5

    p = _only_error(F.wide_xlsx(tmp_path, patch))
    assert (p.file, p.row, p.column, p.value) == (
        "cohort.xlsx",
        "row 5",
        "tscore_L1 → tscore",
        "-9",
    )
    assert "out of range" in p.rule


def test_wide_sav_problem_names_the_case(tmp_path) -> None:
    def patch(frame: pd.DataFrame) -> None:
        frame.loc[2, "age_years"] = 150.0  # SPSS case 3

    p = _only_error(F.wide_sav(tmp_path, patch))
    assert (p.file, p.row, p.column, p.value) == ("cohort.sav", "case 3", "age_years → age", "150")


def test_long_dta_problem_names_the_levels_file_observation(tmp_path) -> None:
    def patch(patients: pd.DataFrame, levels: pd.DataFrame) -> None:
        levels.loc[6, "treated"] = 5.0  # observation 7, a code without a label

    p = _only_error(F.long_dta(tmp_path, patch))
    assert (p.file, p.row, p.column, p.value) == ("levels.dta", "observation 7", "treated", "5")
    assert "not a yes/no value" in p.rule


def test_every_problem_is_reported_at_once(tmp_path) -> None:
    def patch(frame: pd.DataFrame) -> None:
        frame.loc[0, "gender"] = "X"
        frame.loc[1, "bmi"] = "heavy"
        frame.loc[2, "treated_L2"] = "maybe"

    report = validate(read_raw(F.wide_xlsx(tmp_path, patch)))
    found = {(p.row, p.column, p.value) for p in report.errors}
    assert found == {
        ("row 2", "gender → sex", "X"),
        ("row 3", "bmi", "heavy"),
        ("row 4", "treated_L2 → treated", "maybe"),
    }


# ---------------------------------------------------------------------------
# --suggest on each source maps every required column; accepted, it imports
# ---------------------------------------------------------------------------


def _suggest(kind: str, mapping: Path):
    folder = mapping.parent
    if kind.startswith("redcap"):
        return suggest_mapping(folder / "export.csv", folder / "dictionary.csv", base=folder)
    if kind == "long-dta":
        return suggest_mapping(folder / "patients.dta", levels=folder / "levels.dta", base=folder)
    source = next(p for p in folder.iterdir() if p.suffix in (".xlsx", ".sav"))
    return suggest_mapping(source, base=folder)


@pytest.mark.parametrize("kind", KINDS)
def test_suggest_maps_every_required_column(sources, kind: str) -> None:
    drafted = _suggest(kind, sources[kind])
    assert drafted.required_unmapped == ()
    assert drafted.guesses == ()


@pytest.mark.parametrize("kind", KINDS)
def test_an_accepted_suggestion_imports_the_example(
    sources, kind: str, example_cohort: Cohort, tmp_path
) -> None:
    drafted = _suggest(kind, sources[kind])
    accepted = sources[kind].parent / f"suggested-{tmp_path.name}.yml"
    accepted.write_text(drafted.text, encoding="utf-8")
    try:
        report = validate(cohort_from_import(import_mapping(accepted)))
    finally:
        accepted.unlink()
    assert report.ok, report.render()
    for table in ("patients", "levels"):
        got = getattr(report.cohort, table).drop(columns="_row")
        pd.testing.assert_frame_equal(got, getattr(example_cohort, table).drop(columns="_row"))


def _wide_as(folder: Path, kind: str) -> Path:
    frame, _ = F.wide_frame(codes=False)
    folder.mkdir()
    if kind == "csv":
        frame.to_csv(folder / "cohort.csv", index=False)
        text = F.wide_mapping("cohort.csv", codes=False)
    elif kind == "parquet":
        frame.to_parquet(folder / "cohort.parquet")
        text = F.wide_mapping("cohort.parquet", codes=False)
    else:  # a REDCap project that keeps the levels as fields of the record
        frame.rename(columns={"study_id": "record_id"}).to_csv(folder / "export.csv", index=False)
        text = (
            F.wide_mapping("export.csv", codes=False)
            .replace("format: table", "format: redcap")
            .replace("patient_id: study_id", "patient_id: record_id")
        )
    (folder / "mapping.yml").write_text(text, encoding="utf-8")
    return folder / "mapping.yml"


@pytest.mark.parametrize("kind", ["csv", "parquet", "redcap-wide"])
def test_wide_levels_from_other_sources(tmp_path, kind: str, example_cohort: Cohort) -> None:
    report = validate(read_raw(_wide_as(tmp_path / kind, kind)))
    assert report.ok, report.render()
    for table in ("patients", "levels"):
        got = getattr(report.cohort, table).drop(columns="_row")
        pd.testing.assert_frame_equal(got, getattr(example_cohort, table).drop(columns="_row"))


def test_sas_transport_files_of_patients_and_levels(tmp_path, example_cohort: Cohort) -> None:
    """SAS names are at most 8 characters and carry no value labels: text codes then."""
    import pyreadstat

    patients, levels = F.example()
    short = {
        "patient_id": "pid",
        "followup_months": "fu_m",
        "steroid_use": "steroid",
        "osteoporosis_treatment": "osteo",
        "anterior_height_loss_pct": "ahl",
        "cement_volume_ml": "cem_vol",
        "cement_leakage": "leak",
        "subsequent_fracture": "new_fx",
        "months_to_fracture": "mo_fx",
        "procedure": "proc",
    }
    numbers = {"age", "followup_months", "bmi", "tscore", "anterior_height_loss_pct"}
    numbers |= {"cement_volume_ml", "months_to_fracture"}
    for name, frame in (("patients", patients), ("levels", levels)):
        out = frame.copy()
        for col in numbers & set(out.columns):
            out[col] = [float(v) if v else np.nan for v in out[col]]
        pyreadstat.write_xport(out.rename(columns=short), tmp_path / f"{name}.xpt")
    lines = ["format: table", "records: patients.xpt", "patients:"]
    lines += [f"  {c}: {short.get(c, c)}" for c in patients.columns]
    lines += ["levels:", "  records: levels.xpt"]
    lines += [f"  {c}: {short.get(c, c)}" for c in levels.columns]
    mapping = tmp_path / "mapping.yml"
    mapping.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = validate(read_raw(mapping))
    assert report.ok, report.render()
    for table in ("patients", "levels"):
        got = getattr(report.cohort, table).drop(columns="_row")
        pd.testing.assert_frame_equal(got, getattr(example_cohort, table).drop(columns="_row"))
    problem_free = import_mapping(mapping).summary
    assert problem_free.rows[1][1] == "observations of levels.xpt"


def test_redcap_patient_id_from_another_field_of_the_record(tmp_path, example_cohort) -> None:
    """Records numbered 1, 2, … with the study id in a field of the record row: the
    instance rows, which carry only the record number, get their record's study id."""
    numbers: dict[str, str] = {}

    def renumber(rows: list[list[str]]) -> None:
        rows[0].insert(1, "study_id")
        for row in rows[1:]:
            number = numbers.setdefault(row[0], str(len(numbers) + 1))
            row.insert(1, row[0] if row[2] == "" else "")  # on the record's row only
            row[0] = number

    mapping = F.redcap_raw(tmp_path, renumber)
    dictionary = tmp_path / "dictionary.csv"
    lines = dictionary.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(2, "study_id,baseline,,text,Study ID" + "," * 13 + "\n")
    dictionary.write_text("".join(lines), encoding="utf-8")
    text = mapping.read_text(encoding="utf-8").replace(
        "patient_id: record_id", "patient_id: study_id"
    )
    mapping.write_text(text, encoding="utf-8")
    report = validate(read_raw(mapping))
    assert report.ok, report.render()
    for table in ("patients", "levels"):
        got = getattr(report.cohort, table).drop(columns="_row")
        pd.testing.assert_frame_equal(got, getattr(example_cohort, table).drop(columns="_row"))


def test_each_kind_of_rule_names_its_source_cell(tmp_path) -> None:
    """Row rules, the unique key and the rules across tables, in a REDCap export: each
    problem names the instance row, the source column and the value as written there,
    and a problem that refers to another row names that row as the export shows it."""
    rows = F.redcap_records(False)
    header = rows[0]
    col = {name: header.index(name) for name in header}
    p1 = [r for r in rows[1:] if r[0] == "P0001" and r[2]]
    treated = next(r for r in p1 if r[col["treated"]] == "1")
    untreated, other = [r for r in p1 if r[col["treated"]] == "0"][:2]
    row_of = {id(r): n for n, r in enumerate(rows[1:], start=2)}
    where = {
        k: f"record P0001, instance {r[2]} (row {row_of[id(r)]})"
        for k, r in (("treated", treated), ("untreated", untreated), ("other", other))
    }

    def patch(table: list[list[str]]) -> None:
        t = next(r for r in table[1:] if r[0] == "P0001" and r[2] == treated[2])
        u = next(r for r in table[1:] if r[0] == "P0001" and r[2] == untreated[2])
        o = next(r for r in table[1:] if r[0] == "P0001" and r[2] == other[2])
        t[col["height_loss"]] = ""  # required where treated
        u[col["cement_ml"]] = "3.5"  # only where treated
        u[col["vert_level"]] = t[col["vert_level"]]  # the same level twice
        o[col["treated"]] = ""  # a required cell left blank

    report = validate(read_raw(F.redcap_raw(tmp_path, patch)))
    found = {(p.row, p.column, p.value): p.rule for p in report.errors}
    # the later of the two rows with one level is the duplicate of the earlier
    two = {"treated": treated, "untreated": untreated}
    first, later = sorted(two, key=lambda k: row_of[id(two[k])])
    level = treated[col["vert_level"]]
    assert set(found) == {
        (where["treated"], "height_loss → anterior_height_loss_pct", ""),
        (where["untreated"], "cement_ml → cement_volume_ml", "3.5"),
        (where["other"], "treated", ""),
        (where[later], "vert_level → level", level),
    }
    duplicate = found[(where[later], "vert_level → level", level)]
    assert f"same patient_id and level as {where[first]}" in duplicate
    assert all(p.file == "export.csv" for p in report.errors)


def test_an_unmapped_optional_column_is_a_warning_of_the_mapping(tmp_path) -> None:
    mapping = F.redcap_raw(tmp_path)
    text = mapping.read_text(encoding="utf-8").replace("  bmi: bmi\n", "")
    mapping.write_text(text, encoding="utf-8")
    report = validate(read_raw(mapping))
    assert report.ok
    [warning] = report.warnings
    assert (warning.file, warning.row, warning.column) == ("mapping.yml", None, "bmi")
    assert warning.rule.startswith("optional column is missing")


def test_a_wide_level_without_its_column_says_so(tmp_path) -> None:
    """A treated level whose height-loss column the sheet lacks: the problem names the
    column the pattern looked for."""

    def patch(frame: pd.DataFrame) -> None:
        del frame["height_loss_T12"]

    report = validate(read_raw(F.wide_xlsx(tmp_path, patch)))
    assert report.errors
    first = report.errors[0]
    assert first.column == "height_loss_T12 → anterior_height_loss_pct"
    assert "cohort.xlsx has no column height_loss_T12" in first.rule
