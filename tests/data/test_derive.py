"""Derived quantities on a hand-made cohort whose answers are worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from refracture.data.derive import derive

PATIENTS = pd.DataFrame(
    {
        "patient_id": ["A", "B", "C"],
        "age": [70.0, 80.0, 65.0],
        "sex": ["F", "M", "F"],
        "procedure": ["VP", "KP", "VP"],
        "followup_months": [24.0, 36.0, 12.0],
    }
)
# A: treated T12, L1 fractured later (T12-L1 are neighbours) at 6 months and L4
#    (remote) at 10 months. B: treated L2 + L3, fracture at T10 (remote). C: none.
LEVELS = pd.DataFrame(
    [
        ("A", "T12", True, None, 40.0, True, False, None),
        ("A", "L1", False, -2.5, None, None, True, 6.0),
        ("A", "L3", False, -1.9, None, None, False, None),
        ("A", "L4", False, -3.0, None, None, True, 10.0),
        ("B", "L2", True, -1.0, 30.0, False, False, None),
        ("B", "L3", True, None, 55.0, True, False, None),
        ("B", "T10", False, None, None, None, True, 20.0),
        ("B", "L4", False, -0.5, None, None, False, None),
        ("C", "L1", True, None, 10.0, False, False, None),
    ],
    columns=[
        "patient_id",
        "level",
        "treated",
        "tscore",
        "anterior_height_loss_pct",
        "cement_leakage",
        "subsequent_fracture",
        "months_to_fracture",
    ],
)


@pytest.fixture(scope="module")
def data():
    levels = LEVELS.astype(
        {"tscore": float, "anterior_height_loss_pct": float, "months_to_fracture": float}
    )
    levels["cement_leakage"] = levels["cement_leakage"].astype("boolean")
    return derive(PATIENTS, levels)


def test_patient_quantities(data) -> None:
    pf = data.patients.set_index("patient_id")
    assert pf["refracture"].to_dict() == {"A": True, "B": True, "C": False}
    assert pf["adjacent_refracture"].to_dict() == {"A": True, "B": False, "C": False}
    assert pf.loc["A", "months_to_refracture"] == 6.0
    assert pf.loc["B", "months_to_refracture"] == 20.0
    assert math.isnan(pf.loc["C", "months_to_refracture"])
    assert pf["levels_treated"].to_dict() == {"A": 1, "B": 2, "C": 1}
    assert pf["fractured_levels"].to_dict() == {"A": 2, "B": 1, "C": 0}
    assert pf["height_loss_max"].to_dict() == {"A": 40.0, "B": 55.0, "C": 10.0}
    # lowest L1-L4 T-score over all L1-L4 rows with a value (B's treated L2 too)
    assert pf.loc["A", "tscore_min_l1l4"] == -3.0
    assert pf.loc["B", "tscore_min_l1l4"] == -1.0
    assert math.isnan(pf.loc["C", "tscore_min_l1l4"])
    assert pf["cement_leakage_any"].tolist() == [True, True, False]


def test_adjacency_crosses_the_thoracolumbar_junction(data) -> None:
    lv = data.levels.set_index(["patient_id", "level"])
    assert lv.loc[("A", "L1"), "adjacent"]  # below treated T12
    assert not lv.loc[("A", "L3"), "adjacent"]
    assert lv.loc[("B", "L4"), "adjacent"]  # below treated L3
    assert not lv.loc[("B", "T10"), "adjacent"]
    assert not lv.loc[("A", "T12"), "adjacent"]  # a treated level is not "adjacent"
    assert lv.loc[("A", "T12"), "region_tl"]
    assert not lv.loc[("A", "L4"), "region_tl"]


def test_level_set_is_untreated_levels_with_a_tscore(data) -> None:
    ls = data.level_set
    assert list(zip(ls["patient_id"], ls["level"].astype(str), strict=True)) == [
        ("A", "L1"),
        ("A", "L3"),
        ("A", "L4"),
        ("B", "L4"),
    ]
    assert ls["subsequent_fracture"].tolist() == [True, False, True, False]
    assert ls["age"].tolist() == [70.0, 70.0, 70.0, 80.0]
