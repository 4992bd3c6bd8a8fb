"""The paper's tables, formatted from the result tables (never recomputed).

Each builder takes the :class:`~refracture.analysis.results.Results` and a
:class:`~refracture.common.format.Formatter` and returns a :class:`Table`: a
caption, a label, a header, aligned rows of display strings and footnotes
naming the tests. The same object becomes a Quarto pipe table (through the
template ``partials/table.md.j2``), a CSV file and a sheet of ``tables.xlsx``,
so the three can never disagree.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refracture.common.format import Formatter
from refracture.common.format import finite as _finite

if TYPE_CHECKING:
    from refracture.analysis.results import Results

__all__ = [
    "MAIN_TABLES",
    "SUPPLEMENTARY_TABLES",
    "Table",
    "build_tables",
    "true_minus",
    "write_csv",
    "write_xlsx",
]

EN_DASH = "\u2013"


@dataclass(frozen=True)
class Table:
    """One display table: every cell is already a formatted string."""

    label: str  # Quarto label without the "tbl-" prefix, also the file stem
    caption: str
    header: tuple[str, ...]
    align: tuple[str, ...]  # "l" or "r" per column
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        width = len(self.header)
        if len(self.align) != width or any(len(r) != width for r in self.rows):
            raise ValueError(f"table {self.label!r}: rows and header differ in width")

    @property
    def rule(self) -> tuple[str, ...]:
        """The pipe-table alignment row: ``:---`` (left) or ``---:`` (right) per column.

        The number of dashes is the column's longest cell: in a pipe table wider
        than a line, pandoc (and Quarto) size the columns in proportion to them,
        so a long label column gets the room it needs.
        """
        widths = [
            max(max(len(w) for w in head.split() or [""]), *(len(r[i]) for r in self.rows))
            for i, head in enumerate(self.header)
        ]
        return tuple(
            (":" + "-" * max(3, w)) if a == "l" else ("-" * max(3, w) + ":")
            for a, w in zip(self.align, widths, strict=True)
        )


def true_minus(label: str, f: Formatter) -> str:
    """A label from the analyses with a true minus before numbers ("T-score ≤ −2.2")."""
    return re.sub(r"-(?=\d)", f.minus, label)


def _or_ci(f: Formatter, row: Any, est: str = "estimate", lo: str = "ci_low", hi: str = "ci_high"):
    """``2.41 (1.12–5.18)``: the table form of an estimate with its CI."""
    if f.absent(row[est]):
        return f.missing
    if f.absent(row[lo]) or f.absent(row[hi]):
        return f.num(row[est], f.or_decimals)
    return f"{f.num(row[est], f.or_decimals)} ({f.ci(row[lo], row[hi], f.or_decimals)})"


def _p(f: Formatter, p: Any) -> str:
    return f.p_value(p) if _finite(p) else "\u2014"


def _fraction(f: Formatter, x: Any) -> str:
    """A proportion shown as a percentage with the journal's decimals."""
    return f.percent(float(x) * 100) if _finite(x) else f.missing


# --------------------------------------------------------------------------- main tables


def _group_summary(f: Formatter, row: Any, group: str) -> str:
    if row["kind"] == "count":
        return f.count(row[group])
    if row["kind"] == "categorical":
        return f.n_percent(row[f"{group}_count"], row[f"{group}_percent"])
    if row["summary"].startswith("median"):
        q = f"{f.num(row[f'{group}_q1'])}, {f.num(row[f'{group}_q3'])}"
        return f"{f.num(row[f'{group}_median'])} [{q}]"
    return f"{f.num(row[f'{group}_mean'])} ({f.num(row[f'{group}_sd'])})"


