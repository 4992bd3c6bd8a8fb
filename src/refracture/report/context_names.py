"""What each value of the template context means: declared once, for authors.

:data:`NAMES` maps each dotted name of the template context
(:func:`refracture.report.context.build_context`, plus what the render adds) to a
one-line meaning written for a clinician; :data:`GROUPS` orders them under
headings. :mod:`refracture.report.context_reference` lists them with their values.
"""

from __future__ import annotations

__all__ = ["GROUPS", "NAMES", "RENDER_PROVIDED", "VARIES_BY_BUILD"]


def _estimate(prefix: str, n: str, estimate: str) -> dict[str, str]:
    """The names of one estimate of the level-specific T-score (``tscore.fractured`` …)."""
    return {
        f"{prefix}.n": n,
        f"{prefix}.mean": estimate[:1].upper() + estimate[1:],
        f"{prefix}.ci": f"Confidence interval of the {estimate}",
        f"{prefix}.with_ci": f"The {estimate} with its confidence interval",
        f"{prefix}.p": f"P value of the {estimate} (“n.e.” when no test applies)",
        f"{prefix}.significant": "True when that P value is below alpha",
        f"{prefix}.estimable": f"True when the {estimate} could be estimated",
        f"{prefix}.ci_defined": "True when its confidence interval could be estimated",
        f"{prefix}.p_defined": "True when its P value could be estimated",
        f"{prefix}.lower_in_fractured": (
            "True when the fractured levels had the lower T-score"
            if "difference" in estimate
            else "True when this estimate is below zero (meaningful for the differences)"
        ),
    }


def _effects(prefix: str, which: str) -> dict[str, str]:
    """The names of a list of model covariates (``models.independent[]`` …)."""
    return {
        prefix: which,
        f"{prefix}[].term": "The covariate's variable name in the data (“age”, “bmi”)",
        f"{prefix}[].phrase": "The covariate as a phrase for running text (“male sex”)",
        f"{prefix}[].label": "The covariate as labelled in the tables (“Age (per year)”)",
        f"{prefix}[].or": "Its odds ratio with confidence interval",
        f"{prefix}[].p": "Its P value",
        f"{prefix}[].unit": "The unit its odds ratio is per (“per year”; empty for yes/no)",
        f"{prefix}[].direction": "“higher” or “lower”: the odds of a fracture with it",
    }


def _tables(group: str, tables: dict[str, str], first_number: str) -> dict[str, str]:
    """The three names of each numbered table: the table itself, its reference and name."""
    out: dict[str, str] = {}
    for label, what in tables.items():
        out[f"{group}.{label}.table"] = f"Table of {what}, drawn by partials/table.md.j2"
        out[f"{group}.{label}.ref"] = f"Cross-reference to the table of {what} (print with | raw)"
        out[f"{group}.{label}.name"] = f"“{first_number} N”: the table of {what} named in words"
    return out


_SOFTWARE = {
    "firthmodels": "firthmodels (Firth penalised regression)",
    "lifelines": "lifelines (survival analysis)",
    "matplotlib": "matplotlib (figures)",
    "numpy": "NumPy",
    "pandas": "pandas",
    "python": "Python",
    "refracture": "refracture",
    "scipy": "SciPy",
    "statsmodels": "statsmodels (regression models)",
    "tableone": "tableone (Table 1)",
}

