"""The cohort exclusions and filters of a configuration (its ``cohort`` section),
applied to the validated cohort before derivation: :func:`apply_cohort_filters`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from refracture.build.config_model import Config
from refracture.build.config_schema import CohortSection
from refracture.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd


PROCEDURE_NAMES = {"VP": "vertebroplasty", "KP": "kyphoplasty"}


def _patients(n: int) -> str:
    return f"{n} patient{'' if n == 1 else 's'}"


def apply_cohort_filters(
    patients: pd.DataFrame,
    levels: pd.DataFrame,
    cohort_cfg: CohortSection | Config,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Drop the patients the exclusions and filters remove, and their level rows.

    Works on the validated frames (:class:`refracture.data.validate.Cohort`, before
    derivation); returns new frames (index 0..n-1, ``_row`` kept) and one line per
    active criterion, in the order applied. A missing follow-up counts as below the
    minimum; an unknown glucocorticoid use is kept (and said so).
    """
    import pandas as pd

    cfg = cohort_cfg.cohort if isinstance(cohort_cfg, Config) else cohort_cfg
    keep = pd.Series(True, index=patients.index)
    lines: list[str] = []
    ex, flt = cfg.exclusions, cfg.filters
    if ex.min_followup_months is not None:
        fu = pd.to_numeric(patients["followup_months"], errors="coerce")
        drop = keep & ~(fu >= ex.min_followup_months).fillna(False).astype(bool)
        lines.append(
            f"excluded {_patients(int(drop.sum()))} with follow-up below "
            f"{ex.min_followup_months:g} months"
        )
        keep &= ~drop
    if ex.exclude_steroids:
        steroid = patients["steroid_use"].astype("boolean")
        drop = keep & steroid.eq(True).fillna(False).astype(bool)
        unknown = keep & steroid.isna().astype(bool)
        lines.append(f"excluded {_patients(int(drop.sum()))} on long-term glucocorticoids")
        if unknown.any():
            lines.append(
                f"kept {_patients(int(unknown.sum()))} whose glucocorticoid use is not recorded"
            )
        keep &= ~drop
    if flt.procedure is not None:
        proc = patients["procedure"].astype("string")
        drop = keep & ~proc.eq(flt.procedure).fillna(False).astype(bool)
        name = PROCEDURE_NAMES[flt.procedure]
        lines.append(
            f"excluded {_patients(int(drop.sum()))} not treated with {name} ({flt.procedure})"
        )
        keep &= ~drop
    if not keep.any():
        detail = "; ".join(lines)
        raise ConfigError(f"no patient remains after the cohort exclusions and filters ({detail})")
    kept = patients.loc[keep].reset_index(drop=True)
    ids = set(kept["patient_id"].astype(str))
    lv = levels.loc[levels["patient_id"].astype(str).isin(ids)].reset_index(drop=True)
    return kept, lv, lines
