"""Reading cohorts from CSV, XLSX and Parquet, and the read errors."""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from refracture.data.load import RawCohort, read_raw
from refracture.data.validate import load_cohort, validate
from refracture.errors import DataError, DataValidationError
from tests.data.cohorts import (
    Tables,
    set_cell,
    typed_frame,
    valid_tables,
    write_csv,
    write_parquet,
    write_xlsx,
)


@pytest.fixture
def tables() -> Tables:
    return valid_tables()


def assert_text_equal(raw: RawCohort, tables: Tables) -> None:
    for name in ("patients", "levels"):
        frame = raw.table(name)
        assert list(frame.columns) == list(tables[name].columns)
        assert frame.index.tolist() == list(range(2, len(tables[name]) + 2))
        assert frame.to_numpy().tolist() == tables[name].to_numpy().tolist()


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------


def test_csv_read_as_text(tmp_path: Path, tables: Tables) -> None:
    raw = read_raw(write_csv(tables, tmp_path / "c"))
    assert raw.format == "csv"
    assert raw.label("patients") == "patients.csv"
    assert raw.label("levels") == "levels.csv"
    assert raw.source.levels_path == tmp_path / "c" / "levels.csv"
    assert raw.labels == {"patients": "patients.csv", "levels": "levels.csv"}
    assert raw.paths["patients"] == tmp_path / "c" / "patients.csv"
    assert_text_equal(raw, tables)  # "" for blank, "-1.0" kept as written
    assert raw.levels.loc[8, "tscore"] == "-1.0"
    assert raw.patients.loc[3, "bmi"] == ""