NAMES: dict[str, str] = {
    # ---- title page and authors
    "meta.title": "Title of the paper",
    "meta.running_title": "Short title for the page headers",
    "meta.authors": "The authors as configured, in order (the list “authors” is easier to use)",
    "meta.authors[].name": "An author's name",
    "meta.authors[].affiliations": "An author's affiliations (a list)",
    "meta.authors[].email": "An author's e-mail address (may be empty)",
    "meta.authors[].corresponding": "True for the corresponding author",
    "meta.keywords": "Keywords of the paper (a list)",
    "meta.date": "Date of the manuscript",
    "meta.study_period": "When the patients were treated",
    "meta.setting": "Where and by whom the patients were treated",
    "meta.synthetic": "True when the data are simulated: the documents then say so",
    "meta.funding": "Funding statement",
    "meta.conflicts": "Conflict-of-interest statement",
    "meta.extra": "Further title-page facts from the configuration, by name",
    "authors": "The authors in order, with their affiliation numbers",
    "authors[].name": "An author's name",
    "authors[].email": "An author's e-mail address (may be empty)",
    "authors[].corresponding": "True for the corresponding author",
    "authors[].affiliation_numbers": "Numbers of the author's affiliations (“1,2”)",
    "authors[].affiliations": "The author's affiliations (a list)",
    "affiliations": "Every affiliation once, numbered in order of first mention (a list)",
    "corresponding": "The corresponding author (none when no author is marked)",
    "corresponding.name": "Name of the corresponding author",
    "corresponding.affiliations": "Affiliations of the corresponding author (a list)",
    "corresponding.email": "E-mail address of the corresponding author",
    "corresponding.corresponding": "Always true for the corresponding author",
    # ---- the analysis and the build
    "style": "Document style: “submission” (tables and figures at the end) or “article”",
    "alpha": "Significance level of every test",
    "ci_level": "Confidence level of every interval",
    "data_source": "The data the paper was built from (the data file, or the example cohort)",
    "seed": "Random seed of the bootstrap",
    "cohort_filters": "Restrictions of the cohort set in the configuration (a list; empty: none)",
    **{f"software.{k}": f"Version of {v} used for this build" for k, v in _SOFTWARE.items()},
    "software.renderer": "What rendered the documents (Quarto, or the embedded engine)",
    "provenance": "Provenance record of the build (for the supplement's appendix)",
    "provenance.inputs": "The input data files (a list)",
    "provenance.inputs[].table": "Which input table the file holds (“patients”, “levels”), "
    "or what else it is (an import's “mapping”, “data dictionary”)",
    "provenance.inputs[].file": "File name of the input table",
    "provenance.inputs[].rows": "Number of rows the file holds (– for a mapping or dictionary)",
    "provenance.inputs[].sha256": "SHA-256 checksum of the file",
    "provenance.software": "Every software version as (name, version) pairs",
    "provenance.settings": "Every analysis setting as (setting, value) pairs",
    "provenance.git_commit": "Git commit of the project folder (“+dirty” with local changes)",
    "provenance.build_date": "Date and time of the build",
    "changes": "The “Changes since the previous version” text, when a build asked for it",
    # ---- the patients
    "cohort.patients": "Number of patients in the analysis",
    "cohort.age": "Mean age in years with its range (“76.8 (47–99)”)",
    "cohort.age_sd": "Standard deviation of age in years",
    "cohort.female.n": "Number of women",
    "cohort.female.of": "Number of patients the share of women is of",
    "cohort.female.pct": "Percentage of women",
    "cohort.female.levels": "(not used for women: empty)",
    "cohort.followup": "Mean follow-up in months with its range",
    "cohort.followup_min": "Shortest follow-up in months",
    "cohort.followup_max": "Longest follow-up in months",
    "cohort.vp.n": "Number of patients treated by vertebroplasty",
    "cohort.vp.of": "Number of patients the vertebroplasty share is of",
    "cohort.vp.pct": "Percentage of patients treated by vertebroplasty",
    "cohort.vp.levels": "Number of levels treated by vertebroplasty",
    "cohort.kp.n": "Number of patients treated by kyphoplasty",
    "cohort.kp.of": "Number of patients the kyphoplasty share is of",
    "cohort.kp.pct": "Percentage of patients treated by kyphoplasty",
    "cohort.kp.levels": "Number of levels treated by kyphoplasty",
    "cohort.procedures": "“both” when both procedures were done, else “vp” or “kp”",
    "cohort.levels_treated": "Number of vertebral levels treated with cement",
    "cohort.level_set_levels": "Number of untreated levels with a T-score (the level analyses)",
    "cohort.refracture.n": "Number of patients with a subsequent vertebral fracture",
    "cohort.refracture.of": "Number of patients the share with a subsequent fracture is of",
    "cohort.refracture.pct": "Percentage of patients with a subsequent fracture",
    "cohort.refracture.levels": "(not used for patients with a fracture: empty)",
    "cohort.any_refracture": "True when at least one patient had a subsequent fracture",
    "cohort.all_refracture": "True when every patient had a subsequent fracture",
    "cohort.refracture_minority": "True when at most half of the patients had one",
    "cohort.months_to_refracture": "Mean months from the procedure to the fracture, with range",
    "cohort.adjacent.n": "Number of patients whose subsequent fracture was adjacent",
    "cohort.adjacent.of": "Number of patients with a subsequent fracture (the share's base)",
    "cohort.adjacent.pct": "Percentage of subsequent fractures that were adjacent",
    "cohort.adjacent.levels": "(not used for adjacent fractures: empty)",
    "cohort.adjacent_none": "True when no subsequent fracture was adjacent",
    "cohort.adjacent_minority": "True when fewer than half of them were adjacent",
    "cohort.recorded": "The patient characteristics the data hold, as an English list",
    "cohort.leakage_recorded": "True when cement leakage was recorded",
    "cohort.missing": (
        "Patient characteristics some patients lack, each with that number of patients "
        "(“body mass index (1 patient)”; a list, empty when nothing is missing)"
    ),
    # ---- level-specific T-score
    "tscore.state": "“both” (fractured and intact levels), “empty”, “none_fractured” or "
    "“all_fractured”",
    "tscore.reason": "Why the level analyses could not be done (empty when they could)",
    **_estimate(
        "tscore.fractured",
        "Number of untreated levels with a T-score that fractured",
        "mean T-score of the levels that fractured",
    ),
    **_estimate(
        "tscore.nonfractured",
        "Number of untreated levels with a T-score that did not fracture",
        "mean T-score of the levels that did not fracture",
    ),
    **_estimate(
        "tscore.difference",
        "Number of levels compared",
        "difference in mean T-score, fractured − intact levels (Welch)",
    ),
    "tscore.difference.single_level_group": "True when a group had fewer than two levels",
    **_estimate(
        "tscore.difference_gee",
        "Number of levels compared",
        "difference in T-score, fractured − intact levels, by GEE (levels in patients)",
    ),
    "tscore.difference_gee.reportable": "True when the GEE difference, its CI and P all exist",
    # ---- T-score cutoffs
    "cutoffs.grid_high": "Highest T-score cutoff tested",
    "cutoffs.grid_low": "Lowest T-score cutoff tested",
    "cutoffs.grid_n": "Number of cutoffs tested",
    "cutoffs.grid_step": "Step between neighbouring cutoffs",
    "cutoffs.any_corrected": "True when a zero cell needed the Haldane–Anscombe correction",
    "cutoffs.any_significant": "True when a cutoff was significant (then cutoffs.first… exist)",
    "cutoffs.estimable": "True when at least one cutoff could be tested",
    "cutoffs.reason": "Why no cutoff could be tested",
    "cutoffs.risk": "True when levels at or below the first significant cutoff fractured more",
    "cutoffs.inverse": "True when they fractured less (an odds ratio below 1)",
    "cutoffs.holm_significant": "Cutoffs still significant after Holm's correction (a list)",
    "cutoffs.first": "The highest significant cutoff",
    "cutoffs.first_p": "Fisher's exact P at that cutoff",
    "cutoffs.first_or": "Odds ratio with confidence interval at that cutoff",
    "cutoffs.first_ci_includes_one": "True when that odds ratio's interval includes 1",
    "cutoffs.first_corrected": "True when that odds ratio needed the zero-cell correction",
    "cutoffs.first_sens": "Sensitivity of T ≤ the first significant cutoff",
    "cutoffs.first_spec": "Specificity of T ≤ the first significant cutoff",
    "cutoffs.ppv": "Positive predictive value at that cutoff",
    "cutoffs.npv": "Negative predictive value at that cutoff",
    "cutoffs.ppv_level": "The positive predictive value in words: “low”, “moderate” or “high”",
    "cutoffs.npv_level": "The negative predictive value in words: “low”, “moderate” or “high”",
    "cutoffs.predictive_defined": "True when both predictive values could be estimated",
    "cutoffs.first_holm_p": "Holm-adjusted P at the first significant cutoff",
    "cutoffs.first_above_who": "True when that cutoff lies above the WHO osteoporosis threshold",
    "cutoffs.rises": "True when the odds ratio rises at lower cutoffs (cutoffs.rises_… exist)",
    "cutoffs.rises_from": "Cutoff where the rise of the odds ratio starts",
    "cutoffs.rises_to": "Cutoff where the rise ends",
    "cutoffs.rises_to_or": "Odds ratio with confidence interval at the end of the rise",
    "cutoffs.rises_to_p": "Fisher's exact P at the end of the rise",
    "cutoffs.plateau": "True when no lower cutoff has a higher odds ratio (a plateau)",
    # ---- ROC analysis
    "roc.auc": "Area under the ROC curve with its confidence interval",
    "roc.auc_value": "Area under the ROC curve alone",
    "roc.auc_ci": "DeLong confidence interval of the area",
    "roc.auc_boot_ci": "Bootstrap confidence interval of the area",
    "roc.auc_p": "P value of the area against 0.5",
    "roc.auc_significant": "True when that P value is below alpha",
    "roc.auc_estimable": "True when the area could be estimated",
    "roc.auc_ci_defined": "True when its DeLong interval could be estimated",
    "roc.auc_boot_defined": "True when its bootstrap interval could be estimated",
    "roc.auc_p_defined": "True when its P value could be estimated",
    "roc.reason": "Why the ROC analysis could not be done (empty when it could)",
    "roc.replicates": "Number of bootstrap replicates",
    "roc.youden_defined": "True when a Youden-optimal cutoff exists (roc.youden… names exist)",
    "roc.youden": "Youden-optimal T-score cutoff",
    "roc.youden_ci": "Bootstrap confidence interval of that cutoff",
    "roc.youden_ci_defined": "True when that interval could be estimated",
    "roc.youden_sens": "Sensitivity at the Youden-optimal cutoff",
    "roc.youden_spec": "Specificity at the Youden-optimal cutoff",
    # ---- logistic models
    "models.n": "Number of patients in the multivariable model",
    "models.events": "Number of them with a subsequent fracture",
    "models.estimable": "True when the multivariable model could be estimated",
    "models.reason": "Why it could not (read only when models.estimable is false)",
    "models.c_level": "Discrimination in words: “good”, “acceptable”, “poor” or “not estimable”",
    "models.c_defined": "True when the C statistic could be estimated",
    "models.c_statistic": "C statistic of the model",
    "models.firth_agrees": "True when Firth's model gives every odds ratio the same direction",
    "models.firth_disagree": "Covariates whose direction differs under Firth, as an English list",
    "models.epv": "Events per variable",
    "models.epv_defined": "True when events per variable could be computed",
    "models.epv_low": "True when there are fewer than ten events per variable",
    "models.firth_primary": "True when Firth's penalised model is the reported one",
    "models.covariates": "The model's covariates, as an English list",
    **_effects("models.independent", "Covariates independently associated with a fracture"),
    "models.not_independent": "Covariates not independently associated, as an English list",
    **_effects(
        "models.univariable_significant",
        "Covariates significant in the univariable models",
    ),
    "models.univariable_estimable": "True when any univariable model could be estimated",
    "models.hl_p": "Hosmer–Lemeshow P value (calibration)",
    "models.hl_defined": "True when that P value could be computed",
    "models.hl_poor": "True when it is below alpha (poor calibration)",
    "models.lr_p": "Likelihood-ratio P value of the whole model",
    "models.height_loss_independent": "True when height loss is an independent predictor",
    "models.tscore_independent": "True when the lowest L1–L4 T-score is an independent predictor",
    "models.excluded_missing": "Number of patients left out for missing covariates",
    "models.any_excluded": "True when any patient was left out",
    # ---- level GEE
    "gee.n": "Number of levels in the level-specific GEE models",
    "gee.clusters": "Number of patients those levels belong to",
    "gee.events": "Number of those levels that fractured",
    "gee.estimable": "True when the continuous model could be estimated (gee.per_unit …)",
    "gee.has_cutoff_model": "True when the cutoff model could be estimated (gee.cutoff …)",
    "gee.per_unit": "Odds ratio per one unit lower T-score, with confidence interval",
    "gee.p": "Its P value",
    "gee.significant": "True when it is below alpha",
    "gee.cutoff": "The cutoff of the cutoff model",
    "gee.cutoff_or": "Odds ratio of a T-score at or below that cutoff, with interval",
    "gee.cutoff_p": "Its P value",
    "gee.cutoff_significant": "True when it is below alpha",
    # ---- time to refracture
    "survival.grouped": "True when the two T-score groups could be compared (log-rank)",
    "survival.incidence": "Cumulative incidence at fixed months (a list)",
    "survival.incidence[].month": "Months after the procedure",
    "survival.incidence[].pct": "Cumulative incidence of a subsequent fracture by then",
    "survival.incidence[].ci": "Its confidence interval in percent",
    "survival.incidence[].ci_defined": "True when that interval could be estimated",
    "survival.sooner": "Group that fractured more: “le” (T ≤ cutoff), “gt” or empty",
    "survival.logrank_p": "Log-rank P value between the groups",
    "survival.logrank_significant": "True when it is below alpha",
    "survival.cutoff": "The T-score cutoff that forms the groups",
    "survival.le_n": "Number of patients at or below the cutoff",
    "survival.gt_n": "Number of patients above the cutoff",
    "survival.le_events": "Number of them at or below the cutoff who fractured",
    "survival.gt_events": "Number of them above the cutoff who fractured",
    "survival.le_label": "Name of the group at or below the cutoff (“T-score ≤ −2.2”)",
    "survival.gt_label": "Name of the group above the cutoff",
    # ---- adjacent and remote fractures
    "adjacent.any": "True when any level fractured after the procedure",
    "adjacent.levels": "Number of levels that fractured after the procedure",
    "adjacent.adjacent_levels": "Number (percentage) of them adjacent to a treated level",
    "adjacent.adjacent_n": "Number of them adjacent to a treated level",
    "adjacent.months_adjacent": "Mean months to an adjacent fracture",
    "adjacent.months_remote": "Mean months to a remote fracture",
    "adjacent.months_p": "Mann–Whitney P value comparing those months",
    "adjacent.months_compared": "True when both kinds occurred and were compared",
    "adjacent.months_differ": "True when the months differed significantly",
    # ---- tables
    **_tables(
        "tables",
        {
            "patients": "the patients' characteristics",
            "tscore": "the level-specific T-scores",
            "cutoffs": "the T-score cutoffs",
            "models": "the logistic models",
        },
        "Table",
    ),
    **_tables(
        "supplementary_tables",
        {
            "cutoffs-full": "every cutoff with all tests",
            "levels": "the untreated levels",
            "firth": "the Firth and maximum-likelihood models",
            "gee": "the level-specific GEE models",
            "survival": "refracture-free survival",
            "cox": "the Cox model",
            "adjacent": "adjacent and remote fractures",
            "dictionary": "the data dictionary",
        },
        "Supplementary Table",
    ),
    # ---- made while rendering
    "sections.abstract": "The rendered abstract (placed by manuscript.qmd.j2)",
    "sections.key_points": "The rendered key points",
    "sections.introduction": "The rendered introduction",
    "sections.methods": "The rendered methods",
    "sections.results": "The rendered results",
    "sections.discussion": "The rendered discussion",
    "sections.tables": "The rendered tables",
    "sections.figures": "The rendered figures and their legends",
    "word_counts.abstract": "Number of words of the abstract",
    "word_counts.main": "Number of words of the main text (introduction to discussion)",
}
"""Every dotted name of the template context, with its meaning for a clinician.

``a.b`` is ``{{ a.b }}`` in a template; ``a[].b`` is ``b`` of each item of the
list ``a`` (``{% for x in a %}{{ x.b }}{% endfor %}``). A name with a hyphen is
written with brackets: ``supplementary_tables["cutoffs-full"].ref``."""

