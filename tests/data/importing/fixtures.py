"""Source files of the example cohort as a study team would have them, made from the example.

Nothing here is typed by hand: every value comes from the example cohort's two tables,
turned into the source's own form (REDCap choice codes or labels, SPSS and Stata value
labels, "Vertebroplasty", "Female", "Yes", follow-up in days) so that an import through
the mapping beside each source must give the example back exactly.

Months become whole days with the mapping's factor inverted (``DAYS_PER_MONTH``); the
mapping reads them back as ``days × MONTHS_PER_DAY`` rounded to one decimal, which gives
the example's months exactly (a day is 0.033 months, well inside the rounding), as
:func:`test_days_round_trip_exactly` in the tests checks for every value.

Each maker writes its files into a folder and returns the mapping's path:

* :func:`redcap_raw`: a raw records export with a repeating instrument ``vertebral_levels``
  (one instance per level row), its data dictionary and the mapping;
* :func:`redcap_labels`: the same export with labels (field labels as headers, choice
  labels as values), read by the same mapping;
* :func:`wide_xlsx`: one sheet, a row per patient, a column per level and variable,
  ``No`` written wherever the example has no level row;
* :func:`wide_sav`: the same as an SPSS file with value labels, follow-up in days;
* :func:`long_dta`: a Stata file of patients and one of levels (a row per level), with
  value labels, the levels coded 1…17.

Every source also holds a column of patient names (an identifier the import must never
read) and a column the mapping leaves unused.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from refracture.data.example import example_path
from refracture.data.levels import LEVELS

DAYS_PER_MONTH = 365.25 / 12
MONTHS_PER_DAY = "0.03285421"  # as written in the mappings: 12 / 365.25 to 7 digits

LEVEL_CODE = {code: i + 1 for i, code in enumerate(LEVELS)}  # REDCap/Stata: 1 = T1 … 17 = L5
YESNO = {"yes": "1", "no": "0", "": ""}


def example() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The example's two tables, every cell as written."""
    read = {"dtype": str, "keep_default_na": False}
    return (
        pd.read_csv(example_path() / "patients.csv", **read),
        pd.read_csv(example_path() / "levels.csv", **read),
    )


def days(months: str) -> str:
    return "" if months == "" else str(round(float(months) * DAYS_PER_MONTH))


def _name(pid: str) -> str:
    return f"Name of {pid}"  # stands for a patient's name: must never reach any output


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


# ---------------------------------------------------------------------------
# REDCap
# ---------------------------------------------------------------------------

_LEVEL_CHOICES = " | ".join(f"{n}, {code}" for code, n in LEVEL_CODE.items())
#: (field, form, type, label, choices, identifier)
REDCAP_FIELDS: list[tuple[str, str, str, str, str, str]] = [
    ("record_id", "baseline", "text", "Record ID", "", ""),
    ("patient_name", "baseline", "text", "Patient name", "", "y"),
    ("age", "baseline", "text", "Age at the index procedure (years)", "", ""),
    ("sex", "baseline", "radio", "Sex", "1, Female | 2, Male", ""),
    (
        "procedure",
        "baseline",
        "dropdown",
        "Index procedure",
        "1, Vertebroplasty | 2, Kyphoplasty",
        "",
    ),
    ("followup_days", "baseline", "text", "Follow-up after the index procedure (days)", "", ""),
    ("bmi", "baseline", "text", "Body-mass index (kg/m2)", "", ""),
    ("steroids", "baseline", "yesno", "Long-term glucocorticoids", "", ""),
    ("osteo_tx", "baseline", "yesno", "Anti-osteoporotic drug after the procedure", "", ""),
    ("surgeon", "baseline", "text", "Operating surgeon", "", ""),
    ("vert_level", "vertebral_levels", "dropdown", "Vertebral level", _LEVEL_CHOICES, ""),
    ("treated", "vertebral_levels", "yesno", "Cemented at the index operation", "", ""),
    ("tscore", "vertebral_levels", "text", "DXA T-score of this level", "", ""),
    ("height_loss", "vertebral_levels", "text", "Anterior height loss before surgery (%)", "", ""),
    ("cement_ml", "vertebral_levels", "text", "Cement volume (ml)", "", ""),
    ("leakage", "vertebral_levels", "yesno", "Cement leakage", "", ""),
    ("new_fracture", "vertebral_levels", "yesno", "New fracture of this level", "", ""),
    (
        "fracture_days",
        "vertebral_levels",
        "text",
        "Days from the index procedure to the new fracture",
        "",
        "",
    ),
]
_DICTIONARY_HEADER = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]

