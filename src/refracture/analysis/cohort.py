"""Cohort summary: the descriptive figures of the abstract's first sentences."""

from __future__ import annotations

import numpy as np
import pandas as pd

from refracture.analysis.result import Result
from refracture.data.derive import DerivedData

__all__ = ["cohort_summary"]


def _row(
    term: str, estimate: float, n: int, lo: float = np.nan, hi: float = np.nan, **extra: object
) -> dict[str, object]:
    return {
        "term": term,
        "estimate": estimate,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "p": np.nan,
        "n": n,
        "min": lo,
        "max": hi,
        **extra,
    }


def _describe(term: str, x: pd.Series) -> dict[str, object]:
    x = x.dropna()
    if x.empty:
        return _row(term, np.nan, 0)
    return _row(
        term,
        float(x.mean()),
        int(x.size),
        float(x.min()),
        float(x.max()),
        sd=float(x.std(ddof=1)) if x.size > 1 else np.nan,
    )


def _share(term: str, count: int, of: int, **extra: object) -> dict[str, object]:
    return _row(term, float(count), of, percent=100.0 * count / of if of else np.nan, **extra)


def cohort_summary(data: DerivedData) -> Result:
    """Patients, age, sex, procedures with levels, follow-up and refractures.

    Rows: ``estimate`` is a mean (continuous rows, with ``min``/``max``/``sd``) or
    a count (count rows, with ``percent`` of ``n``).
    """
    pf = data.patients
    n = len(pf)
    ref = pf.loc[pf["refracture"]]
    rows = [
        _row("patients", float(n), n),
        _describe("age", pf["age"]),
        _share("female", int((pf["sex"] == "F").sum()), n),
        _describe("followup_months", pf["followup_months"]),
    ]
    for code in ("VP", "KP"):
        sub = pf.loc[pf["procedure"] == code]
        rows.append(
            _share(f"procedure_{code}", len(sub), n, levels=int(sub["levels_treated"].sum()))
        )
    rows += [
        _share("refracture", len(ref), n),
        _describe("months_to_refracture", ref["months_to_refracture"]),
        _share("adjacent_refracture", int(ref["adjacent_refracture"].sum()), len(ref)),
        _row("levels_treated", float(pf["levels_treated"].sum()), n),
        _row(
            "level_set_levels",
            float(len(data.level_set)),
            int(data.level_set["patient_id"].nunique()),
        ),
    ]
    table = pd.DataFrame(rows)
    notes = () if len(ref) else ("No patient had a subsequent fracture.",)
    return Result(
        "cohort",
        table,
        notes=notes,
        meta={"definition_adjacent": "a fractured level next to a treated level"},
    )