def test_csv_with_bom(tmp_path: Path, tables: Tables) -> None:
    folder = write_csv(tables, tmp_path / "c", encoding="utf-8-sig")
    assert (folder / "patients.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    raw = read_raw(folder)
    assert raw.patients.columns[0] == "patient_id"
    assert validate(raw).ok


def test_csv_keeps_text_that_looks_like_numbers(tmp_path: Path, tables: Tables) -> None:
    tables["patients"]["patient_id"] = ["007", "1e3", "NA"]
    tables["levels"]["patient_id"] = ["007"] * 3 + ["1e3"] * 2 + ["NA"] * 2
    cohort = load_cohort(write_csv(tables, tmp_path / "c"))
    assert cohort.patients["patient_id"].tolist() == ["007", "1e3", "NA"]


def test_csv_non_ascii_utf8(tmp_path: Path, tables: Tables) -> None:
    tables["patients"]["notes"] = ["Wirbelkörper", "£", "日本"]
    cohort = load_cohort(write_csv(tables, tmp_path / "c"))
    assert cohort.patients["notes"].tolist() == ["Wirbelkörper", "£", "日本"]


def test_csv_blank_lines_keep_row_numbers(tmp_path: Path, tables: Tables) -> None:
    folder = write_csv(tables, tmp_path / "c")
    path = folder / "patients.csv"
    lines = path.read_text().splitlines()
    lines.insert(2, "")  # a blank line as row 3
    lines.insert(3, ",,,,,,,")  # and an all-blank row 4
    lines[5] = lines[5].replace("P03,65", "P03,5")  # row 6 (was row 4)
    path.write_text("\n".join(lines) + "\n\n\n")
    raw = read_raw(folder)
    assert raw.patients.index.tolist() == [2, 5, 6]
    (error,) = validate(raw).errors
    assert (error.file, error.row, error.column, error.value) == ("patients.csv", 6, "age", "5")


def test_csv_quoted_newline_counts_as_one_row(tmp_path: Path, tables: Tables) -> None:
    tables["patients"]["notes"] = ["two\nlines", "", ""]
    set_cell(tables, "patients", 3, "age", "5")
    report = validate(read_raw(write_csv(tables, tmp_path / "c")))
    assert [(e.row, e.column) for e in report.errors] == [(3, "age")]


def test_csv_trailing_commas_dropped(tmp_path: Path, tables: Tables) -> None:
    folder = write_csv(tables, tmp_path / "c")
    path = folder / "levels.csv"
    path.write_text("".join(line + ",,\n" for line in path.read_text().splitlines()))
    raw = read_raw(folder)
    assert list(raw.levels.columns) == list(tables["levels"].columns)


def test_extra_columns_kept(tmp_path: Path, tables: Tables) -> None:
    tables["levels"]["surgeon"] = list("ABCDEFG")
    raw = read_raw(write_csv(tables, tmp_path / "c"))
    assert raw.levels["surgeon"].tolist() == list("ABCDEFG")
    cohort = load_cohort(tmp_path / "c")
    assert cohort.levels["surgeon"].tolist() == list("ABCDEFG")
    assert [(w.column, w.check) for w in cohort.warnings] == [("surgeon", "extra_column")]


def test_latin1_file_is_rejected_naming_the_file(tmp_path: Path, tables: Tables) -> None:
    tables["levels"]["note"] = ["", "", "Wirbelkörper", "", "", "", ""]
    set_cell(tables, "levels", 6, "tscore", "-3.1")  # no Unicode minus: latin-1 lacks it
    folder = write_csv(tables, tmp_path / "c")
    write_csv({"levels": tables["levels"]}, folder, encoding="latin-1")
    with pytest.raises(DataError) as exc:
        read_raw(folder)
    msg = str(exc.value)
    assert "levels.csv" in msg
    assert "not UTF-8" in msg
    assert "latin-1" in msg
    assert "line 4" in msg
    assert "save it as UTF-8" in msg


def test_latin1_in_header_is_rejected(tmp_path: Path, tables: Tables) -> None:
    folder = write_csv(tables, tmp_path / "c")
    (folder / "patients.csv").write_bytes("patient_id,größe\nP1,1\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"patients\.csv is not UTF-8"):
        read_raw(folder)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_utf16_file_is_rejected(tmp_path: Path, tables: Tables, encoding: str) -> None:
    folder = write_csv(tables, tmp_path / "c")
    write_csv({"patients": tables["patients"]}, folder, encoding=encoding)
    with pytest.raises(DataError, match=r"patients\.csv is not UTF-8 .*UTF-16"):
        read_raw(folder)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        pytest.param(b"", "is empty", id="empty"),
        pytest.param(b"\n \n", "is empty", id="whitespace"),
        pytest.param(b"patient_id,age\n", "no data rows", id="header-only"),
        pytest.param(b"patient_id,age\n,\n\n", "no data rows", id="blank-rows-only"),
        pytest.param(b"patient_id;age;sex\nP1;70;F\n", "semicolons", id="semicolons"),
        pytest.param(b"patient_id,age,age\nP1,70,71\n", "'age' appears more", id="duplicate"),
        pytest.param(b"a,b\n1,2\n3,4,5\n", "could not be read as CSV", id="ragged"),
        pytest.param(b'a,b\n"1,2\n', "could not be read as CSV", id="unclosed-quote"),
    ],
)
def test_unreadable_csv(tmp_path: Path, tables: Tables, content: bytes, match: str) -> None:
    folder = write_csv(tables, tmp_path / "c")
    (folder / "levels.csv").write_bytes(content)
    with pytest.raises(DataError, match=match) as exc:
        read_raw(folder)
    assert "levels.csv" in str(exc.value)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        read_raw(tmp_path / "nowhere")


def test_missing_table(tmp_path: Path, tables: Tables) -> None:
    folder = write_csv(tables, tmp_path / "c")
    (folder / "levels.csv").unlink()
    with pytest.raises(DataError, match=r"levels\.csv is missing"):
        read_raw(folder)


def test_missing_table_case_hint(tmp_path: Path, tables: Tables) -> None:
    folder = write_csv(tables, tmp_path / "c")
    (folder / "levels.csv").rename(folder / "Levels.csv")
    with pytest.raises(DataError, match=r"'Levels\.csv'"):
        read_raw(folder)


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no cohort found"):
        read_raw(tmp_path)


def test_single_csv_file_given(tmp_path: Path, tables: Tables) -> None:
    folder = write_csv(tables, tmp_path / "c")
    with pytest.raises(DataError, match="give the folder"):
        read_raw(folder / "patients.csv")


# ---------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------


