"""The template context: every value a template may print, pre-formatted.

Templates hold prose and no arithmetic. This module reads the results (never
recomputing a statistic), formats each number once with the journal's
:class:`~refracture.common.format.Formatter`, and states the findings the prose
branches on (significance, direction, the first significant cutoff, the OR
plateau, the predictive-value characterisation, the independent predictors).
When the data change so that a finding reverses, these flags change and the
sentence changes with them.

Strings are plain text; the template environment escapes every printed value
for Markdown, so data text cannot become markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from refracture.common.format import Formatter
from refracture.common.format import finite as _finite
from refracture.report.tables import (
    MAIN_TABLES,
    SUPPLEMENTARY_TABLES,
    Table,
    build_tables,
    true_minus,
)

if TYPE_CHECKING:
    from refracture.analysis.results import Results

__all__ = ["Author", "ManuscriptMeta", "build_context"]


@dataclass(frozen=True)
class Author:
    name: str
    affiliations: tuple[str, ...]
    email: str = ""
    corresponding: bool = False


@dataclass(frozen=True)
class ManuscriptMeta:
    """Title page facts (the config file of a later release will set them)."""

    title: str = (
        "Level-specific bone density and the site of the next vertebral fracture "
        "after cement augmentation"
    )
    running_title: str = "Level-specific T-score and refracture"
    authors: tuple[Author, ...] = (
        Author(
            "Example Author",
            ("Department of Orthopaedic Surgery, Example University Hospital",),
            "author@example.org",
            corresponding=True,
        ),
        Author("Second Author", ("Department of Radiology, Example University Hospital",)),
    )
    keywords: tuple[str, ...] = (
        "vertebroplasty",
        "kyphoplasty",
        "osteoporotic vertebral compression fracture",
        "subsequent vertebral fracture",
        "bone mineral density",
        "T-score",
        "dual-energy X-ray absorptiometry",
    )
    date: str = "2026-11-25"
    study_period: str = "November 2001 to December 2010"
    setting: str = "a single institution, with all procedures performed by one surgeon"
    synthetic: bool = True
    """The example cohort is simulated: the paper says so on its title page."""
    funding: str = "No funding was received for this study."
    conflicts: str = "The authors declare no conflicts of interest."
    extra: dict[str, str] = field(default_factory=dict)


# Noun phrases for covariates in running text (labels in tables say "per unit").
PHRASES: dict[str, str] = {
    "age": "age",
    "sex": "male sex",
    "bmi": "body mass index",
    "procedure": "kyphoplasty rather than vertebroplasty",
    "levels_treated": "the number of treated levels",
    "steroid_use": "long-term glucocorticoid use",
    "osteoporosis_treatment": "anti-osteoporotic treatment",
    "height_loss_max": "preoperative anterior vertebral height loss",
    "tscore_min_l1l4": "the lowest L1–L4 T-score",
    "cement_leakage_any": "cement leakage",
}

UNITS: dict[str, str] = {
    "age": "per year",
    "bmi": "per kg/m²",
    "height_loss_max": "per percentage point",
    "tscore_min_l1l4": "per unit",
    "levels_treated": "per level",
}


WHO_OSTEOPOROSIS = -2.5
"""T-score at or below which densitometry defines osteoporosis (Kanis 1994)."""


def _sig(p: Any, alpha: float) -> bool:
    return _finite(p) and float(p) < alpha


def _join(items: list[str], conj: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c``: an English list."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conj} {items[-1]}"


def _row(res, term: str, **match: str):
    t = res.table
    hit = t[t["term"] == term]
    for k, v in match.items():
        hit = hit[hit[k] == v]
    return hit.iloc[0] if len(hit) == 1 else None


def _count(x: Any) -> int:
    return int(float(x)) if _finite(x) else 0


RECORDED: dict[str, str] = {
    "age": "age",
    "sex": "sex",
    "bmi": "body mass index",
    "steroid_use": "long-term glucocorticoid use",
    "osteoporosis_treatment": "anti-osteoporotic treatment after the procedure",
}
"""Patient characteristics the methods say were recorded, when the data hold any value."""


def _has_data(results: Results, variable: str) -> bool:
    """Table 1 summarised ``variable``: at least one patient has a value."""
    t = results["table1"].table
    return bool((t.loc[t["variable"] == variable, "n"] > 0).any())


def _missing(results: Results, f: Formatter) -> list[str]:
    """Each patient characteristic with missing values: "body mass index (1 patient)".

    Only characteristics the data hold (some patient has a value) and that some
    patient lacks; Table 1 summarises each over the patients with a value."""
    t = results["table1"].table
    out = []
    for _, row in t.drop_duplicates("variable").iterrows():
        missing = row.get("missing")
        if row["kind"] == "count" or not _finite(missing) or missing <= 0 or row["n"] <= 0:
            continue
        v = str(row["variable"])
        what = RECORDED.get(v) or PHRASES.get(v) or str(row["label"])
        n = _count(missing)
        out.append(f"{what} ({f.count(n)} patient{'' if n == 1 else 's'})")
    return out


def _cohort(results: Results, f: Formatter) -> dict[str, Any]:
    res = results["cohort"]

    def mean_range(term: str, decimals: int = 1) -> str:
        r = _row(res, term)
        if _finite(r["min"]) and r["min"] == r["max"]:  # a single value: no range
            return f.num(r["estimate"], decimals)
        return f.mean_range(r["estimate"], r["min"], r["max"], decimals)

    def share(term: str) -> dict[str, str]:
        r = _row(res, term)
        return {
            "n": f.count(r["estimate"]),
            "of": f.count(r["n"]),
            "pct": f.percent(r["percent"]),
            "levels": f.count(r.get("levels")) if _finite(r.get("levels")) else "",
        }

    age = _row(res, "age")
    patients = _count(_row(res, "patients")["estimate"])
    refracture = _row(res, "refracture")
    adjacent = _row(res, "adjacent_refracture")
    vp = _count(_row(res, "procedure_VP")["estimate"])
    kp = _count(_row(res, "procedure_KP")["estimate"])
    return {
        "patients": f.count(patients),
        "age": mean_range("age"),
        "age_sd": f.num(age["sd"], 1),
        "female": share("female"),
        "followup": mean_range("followup_months"),
        "followup_min": f.count(_row(res, "followup_months")["min"]),
        "followup_max": f.count(_row(res, "followup_months")["max"]),
        "vp": share("procedure_VP"),
        "kp": share("procedure_KP"),
        # "both", or the one procedure every patient had
        "procedures": "both" if vp and kp else "vp" if vp else "kp",
        "levels_treated": f.count(_row(res, "levels_treated")["estimate"]),
        "level_set_levels": f.count(_row(res, "level_set_levels")["estimate"]),
        "refracture": share("refracture"),
        "any_refracture": _count(refracture["estimate"]) > 0,
        "all_refracture": patients > 0 and _count(refracture["estimate"]) == patients,
        "refracture_minority": _finite(refracture["percent"]) and refracture["percent"] <= 50,
        "months_to_refracture": mean_range("months_to_refracture"),
        "adjacent": share("adjacent_refracture"),
        "adjacent_none": _count(adjacent["estimate"]) == 0,
        "adjacent_minority": _finite(adjacent["percent"]) and adjacent["percent"] < 50,
        "recorded": _join([p for v, p in RECORDED.items() if _has_data(results, v)]),
        "leakage_recorded": _has_data(results, "cement_leakage_any"),
        "missing": _missing(results, f),
    }


def _level_state(results: Results) -> str:
    """The level-specific analysis set: ``empty``, ``none_fractured``, ``all_fractured``
    or ``both`` (fractured and nonfractured levels)."""
    res = results["level_tscore"]
    fractured = _count(_row(res, "fractured")["n"])
    nonfractured = _count(_row(res, "nonfractured")["n"])
    if not fractured and not nonfractured:
        return "empty"
    if not fractured:
        return "none_fractured"
    if not nonfractured:
        return "all_fractured"
    return "both"


LEVEL_REASONS: dict[str, str] = {
    "empty": "no untreated level had a T-score",
    "none_fractured": "no level with a T-score fractured",
    "all_fractured": "every level with a T-score fractured",
}
"""Why the level-specific analyses could not be done, by :func:`_level_state`."""


def _constant_tscore(results: Results) -> bool:
    """Every level of the analysis set has the same T-score."""
    counts = results["level_tscore"].meta.get("value_counts", {})
    values = {v for group in counts.values() for v, _ in group}
    return len(values) == 1


def _tscore(results: Results, f: Formatter, alpha: float) -> dict[str, Any]:
    res = results["level_tscore"]
    d = f.tscore_decimals
    out: dict[str, Any] = {"state": _level_state(results)}
    out["reason"] = LEVEL_REASONS.get(out["state"], "")
    for term in ("fractured", "nonfractured", "difference", "difference_gee"):
        r = _row(res, term)
        out[term] = {
            "n": f.count(r["n"]),
            "mean": f.num(r["estimate"], d),
            "ci": f.ci(r["ci_low"], r["ci_high"], d),
            "with_ci": f.estimate_ci(r["estimate"], r["ci_low"], r["ci_high"], d),
            "p": f.p_value(r["p"], symbol=True),
            "significant": _sig(r["p"], alpha),
            "estimable": _finite(r["estimate"]),
            "ci_defined": _finite(r["ci_low"]) and _finite(r["ci_high"]),
            "p_defined": _finite(r["p"]),
            "lower_in_fractured": _finite(r["estimate"]) and float(r["estimate"]) < 0,
        }
    # the direction from the group means, also when a group is too small for a Welch test
    fm, nm = _row(res, "fractured")["estimate"], _row(res, "nonfractured")["estimate"]
    out["difference"]["lower_in_fractured"] = _finite(fm) and _finite(nm) and float(fm) < float(nm)
    # a Welch test needs two levels per group; otherwise the T-scores did not vary
    out["difference"]["single_level_group"] = (
        min(_count(_row(res, "fractured")["n"]), _count(_row(res, "nonfractured")["n"])) < 2
    )
    gee = out["difference_gee"]
    gee["reportable"] = gee["estimable"] and gee["ci_defined"] and gee["p_defined"]
    return out


def _runs(f: Formatter, grid: list[Any], selected: list[bool]) -> list[str]:
    """The selected cutoffs of the grid, three or more neighbours as one range ("−1.5 to −3.4")."""
    out: list[str] = []
    i = 0
    while i < len(grid):
        if not selected[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(grid) and selected[j + 1]:
            j += 1
        if j - i >= 2:
            out.append(f"{f.cutoff(grid[i])} to {f.cutoff(grid[j])}")
        else:
            out += [f.cutoff(c) for c in grid[i : j + 1]]
        i = j + 1
    return out


def _cutoffs(results: Results, f: Formatter, alpha: float) -> dict[str, Any]:
    res = results["thresholds"]
    m = res.meta
    t = res.table
    first = m.get("first_significant_cutoff")
    estimable = bool(t["p"].map(_finite).any())
    state = _level_state(results)
    out: dict[str, Any] = {
        "grid_high": f.cutoff(t["cutoff"].max()),
        "grid_low": f.cutoff(t["cutoff"].min()),
        "grid_n": f.count(len(t)),
        "grid_step": f.num(abs(t["cutoff"].diff().median()), 1) if len(t) > 1 else "",
        "any_corrected": bool(t["corrected"].astype(bool).any()),
        "any_significant": first is not None,
        # at least one cutoff had levels at or below and above it, fractured and not
        "estimable": estimable,
        "reason": LEVEL_REASONS.get(
            state,
            "every level had the same T-score"
            if _constant_tscore(results)
            else "none of them split the levels into two groups",
        ),
        "risk": False,
        "inverse": False,
        "holm_significant": _runs(f, list(t["cutoff"]), [bool(x) for x in (t["p_holm"] < alpha)]),
    }
    if first is not None:
        r = _row(res, f"T \u2264 {f.cutoff(first)}")
        # the first significant cutoff marks levels at higher (OR > 1) or lower risk
        higher = _finite(r["estimate"]) and float(r["estimate"]) > 1
        out.update(
            risk=higher,
            inverse=not higher,
            first=f.cutoff(first),
            first_p=f.p_value(r["p"], symbol=True),
            first_or=f.odds_ratio(r["estimate"], r["ci_low"], r["ci_high"]),
            first_ci_includes_one=higher and _finite(r["ci_low"]) and float(r["ci_low"]) <= 1.0,
            first_corrected=bool(r["corrected"]),
            first_sens=f.percent(100 * r["sens"]),
            first_spec=f.percent(100 * r["spec"]),
            ppv=f.percent(100 * r["ppv"]),
            npv=f.percent(100 * r["npv"]),
            ppv_level=m.get("ppv_level") or "",
            npv_level=m.get("npv_level") or "",
            predictive_defined=bool(m.get("ppv_level")) and bool(m.get("npv_level")),
            first_holm_p=f.p_value(r["p_holm"], symbol=True),
            # the WHO densitometric definition of osteoporosis is T ≤ −2.5
            first_above_who=float(first) > WHO_OSTEOPOROSIS,
        )
        rises_from, rises_to = m.get("or_rises_from"), m.get("or_rises_to")
        out["rises"] = (
            higher and rises_to is not None and rises_from is not None and rises_to != rises_from
        )
        if out["rises"]:
            top = _row(res, f"T \u2264 {f.cutoff(rises_to)}")
            out.update(
                rises_from=f.cutoff(rises_from),
                rises_to=f.cutoff(rises_to),
                rises_to_or=f.odds_ratio(top["estimate"], top["ci_low"], top["ci_high"]),
                rises_to_p=f.p_value(top["p"], symbol=True),
                plateau=bool(m.get("or_plateau")),
            )
    return out


def _roc(results: Results, f: Formatter, alpha: float) -> dict[str, Any]:
    res = results["roc"]
    auc = _row(res, "auc")
    you = _row(res, "youden_cutoff")
    out = {
        "auc": f.estimate_ci(auc["estimate"], auc["ci_low"], auc["ci_high"], 2),
        "auc_value": f.num(auc["estimate"], 2),
        "auc_ci": f.ci(auc["ci_low"], auc["ci_high"], 2),
        "auc_boot_ci": f.ci(auc["ci_boot_low"], auc["ci_boot_high"], 2),
        "auc_p": f.p_value(auc["p"], symbol=True),
        "auc_significant": _sig(auc["p"], alpha),
        "auc_estimable": _finite(auc["estimate"]),
        "auc_ci_defined": _finite(auc["ci_low"]) and _finite(auc["ci_high"]),
        "auc_boot_defined": _finite(auc["ci_boot_low"]) and _finite(auc["ci_boot_high"]),
        "auc_p_defined": _finite(auc["p"]),
        "reason": LEVEL_REASONS.get(_level_state(results), ""),
        "replicates": f.count(res.meta.get("bootstrap_replicates")),
        "youden_defined": you is not None and _finite(you["estimate"]),
    }
    if out["youden_defined"]:
        out.update(
            youden=f.cutoff(you["estimate"]),
            youden_ci=f.ci(you["ci_low"], you["ci_high"], 1),
            youden_ci_defined=_finite(you["ci_low"]) and _finite(you["ci_high"]),
            youden_sens=f.percent(100 * you["sens"]),
            youden_spec=f.percent(100 * you["spec"]),
        )
    return out


def _effect(f: Formatter, r, term: str) -> dict[str, str]:
    unit = UNITS.get(term, "")
    return {
        "term": term,
        "phrase": PHRASES.get(term, str(r["label"]).lower()),
        "label": str(r["label"]),
        "or": f.estimate_ci_flat(r["estimate"], r["ci_low"], r["ci_high"], f.or_decimals),
        "p": f.p_value(r["p"], symbol=True),
        "unit": unit,
        "direction": "higher" if _finite(r["estimate"]) and float(r["estimate"]) > 1 else "lower",
    }


def _models(results: Results, f: Formatter, alpha: float) -> dict[str, Any]:
    multi = results["multivariable"]
    m = multi.meta
    firth_primary = m.get("primary") == "firth"
    adjusted = results["firth"] if firth_primary else multi
    effects = [(_effect(f, r, r["term"]), r["p"]) for _, r in adjusted.table.iterrows()]
    uni = [(_effect(f, r, r["term"]), r["p"]) for _, r in results["univariable"].table.iterrows()]
    ml = multi.table.set_index("term")["estimate"]
    firth = results["firth"].table.set_index("term")["estimate"]
    disagree = [
        PHRASES.get(t, t)
        for t in ml.index
        if t in firth.index
        and _finite(ml[t])
        and _finite(firth[t])
        and (float(ml[t]) > 1) != (float(firth[t]) > 1)
    ]
    c = m.get("c_statistic")
    c_level = (
        "not estimable"
        if not _finite(c)
        else "good"
        if c >= 0.8
        else "acceptable"
        if c >= 0.7
        else "poor"
    )
    n, events = _count(m.get("n")), _count(m.get("events"))
    estimable = bool(adjusted.table["estimate"].map(_finite).any())
    return {
        "n": f.count(m.get("n")),
        "events": f.count(m.get("events")),
        "estimable": estimable,
        "reason": (
            "no patient had complete data for its covariates"
            if n == 0
            else "no patient in it had a subsequent fracture"
            if events == 0
            else "every patient in it had a subsequent fracture"
            if events == n
            else "too few patients had complete data for its covariates"
            if n <= len(m.get("covariates") or ()) + 1
            else "it could not be fitted to these data"
        ),
        "c_level": c_level,
        "c_defined": _finite(c),
        "firth_agrees": not disagree,
        "firth_disagree": _join(disagree),
        "epv": f.num(m.get("epv"), 1),
        "epv_defined": _finite(m.get("epv")),
        "epv_low": _finite(m.get("epv")) and float(m["epv"]) < 10,
        "firth_primary": firth_primary,
        "covariates": _join([e["phrase"] for e, _ in effects]),
        "independent": [e for e, p in effects if _sig(p, alpha)],
        "not_independent": _join([e["phrase"] for e, p in effects if not _sig(p, alpha)]),
        "univariable_significant": [e for e, p in uni if _sig(p, alpha)],
        "univariable_estimable": any(_finite(p) for _, p in uni),
        "c_statistic": f.num(m.get("c_statistic"), 2),
        "hl_p": f.p_value(m.get("hl_p"), symbol=True),
        "hl_defined": _finite(m.get("hl_p")),
        "hl_poor": _sig(m.get("hl_p"), alpha),
        "lr_p": f.p_value(m.get("lr_p"), symbol=True),
        "height_loss_independent": any(
            e["term"] == "height_loss_max" and _sig(p, alpha) for e, p in effects
        ),
        "tscore_independent": any(
            e["term"] == "tscore_min_l1l4" and _sig(p, alpha) for e, p in effects
        ),
        "excluded_missing": f.count(m.get("n_excluded_missing")),
        "any_excluded": _finite(m.get("n_excluded_missing")) and m["n_excluded_missing"] > 0,
    }


def _gee(results: Results, f: Formatter, alpha: float) -> dict[str, Any]:
    res = results["level_gee"]
    cont = _row(res, "tscore_lower", model="continuous")
    cut = _row(res, "tscore_le_cutoff", model="cutoff")
    out: dict[str, Any] = {
        "n": f.count(res.meta.get("n")),
        "clusters": f.count(res.meta.get("n_clusters")),
        "events": f.count(res.meta.get("events")),
        "estimable": cont is not None and _finite(cont["estimate"]) and _finite(cont["p"]),
        "has_cutoff_model": cut is not None and _finite(cut["estimate"]) and _finite(cut["p"]),
    }
    if out["estimable"]:
        out.update(
            per_unit=f.estimate_ci_flat(
                cont["estimate"], cont["ci_low"], cont["ci_high"], f.or_decimals
            ),
            p=f.p_value(cont["p"], symbol=True),
            significant=_sig(cont["p"], alpha),
        )
    if out["has_cutoff_model"]:
        out.update(
            cutoff=f.cutoff(res.meta.get("first_cutoff")),
            cutoff_or=f.estimate_ci_flat(
                cut["estimate"], cut["ci_low"], cut["ci_high"], f.or_decimals
            ),
            cutoff_p=f.p_value(cut["p"], symbol=True),
            cutoff_significant=_sig(cut["p"], alpha),
        )
    return out


def _survival(results: Results, f: Formatter, alpha: float) -> dict[str, Any]:
    res = results["survival"]
    m = res.meta
    lr = _row(res, "logrank")
    out: dict[str, Any] = {
        "grouped": lr is not None and _finite(lr["p"]),
        "incidence": [],
    }
    for _, r in res.table[res.table["section"] == "cumulative_incidence"].iterrows():
        if r["group"] == "overall" and _finite(r["estimate"]):
            out["incidence"].append(
                {
                    "month": f.count(r["time"]),
                    "pct": f.percent(100 * r["estimate"]),
                    "ci": f.ci(100 * r["ci_low"], 100 * r["ci_high"], 1),
                    "ci_defined": _finite(r["ci_low"]) and _finite(r["ci_high"]),
                }
            )
    if out["grouped"]:
        labels = m.get("group_labels", {})
        n, events = m.get("group_n", {}), m.get("group_events", {})
        share = {
            k: _count(events.get(k)) / _count(n.get(k)) if _count(n.get(k)) else math.nan
            for k in ("le", "gt")
        }
        out.update(
            # the group with the larger share of patients who fractured: the direction of
            # the difference, as the event counts the sentence gives show it
            sooner=(
                "le" if share["le"] > share["gt"] else "gt" if share["gt"] > share["le"] else ""
            ),
            logrank_p=f.p_value(lr["p"], symbol=True),
            logrank_significant=_sig(lr["p"], alpha),
            cutoff=f.cutoff(m.get("cutoff")),
            le_n=f.count(m.get("group_n", {}).get("le")),
            gt_n=f.count(m.get("group_n", {}).get("gt")),
            le_events=f.count(m.get("group_events", {}).get("le")),
            gt_events=f.count(m.get("group_events", {}).get("gt")),
            le_label=true_minus(labels.get("le", ""), f),
            gt_label=true_minus(labels.get("gt", ""), f),
        )
    return out


def _adjacent(results: Results, f: Formatter, alpha: float) -> dict[str, Any]:
    res = results["adjacent"]
    lv = _row(res, "adjacent_levels")
    mw = _row(res, "months_mannwhitney")
    ma, mr = _row(res, "months_adjacent"), _row(res, "months_remote")
    return {
        "any": bool(res.meta.get("fractured_levels")),
        "levels": f.count(res.meta.get("fractured_levels")),
        "adjacent_levels": f.n_percent(lv["estimate"], lv["percent"]),
        "adjacent_n": f.count(lv["estimate"]),
        "months_adjacent": f.num(ma["estimate"], 1) if ma is not None else f.missing,
        "months_remote": f.num(mr["estimate"], 1) if mr is not None else f.missing,
        "months_p": f.p_value(mw["p"], symbol=True) if mw is not None else f.missing,
        # adjacent and remote levels both fractured, and their months were compared
        "months_compared": (
            ma is not None
            and mr is not None
            and mw is not None
            and _finite(ma["estimate"])
            and _finite(mr["estimate"])
            and _finite(mw["p"])
        ),
        "months_differ": mw is not None and _sig(mw["p"], alpha),
    }


def _numbered(tables: dict[str, Table], prefix: str, title: str) -> dict[str, dict[str, Any]]:
    """Each table with its cross-reference and its name as another document cites it.

    Tables are numbered in the order of their builders, which is the order in
    which the templates place them (a test renders both and checks the numbers).
    """
    return {
        label: {"table": t, "ref": f"@tbl-{prefix}{label}", "name": f"{title} {i}"}
        for i, (label, t) in enumerate(tables.items(), start=1)
    }


def _provenance(results: Results, f: Formatter) -> dict[str, Any] | None:
    prov = results.meta.get("provenance")
    if not prov:
        return None
    return {
        "inputs": [
            {
                "table": str(i["table"]),
                "file": str(i["file"]),
                "rows": f.count(i["rows"]) if "rows" in i else "–",
                "sha256": str(i.get("sha256", "not a file")),
            }
            for i in prov["inputs"]
        ],
        "software": [(str(k), str(v)) for k, v in prov["software"].items()],
        "settings": [
            (str(k), ", ".join(map(str, v)) if isinstance(v, list) else str(v))
            for k, v in prov["settings"].items()
        ],
        "git_commit": str(prov.get("git_commit") or "none (not a git checkout)"),
        "build_date": str(prov["build_date"]),
    }


def build_context(
    results: Results,
    meta: ManuscriptMeta | None = None,
    *,
    style: str = "submission",
    software: dict[str, str] | None = None,
    formatter: Formatter | None = None,
    changes: str | None = None,
) -> dict[str, Any]:
    """Everything the templates print, formatted; ``software`` names versions used."""
    meta = meta or ManuscriptMeta()
    alpha = float(results.meta.get("alpha", 0.05))
    f = formatter or Formatter(alpha=alpha)
    affiliations: list[str] = []
    for a in meta.authors:
        for aff in a.affiliations:
            if aff not in affiliations:
                affiliations.append(aff)
    corresponding = next((a for a in meta.authors if a.corresponding), None)
    main = build_tables(results, f, MAIN_TABLES)
    supp = build_tables(results, f, SUPPLEMENTARY_TABLES)
    return {
        "meta": meta,
        "authors": [
            {
                "name": a.name,
                "email": a.email,
                "corresponding": a.corresponding,
                "affiliation_numbers": ",".join(
                    str(affiliations.index(x) + 1) for x in a.affiliations
                ),
                "affiliations": list(a.affiliations),
            }
            for a in meta.authors
        ],
        "affiliations": affiliations,
        "corresponding": corresponding,
        "style": style,
        "alpha": f.num(alpha, 2),
        "ci_level": f.percent(100 * (1 - alpha), 0),
        "data_source": str(results.meta.get("data", "")),
        "cohort": _cohort(results, f),
        "tscore": _tscore(results, f, alpha),
        "cutoffs": _cutoffs(results, f, alpha),
        "roc": _roc(results, f, alpha),
        "models": _models(results, f, alpha),
        "gee": _gee(results, f, alpha),
        "survival": _survival(results, f, alpha),
        "adjacent": _adjacent(results, f, alpha),
        "tables": _numbered(main, "", "Table"),
        "supplementary_tables": _numbered(supp, "s-", "Supplementary Table"),
        "software": dict(sorted((software or {}).items())),
        "seed": str(results.meta.get("seed", "")),
        "provenance": _provenance(results, f),
        # what the configuration excluded or filtered ("excluded 9 patients on …")
        "cohort_filters": [str(x) for x in results.meta.get("cohort_filters", [])],
        # "Changes since the previous version": Markdown made (and escaped) by report.changes
        "changes": Markup(changes) if changes else None,
    }
