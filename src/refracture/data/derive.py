"""The one place where derived quantities of the data contract are computed.

Everything downstream (analyses, tables, figures, text) takes these frames and
never re-derives refracture status, adjacency or the analysis sets itself.

Definitions (``data-contract.md``, "Derived quantities"):

* **refracture** (patient): any level of the patient with a subsequent fracture.
* **months to refracture** (patient): the earliest ``months_to_fracture``.
* **adjacent** (level): the level lies directly above or below a level treated in
  the same patient (T12 and L1 are neighbours). A patient has an
  **adjacent refracture** when any of their fractured levels is adjacent.
* **levels treated**: number of treated rows of the patient.
* **largest anterior height loss**: maximum ``anterior_height_loss_pct`` over the
  patient's treated levels.
* **lowest L1–L4 T-score**: minimum ``tscore`` over the patient's L1–L4 rows.
* **level-specific analysis set**: untreated levels with a T-score; the outcome
  is that level's ``subsequent_fracture``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from refracture.data.levels import DXA_LEVELS, LEVEL_INDEX, LEVELS, THORACOLUMBAR_REGION

__all__ = ["DerivedData", "derive", "level_frame", "patient_frame"]


@dataclass(frozen=True)
class DerivedData:
    """The analysis-ready frames of one cohort."""

    patients: pd.DataFrame
    """One row per patient with the derived patient-level quantities."""
    levels: pd.DataFrame
    """Every level row, with ``level_index``, ``adjacent`` and ``region_tl`` added."""
    level_set: pd.DataFrame
    """The level-specific analysis set: untreated levels with a T-score."""


def _level_index(level: pd.Series) -> pd.Series:
    """Position in the spine of each level code (T1 = 0 … L5 = 16), as int64.

    The validated cohort holds levels as a categorical of exactly :data:`LEVELS`, whose
    codes *are* the positions; anything else is looked up by its text."""
    dtype = level.dtype
    if isinstance(dtype, pd.CategoricalDtype) and tuple(map(str, dtype.categories)) == LEVELS:
        codes = level.cat.codes
        if not (codes < 0).any():
            return codes.astype("int64")
    return level.astype(str).map(LEVEL_INDEX).astype("int64")


def level_frame(levels: pd.DataFrame) -> pd.DataFrame:
    """Add the position in the spine, adjacency to a treated level and region.

    A level is adjacent when (patient, position) is (patient, position ± 1) of a
    treated level: patients are numbered, each (patient, position) becomes one
    integer and the neighbours of the treated levels are marked in a table of them.
    """
    out = levels.copy()
    idx = _level_index(out["level"])
    out["level_index"] = idx
    treated = out["treated"].astype(bool).to_numpy()
    patient = pd.factorize(out["patient_id"], use_na_sentinel=False)[0].astype(np.int64)
    slots = len(LEVELS) + 3  # positions −1 … 17, shifted to 0 … 18
    key = patient * slots + (idx.to_numpy() + 1)
    marked = np.zeros((int(patient.max()) + 1 if len(patient) else 0) * slots, dtype=bool)
    marked[key[treated] - 1] = True
    marked[key[treated] + 1] = True
    out["adjacent"] = pd.Series(~treated & marked[key], index=out.index)
    region = [LEVEL_INDEX[c] for c in THORACOLUMBAR_REGION]
    out["region_tl"] = pd.Series(np.isin(idx.to_numpy(), region), index=out.index)
    return out


def patient_frame(patients: pd.DataFrame, levels: pd.DataFrame) -> pd.DataFrame:
    """Patient-level frame: the patient columns plus every derived patient quantity.

    ``levels`` must already carry ``adjacent`` (see :func:`level_frame`).
    """
    pid = levels["patient_id"]
    treated = levels["treated"].astype(bool)
    fractured = levels["subsequent_fracture"].astype(bool)
    if "level_index" in levels.columns:
        dxa = levels["level_index"].isin([LEVEL_INDEX[c] for c in DXA_LEVELS])
    else:
        dxa = levels["level"].astype(str).isin(DXA_LEVELS)
    g = pd.DataFrame(
        {
            "patient_id": pid,
            "treated": treated,
            "fractured": fractured,
            "adjacent_fracture": fractured & levels["adjacent"],
            "months": levels["months_to_fracture"].where(fractured),
            "height_loss": levels["anterior_height_loss_pct"].where(treated),
            "tscore_l1l4": levels["tscore"].where(dxa),
            "leak": levels["cement_leakage"].astype("float64").where(treated),
        }
    ).groupby("patient_id", sort=False)
    agg = pd.DataFrame(
        {
            "levels_treated": g["treated"].sum().astype("int64"),
            "fractured_levels": g["fractured"].sum().astype("int64"),
            "refracture": g["fractured"].any(),
            "adjacent_refracture": g["adjacent_fracture"].any(),
            "months_to_refracture": g["months"].min(),
            "height_loss_max": g["height_loss"].max(),
            "tscore_min_l1l4": g["tscore_l1l4"].min(),
            "cement_leakage_any": g["leak"].max(),
        }
    )
    agg["cement_leakage_any"] = (
        agg["cement_leakage_any"].map({1.0: True, 0.0: False}, na_action="ignore").astype("boolean")
    )
    out = patients.merge(agg, left_on="patient_id", right_index=True, how="left", sort=False)
    for col in ("levels_treated", "fractured_levels"):
        out[col] = out[col].fillna(0).astype("int64")
    for col in ("refracture", "adjacent_refracture"):
        out[col] = out[col].fillna(False).astype(bool)
    return out.reset_index(drop=True)


def derive(patients: pd.DataFrame, levels: pd.DataFrame) -> DerivedData:
    """Derive the patient frame, the annotated level frame and the level analysis set."""
    lv = level_frame(levels)
    pf = patient_frame(patients, lv)
    keep = ~lv["treated"].astype(bool) & lv["tscore"].notna()
    cols = [
        "patient_id",
        "level",
        "level_index",
        "tscore",
        "subsequent_fracture",
        "months_to_fracture",
        "adjacent",
        "region_tl",
    ]
    ls = lv.loc[keep, cols].merge(
        pf[["patient_id", "age", "sex", "procedure", "followup_months"]],
        on="patient_id",
        how="left",
        sort=False,
    )
    ls["subsequent_fracture"] = ls["subsequent_fracture"].astype(bool)
    ls = ls.reset_index(drop=True)
    return DerivedData(patients=pf, levels=lv, level_set=ls)