def test_xlsx_numbers_become_plain_text(tmp_path: Path, tables: Tables) -> None:
    tables["patients"]["patient_id"] = ["1001", "1002", "1003"]
    tables["levels"]["patient_id"] = ["1001"] * 3 + ["1002"] * 2 + ["1003"] * 2
    path = write_xlsx(tables, tmp_path / "cohort.xlsx")
    ws = openpyxl.load_workbook(path)["patients"]
    assert ws["A2"].value == 1001  # stored as a number, like Excel does
    raw = read_raw(path)
    assert raw.format == "xlsx"
    assert raw.label("levels") == "cohort.xlsx[levels]"
    assert raw.patients["patient_id"].tolist() == ["1001", "1002", "1003"]
    assert raw.patients["age"].tolist() == ["70", "81", "65"]  # not "70.0"
    assert raw.levels["tscore"].tolist() == ["", "-2.5", "", "", "-3.1", "", "-1"]
    assert raw.levels.loc[2, "cement_volume_ml"] == "4.5"
    cohort = load_cohort(path)
    assert cohort.patients["patient_id"].tolist() == ["1001", "1002", "1003"]
    assert cohort.levels["tscore"].iloc[4] == -3.1


def test_xlsx_equals_csv(tmp_path: Path, tables: Tables) -> None:
    from_csv = load_cohort(write_csv(tables, tmp_path / "c"))
    from_xlsx = load_cohort(write_xlsx(tables, tmp_path / "x" / "cohort.xlsx"))
    pd.testing.assert_frame_equal(from_csv.patients, from_xlsx.patients)
    pd.testing.assert_frame_equal(from_csv.levels, from_xlsx.levels)


def test_xlsx_in_folder(tmp_path: Path, tables: Tables) -> None:
    write_xlsx(tables, tmp_path / "x" / "data.xlsx")
    (tmp_path / "x" / "~$data.xlsx").write_bytes(b"lock file")
    raw = read_raw(tmp_path / "x")
    assert raw.label("patients") == "data.xlsx[patients]"
    assert raw.source.path == tmp_path / "x"


def test_two_xlsx_in_folder(tmp_path: Path, tables: Tables) -> None:
    write_xlsx(tables, tmp_path / "x" / "a.xlsx")
    write_xlsx(tables, tmp_path / "x" / "b.xlsx")
    with pytest.raises(DataError, match="several"):
        read_raw(tmp_path / "x")


def test_xlsx_problem_labels(tmp_path: Path, tables: Tables) -> None:
    set_cell(tables, "levels", 3, "tscore", "-7")
    report = validate(read_raw(write_xlsx(tables, tmp_path / "cohort.xlsx")))
    (error,) = report.errors
    assert (error.file, error.row, error.column, error.value) == (
        "cohort.xlsx[levels]",
        3,
        "tscore",
        "-7",
    )


def test_xlsx_header_below_title_rows(tmp_path: Path, tables: Tables) -> None:
    path = write_xlsx(tables, tmp_path / "cohort.xlsx", numbers_as_numbers=False)
    wb = openpyxl.load_workbook(path)
    wb["patients"].insert_rows(1, amount=2)
    wb["patients"]["A1"] = None
    wb["patients"]["D5"] = "XP"  # row 5 = third data row, header now on row 3
    wb.save(path)
    (error,) = validate(read_raw(path)).errors
    assert (error.row, error.column, error.value) == (5, "procedure", "XP")


def test_xlsx_text_and_bool_cells(tmp_path: Path, tables: Tables) -> None:
    path = write_xlsx(tables, tmp_path / "cohort.xlsx", numbers_as_numbers=False)
    wb = openpyxl.load_workbook(path)
    ws = wb["levels"]
    ws["C2"] = True  # treated as an Excel boolean
    ws["H2"] = False
    ws["E2"] = 30.0
    wb.save(path)
    raw = read_raw(path)
    assert raw.levels.loc[2, "treated"] == "true"
    assert raw.levels.loc[2, "anterior_height_loss_pct"] == "30"
    assert validate(raw).ok


def test_xlsx_missing_sheet(tmp_path: Path, tables: Tables) -> None:
    path = write_xlsx(
        {"patients": tables["patients"], "Levels": tables["levels"]}, tmp_path / "c.xlsx"
    )
    with pytest.raises(DataError, match=r"c\.xlsx: sheet 'levels' is missing; found 'Levels'"):
        read_raw(path)


