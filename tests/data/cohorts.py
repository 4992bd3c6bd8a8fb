"""Small cohorts built in code for the loader and validator tests.

``valid_tables()`` returns a small hand-made valid cohort as text tables (what a
user would type into a spreadsheet); ``write_*`` write tables in each supported
format; ``cohorts()`` is a Hypothesis strategy of random valid cohorts.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
from hypothesis import strategies as st

from refracture.data.load import RawCohort
from refracture.data.schema import LEVEL_CODES, LEVELS, PATIENTS, Kind

Tables = dict[str, pd.DataFrame]

PATIENT_COLUMNS = list(PATIENTS.names)
LEVEL_COLUMNS = list(LEVELS.names)

# fmt: off
_PATIENTS = [
    # patient_id, age, sex, procedure, followup_months, bmi, steroid_use, osteoporosis_treatment
    ("P01", "70", "F", "VP", "24", "24.5", "yes", "no"),  # row 2
    ("P02", "81", "M", "KP", "36", "",     "No",  "TRUE"),  # row 3
    ("P03", "65", "F", "KP", "12", "30",   "n",   "Y"),  # row 4
]
_LEVELS = [
    # patient_id, level, treated, tscore, ahl, cement, leakage, subsequent, months
    ("P01", "L1",  "yes", "",     "30", "4.5", "no",  "no",  ""),  # row 2
    ("P01", "L2",  "no",  "-2.5", "",   "",    "",    "yes", "6"),  # row 3
    ("P01", "T12", "no",  "",     "",   "",    "",    "no",  ""),  # row 4
    ("P02", "T12", "1",   "",     "45", "3",   "yes", "0",   ""),  # row 5
    ("P02", "L1",  "0",   "−3.1", "",   "",    "",    "false", ""),  # row 6 (Unicode minus)
    ("P03", "L3",  "y",   "",     "20", "5",   "N",   "n",   ""),  # row 7
    ("P03", "L4",  "n",   "-1.0", "",   "",    "",    "yes", "10.5"),  # row 8
]
# fmt: on


def valid_tables() -> Tables:
    """A small valid cohort (3 patients, 7 level rows) as text, like a typed spreadsheet."""
    return {
        "patients": pd.DataFrame(_PATIENTS, columns=PATIENT_COLUMNS, dtype=object),
        "levels": pd.DataFrame(_LEVELS, columns=LEVEL_COLUMNS, dtype=object),
    }


def raw_of(tables: Tables) -> RawCohort:
    """The tables as a RawCohort, as if read from patients.csv / levels.csv."""
    return RawCohort.from_frames(tables["patients"], tables["levels"])


def set_cell(tables: Tables, table: str, row: int, column: str, value: str) -> None:
    """Set the cell at spreadsheet ``row`` (header = 1) of ``column``."""
    frame = tables[table]
    if column not in frame.columns:
        frame[column] = ""
    frame.loc[row - 2, column] = value


def append_row(tables: Tables, table: str, **cells: str) -> int:
    """Append a row (missing cells blank); return its spreadsheet row number."""
    frame = tables[table]
    row = {c: cells.get(c, "") for c in frame.columns}
    tables[table] = pd.concat([frame, pd.DataFrame([row], dtype=object)], ignore_index=True)
    return len(tables[table]) + 1


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------


def write_csv(tables: Tables, folder: Path, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False, encoding=encoding)
    return folder


def _as_excel_would_store(text: str) -> object:
    """How a spreadsheet program stores a typed cell: anything numeric as a number."""
    if text.strip() == "":
        return None
    try:
        x = float(text.replace("−", "-"))
    except ValueError:
        return text
    return int(x) if x.is_integer() else x


def write_xlsx(tables: Tables, path: Path, numbers_as_numbers: bool = True) -> Path:
    """Write an .xlsx workbook with one sheet per table; with ``numbers_as_numbers``
    every numeric-looking cell is stored as a number (as Excel does), else as text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, frame in tables.items():
        ws = wb.create_sheet(name)
        ws.append([str(c) for c in frame.columns])
        for rec in frame.itertuples(index=False):
            if numbers_as_numbers:
                ws.append([_as_excel_would_store(str(v)) for v in rec])
            else:
                ws.append([str(v) or None for v in rec])
    wb.save(path)
    return path


_YES = {"yes", "true", "1", "y"}


