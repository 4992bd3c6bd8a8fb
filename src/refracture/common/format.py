"""Number formatting for text, tables and figure labels: the one set of rules.

Every number a reader sees goes through a :class:`Formatter`, so text, tables
and figures agree to the digit. The defaults follow common spine-journal style
(P = 0.047, P < 0.001; "2.41 (95% CI 1.12–5.18)"; a true minus sign U+2212);
a journal with other rules gets another ``Formatter``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal

__all__ = ["MINUS", "NOT_ESTIMABLE", "Formatter", "finite"]

MINUS = "\u2212"
NOT_ESTIMABLE = "n.e."
"""Shown where a value could not be estimated (never "nan" or "inf")."""


_EXACT = Context(prec=64)
"""Enough digits to round any float below the display limit exactly."""


def _is_missing(x: object) -> bool:
    if x is None:
        return True
    try:
        return not math.isfinite(float(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True


def finite(x: object) -> bool:
    """A real, finite number (not None, NaN, infinity or text)."""
    return not _is_missing(x)


@dataclass(frozen=True)
class Formatter:
    """Formatting rules of one journal."""

    minus: str = MINUS
    thousands: str = ","
    or_decimals: int = 2
    p_decimals: int = 3
    p_floor: float = 0.001
    percent_decimals: int = 1
    mean_decimals: int = 1
    tscore_decimals: int = 2
    range_sep: str = "\u2013"  # en dash between CI ends
    ci_label: str = "95% CI"
    p_symbol: str = "P"
    missing: str = NOT_ESTIMABLE
    display_limit: float = 1e12
    """A number this large or larger prints as missing: no clinical estimate is, so it
    is the numerically unbounded end of an interval (e.g. a penalised profile
    likelihood under separation), and its digits would mean nothing."""
    alpha: float = 0.05
    """Significance level: a P value below it never prints as equal to it (0.0498 → 0.0498)."""

    def absent(self, x: object) -> bool:
        """Not a number, infinite, or beyond :attr:`display_limit`: printed as missing."""
        return _is_missing(x) or abs(float(x)) >= self.display_limit  # type: ignore[arg-type]

    def num(self, x: object, decimals: int = 1, thousands: bool = True) -> str:
        """A number rounded half-up at ``decimals``, with a true minus and separators."""
        if self.absent(x):
            return self.missing
        d = Decimal(repr(float(x))).quantize(
            Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP, context=_EXACT
        )
        if d == 0:
            d = abs(d)  # no "−0.0"
        text = f"{abs(d):,.{decimals}f}" if thousands else f"{abs(d):.{decimals}f}"
        if thousands and self.thousands != ",":
            text = text.replace(",", self.thousands)
        return (self.minus if d < 0 else "") + text

    def count(self, x: object) -> str:
        if _is_missing(x):
            return self.missing
        return self.num(x, 0)

    def percent(self, x: object, decimals: int | None = None) -> str:
        """``17.2%`` from a percentage value (not a fraction)."""
        if _is_missing(x):
            return self.missing
        return self.num(x, self.percent_decimals if decimals is None else decimals) + "%"

    def n_percent(self, n: object, pct: object) -> str:
        """``16 (17.2%)``."""
        return f"{self.count(n)} ({self.percent(pct)})"

    def p_value(self, p: object, symbol: bool = False) -> str:
        """``0.047`` / ``< 0.001`` (``P = 0.047`` / ``P < 0.001`` with ``symbol``)."""
        if _is_missing(p):
            return self.missing
        p = float(p)  # type: ignore[arg-type]
        if p < self.p_floor:
            core = f"< {self.num(self.p_floor, self.p_decimals)}"
            return f"{self.p_symbol} {core}" if symbol else core
        decimals = self.p_decimals
        text = self.num(p, decimals)
        while p < self.alpha and float(text) >= self.alpha and decimals < 6:
            # 0.0498 must not read "0.050" beside the word "significant"
            decimals += 1
            text = self.num(p, decimals)
        if text == self.num(1, decimals):
            text = self.num(1, 2) if decimals > 2 else text
        return f"{self.p_symbol} = {text}" if symbol else text

    def ci(self, lo: object, hi: object, decimals: int) -> str:
        """``1.12–5.18`` (``1.12 to 5.18`` when an end is negative, to avoid "−3–−2")."""
        a, b = self.num(lo, decimals), self.num(hi, decimals)
        sep = " to " if (a.startswith(self.minus) or b.startswith(self.minus)) else self.range_sep
        return f"{a}{sep}{b}"

    def estimate_ci(self, est: object, lo: object, hi: object, decimals: int) -> str:
        """``2.41 (95% CI 1.12–5.18)``."""
        if self.absent(est):
            return self.missing
        if self.absent(lo) or self.absent(hi):
            return self.num(est, decimals)
        return f"{self.num(est, decimals)} ({self.ci_label} {self.ci(lo, hi, decimals)})"

    def estimate_ci_flat(self, est: object, lo: object, hi: object, decimals: int) -> str:
        """``2.41, 95% CI 1.12–5.18``: the form that sits inside parentheses."""
        if self.absent(est):
            return self.missing
        if self.absent(lo) or self.absent(hi):
            return self.num(est, decimals)
        return f"{self.num(est, decimals)}, {self.ci_label} {self.ci(lo, hi, decimals)}"

    def odds_ratio(self, est: object, lo: object, hi: object) -> str:
        return self.estimate_ci(est, lo, hi, self.or_decimals)

    def mean_range(self, mean: object, lo: object, hi: object, decimals: int | None = None) -> str:
        """``76.8 (47–99)``: a mean with the range of the data."""
        d = self.mean_decimals if decimals is None else decimals
        return f"{self.num(mean, d)} ({self.ci(lo, hi, 0)})"

    def cutoff(self, x: object) -> str:
        """A T-score cutoff at one decimal: ``−2.2``."""
        return self.num(x, 1)
