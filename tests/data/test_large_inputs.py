"""The fast routes for large inputs read, check and derive exactly what the plain
routes do: pyarrow's CSV reader against pandas', per-distinct-value parsing against
per-cell, NumPy value checks against pandera, integer adjacency against a set."""

from __future__ import annotations

import random
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from refracture.data import csv_reader, load, rules, text, validate
from refracture.data.derive import derive, level_frame
from refracture.data.levels import LEVEL_INDEX
from refracture.data.schema import TABLES, Kind
from refracture.data.simulate import simulate
from refracture.errors import DataError
from tests.data.cohorts import append_row, set_cell, valid_tables, write_csv


@pytest.fixture
def pandas_csv(monkeypatch):
    """Read CSV files with pandas' C parser only (the route before pyarrow)."""
    monkeypatch.setattr(csv_reader, "_read_csv_arrow", lambda *_args: None)


def test_python_whitespace_is_complete() -> None:
    everything = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    assert set(text.PY_WHITESPACE) == everything


def _random_csv(rng: random.Random) -> str:
    chars = ["a", "1", " ", "é", ";", "\t", "\u00a0", "\x1c", "-", ".", "\n", "\r"]
    ncol = rng.randint(1, 4)
    lines = [",".join(f"c{i}" for i in range(ncol))]
    for _ in range(rng.randint(0, 6)):
        k = ncol if rng.random() < 0.97 else rng.randint(0, ncol + 1)
        lines.append(
            ",".join(
                "".join(rng.choice(chars[:10]) for _ in range(rng.randint(0, 4))) for _ in range(k)
            )
        )
    sep = rng.choice(["\n", "\r\n", "\r"])
    text = sep.join(lines) + (sep if rng.random() < 0.5 else "")
    if rng.random() < 0.15:  # stray line breaks inside a line
        pos = rng.randint(0, len(text))
        text = text[:pos] + rng.choice(["\n", "\r", "\n\n"]) + text[pos:]
    return text


def _read(path, label="t.csv"):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas' ParserWarning on ragged rows
            return csv_reader.read_csv_table(path, label)
    except DataError as exc:
        return str(exc)


def test_arrow_csv_reads_what_pandas_reads(tmp_path, monkeypatch) -> None:
    rng = random.Random(20240601)
    path = tmp_path / "t.csv"
    arrow_read = 0
    for _ in range(600):
        data = _random_csv(rng).encode()
        if rng.random() < 0.2:
            data = b"\xef\xbb\xbf" + data
        path.write_bytes(data)
        try:
            header = csv_reader._csv_header(path, "t.csv")
        except DataError:
            continue
        fast = csv_reader._read_csv_arrow(path, header)
        arrow_read += fast is not None
        a = _read(path)
        with monkeypatch.context() as m:
            m.setattr(csv_reader, "_read_csv_arrow", lambda *_args: None)
            b = _read(path)
        if isinstance(a, str) or isinstance(b, str):
            assert a == b, data
            continue
        assert list(a.columns) == list(b.columns), data
        assert a.index.tolist() == b.index.tolist(), data
        assert a.astype(object).equals(b.astype(object)), data
    assert arrow_read > 100  # the comparison did exercise pyarrow


def test_quoted_files_take_the_pandas_route(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b'a,b\n1,"x\n')  # quote left open: pandas rejects, pyarrow would not
    assert csv_reader._read_csv_arrow(path, ["a", "b"]) is None
    with pytest.raises(DataError, match="could not be read as CSV"):
        csv_reader.read_csv_table(path, "t.csv")


def test_blank_cells_arrow_and_object_agree() -> None:
    cells = ["", " ", "\u00a0", "\x1c", "a", " a ", "\t\n", "\u3000x", "\u200b"]
    obj = pd.Series(cells, dtype=object)
    arrow = pd.Series(cells, dtype=pd.StringDtype("pyarrow"))
    expected = np.array([c.strip() == "" for c in cells])
    np.testing.assert_array_equal(text.blank_cells(obj), expected)
    np.testing.assert_array_equal(text.blank_cells(arrow), expected)


def test_to_text_of_strings_by_distinct_value() -> None:
    values = pd.Series(["a", None, "b", "a", np.nan, " c "], dtype=object)
    assert text.to_text(values).tolist() == ["a", "", "b", "a", "", " c "]
    mixed = pd.Series([1, "1", 2.5, True, None], dtype=object)  # per cell
    assert text.to_text(mixed).tolist() == ["1", "1", "2.5", "true", ""]