def test_xlsx_empty_sheet(tmp_path: Path, tables: Tables) -> None:
    path = write_xlsx(tables, tmp_path / "c.xlsx")
    wb = openpyxl.load_workbook(path)
    del wb["levels"]
    wb.create_sheet("levels")
    wb.save(path)
    with pytest.raises(DataError, match=r"c\.xlsx\[levels\] is empty"):
        read_raw(path)


@pytest.mark.parametrize("content", [b"", b"this is not a workbook"], ids=["empty", "garbage"])
def test_xlsx_unreadable(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "c.xlsx"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"c\.xlsx"):
        read_raw(path)


# ---------------------------------------------------------------------------
# Parquet
# ---------------------------------------------------------------------------


def test_parquet_typed_columns_read_as_text(tmp_path: Path, tables: Tables) -> None:
    folder = write_parquet(tables, tmp_path / "p")
    assert pd.read_parquet(folder / "patients.parquet")["age"].dtype == np.float64
    raw = read_raw(folder)
    assert raw.format == "parquet"
    assert raw.label("patients") == "patients.parquet"
    assert raw.patients["age"].tolist() == ["70", "81", "65"]  # 70.0 -> "70"
    assert raw.patients["bmi"].tolist() == ["24.5", "", "30"]  # NaN -> ""
    assert raw.patients["steroid_use"].tolist() == ["true", "false", "false"]
    assert raw.levels["tscore"].tolist() == ["", "-2.5", "", "", "-3.1", "", "-1"]


def test_parquet_equals_csv(tmp_path: Path, tables: Tables) -> None:
    from_csv = load_cohort(write_csv(tables, tmp_path / "c"))
    from_pq = load_cohort(write_parquet(tables, tmp_path / "p"))
    pd.testing.assert_frame_equal(from_csv.patients, from_pq.patients)
    pd.testing.assert_frame_equal(from_csv.levels, from_pq.levels)


def test_parquet_integer_and_inf_values(tmp_path: Path, tables: Tables) -> None:
    folder = write_parquet(tables, tmp_path / "p")
    patients = typed_frame("patients", tables["patients"])
    patients["patient_id"] = [101, 102, 103]
    patients["age"] = [70.0, np.inf, 65.0]
    patients.to_parquet(folder / "patients.parquet", index=False)
    levels = typed_frame("levels", tables["levels"])
    levels["patient_id"] = pd.array([101] * 3 + [102] * 2 + [103] * 2, dtype="Int64")
    levels.to_parquet(folder / "levels.parquet", index=False)
    raw = read_raw(folder)
    assert raw.patients["patient_id"].tolist() == ["101", "102", "103"]
    errors = validate(raw).errors
    assert [(e.file, e.row, e.column, e.value) for e in errors] == [
        ("patients.parquet", 3, "age", "inf")
    ]


@pytest.mark.parametrize("content", [b"", b"PAR1 garbage"], ids=["empty", "garbage"])
def test_parquet_unreadable(tmp_path: Path, tables: Tables, content: bytes) -> None:
    folder = write_parquet(tables, tmp_path / "p")
    (folder / "levels.parquet").write_bytes(content)
    with pytest.raises(DataError, match=r"levels\.parquet"):
        read_raw(folder)


def test_parquet_without_rows(tmp_path: Path, tables: Tables) -> None:
    folder = write_parquet(tables, tmp_path / "p")
    typed_frame("levels", tables["levels"]).iloc[0:0].to_parquet(folder / "levels.parquet")
    with pytest.raises(DataError, match=r"levels\.parquet has no data rows"):
        read_raw(folder)


def test_csv_and_parquet_together_is_ambiguous(tmp_path: Path, tables: Tables) -> None:
    write_csv(tables, tmp_path / "c")
    write_parquet(tables, tmp_path / "c")
    with pytest.raises(DataError, match="both CSV and Parquet"):
        read_raw(tmp_path / "c")


# ---------------------------------------------------------------------------
# load_cohort
# ---------------------------------------------------------------------------


def test_load_cohort_raises_with_report(tmp_path: Path, tables: Tables) -> None:
    set_cell(tables, "patients", 2, "age", "17")
    set_cell(tables, "levels", 2, "treated", "")
    with pytest.raises(DataValidationError) as exc:
        load_cohort(write_csv(tables, tmp_path / "c"))
    report = exc.value.report
    assert str(exc.value) == "2 problems found in the input data"
    assert [(e.file, e.row, e.column) for e in report.errors] == [
        ("patients.csv", 2, "age"),
        ("levels.csv", 2, "treated"),
    ]
    assert exc.value.exit_code == 1


