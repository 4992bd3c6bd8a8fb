"""The vectorised tableone used by Table 1 builds exactly the tables of a bare call."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from refracture.analysis.table1 import (
    LEVEL_CATEGORICAL,
    LEVEL_CONTINUOUS,
    PATIENT_CATEGORICAL,
    PATIENT_CONTINUOUS,
    tableone_frame,
)
from refracture.analysis.vectorised_tableone import (
    _as_strings,
    _fast_tableone_class,
    fast_tableone,
)

pytestmark = pytest.mark.skipif(
    _fast_tableone_class() is None, reason="the vectorised copy targets tableone 0.9.6"
)

TABLES = (
    "tableone",
    "htest_table",
    "cat_describe",
    "cat_describe_all",
    "cont_describe",
    "cont_describe_all",
    "smd_table",
    "cat_table",
    "cont_table",
)


def _both(frame: pd.DataFrame, continuous, categorical, **extra):
    from tableone import TableOne

    kwargs = dict(
        columns=list(continuous) + list(categorical),
        categorical=list(categorical),
        continuous=list(continuous),
        groupby="_group",
        pval=True,
        htest_name=True,
        smd=True,
        missing=True,
        include_null=False,
        label_suffix=False,
        overall=True,
        order={"_group": ["no", "yes"]},
    )
    kwargs.update(extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bare = TableOne(frame.copy(), **kwargs)
        fast = fast_tableone(frame.copy(), **kwargs)
    return bare, fast


def _assert_same(bare, fast) -> None:
    assert type(fast) is not type(bare)  # the vectorised class did run
    for name in TABLES:
        a, b = getattr(bare, name, None), getattr(fast, name, None)
        if a is None:
            assert b is None, name
            continue
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)


def test_same_tables_on_the_example(example_data) -> None:
    pf = example_data.patients
    frame = tableone_frame(
        pf, PATIENT_CONTINUOUS, PATIENT_CATEGORICAL, pf["refracture"], ("no", "yes")
    )
    _assert_same(*_both(frame, PATIENT_CONTINUOUS, PATIENT_CATEGORICAL, nonnormal=["age"]))
    ls = example_data.level_set
    frame = tableone_frame(
        ls, LEVEL_CONTINUOUS, LEVEL_CATEGORICAL, ls["subsequent_fracture"], ("no", "yes")
    )
    _assert_same(*_both(frame, LEVEL_CONTINUOUS, LEVEL_CATEGORICAL))


def _random_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    skewed = rng.exponential(size=n)
    colour = rng.choice(np.array(["red", "green", "blue", None], dtype=object), size=n)
    count = rng.integers(1, 5, size=n)
    flag = np.where(rng.random(n) < 0.3, "yes", "no").astype(object)
    flag[rng.random(n) < 0.05] = None
    rare = np.where(rng.random(n) < 0.01, "rare", "common").astype(object)
    group = np.where(rng.random(n) < 0.35, "yes", "no").astype(object)
    return pd.DataFrame(
        {
            "x": x,
            "skewed": skewed,
            "colour": colour,
            "count": count,
            "flag": flag,
            "rare": rare,
            "_group": group,
        }
    )


@pytest.mark.parametrize(("n", "seed"), [(40, 1), (300, 2), (5000, 3)])
def test_same_tables_on_random_frames(n: int, seed: int) -> None:
    frame = _random_frame(n, seed)
    cont, cat = ["x", "skewed"], ["colour", "count", "flag", "rare"]
    _assert_same(*_both(frame, cont, cat, nonnormal=["skewed"]))
    _assert_same(*_both(frame, cont, cat, include_null=True, decimals=2))
    _assert_same(*_both(frame, cont, cat, decimals={"colour": 0}, overall=False, smd=False))


def test_same_tables_with_a_one_value_group() -> None:
    frame = _random_frame(200, 4)
    frame.loc[frame.index[1:], "_group"] = "no"
    frame.loc[frame.index[0], "_group"] = "yes"
    _assert_same(*_both(frame, ["x"], ["colour", "flag"]))


def test_as_strings_is_str_of_each_value() -> None:
    for values in (
        np.array(["a", None, "b", "a"], dtype=object),
        np.array([1, 2, 2, 3], dtype=np.int64),
        np.array([1.0, np.nan, 2.5]),
        np.array([True, False, True]),
        np.array([1, "1", True, None, 1.0], dtype=object),  # mixed: falls back
        np.array([], dtype=object),
    ):
        expected = [str(v) if not pd.isnull(v) else None for v in values]
        assert list(_as_strings(values)) == expected