def typed_frame(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The table with typed columns, as an analysis tool would save it to Parquet:
    numbers as float64 (NaN = blank), yes/no as nullable boolean."""
    spec = PATIENTS if name == "patients" else LEVELS
    out = {}
    for col in frame.columns:
        kind = spec.column(col).kind if col in spec.names else Kind.TEXT
        s = frame[col].astype(str).str.strip()
        if kind is Kind.NUMBER:
            out[col] = pd.to_numeric(s.str.replace("−", "-"), errors="coerce").astype("float64")
        elif kind is Kind.YESNO:
            out[col] = pd.array(
                [None if v == "" else v.lower() in _YES for v in s], dtype="boolean"
            )
        else:
            out[col] = s.astype("string")
    return pd.DataFrame(out)


def write_parquet(tables: Tables, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        typed_frame(name, frame).to_parquet(folder / f"{name}.parquet", index=False)
    return folder


# ---------------------------------------------------------------------------
# Hypothesis: random valid cohorts
# ---------------------------------------------------------------------------

_YES_SPELLINGS = ("yes", "Yes", "YES", "y", "Y", "true", "True", "1")
_NO_SPELLINGS = ("no", "No", "NO", "n", "N", "false", "FALSE", "0")


def _tenths(t: int) -> str:
    """Exact decimal text of t/10 (e.g. 125 -> "12.5", 120 -> "12")."""
    return str(t // 10) if t % 10 == 0 else f"{t // 10}.{t % 10}"


def _signed_tenths(t: int, minus: str) -> str:
    return (minus if t < 0 else "") + _tenths(abs(t))


@st.composite
def cohorts(draw: st.DrawFn, max_patients: int = 5) -> Tables:
    """Random valid cohorts: every rule of the contract holds, no warnings."""
    n = draw(st.integers(1, max_patients))
    id_text = st.text(alphabet="ABCPQ0123456789-_", min_size=1, max_size=6)
    ids = draw(st.lists(id_text, min_size=n, max_size=n, unique=True))
    yes = st.sampled_from(_YES_SPELLINGS)
    no = st.sampled_from(_NO_SPELLINGS)
    optional_yesno = st.one_of(st.just(""), yes, no)
    patients, levels = [], []
    for pid in ids:
        followup = draw(st.integers(1, 2400))  # tenths of a month
        patients.append(
            {
                "patient_id": pid,
                "age": _tenths(draw(st.integers(180, 1100))),
                "sex": draw(st.sampled_from(["F", "M"])),
                "procedure": draw(st.sampled_from(["VP", "KP"])),
                "followup_months": _tenths(followup),
                "bmi": draw(st.one_of(st.just(""), st.integers(100, 600).map(_tenths))),
                "steroid_use": draw(optional_yesno),
                "osteoporosis_treatment": draw(optional_yesno),
            }
        )
        codes = draw(st.lists(st.sampled_from(LEVEL_CODES), min_size=1, max_size=4, unique=True))
        for i, code in enumerate(codes):
            treated = i == 0 or draw(st.booleans())
            row = dict.fromkeys(LEVEL_COLUMNS, "")
            row.update(patient_id=pid, level=code)
            if treated:
                row.update(
                    treated=draw(yes),
                    anterior_height_loss_pct=_tenths(draw(st.integers(0, 1000))),
                    cement_volume_ml=draw(st.one_of(st.just(""), st.integers(0, 150).map(_tenths))),
                    cement_leakage=draw(optional_yesno),
                    subsequent_fracture=draw(no),
                )
            else:
                minus = draw(st.sampled_from(["-", "−"]))
                fractured = draw(st.booleans())
                row.update(
                    treated=draw(no),
                    tscore=draw(
                        st.one_of(
                            st.just(""),
                            st.integers(-60, 40).map(lambda t, m=minus: _signed_tenths(t, m)),
                        )
                    ),
                    anterior_height_loss_pct=draw(
                        st.one_of(st.just(""), st.integers(0, 1000).map(_tenths))
                    ),
                    subsequent_fracture=draw(yes if fractured else no),
                    months_to_fracture=(
                        _tenths(draw(st.integers(1, followup))) if fractured else ""
                    ),
                )
            levels.append(row)
    order = draw(st.permutations(range(len(levels))))
    return {
        "patients": pd.DataFrame(patients, columns=PATIENT_COLUMNS, dtype=object),
        "levels": pd.DataFrame([levels[i] for i in order], columns=LEVEL_COLUMNS, dtype=object),
    }