def _broken_tables():
    t = valid_tables()
    set_cell(t, "patients", 2, "age", "abc")
    set_cell(t, "patients", 3, "age", "2,5")
    set_cell(t, "patients", 4, "sex", "f")
    set_cell(t, "patients", 3, "bmi", "99")
    set_cell(t, "patients", 2, "steroid_use", "maybe")
    set_cell(t, "levels", 3, "tscore", "-9")
    set_cell(t, "levels", 4, "level", "X9")
    set_cell(t, "levels", 5, "months_to_fracture", "n/a")
    set_cell(t, "levels", 8, "months_to_fracture", "999")
    append_row(t, "levels", patient_id="P99", level="L2", treated="no", subsequent_fracture="no")
    append_row(t, "levels", patient_id="P01", level="L1", treated="no", subsequent_fracture="no")
    append_row(t, "patients", patient_id="P01", age="70", sex="F", procedure="VP")
    append_row(t, "patients", patient_id="P04", age="70", sex="F", procedure="VP")
    return t


@pytest.mark.parametrize("broken", [False, True])
def test_validation_of_arrow_and_pandas_reads_agree(tmp_path, monkeypatch, broken) -> None:
    write_csv(_broken_tables() if broken else valid_tables(), tmp_path)
    fast_raw = load.read_raw(tmp_path)
    assert isinstance(fast_raw.levels["patient_id"].dtype, pd.StringDtype)
    fast = validate.validate(fast_raw)
    monkeypatch.setattr(csv_reader, "_read_csv_arrow", lambda *_args: None)
    slow = validate.validate(load.read_raw(tmp_path))
    assert fast.errors == slow.errors
    assert fast.warnings == slow.warnings
    assert bool(fast.errors) is broken
    if not broken:
        for name in ("patients", "levels"):
            pd.testing.assert_frame_equal(
                getattr(fast.cohort, name), getattr(slow.cohort, name), check_exact=True
            )


def test_example_cohort_same_by_both_readers(monkeypatch) -> None:
    from refracture.data.example import example_path

    fast = validate.load_cohort(example_path())
    monkeypatch.setattr(csv_reader, "_read_csv_arrow", lambda *_args: None)
    slow = validate.load_cohort(example_path())
    for name in ("patients", "levels"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(slow, name), check_exact=True)


@pytest.mark.parametrize(
    "column", [c for t in TABLES for c in t.columns if c.kind is not Kind.TEXT]
)
def test_value_rule_precheck_agrees_with_pandera(column) -> None:
    import pandera.pandas as pa

    checks = rules._pandera_value_checks(pa, column)
    rng = np.random.default_rng(len(column.name))
    if column.kind is Kind.CATEGORY:
        pool = np.array([*column.allowed, "x", "l1", np.nan], dtype=object)
        samples = [rng.choice(pool, size=5) for _ in range(40)]
        samples.append(np.array(column.allowed, dtype=object))
    elif column.kind is Kind.NUMBER:
        edges = [b.value for b in (column.minimum, column.maximum) if b]
        pool = np.array([*edges, *(e + d for e in edges for d in (-1e-9, 1e-9)), 0.0, 50.0, -7.0])
        samples = [rng.choice(np.append(pool, np.nan), size=4) for _ in range(60)]
    else:
        assert not checks
        return
    for values in samples:
        frame = pd.DataFrame({column.name: values})
        schema = pa.DataFrameSchema({column.name: pa.Column(checks=checks, nullable=True)})
        try:
            schema.validate(frame, lazy=True)
            fails = False
        except pa.errors.SchemaErrors:
            fails = True
        assert rules._fails_value_rule(column, values) is fails, values


def test_valid_data_do_not_import_pandera(tmp_path) -> None:
    import subprocess

    write_csv(valid_tables(), tmp_path)
    code = (
        "import sys; from refracture.data.validate import load_cohort;"
        f"load_cohort({str(tmp_path)!r}); print('pandera' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _adjacent_by_sets(levels: pd.DataFrame) -> np.ndarray:
    """Adjacency by its definition, with Python sets."""
    rows = list(
        zip(
            levels["patient_id"],
            [LEVEL_INDEX[str(v)] for v in levels["level"]],
            levels["treated"],
            strict=True,
        )
    )
    treated = {(p, i) for p, i, t in rows if t}
    return np.array(
        [not t and ((p, i - 1) in treated or (p, i + 1) in treated) for p, i, t in rows]
    )


def test_adjacency_by_integer_keys_equals_the_definition(tmp_path) -> None:
    simulate(seed=9, patients=800).write(tmp_path)
    cohort = validate.load_cohort(tmp_path)
    lv = level_frame(cohort.levels)
    np.testing.assert_array_equal(lv["adjacent"].to_numpy(), _adjacent_by_sets(cohort.levels))
    # levels given as plain text take the lookup route to the same frame
    as_text = cohort.levels.assign(level=cohort.levels["level"].astype(str))
    pd.testing.assert_frame_equal(
        level_frame(as_text).drop(columns="level"), lv.drop(columns="level"), check_exact=True
    )
    d = derive(cohort.patients, cohort.levels)
    assert d.level_set["region_tl"].tolist() == [
        str(v) in ("T11", "T12", "L1", "L2") for v in d.level_set["level"]
    ]
