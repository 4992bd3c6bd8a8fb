"""All analyses of one build as one typed object, serialised to ``results.json``.

``results.json`` keeps a stable key order (the order of :data:`ANALYSES`, then
each table's column order) and full float precision; NaN and infinity are
written as ``null``. Each result's table is also written as ``tables/NAME.csv``.
The schema is documented in ``docs/results.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refracture.analysis.result import Result

__all__ = ["SCHEMA_VERSION", "Results", "run_analyses"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Results:
    """Every analysis result of one build, in a fixed order."""

    analyses: dict[str, Result]
    meta: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Result:
        return self.analyses[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "meta": self.meta,
            "analyses": {name: r.to_dict() for name, r in self.analyses.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False, ensure_ascii=False) + "\n"

    def write(self, folder: Path) -> list[Path]:
        """Write ``results.json`` and ``tables/NAME.csv`` into ``folder``."""
        written = [folder / "results.json"]
        written[0].write_text(self.to_json(), encoding="utf-8")
        tables = folder / "tables"
        tables.mkdir(exist_ok=True)
        for name, r in self.analyses.items():
            path = tables / f"{name}.csv"
            r.table.to_csv(path, index=False, lineterminator="\n", float_format="%.10g")
            written.append(path)
        return written


def run_analyses(data, settings=None, progress=None, executor=None) -> Results:
    """Run every analysis on derived data, in the order the paper reports them.

    The first significant cutoff found by the threshold table feeds the GEE and
    the survival analysis by T-score group, so no cutoff is chosen by hand. The
    ROC bootstrap's chunks run on ``executor`` (default: the current one, see
    :mod:`refracture.build.executor`); the results are the same whichever runs them, and
    which one did is not recorded, so ``results.json`` does not depend on it.
    """
    from refracture.analysis import (
        adjacent,
        cohort,
        gee,
        models,
        roc,
        survival,
        table1,
        thresholds,
        tscore,
    )
    from refracture.analysis.settings import AnalysisSettings
    from refracture.common.parallel import current_executor

    settings = settings or AnalysisSettings()
    executor = executor or current_executor()
    say = progress or (lambda _label: None)
    out: dict[str, Result] = {}

    def run(name: str, label: str, fn, *args) -> Result:
        say(label)
        out[name] = fn(data, settings, *args)
        return out[name]

    # a registry-size bootstrap starts now on worker processes and runs while
    # the other analyses are computed here
    pending = roc.start_bootstrap(data, settings, executor)
    say("cohort summary")
    out["cohort"] = cohort.cohort_summary(data)
    run("table1", "Table 1 (patients)", table1.patient_table1)
    run("table1_levels", "Table 1 (levels)", table1.level_table1)
    run("level_tscore", "level-specific T-scores", tscore.level_tscore)
    thr = run("thresholds", "T-score cutoffs", thresholds.threshold_table)
    first = thr.meta.get("first_significant_cutoff")
    where = "" if executor.in_process else f" on {executor.describe()}"
    if pending is None:
        run("roc", f"ROC and bootstrap{where}", roc.roc_analysis, executor)
    else:
        out["roc"] = None  # keeps its place; computed last, when the bootstrap is back
    run("univariable", "univariable models", models.univariable_models)
    run("multivariable", "multivariable model", models.multivariable_model)
    run("firth", "Firth model", models.firth_model)
    run("level_gee", "level GEE", gee.level_gee, first)
    run("survival", "time to refracture", survival.time_to_refracture, first)
    run("adjacent", "adjacent versus remote", adjacent.adjacent_vs_remote)
    if pending is not None:
        run(
            "roc",
            "ROC (the bootstrap ran beside the other analyses)",
            roc.roc_analysis,
            executor,
            pending,
        )
    meta = {
        "alpha": settings.alpha,
        "first_significant_cutoff": first,
        "bootstrap_replicates": settings.bootstrap_replicates,
        "seed": settings.seed,
    }
    return Results(analyses=out, meta=meta)