REDCAP_MAPPING = f"""\
format: redcap
records: export.csv
dictionary: dictionary.csv
patients:
  patient_id: record_id
  age: age
  sex: sex
  procedure: procedure
  followup_months: {{column: followup_days, scale: {MONTHS_PER_DAY}, round: 1}}
  bmi: bmi
  steroid_use: steroids
  osteoporosis_treatment: osteo_tx
levels:
  repeating_instrument: vertebral_levels
  level: vert_level
  treated: treated
  tscore: tscore
  anterior_height_loss_pct: height_loss
  cement_volume_ml: cement_ml
  cement_leakage: leakage
  subsequent_fracture: new_fracture
  months_to_fracture: {{column: fracture_days, scale: {MONTHS_PER_DAY}, round: 1}}
"""


def _dictionary_csv() -> str:
    rows = [_DICTIONARY_HEADER]
    for name, form, kind, label, choices, ident in REDCAP_FIELDS:
        row = [""] * len(_DICTIONARY_HEADER)
        row[0], row[1], row[3], row[4], row[5], row[10] = name, form, kind, label, choices, ident
        rows.append(row)
    return _csv(rows)


def redcap_records(labels: bool) -> list[list[str]]:
    """The records export as rows (header first): raw codes, or labels throughout."""
    patients, levels = example()
    fields = [f[0] for f in REDCAP_FIELDS]
    base = [f for f, form, *_ in REDCAP_FIELDS if form == "baseline"]
    lev = [f for f, form, *_ in REDCAP_FIELDS if form == "vertebral_levels"]
    header = [
        "record_id",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
        *base[1:],
        "baseline_complete",
        *lev,
        "vertebral_levels_complete",
    ]
    sex = {"F": ("1", "Female"), "M": ("2", "Male")}
    proc = {"VP": ("1", "Vertebroplasty"), "KP": ("2", "Kyphoplasty")}
    yes = {"yes": ("1", "Yes"), "no": ("0", "No"), "": ("", "")}
    pick = 1 if labels else 0
    complete = "Complete" if labels else "2"
    rows = [header]
    by_patient = levels.groupby("patient_id", sort=False)
    for _, p in patients.iterrows():
        pid = p["patient_id"]
        rec = dict.fromkeys(header, "")
        rec.update(
            record_id=pid,
            patient_name=_name(pid),
            age=p["age"],
            sex=sex[p["sex"]][pick],
            procedure=proc[p["procedure"]][pick],
            followup_days=days(p["followup_months"]),
            bmi=p["bmi"],
            steroids=yes[p["steroid_use"]][pick],
            osteo_tx=yes[p["osteoporosis_treatment"]][pick],
            surgeon="Dr A",
            baseline_complete=complete,
        )
        rows.append([rec[h] for h in header])
        for k, (_, lv) in enumerate(by_patient.get_group(pid).iterrows(), start=1):
            inst = dict.fromkeys(header, "")
            inst.update(
                record_id=pid,
                redcap_repeat_instrument="Vertebral Levels" if labels else "vertebral_levels",
                redcap_repeat_instance=str(k),
                vert_level=lv["level"] if labels else str(LEVEL_CODE[lv["level"]]),
                treated=yes[lv["treated"]][pick],
                tscore=lv["tscore"],
                height_loss=lv["anterior_height_loss_pct"],
                cement_ml=lv["cement_volume_ml"],
                leakage=yes[lv["cement_leakage"]][pick],
                new_fracture=yes[lv["subsequent_fracture"]][pick],
                fracture_days=days(lv["months_to_fracture"]),
                vertebral_levels_complete=complete,
            )
            rows.append([inst[h] for h in header])
    if labels:
        label_of = {f[0]: f[3] for f in REDCAP_FIELDS}
        special = {
            "redcap_repeat_instrument": "Repeat Instrument",
            "redcap_repeat_instance": "Repeat Instance",
            "baseline_complete": "Complete?",
            "vertebral_levels_complete": "Complete?",
        }
        rows[0] = [special.get(h) or label_of[h] for h in header]
    assert all(f in header for f in fields)
    return rows


