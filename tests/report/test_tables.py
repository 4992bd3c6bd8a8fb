"""Display tables: formatted from the results (checked against the raw numbers),
written identically to Markdown, CSV and XLSX, byte-stable."""

from __future__ import annotations

import csv
import hashlib
import zipfile

import openpyxl
import pytest

from refracture.common.format import Formatter
from refracture.report.tables import (
    MAIN_TABLES,
    SUPPLEMENTARY_TABLES,
    build_tables,
    table_cutoffs,
    table_models,
    table_patients,
    write_csv,
    write_xlsx,
)

F = Formatter()


@pytest.fixture(scope="module")
def tables(example_results):
    return build_tables(example_results, F, MAIN_TABLES + SUPPLEMENTARY_TABLES)


def test_every_table_is_rectangular_and_has_a_caption(tables) -> None:
    assert list(tables)[:4] == ["patients", "tscore", "cutoffs", "models"]
    for t in tables.values():
        assert t.caption.endswith(".")
        assert t.rows
        assert all(len(r) == len(t.header) for r in t.rows)
        for row in t.rows:
            for cell in row:
                assert "nan" not in cell.lower().split()
                assert cell != "None"


def test_cutoff_row_matches_a_hand_worked_2x2(example_results) -> None:
    t = table_cutoffs(example_results, F)
    thr = example_results["thresholds"].table
    r = thr[thr["term"] == "T ≤ −2.2"].iloc[0]
    a, b, c, d = (int(r[k]) for k in "abcd")
    # the OR of the row is (a·d)/(b·c) of the printed counts
    row = next(x for x in t.rows if x[0] == "T\u00a0≤\u00a0−2.2")
    assert row[1] == f"{a}/{a + b}"
    assert row[2] == f"{c}/{c + d}"
    assert row[3].startswith(F.num(a * d / (b * c), 2))
    assert row[4] == "0.047"
    assert row[-1] == F.percent(100 * d / (c + d))  # NPV = d / (c + d)


def test_patient_table_shows_counts_and_tests(example_results) -> None:
    t = table_patients(example_results, F)
    first = t.rows[0]
    assert first[:4] == ("Number", "93", "77", "16")
    age = next(r for r in t.rows if r[0].startswith("Age"))
    assert age[1] == "76.8 (10.3)"
    assert any("Welch" in n for n in t.notes)


def test_model_table_sets_crude_beside_adjusted(example_results) -> None:
    t = table_models(example_results, F)
    age = next(r for r in t.rows if r[0].startswith("Age"))
    assert age[4] == "0.0498"  # adjusted P below alpha keeps a fourth digit
    bmi = next(r for r in t.rows if r[0].startswith("BMI"))
    assert bmi[3] == "—"  # not in the adjusted model


def test_csv_and_xlsx_hold_the_same_cells(tables, tmp_path) -> None:
    t = tables["cutoffs"]
    with write_csv(t, tmp_path / "t.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == t.header
    assert [tuple(r) for r in rows[1:]] == list(t.rows)
    write_xlsx({"Table 3": t}, tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "t.xlsx")["Table 3"]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0][0] == t.caption
    assert tuple(values[1]) == t.header
    assert tuple(values[2]) == t.rows[0]


def test_xlsx_is_byte_identical_across_writes(tables, tmp_path) -> None:
    sheets = {f"Table {i}": t for i, t in enumerate(tables.values(), start=1)}
    a = write_xlsx(sheets, tmp_path / "a.xlsx").read_bytes()
    b = write_xlsx(sheets, tmp_path / "b.xlsx").read_bytes()
    assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest()
    with zipfile.ZipFile(tmp_path / "a.xlsx") as z:
        assert {i.date_time for i in z.infolist()} == {(2000, 1, 1, 0, 0, 0)}