def _characteristics(results: Results, f: Formatter, name: str, label: str, caption: str) -> Table:
    res = results[name]
    groups = res.meta["groups"]
    labels = res.meta["group_labels"]
    header = ("Characteristic", labels["overall"], *(labels[g] for g in groups), "P")
    rows: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for _, row in res.table.iterrows():
        cells = [_group_summary(f, row, g) for g in ("overall", *groups)]
        if row["kind"] == "count":
            rows.append(("Number", *cells, ""))
            continue
        if row["kind"] == "categorical":
            if row["variable"] not in seen:
                seen.add(row["variable"])
                rows.append((f"{row['label']}, n (%)", *([""] * len(cells)), _p(f, row["p"])))
            rows.append((f"\u2003{row['level']}", *cells, ""))
            continue
        unit = "median [IQR]" if row["summary"].startswith("median") else "mean (SD)"
        rows.append((f"{row['label']}, {unit}", *cells, _p(f, row["p"])))
    tests = sorted({t for t in res.table["test"].dropna() if t})
    notes = (
        "Continuous variables as mean (SD) when their skewness is below 1 in both groups, "
        "otherwise as median [interquartile range].",
        "P values: " + "; ".join(t.replace("\u2019", "'") for t in tests) + ".",
        *res.notes,
    )
    return Table(
        label=label,
        caption=caption,
        header=header,
        align=("l", *(["r"] * (len(header) - 1))),
        rows=tuple(rows),
        notes=notes,
    )


def table_patients(results: Results, f: Formatter) -> Table:
    return _characteristics(
        results,
        f,
        "table1",
        "patients",
        "Characteristics of the patients by subsequent vertebral fracture.",
    )


def table_levels(results: Results, f: Formatter) -> Table:
    return _characteristics(
        results,
        f,
        "table1_levels",
        "levels",
        "Untreated vertebral levels with a T-score, by subsequent fracture of that level.",
    )


def table_tscore(results: Results, f: Formatter) -> Table:
    res = results["level_tscore"]
    d = f.tscore_decimals
    rows = []
    names = {
        "fractured": "Levels with a subsequent fracture",
        "nonfractured": "Levels without a subsequent fracture",
        "difference": "Difference (Welch t)",
        "difference_gee": "Difference (GEE, clustered by patient)",
    }
    for _, row in res.table.iterrows():
        ci = (
            f.ci(row["ci_low"], row["ci_high"], d)
            if _finite(row["ci_low"]) and _finite(row["ci_high"])
            else f.missing
        )
        rows.append(
            (
                names.get(row["term"], row["term"]),
                f.count(row["n"]),
                f.num(row["estimate"], d),
                ci,
                _p(f, row["p"]),
            )
        )
    return Table(
        label="tscore",
        caption="Level-specific T-score of fractured and nonfractured levels.",
        header=("Levels", "n", "Mean T-score", "95% CI", "P"),
        align=("l", "r", "r", "r", "r"),
        rows=tuple(rows),
        notes=(
            "Group means with t-based 95% CIs; the difference is fractured minus nonfractured.",
            "The GEE row accounts for several levels of one patient "
            "(exchangeable working correlation, robust standard errors).",
            *res.notes,
        ),
    )


def _cutoff_rows(results: Results, f: Formatter, full: bool) -> list[tuple[str, ...]]:
    res = results["thresholds"]
    rows = []
    for _, r in res.table.iterrows():
        frac = f"{f.count(r['a'])}/{f.count(r['a'] + r['b'])}"
        other = f"{f.count(r['c'])}/{f.count(r['c'] + r['d'])}"
        mark = "\u2020" if bool(r["corrected"]) else ""
        cells = [
            f"T\u00a0\u2264\u00a0{f.cutoff(r['cutoff'])}",  # never broken across lines
            frac,
            other,
            _or_ci(f, r) + mark,
            _p(f, r["p"]),
        ]
        if full:
            cells += [_p(f, r["p_chi2"]), _p(f, r["p_holm"])]
        for k in ("sens", "spec", "ppv", "npv"):
            cells.append(_fraction(f, r[k]))
        rows.append(tuple(cells))
    return rows


