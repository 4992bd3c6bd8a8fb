"""Hostile input files through the command line, as a user meets them.

Each case writes a cohort folder with one hostile file, runs
``python -m refracture validate DIR`` in a subprocess and checks: the exit status
(1 for data that cannot be used, 0 when they are read correctly), a clear message
naming the file, one line per problem, and no traceback.
"""

from __future__ import annotations

import codecs
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest

from tests.data.cohorts import Tables, valid_tables, write_csv, write_xlsx

BIG = 10 * 1024 * 1024  # a 10 MB cell


@dataclass(frozen=True)
class Case:
    make: Callable[[Path], Path]  # writes the cohort under the folder, returns what to validate
    status: int
    expect: tuple[str, ...]  # texts the output must contain


def _csv(change: Callable[[Tables], None] | None = None) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        tables = valid_tables()
        if change is not None:
            change(tables)
        return write_csv(tables, folder)

    return make


def _levels_bytes(content: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        write_csv(valid_tables(), folder)
        (folder / "levels.csv").write_bytes(content)
        return folder

    return make


def _encoded(encoding: str, bom: bytes = b"") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        tables = valid_tables()
        tables["levels"]["tscore"] = tables["levels"]["tscore"].str.replace("−", "-")
        tables["levels"]["note"] = ["", "", "Wirbelkörper, fracture é", "", "", "", ""]
        write_csv(tables, folder)
        text = tables["levels"].to_csv(index=False)
        (folder / "levels.csv").write_bytes(bom + text.encode(encoding))
        return folder

    return make


def _workbook(
    edit: Callable[[openpyxl.Workbook], None], as_text: bool = False
) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = write_xlsx(valid_tables(), folder / "cohort.xlsx", numbers_as_numbers=not as_text)
        wb = openpyxl.load_workbook(path)
        edit(wb)
        wb.save(path)
        return folder

    return make


def _formula_with_saved_result(folder: Path) -> Path:
    """age = "=60+10" with the result 70 saved, as Excel writes it."""
    _workbook(lambda wb: wb["patients"].__setitem__("B2", "=60+10"))(folder)
    path = folder / "cohort.xlsx"
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    sheet = "xl/worksheets/sheet1.xml"
    members[sheet] = members[sheet].replace(b"<f>60+10</f><v></v>", b"<f>60+10</f><v>70</v>")
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return folder


def _merge(ref: str, title: str | None = None) -> Callable[[openpyxl.Workbook], None]:
    def edit(wb: openpyxl.Workbook) -> None:
        ws = wb["patients"]
        if title is not None:
            ws.insert_rows(1)
            ws["A1"] = title
        ws.merge_cells(ref)

    return edit


def _set(column: str, values: list[str]) -> Callable[[Tables], None]:
    def change(tables: Tables) -> None:
        tables["patients"][column] = values

    return change


def _set_age(tables: Tables) -> None:
    tables["patients"].loc[0, "age"] = "7" * BIG


_GARBAGE = random.Random(1).randbytes(64 * 1024)

CASES: dict[str, Case] = {
    "empty file": Case(_levels_bytes(b""), 1, ("levels.csv is empty",)),
    "header only": Case(
        _levels_bytes(b"patient_id,level,treated\n"), 1, ("levels.csv has no data rows",)
    ),
    "semicolon delimiter": Case(
        _levels_bytes(b"patient_id;level;treated\nP01;L1;yes\n"),
        1,
        ("levels.csv", "separated by semicolons", "comma-separated"),
    ),
    "latin-1 with an e-acute": Case(
        _encoded("latin-1"), 1, ("levels.csv is not UTF-8", "latin-1", "line 4")
    ),
    "UTF-16 with BOM": Case(
        _encoded("utf-16-le", codecs.BOM_UTF16_LE), 1, ("levels.csv is not UTF-8", "UTF-16")
    ),
    "binary garbage": Case(_levels_bytes(_GARBAGE), 1, ("levels.csv is not a CSV", "binary")),
    "workbook renamed to .csv": Case(
        _levels_bytes(b"PK\x03\x04" + _GARBAGE[:1000]), 1, ("levels.csv", "zip archive")
    ),
    "10 MB cell in an extra column": Case(
        _csv(_set("notes", ["x" * BIG, "", ""])), 0, ("patients.csv", "notes")
    ),
    "10 MB cell in age": Case(_csv(_set_age), 1, ("patients.csv", "age", "not a number")),
    "10 MB single-cell file": Case(_levels_bytes(b"x" * BIG), 1, ("levels.csv", "no data rows")),
    "xlsx formula without a saved result": Case(
        _workbook(lambda wb: wb["patients"].__setitem__("B2", "=60+10")),
        1,
        ("cohort.xlsx[patients]", "cell B2", "formula", "never saved"),
    ),
    "xlsx formula with a saved result": Case(_formula_with_saved_result, 0, ("data are valid",)),
    "xlsx merged header cells": Case(
        _workbook(_merge("B1:C1")),
        1,
        ("cohort.xlsx[patients]", "header cells B1:C1 are merged", "unmerge"),
    ),
    "xlsx merged title above the header": Case(
        _workbook(_merge("A1:H1", title="Registry export")), 0, ("data are valid",)
    ),
    "xlsx numbers stored as text": Case(
        _workbook(lambda wb: None, as_text=True), 0, ("0 errors, 0 warnings",)
    ),
    "duplicated column names": Case(
        _levels_bytes(b"patient_id,age,age\nP01,70,71\n"),
        1,
        ("levels.csv", "'age' appears more than once"),
    ),
    "identifier column 'name'": Case(
        _csv(_set("name", ["Zyx Alpha", "Zyx Beta", "Zyx Gamma"])),
        0,
        ("patients.csv", "name", "personal identifier", "dropped"),
    ),
    "UTF-8 BOM": Case(_encoded("utf-8", codecs.BOM_UTF8), 0, ("0 errors",)),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_hostile_file(tmp_path: Path, cli, case: Case) -> None:
    target = case.make(tmp_path / "cohort")
    result = cli("validate", str(target), timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == case.status, output
    assert "Traceback" not in output
    assert "internal error" not in output
    for text in case.expect:
        assert text in output
    assert len(output) < 5000  # a 10 MB cell is never echoed
    if case.status == 1 and "Errors (" not in result.stdout:
        # a file that cannot be read: one line on stderr, naming the file
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("error: ")
        assert any(name in line for name in ("levels.csv", "patients.csv", "cohort.xlsx"))
    assert "Zyx" not in output  # values of a dropped identifier column are never shown