def test_load_cohort_ok(tmp_path: Path, tables: Tables) -> None:
    cohort = load_cohort(str(write_csv(tables, tmp_path / "c")))
    assert len(cohort.patients) == 3
    assert cohort.warnings == ()
    assert cohort.source.format == "csv"


def test_read_raw_does_not_import_pandera() -> None:
    import subprocess
    import sys

    code = (
        "import sys, refracture.data.load, refracture.data.validate;print('pandera' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------
# Identifier-like extra columns are dropped at load
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "name",
        "Name",
        "first_name",
        "Last Name",
        "surname",
        "PatientName",
        "patient_name",
        "DOB",
        "Date of Birth",
        "birth_date",
        "birthdate",
        "MRN",
        "Medical Record Number",
        "record_number",
        "hospital_number",
        "NHS number",
        "SSN",
        "social_security",
        "Address",
        "street",
        "ZIP",
        "zip_code",
        "Postcode",
        "postal_code",
        "phone",
        "Telephone",
        "mobile",
        "email",
        "E-mail",
        "e_mail",
    ],
)
def test_identifier_like_column_is_dropped(tmp_path: Path, tables: Tables, name: str) -> None:
    secret = ["Zyx Alpha", "Zyx Beta", "Zyx Gamma"]
    tables["patients"][name] = secret
    folder = write_csv(tables, tmp_path / "c")
    raw = read_raw(folder)
    assert name not in raw.patients.columns
    report = validate(raw)
    assert report.ok
    (warning,) = report.warnings
    assert (warning.file, warning.row, warning.column, warning.value, warning.check) == (
        "patients.csv",
        None,
        name,
        None,
        "identifier_column",
    )
    assert repr(name) in warning.rule
    assert "dropped" in warning.rule
    cohort = report.cohort
    assert cohort is not None
    for frame in (raw.patients, raw.levels, cohort.patients, cohort.levels):
        cells = frame.astype(str).to_numpy().ravel().tolist()
        assert not any("Zyx" in c for c in cells)
    assert "Zyx" not in report.render()


@pytest.mark.parametrize(
    "name", ["surgeon", "notes", "hospital", "bmi_z", "level_count", "namespace", "zipper"]
)
def test_other_extra_columns_are_kept(tmp_path: Path, tables: Tables, name: str) -> None:
    tables["levels"][name] = list("ABCDEFG")
    cohort = load_cohort(write_csv(tables, tmp_path / "c"))
    assert cohort.levels[name].tolist() == list("ABCDEFG")
    assert [w.check for w in cohort.warnings] == ["extra_column"]


def test_identifier_columns_dropped_from_every_source(tmp_path: Path, tables: Tables) -> None:
    tables["levels"]["Phone"] = ["0123 456"] * 7
    tables["patients"]["dob"] = ["1940-01-01", "1941-02-02", "1942-03-03"]
    for raw in (
        RawCohort.from_frames(tables["patients"], tables["levels"]),
        read_raw(write_xlsx(tables, tmp_path / "c.xlsx")),
        read_raw(write_parquet(tables, tmp_path / "p")),
    ):
        assert "dob" not in raw.patients.columns
        assert "Phone" not in raw.levels.columns
        assert [(n.table, n.column) for n in raw.notes] == [
            ("patients", "dob"),
            ("levels", "Phone"),
        ]
        warnings = validate(raw).warnings
        assert [(w.file, w.column) for w in warnings] == [
            (raw.label("patients"), "dob"),
            (raw.label("levels"), "Phone"),
        ]


# ---------------------------------------------------------------------------
# Hostile workbooks and binary files (read level; the CLI side is in
# test_hostile_files.py)
# ---------------------------------------------------------------------------