def table_cutoffs(results: Results, f: Formatter, full: bool = False) -> Table:
    res = results["thresholds"]
    header = ["Cutoff", "Fractured at or below", "Fractured above", "OR (95% CI)", "P"]
    if full:
        header += ["P (\u03c7\u00b2)", "P (Holm)"]
    header += ["Sensitivity", "Specificity", "PPV", "NPV"]
    notes = [
        "Unit: untreated level with a T-score. Counts are fractured levels/all levels "
        "at or below, and above, the cutoff.",
        "OR, odds ratio with Woolf 95% CI; P, Fisher's exact test (two-sided); "
        "PPV and NPV, positive and negative predictive values.",
    ]
    if res.table["corrected"].astype(bool).any():
        notes.append(
            "\u2020 A zero cell: Haldane\u2013Anscombe correction (0.5 added to each cell)."
        )
    if full:
        notes.append(
            "P (\u03c7\u00b2): Pearson chi-squared without continuity correction; P (Holm): "
            "Fisher P adjusted across all cutoffs. Wilson 95% CIs of the proportions are in "
            "tables/thresholds.csv."
        )
    return Table(
        label="cutoffs-full" if full else "cutoffs",
        caption=(
            "Every T-score cutoff of the grid with all tests and predictive values."
            if full
            else "Level-specific T-score cutoffs as predictors of a fracture at the level."
        ),
        header=tuple(header),
        align=("l", *(["r"] * (len(header) - 1))),
        rows=tuple(_cutoff_rows(results, f, full)),
        notes=tuple(notes),
    )


def table_models(results: Results, f: Formatter) -> Table:
    uni = results["univariable"].table.set_index("term")
    multi = results["multivariable"]
    primary = multi.meta.get("primary", "ml")
    adjusted = results["firth"] if primary == "firth" else multi
    rows = []
    for _, r in uni.reset_index().iterrows():
        label = r["label"]
        cells = [label, _or_ci(f, r), _p(f, r["p"])]
        hit = adjusted.table.loc[adjusted.table["term"] == r["term"]]
        if len(hit):
            cells += [_or_ci(f, hit.iloc[0]), _p(f, hit.iloc[0]["p"])]
        else:
            cells += ["\u2014", ""]
        rows.append(tuple(cells))
    notes = [
        f"Logistic regression of any subsequent vertebral fracture (patients, n = "
        f"{f.count(multi.meta.get('n'))}, events = {f.count(multi.meta.get('events'))}). "
        "Univariable models use complete cases per covariate.",
        "CI, profile-likelihood 95% confidence interval; P, Wald test.",
    ]
    if primary == "firth":
        notes.append("The adjusted model is Firth's penalised likelihood because of separation.")
    notes += list(dict.fromkeys(results["univariable"].notes + multi.notes))
    return Table(
        label="models",
        caption="Univariable and multivariable logistic models of a subsequent vertebral fracture.",
        header=("Covariate", "Crude OR (95% CI)", "P", "Adjusted OR (95% CI)", "P"),
        align=("l", "r", "r", "r", "r"),
        rows=tuple(rows),
        notes=tuple(notes),
    )


# --------------------------------------------------------------------- supplementary tables


def table_firth(results: Results, f: Formatter) -> Table:
    res = results["firth"]
    rows = tuple(
        (
            r["label"],
            _or_ci(f, r),
            _p(f, r["p"]),
            _or_ci(f, r, "ml_estimate", "ml_ci_low", "ml_ci_high"),
            _p(f, r["ml_p"]),
        )
        for _, r in res.table.iterrows()
    )
    return Table(
        label="firth",
        caption="The multivariable model by Firth penalised and by maximum likelihood.",
        header=("Covariate", "Firth OR (95% CI)", "P", "ML OR (95% CI)", "P"),
        align=("l", "r", "r", "r", "r"),
        rows=rows,
        notes=(
            "Firth: penalised profile-likelihood CI and penalised likelihood-ratio P; "
            "ML: profile-likelihood CI and Wald P.",
            *res.notes,
        ),
    )


def table_gee(results: Results, f: Formatter) -> Table:
    res = results["level_gee"]
    models = {"continuous": "T-score per unit", "cutoff": "T-score at or below the cutoff"}
    rows = tuple(
        (models.get(r["model"], r["model"]), r["label"], _or_ci(f, r), _p(f, r["p"]))
        for _, r in res.table.iterrows()
    )
    meta = res.meta
    return Table(
        label="gee",
        caption="Level-specific generalised estimating equations of a subsequent fracture.",
        header=("Model", "Term", "OR (95% CI)", "P"),
        align=("l", "l", "r", "r"),
        rows=rows,
        notes=(
            f"Levels n = {f.count(meta.get('n'))} in {f.count(meta.get('n_clusters'))} "
            f"patients, {f.count(meta.get('events'))} fractured. Binomial GEE with an "
            "exchangeable working correlation within patient and robust standard errors.",
            *(
                [
                    f"Cutoff model: T \u2264 {f.cutoff(meta.get('first_cutoff'))}, the first "
                    "significant cutoff of the threshold table."
                ]
                if _finite(meta.get("first_cutoff"))
                else []
            ),
            *res.notes,
        ),
    )


