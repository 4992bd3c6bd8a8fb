"""Analysis settings with the paper's defaults (a config file will set them later)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["COVARIATE_LABELS", "AnalysisSettings"]

COVARIATE_LABELS: dict[str, str] = {
    "age": "Age (per year)",
    "sex": "Male sex",
    "bmi": "BMI (per kg/m²)",
    "procedure": "Kyphoplasty (vs vertebroplasty)",
    "levels_treated": "Levels treated (per level)",
    "steroid_use": "Long-term glucocorticoids",
    "osteoporosis_treatment": "Anti-osteoporotic treatment",
    "height_loss_max": "Anterior height loss (per %)",
    "tscore_min_l1l4": "Lowest L1–L4 T-score (per unit)",
    "cement_leakage_any": "Cement leakage",
    "followup_months": "Follow-up (per month)",
}
"""Readable names of the patient-level covariates (columns of the patient frame)."""


def _grid(start: str, stop: str, step: str) -> tuple[Decimal, ...]:
    a, b, s = Decimal(start), Decimal(stop), Decimal(step)
    out = []
    x = a
    while x >= b:
        out.append(x)
        x -= s
    return tuple(out)


@dataclass(frozen=True)
class AnalysisSettings:
    """Every choice the analyses make, in one place.

    Cutoffs are :class:`~decimal.Decimal` so that "T ≤ −2.2" is decided in exact
    decimal terms; T-scores are compared after conversion to the same decimals.
    """

    alpha: float = 0.05
    cutoffs: tuple[Decimal, ...] = _grid("-1.5", "-3.5", "0.1")
    model_covariates: tuple[str, ...] = (
        "age",
        "height_loss_max",
        "sex",
        "procedure",
        "tscore_min_l1l4",
    )
    candidate_covariates: tuple[str, ...] = (
        "age",
        "sex",
        "bmi",
        "procedure",
        "levels_treated",
        "steroid_use",
        "osteoporosis_treatment",
        "height_loss_max",
        "tscore_min_l1l4",
        "cement_leakage_any",
    )
    bootstrap_replicates: int = 2000
    seed: int = 20011101
    km_times: tuple[int, ...] = (0, 12, 24, 36, 48, 60)
    cumulative_incidence_times: tuple[int, ...] = (12, 24)
    epv_warning: float = 10.0