GROUPS: dict[str, tuple[str, ...]] = {
    "Title page and authors": ("meta", "authors", "affiliations", "corresponding"),
    "The analysis and the build": (
        "style",
        "alpha",
        "ci_level",
        "data_source",
        "seed",
        "cohort_filters",
        "software",
        "provenance",
        "changes",
    ),
    "Patients (`cohort`)": ("cohort",),
    "Level-specific T-score (`tscore`)": ("tscore",),
    "T-score cutoffs (`cutoffs`)": ("cutoffs",),
    "ROC analysis (`roc`)": ("roc",),
    "Logistic models (`models`)": ("models",),
    "Level-specific GEE models (`gee`)": ("gee",),
    "Time to a subsequent fracture (`survival`)": ("survival",),
    "Adjacent and remote fractures (`adjacent`)": ("adjacent",),
    "Tables (`tables`, `supplementary_tables`)": ("tables", "supplementary_tables"),
    "Made while rendering (`sections`, `word_counts`)": ("sections", "word_counts"),
}
"""The headings of the reference, each with the top-level names it lists."""

RENDER_PROVIDED: tuple[str, ...] = ("sections", "word_counts")
"""Top-level names :func:`refracture.report.render.render_documents` adds to the context."""

VARIES_BY_BUILD: tuple[str, ...] = ("software", "provenance")
"""Top-level names whose values depend on the machine and the build, not on the data."""
