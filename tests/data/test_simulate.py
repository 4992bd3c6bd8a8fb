"""The simulator: deterministic, plausible, consistent with the contract, scalable."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from refracture.data.derive import derive
from refracture.data.example import example_path
from refracture.data.load import read_raw
from refracture.data.simulate import DEFAULT_SEED, simulate
from refracture.data.validate import load_cohort, validate


def _frames(cohort) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.DataFrame(cohort.patients), pd.DataFrame(cohort.levels)


def test_shipped_example_is_the_default_simulation() -> None:
    """In a fresh process with OpenBLAS's kernel pinned (see data/blas_kernel.py): the
    calibration's decisions hang on the last bits of BLAS results."""
    code = (
        "import sys\n"
        "from refracture.data import blas_kernel\n"
        "assert blas_kernel.pin()\n"
        "from refracture.data.simulate import simulate\n"
        "p, l = simulate().to_csv_texts()\n"
        "sys.stdout.write(p + '\\0' + l)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    patients, levels = done.stdout.split("\0")
    folder = example_path()
    assert (folder / "patients.csv").read_text(encoding="utf-8") == patients
    assert (folder / "levels.csv").read_text(encoding="utf-8") == levels


def test_same_seed_same_bytes_other_seed_other_cohort() -> None:
    a = simulate(seed=7, patients=300).to_csv_texts()
    b = simulate(seed=7, patients=300).to_csv_texts()
    c = simulate(seed=8, patients=300).to_csv_texts()
    assert a == b
    assert a != c


@pytest.mark.parametrize(("seed", "n"), [(1, 5), (2, 40), (3, 500), (DEFAULT_SEED, 2000)])
def test_simulated_cohorts_pass_validation(tmp_path, seed: int, n: int) -> None:
    simulate(seed=seed, patients=n).write(tmp_path)
    report = validate(read_raw(tmp_path))
    assert report.ok, report.render()
    assert len(report.cohort.patients) == n


def test_counts_scale_with_the_published_shares(tmp_path) -> None:
    simulate(seed=11, patients=930).write(tmp_path)
    cohort = load_cohort(tmp_path)
    pf = derive(cohort.patients, cohort.levels).patients
    assert (pf["procedure"] == "VP").sum() == 580
    assert pf.loc[pf["procedure"] == "VP", "levels_treated"].sum() == 680
    assert pf.loc[pf["procedure"] == "KP", "levels_treated"].sum() == 440
    assert pf["refracture"].sum() == 160
    assert pf["adjacent_refracture"].sum() == 70
    assert round(pf["age"].mean(), 1) == 76.8
    assert (pf["age"].min(), pf["age"].max()) == (47, 99)
    assert round(pf["followup_months"].mean(), 1) == 25.1


def test_clinically_plausible_structure(tmp_path) -> None:
    simulate(seed=5, patients=4000).write(tmp_path)
    cohort = load_cohort(tmp_path)
    data = derive(cohort.patients, cohort.levels)
    lv = data.levels
    # T-scores are correlated within a patient: the between-patient share of the
    # variance (one-way ICC) is large.
    t = lv.dropna(subset=["tscore"])
    multi = t.groupby("patient_id")["tscore"].transform("size") > 1
    t = t[multi]
    groups = t.groupby("patient_id")["tscore"]
    within = (t["tscore"] - groups.transform("mean")).var()
    between = groups.mean().var()
    assert between / (between + within) > 0.6
    # lower with age
    pf = data.patients
    r = np.corrcoef(pf["age"], pf["tscore_min_l1l4"].fillna(pf["tscore_min_l1l4"].mean()))[0, 1]
    assert r < -0.1
    # fractures cluster next to treated levels: far more often adjacent than the
    # share of adjacent levels among all untreated positions would give
    frac = lv[lv["subsequent_fracture"]]
    assert frac["adjacent"].mean() > 0.3
    # times are consistent with follow-up, and only untreated levels fracture
    fu = lv.merge(pf[["patient_id", "followup_months"]], on="patient_id")
    fr = fu[fu["subsequent_fracture"]]
    assert (fr["months_to_fracture"] <= fr["followup_months"]).all()
    assert not (lv["treated"] & lv["subsequent_fracture"]).any()


def test_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 5"):
        simulate(patients=4)


def test_blas_kernel_is_pinned_only_where_it_can_take_effect(monkeypatch) -> None:
    from refracture.data import blas_kernel

    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    assert blas_kernel.pin() is False  # numpy is loaded in this process: too late
    monkeypatch.setenv("OPENBLAS_CORETYPE", blas_kernel.KERNEL)
    assert blas_kernel.pin() is True
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    monkeypatch.setitem(sys.modules, "numpy", None)
    monkeypatch.delitem(sys.modules, "numpy")
    monkeypatch.setattr(blas_kernel.platform, "machine", lambda: "aarch64")
    assert blas_kernel.pin() is False  # another architecture: OpenBLAS has no such kernel
    monkeypatch.setattr(blas_kernel.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(blas_kernel, "_cpu_has_avx2_fma", lambda: False)
    assert blas_kernel.pin() is False  # a CPU without AVX2
    assert "OPENBLAS_CORETYPE" not in os.environ


def test_cpu_flags_unreadable_means_no_pin(monkeypatch) -> None:
    import builtins

    from refracture.data import blas_kernel

    def refuse(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(builtins, "open", refuse)
    assert blas_kernel._cpu_has_avx2_fma() is False
