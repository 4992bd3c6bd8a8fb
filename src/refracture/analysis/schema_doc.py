"""``docs/results.md``: the schema of ``results.json``, generated from real results.

The document lists, per analysis, what it computes (the function's docstring),
the columns of its tidy table with their types, its terms and its ``meta``
keys. A test regenerates it from the example cohort and compares, so the
documentation cannot fall behind the code:
``python -m refracture.analysis.schema_doc > docs/results.md``.
"""

from __future__ import annotations

import inspect

from refracture.analysis.result import TIDY_COLUMNS
from refracture.analysis.results import SCHEMA_VERSION, Results

__all__ = ["results_schema_markdown"]

_HEAD = """\
# `results.json` schema (version {version})

A build writes every analysis into `results.json` and each analysis table into
`tables/NAME.csv`. Every number in the manuscript, its tables and its figures
is formatted from these tables; none is recomputed.

```json
{{
  "schema_version": {version},
  "meta": {{"alpha": 0.05, "first_significant_cutoff": -2.2, "...": "..."}},
  "analyses": {{
    "NAME": {{
      "name": "NAME",
      "notes": ["what could not be estimated, in words"],
      "meta": {{"method choices and derived statements": "..."}},
      "table": [{{"term": "...", "estimate": 1.0, "ci_low": 0.5, "ci_high": 2.0,
                 "p": 0.04, "n": 93, "...": "..."}}]
    }}
  }}
}}
```

Conventions:

- Keys keep a fixed order: analyses in the order below, then table columns in
  the order listed. Floats are written at full precision.
- Every table starts with the tidy columns {tidy}. Columns specific to an
  analysis follow them.
- A value that could not be estimated is `null` in JSON and blank in CSV, and
  the analysis's `notes` say why. NaN and infinity never appear.
- No patient identifier appears anywhere.

This file is generated from the example cohort's results.
"""


def _doc(fn_name: str, module: str) -> str:
    import importlib

    obj = getattr(importlib.import_module(module), fn_name, None)
    doc = inspect.getdoc(obj) if obj is not None else ""
    return (doc or "").split("\n\n")[0].replace("\n", " ")


_SOURCES = {
    "cohort": ("cohort_summary", "refracture.analysis.cohort"),
    "table1": ("patient_table1", "refracture.analysis.table1"),
    "table1_levels": ("level_table1", "refracture.analysis.table1"),
    "level_tscore": ("level_tscore", "refracture.analysis.tscore"),
    "thresholds": ("threshold_table", "refracture.analysis.thresholds"),
    "roc": ("roc_analysis", "refracture.analysis.roc"),
    "univariable": ("univariable_models", "refracture.analysis.models"),
    "multivariable": ("multivariable_model", "refracture.analysis.models"),
    "firth": ("firth_model", "refracture.analysis.models"),
    "level_gee": ("level_gee", "refracture.analysis.gee"),
    "survival": ("time_to_refracture", "refracture.analysis.survival"),
    "adjacent": ("adjacent_vs_remote", "refracture.analysis.adjacent"),
}


def _kind(series) -> str:
    kind = series.dtype.kind
    if kind in "iu":
        return "integer"
    if kind == "f":
        return "number"
    if kind == "b":
        return "boolean"
    return "text"


def results_schema_markdown(results: Results) -> str:
    parts = [_HEAD.format(version=SCHEMA_VERSION, tidy=", ".join(f"`{c}`" for c in TIDY_COLUMNS))]
    parts.append("## Top-level `meta`\n\n" + ", ".join(f"`{k}`" for k in results.meta) + "\n")
    for name, r in results.analyses.items():
        fn, module = _SOURCES.get(name, ("", ""))
        lines = [f"## `{name}`", ""]
        if fn:
            lines += [f"From `{module}.{fn}`: {_doc(fn, module)}", ""]
        lines += ["| column | type |", "|---|---|"]
        lines += [f"| `{c}` | {_kind(r.table[c])} |" for c in r.table.columns]
        terms = list(dict.fromkeys(str(t) for t in r.table["term"]))
        lines.append("")
        if len(terms) <= 40:
            lines.append("Terms: " + ", ".join(f"`{t}`" for t in terms) + ".")
        else:
            lines.append(
                f"{len(terms)} terms, e.g. " + ", ".join(f"`{t}`" for t in terms[:5]) + "."
            )
        lines += ["", "`meta` keys: " + ", ".join(f"`{k}`" for k in r.meta) + ".", ""]
        parts.append("\n".join(lines))
    return "\n".join(parts)


if __name__ == "__main__":
    from refracture.analysis.results import run_analyses
    from refracture.data.derive import derive
    from refracture.data.example import example_path
    from refracture.data.validate import load_cohort

    cohort = load_cohort(example_path())
    print(results_schema_markdown(run_analyses(derive(cohort.patients, cohort.levels))), end="")