def table_survival(results: Results, f: Formatter) -> Table:
    res = results["survival"]
    labels = res.meta.get("group_labels", {})
    t = res.table
    rows: list[tuple[str, ...]] = []
    km = t[t["section"].isin(["km_overall", "km_group"])]
    for _, r in km.iterrows():
        group = (
            "All patients"
            if r["section"] == "km_overall"
            else true_minus(labels.get(r["group"], ""), f)
        )
        ci = f.ci(r["ci_low"], r["ci_high"], 3) if _finite(r["ci_low"]) else f.missing
        rows.append(
            (
                group,
                f.count(r["time"]),
                f.count(r["at_risk"]),
                f.count(r["events"]),
                f.num(r["estimate"], 3),
                ci,
            )
        )
    notes = [
        "Kaplan\u2013Meier estimate of refracture-free survival with log(\u2212log) 95% CI; "
        "events are counted up to each time.",
        *res.notes,
    ]
    return Table(
        label="survival",
        caption="Refracture-free survival by month, overall and by T-score group.",
        header=("Group", "Month", "At risk", "Events", "Survival", "95% CI"),
        align=("l", "r", "r", "r", "r", "r"),
        rows=tuple(rows),
        notes=tuple(notes),
    )


def table_cox(results: Results, f: Formatter) -> Table:
    res = results["survival"]
    t = res.table
    cox = t[t["section"] == "cox"]
    ph = t[t["section"] == "ph_test"].set_index("term")
    rows = []
    for _, r in cox.iterrows():
        if not r["term"].startswith("cox:") or r["term"] in (
            "cox:concordance",
            "cox:likelihood_ratio",
        ):
            continue
        var = r["term"].split(":", 1)[1]
        ph_p = ph.loc[f"ph_test:{var}", "p"] if f"ph_test:{var}" in ph.index else math.nan
        rows.append((r["label"] or var, _or_ci(f, r), _p(f, r["p"]), _p(f, ph_p)))
    logrank = t[t["term"] == "logrank"]
    notes = ["Cox proportional hazards model (Efron ties); PH test on scaled Schoenfeld residuals."]
    if len(logrank):
        notes.append(
            f"Log-rank test between T-score groups: {f.p_value(logrank.iloc[0]['p'], symbol=True)}."
        )
    return Table(
        label="cox",
        caption="Cox model of time to refracture.",
        header=("Covariate", "HR (95% CI)", "P", "P (PH test)"),
        align=("l", "r", "r", "r"),
        rows=tuple(rows),
        notes=(*notes, *res.notes),
    )


def table_adjacent(results: Results, f: Formatter) -> Table:
    res = results["adjacent"]
    names = {
        "fractured_levels": "Fractured levels",
        "adjacent_levels": "Adjacent to a treated level",
        "remote_levels": "Remote from treated levels",
        "adjacent_patients": "Patients with an adjacent fracture",
        "remote_only_patients": "Patients with remote fractures only",
        "months_adjacent": "Months to fracture, adjacent levels",
        "months_remote": "Months to fracture, remote levels",
        "months_mannwhitney": "Mann\u2013Whitney U, levels",
        "months_adjacent_patients": "Months to fracture, adjacent patients",
        "months_remote_only_patients": "Months to fracture, remote-only patients",
        "months_mannwhitney_patients": "Mann\u2013Whitney U, patients",
    }
    rows = []
    for _, r in res.table.iterrows():
        term = r["term"]
        if term.startswith("months_mannwhitney"):
            value, detail = f.num(r["estimate"], 1), _p(f, r["p"])
        elif term.startswith("months_"):
            value = f.num(r["estimate"], 1)
            detail = f"median {f.num(r['median'], 1)} ({f.ci(r['min'], r['max'], 0)})"
        elif _finite(r["percent"]):
            value = f.n_percent(r["estimate"], r["percent"])
            detail = f"95% CI {f.ci(r['percent_ci_low'], r['percent_ci_high'], 1)}"
        else:
            value, detail = f.count(r["estimate"]), ""
        rows.append((names.get(term, term), f.count(r["n"]), value, detail))
    return Table(
        label="adjacent",
        caption="Subsequent fractures adjacent to and remote from the treated levels.",
        header=("Quantity", "n", "Value", "Detail"),
        align=("l", "r", "r", "r"),
        rows=tuple(rows),
        notes=(
            "Adjacent: a fractured level directly above or below a treated level of the same "
            "patient (T12 and L1 are neighbours). Percentages with Wilson 95% CIs; months as "
            "mean, with median (range); P from the two-sided Mann\u2013Whitney U test.",
            *res.notes,
        ),
    )