def _set_cached_value(path: Path, cell: str, value: str) -> None:
    """Give a formula cell written by openpyxl (no saved result) a cached value, as
    Excel would have saved it."""
    import zipfile

    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    sheet = "xl/worksheets/sheet1.xml"
    xml = members[sheet].decode()
    start = xml.index(f'<c r="{cell}"')
    end = xml.index("</c>", start)
    members[sheet] = (
        xml[:start] + xml[start:end].replace("<v></v>", f"<v>{value}</v>") + xml[end:]
    ).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_xlsx_formula_uses_the_saved_result(tmp_path: Path, tables: Tables) -> None:
    path = write_xlsx(tables, tmp_path / "c.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["patients"]["B2"] = "=60+10"
    wb.save(path)
    with pytest.raises(DataError, match=r"c\.xlsx\[patients\]: cell B2 holds a formula whose"):
        read_raw(path)
    _set_cached_value(path, "B2", "70")
    raw = read_raw(path)
    assert raw.patients.loc[2, "age"] == "70"


def test_xlsx_formulas_without_result_are_listed(tmp_path: Path, tables: Tables) -> None:
    path = write_xlsx(tables, tmp_path / "c.xlsx")
    wb = openpyxl.load_workbook(path)
    for row in range(2, 9):
        wb["levels"][f"D{row}"] = "=-1-1"
    wb.save(path)
    with pytest.raises(DataError, match=r"\[levels\]: 7 cells D2, D3, D4, D5, D6 and 2 more hold"):
        read_raw(path)


def test_xlsx_merged_cells(tmp_path: Path, tables: Tables) -> None:
    path = write_xlsx(tables, tmp_path / "c.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["levels"].merge_cells("A3:A4")
    wb.save(path)
    with pytest.raises(DataError, match=r"\[levels\]: cells A3:A4 are merged; unmerge"):
        read_raw(path)
    wb["levels"].unmerge_cells("A3:A4")
    wb["levels"].merge_cells("B1:C1")
    wb.save(path)
    with pytest.raises(DataError, match=r"header cells B1:C1 are merged.* in row 1"):
        read_raw(path)


def test_xlsx_title_rows_above_the_header(tmp_path: Path, tables: Tables) -> None:
    path = write_xlsx(tables, tmp_path / "c.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["patients"]
    ws.insert_rows(1, amount=2)
    ws["A1"] = "Spine registry export"
    ws.merge_cells("A1:H1")
    ws["A2"] = "exported 2024-01-01"
    ws["D5"] = "XP"  # third data row; the header is on row 3
    wb.save(path)
    raw = read_raw(path)
    assert list(raw.patients.columns) == list(tables["patients"].columns)
    (error,) = validate(raw).errors
    assert (error.row, error.column, error.value) == (5, "procedure", "XP")


def test_xlsx_corrupt_sheet(tmp_path: Path, tables: Tables) -> None:
    import zipfile

    path = write_xlsx(tables, tmp_path / "c.xlsx")
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members["xl/worksheets/sheet2.xml"] = members["xl/worksheets/sheet2.xml"][:500]
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(DataError, match=r"c\.xlsx\[levels\] could not be read"):
        read_raw(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        pytest.param(bytes(range(256)) * 40, "holds binary data", id="binary"),
        pytest.param(b"PK\x03\x04" + bytes(200), "zip archive", id="zip"),
        pytest.param(b"PAR1" + bytes(200), "Parquet file", id="parquet"),
        pytest.param(b"patient_id,level\n" + bytes(range(256)) * 4, "binary", id="after-header"),
    ],
)
def test_binary_csv(tmp_path: Path, tables: Tables, content: bytes, match: str) -> None:
    folder = write_csv(tables, tmp_path / "c")
    (folder / "levels.csv").write_bytes(content)
    with pytest.raises(DataError, match=rf"levels\.csv is not a CSV text file .*{match}"):
        read_raw(folder)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("T12", "T12"),
        (True, "true"),
        (np.int64(7), "7"),
        (3.0, "3"),
        (2.5, "2.5"),
        (decimal.Decimal("1.20"), "1.20"),
        (decimal.Decimal("NaN"), ""),
        (datetime.datetime(2020, 1, 2), "2020-01-02"),
        (datetime.datetime(2020, 1, 2, 3, 4), "2020-01-02 03:04:00"),
        (datetime.date(2020, 1, 2), "2020-01-02"),
        (datetime.time(3, 4), "03:04:00"),
        (float("nan"), ""),
        (pd.NaT, ""),
        ([1], "[1]"),
    ],
)
def test_every_kind_of_cell_reads_as_the_text_a_spreadsheet_shows(value, text) -> None:
    from refracture.data.text import cell_text

    assert cell_text(value) == text
