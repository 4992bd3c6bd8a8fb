"""Formatting rules: true minus, P values, OR with CI, percentages, never "nan"."""

from __future__ import annotations

import math

import pytest

from refracture.common.format import MINUS, Formatter

F = Formatter()


@pytest.mark.parametrize(
    ("x", "decimals", "expected"),
    [
        (-2.86, 3, f"{MINUS}2.860"),
        (-2.2, 1, f"{MINUS}2.2"),
        (0.125, 2, "0.13"),  # half-up, not banker's rounding
        (2.675, 2, "2.68"),  # decimal, not binary, rounding
        (-0.04, 1, "0.0"),  # no negative zero
        (12345.678, 1, "12,345.7"),
        (93, 0, "93"),
    ],
)
def test_num(x: float, decimals: int, expected: str) -> None:
    assert F.num(x, decimals) == expected


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.047411, "0.047"),
        (0.0009, "< 0.001"),
        (0.001, "0.001"),
        (0.9996, "1.00"),
        (0.0495, "0.0495"),  # below alpha: never shown as 0.050
        (0.0505, "0.051"),
        (0.12, "0.120"),
    ],
)
def test_p_value(p: float, expected: str) -> None:
    assert F.p_value(p) == expected
    assert F.p_value(p, symbol=True) == ("P " if expected.startswith("<") else "P = ") + expected


def test_odds_ratio_with_ci() -> None:
    assert F.odds_ratio(2.4149, 1.1172, 5.1849) == "2.41 (95% CI 1.12–5.18)"
    # negative ends use "to" instead of a dash
    assert F.estimate_ci(-2.86, -3.268, -2.452, 3) == (
        f"{MINUS}2.860 (95% CI {MINUS}3.268 to {MINUS}2.452)"
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, None, "x"])
def test_missing_values_never_print_as_numbers(bad: object) -> None:
    for text in (F.num(bad), F.p_value(bad), F.odds_ratio(bad, 1, 2), F.percent(bad)):
        assert text == "n.e."
    assert F.odds_ratio(2.0, bad, 3.0) == "2.00"


def test_percent_and_counts() -> None:
    assert F.n_percent(16, 100 * 16 / 93) == "16 (17.2%)"
    assert F.mean_range(76.79569, 47, 99) == "76.8 (47–99)"


def test_journal_variant() -> None:
    other = Formatter(minus="-", p_decimals=2, thousands=" ", ci_label="CI")
    assert other.num(-1234.5, 1) == "-1 234.5"
    assert other.p_value(0.047) == "0.047"  # "0.05" would read as not significant
    assert other.p_value(0.052) == "0.05"
    assert other.odds_ratio(2, 1, 3) == "2.00 (CI 1.00–3.00)"


def test_p_below_alpha_never_prints_as_alpha() -> None:
    # 0.0498 rounds to 0.050 at three decimals; below alpha it keeps a fourth digit
    assert F.p_value(0.04984) == "0.0498"
    assert F.p_value(0.04985) == "0.0499"  # half-up
    assert F.p_value(0.0501) == "0.050"
    assert F.p_value(0.047) == "0.047"
    assert Formatter(alpha=0.01).p_value(0.00996) == "0.00996"
    assert Formatter(alpha=0.01).p_value(0.0094) == "0.009"


def test_unbounded_numbers_print_as_not_estimable() -> None:
    # a penalised profile-likelihood bound under separation can be 2.3e33
    assert F.num(2.3e33, 2) == "n.e."
    assert F.odds_ratio(5.0, 0.5, 2.3e33) == "5.00"
    assert F.num(999_999_999_999.0, 0) == "999,999,999,999"
    assert Formatter(display_limit=1e6).num(2e6, 1) == "n.e."