def table_dictionary(results: Results, f: Formatter) -> Table:
    """The data contract the analysis was run under, from the validator's schema."""
    from refracture.data.dictionary import _rules
    from refracture.data.schema import TABLES, Presence

    rows = []
    for tbl in TABLES:
        for col in tbl.columns:
            required = "yes" if col.presence is Presence.REQUIRED else "no"
            rule = _rules(col, tbl).replace("`", "")
            rows.append((tbl.name, col.name, col.kind.value, required, rule, col.description))
    return Table(
        label="dictionary",
        caption="Data dictionary of the two input tables.",
        header=("Table", "Column", "Type", "Required", "Rule", "Meaning"),
        align=("l", "l", "l", "l", "l", "l"),
        rows=tuple(rows),
        notes=("Generated from the schema the validator enforces.",),
    )


Builder = Callable[["Results", Formatter], Table]

MAIN_TABLES: tuple[Builder, ...] = (table_patients, table_tscore, table_cutoffs, table_models)
"""Tables of the manuscript, in order (Table 1 to Table 4)."""

SUPPLEMENTARY_TABLES: tuple[Builder, ...] = (
    lambda r, f: table_cutoffs(r, f, full=True),
    table_levels,
    table_firth,
    table_gee,
    table_survival,
    table_cox,
    table_adjacent,
    table_dictionary,
)
"""Tables of the supplement, in order (Table S1 onwards)."""


def build_tables(results: Results, f: Formatter, builders: Iterable[Builder]) -> dict[str, Table]:
    """Build tables in order, keyed by label."""
    out: dict[str, Table] = {}
    for make in builders:
        t = make(results, f)
        if f.missing and any(f.missing in cell for row in t.rows for cell in row):
            t = replace(t, notes=(*t.notes, f"{f.missing}, not estimable."))
        out[t.label] = t
    return out


def write_csv(table: Table, path: Path) -> Path:
    """The display table as CSV (UTF-8, ``\\n`` line ends): what the reader sees."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.header)
    w.writerows(table.rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def write_xlsx(sheets: dict[str, Table], path: Path) -> Path:
    """All display tables as one workbook, a sheet each, caption and notes included.

    The workbook's zip entries get a fixed timestamp and its document
    properties fixed dates, so the same tables give the same bytes.
    """
    import datetime as dt
    import zipfile

    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    fixed = dt.datetime(2000, 1, 1)
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.creator = "refracture"
    wb.properties.created = fixed
    wb.properties.modified = fixed
    bold = Font(bold=True)
    for name, t in sheets.items():
        ws = wb.create_sheet(title=name[:31])
        ws.append([t.caption])
        ws["A1"].font = bold
        ws.append(list(t.header))
        for cell in ws[2]:
            cell.font = bold
        for row in t.rows:
            ws.append(list(row))
        for note in t.notes:
            ws.append([note])
        for i, _ in enumerate(t.header):
            letter = ws.cell(row=2, column=i + 1).column_letter
            longest = max(len(str(r[i])) for r in (t.header, *t.rows))
            ws.column_dimensions[letter].width = min(60, max(8, longest + 2))
            for cell in ws[letter][1:]:
                cell.alignment = Alignment(horizontal="left" if t.align[i] == "l" else "right")
    tmp = path.with_suffix(".tmp.xlsx")
    wb.save(tmp)
    # openpyxl stamps zip entries with the current time: rewrite them with a fixed one
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _fix_core_dates(data)
            entry = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, data)
    tmp.unlink()
    return path


def _fix_core_dates(xml: bytes) -> bytes:
    return re.sub(
        rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
        rb"\g<1>2000-01-01T00:00:00Z\g<2>",
        xml,
    )