def redcap_raw(folder: Path, patch: Callable[[list[list[str]]], None] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = redcap_records(False)
    if patch is not None:
        patch(rows)
    (folder / "export.csv").write_text(_csv(rows), encoding="utf-8")
    (folder / "dictionary.csv").write_text(_dictionary_csv(), encoding="utf-8")
    (folder / "mapping.yml").write_text(REDCAP_MAPPING, encoding="utf-8")
    return folder / "mapping.yml"


def redcap_labels(folder: Path, patch: Callable[[list[list[str]]], None] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = redcap_records(True)
    if patch is not None:
        patch(rows)
    (folder / "export.csv").write_text(_csv(rows), encoding="utf-8")
    (folder / "dictionary.csv").write_text(_dictionary_csv(), encoding="utf-8")
    (folder / "mapping.yml").write_text(REDCAP_MAPPING, encoding="utf-8")
    return folder / "mapping.yml"


# ---------------------------------------------------------------------------
# Wide: a row per patient, a column per level
# ---------------------------------------------------------------------------

#: contract level column -> wide column stem
WIDE_STEMS = {
    "treated": "treated",
    "tscore": "tscore",
    "anterior_height_loss_pct": "height_loss",
    "cement_volume_ml": "cement_ml",
    "cement_leakage": "leakage",
    "subsequent_fracture": "new_fx",
    "months_to_fracture": "fx_months",
}
_YESNO_LEVEL = ("treated", "cement_leakage", "subsequent_fracture")


def wide_levels() -> list[str]:
    """The levels the example has rows at, cranio-caudally."""
    _, levels = example()
    return [code for code in LEVELS if code in set(levels["level"])]


def wide_frame(*, codes: bool) -> tuple[pd.DataFrame, dict[str, dict[float, str]]]:
    """The example as one wide table: labels as text (``codes=False``) or numeric codes
    with their value labels (``codes=True``, follow-up in days)."""
    patients, levels = example()
    present = wide_levels()
    yes_text = {"yes": "Yes", "no": "No", "": None}
    yes_code = {"yes": 1.0, "no": 0.0, "": np.nan}
    sex_text, proc_text = (
        {"F": "Female", "M": "Male"},
        {"VP": "Vertebroplasty", "KP": "Kyphoplasty"},
    )
    cols: dict[str, list] = {
        "study_id": list(patients["patient_id"]),
        "patient_name": [_name(p) for p in patients["patient_id"]],
        "age_years": [float(a) for a in patients["age"]],
    }
    labels: dict[str, dict[float, str]] = {}
    if codes:
        cols["sex"] = [1.0 if s == "F" else 2.0 for s in patients["sex"]]
        cols["procedure"] = [1.0 if s == "VP" else 2.0 for s in patients["procedure"]]
        cols["followup_days"] = [float(days(m)) for m in patients["followup_months"]]
        labels["sex"] = {1.0: "Female", 2.0: "Male"}
        labels["procedure"] = {1.0: "Vertebroplasty", 2.0: "Kyphoplasty"}
    else:
        cols["gender"] = [sex_text[s] for s in patients["sex"]]
        cols["procedure"] = [proc_text[s] for s in patients["procedure"]]
        cols["followup_months"] = [float(m) for m in patients["followup_months"]]
    cols["bmi"] = [float(b) if b else (np.nan if codes else None) for b in patients["bmi"]]
    for src, dst in (("steroid_use", "steroids"), ("osteoporosis_treatment", "osteoporosis_tx")):
        cols[dst] = [(yes_code if codes else yes_text)[v] for v in patients[src]]
        if codes:
            labels[dst] = {0.0: "No", 1.0: "Yes"}
    cols["ward"] = ["B"] * len(patients)  # a column the mapping leaves unused
    at = {(r.patient_id, r.level): r for r in levels.itertuples(index=False)}
    for code in present:
        for column, stem in WIDE_STEMS.items():
            name = f"{stem}_{code}"
            values = []
            for pid in patients["patient_id"]:
                row = at.get((pid, code))
                v = "" if row is None else getattr(row, column)
                if column in ("treated", "subsequent_fracture") and row is None:
                    v = "no"  # a wide sheet says no where nothing happened
                if column in _YESNO_LEVEL:
                    values.append((yes_code if codes else yes_text)[v])
                else:
                    values.append(float(v) if v else (np.nan if codes else None))
            if codes and column in _YESNO_LEVEL:
                labels[name] = {0.0: "No", 1.0: "Yes"}
            cols[name] = values
    return pd.DataFrame(cols), labels


def wide_mapping(records: str, *, codes: bool) -> str:
    present = ", ".join(wide_levels())
    follow = (
        f"{{column: followup_days, scale: {MONTHS_PER_DAY}, round: 1}}"
        if codes
        else "followup_months"
    )
    columns = "\n".join(
        f'      {column}: "{stem}_{{level}}"' for column, stem in WIDE_STEMS.items()
    )
    return f"""\
format: table
records: {records}
patients:
  patient_id: study_id
  age: age_years
  sex: {"sex" if codes else "gender"}
  procedure: procedure
  followup_months: {follow}
  bmi: bmi
  steroid_use: steroids
  osteoporosis_treatment: osteoporosis_tx
levels:
  wide:
    levels: [{present}]
    columns:
{columns}
"""


def wide_xlsx(folder: Path, patch: Callable[[pd.DataFrame], None] | None = None) -> Path:
    import openpyxl

    folder.mkdir(parents=True, exist_ok=True)
    frame, _ = wide_frame(codes=False)
    frame = frame.astype(object)
    if patch is not None:
        patch(frame)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "cohort"
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        ws.append([None if isinstance(v, float) and np.isnan(v) else v for v in row])
    wb.save(folder / "cohort.xlsx")
    (folder / "mapping.yml").write_text(wide_mapping("cohort.xlsx", codes=False), "utf-8")
    return folder / "mapping.yml"


def wide_sav(folder: Path, patch: Callable[[pd.DataFrame], None] | None = None) -> Path:
    import pyreadstat

    folder.mkdir(parents=True, exist_ok=True)
    frame, labels = wide_frame(codes=True)
    if patch is not None:
        patch(frame)
    column_labels = {
        "study_id": "Study ID",
        "age_years": "Age at the index procedure (years)",
        "followup_days": "Follow-up (days)",
    }
    pyreadstat.write_sav(
        frame,
        folder / "cohort.sav",
        column_labels=column_labels,
        variable_value_labels=labels,
    )
    (folder / "mapping.yml").write_text(wide_mapping("cohort.sav", codes=True), "utf-8")
    return folder / "mapping.yml"


# ---------------------------------------------------------------------------
# Stata: a file of patients and a file of levels
# ---------------------------------------------------------------------------

DTA_MAPPING = f"""\
format: table
records: patients.dta
patients:
  patient_id: pid
  age: age
  sex: sex
  procedure: proc
  followup_months: {{column: fu_days, scale: {MONTHS_PER_DAY}, round: 1}}
  bmi: bmi
  steroid_use: steroid
  osteoporosis_treatment: osteo_tx
levels:
  records: levels.dta
  patient_id: pid
  level: level
  treated: treated
  tscore: tscore
  anterior_height_loss_pct: ahl_pct
  cement_volume_ml: cement_vol
  cement_leakage: leak
  subsequent_fracture: subseq_fx
  months_to_fracture: months_to_fx
"""


def long_dta(
    folder: Path, patch: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None
) -> Path:
    import pyreadstat

    folder.mkdir(parents=True, exist_ok=True)
    patients, levels = example()
    yes = {"yes": 1.0, "no": 0.0, "": np.nan}
    yes_labels = {0: "No", 1: "Yes"}

    def num(values: pd.Series) -> list[float]:
        return [float(v) if v else np.nan for v in values]

    p = pd.DataFrame(
        {
            "pid": patients["patient_id"],
            "patient_name": [_name(x) for x in patients["patient_id"]],
            "age": num(patients["age"]),
            "sex": [1.0 if s == "F" else 2.0 for s in patients["sex"]],
            "proc": [1.0 if s == "VP" else 2.0 for s in patients["procedure"]],
            "fu_days": [float(days(m)) for m in patients["followup_months"]],
            "bmi": num(patients["bmi"]),
            "steroid": [yes[v] for v in patients["steroid_use"]],
            "osteo_tx": [yes[v] for v in patients["osteoporosis_treatment"]],
        }
    )
    lv = pd.DataFrame(
        {
            "pid": levels["patient_id"],
            "level": [float(LEVEL_CODE[c]) for c in levels["level"]],
            "treated": [yes[v] for v in levels["treated"]],
            "tscore": num(levels["tscore"]),
            "ahl_pct": num(levels["anterior_height_loss_pct"]),
            "cement_vol": num(levels["cement_volume_ml"]),
            "leak": [yes[v] for v in levels["cement_leakage"]],
            "subseq_fx": [yes[v] for v in levels["subsequent_fracture"]],
            "months_to_fx": num(levels["months_to_fracture"]),
        }
    )
    if patch is not None:
        patch(p, lv)
    pyreadstat.write_dta(
        p,
        folder / "patients.dta",
        variable_value_labels={
            "sex": {1: "Female", 2: "Male"},
            "proc": {1: "Vertebroplasty", 2: "Kyphoplasty"},
            "steroid": yes_labels,
            "osteo_tx": yes_labels,
        },
    )
    pyreadstat.write_dta(
        lv,
        folder / "levels.dta",
        variable_value_labels={
            "level": {n: code for code, n in LEVEL_CODE.items()},
            "treated": yes_labels,
            "leak": yes_labels,
            "subseq_fx": yes_labels,
        },
    )
    (folder / "mapping.yml").write_text(DTA_MAPPING, "utf-8")
    return folder / "mapping.yml"


MAKERS = {
    "redcap-raw": redcap_raw,
    "redcap-labels": redcap_labels,
    "wide-xlsx": wide_xlsx,
    "wide-sav": wide_sav,
    "long-dta": long_dta,
}
