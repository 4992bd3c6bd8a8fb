"""Reanalyses: the main analysis and every named variant, side by side.

``refracture reanalyze`` builds the main analysis into ``OUT`` and each variant
of the configuration into ``OUT-NAME`` (each a complete paper; unchanged ones
are no-ops), then writes ``OUT-reanalyses/``: a "Reanalyses" supplement whose
table sets the key results of every analysis beside the main one (N, events,
first significant cutoff, key estimates with CIs and P values), marking each
result whose significance or direction differs from the main analysis.

Values are read from each build's ``results.json``; nothing is recomputed.

The builds are independent, so they run on the executor of the command
(:mod:`refracture.build.executor`): one after the other in this process by default,
side by side with ``--workers N`` or on a Dask cluster. Each build's outputs are
the same wherever it ran.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refracture.common.format import Formatter
from refracture.report.tables import Table

if TYPE_CHECKING:
    from refracture.build.executor import ClientContext, Executor

__all__ = ["Cell", "comparison_table", "key_results", "reanalyses_context", "reanalyze"]

FLIP = "\u2021"  # ‡ marks a result whose significance or direction differs from the main one


@dataclass(frozen=True)
class Cell:
    text: str
    p: float | None = None  # for significance flips
    direction: int = 0  # +1 / −1 around the null value, 0 when undefined


def _rows(doc: dict, name: str) -> dict[str, dict]:
    table = doc["analyses"].get(name, {}).get("table", [])
    return {(r["term"] if name != "level_gee" else f"{r['model']}:{r['term']}"): r for r in table}


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _ratio(f: Formatter, row: dict | None) -> Cell:
    if not row or f.absent(row.get("estimate")):
        return Cell(f.missing)
    est = row["estimate"]
    text = f.estimate_ci_flat(est, row.get("ci_low"), row.get("ci_high"), f.or_decimals)
    p = row.get("p")
    if _finite(p):
        text += f"; {f.p_value(p, symbol=True)}"
    return Cell(text, p if _finite(p) else None, (est > 1) - (est < 1))


def key_results(doc: dict, f: Formatter) -> dict[str, Cell]:
    """The quantities a reviewer compares, formatted, from one results.json."""
    cohort = _rows(doc, "cohort")
    thr = doc["analyses"]["thresholds"]["meta"]
    out: dict[str, Cell] = {
        "Patients": Cell(f.count(cohort["patients"]["estimate"])),
        "Patients with a subsequent fracture": Cell(
            f.n_percent(cohort["refracture"]["estimate"], cohort["refracture"]["percent"])
        ),
        "Levels analysed (fractured)": Cell(
            f"{f.count(doc['analyses']['table1_levels']['meta']['group_n']['overall'])} "
            f"({f.count(doc['analyses']['table1_levels']['meta']['group_n']['fractured'])})"
        ),
    }
    first = thr.get("first_significant_cutoff")
    out["First significant cutoff"] = Cell(f"T \u2264 {f.cutoff(first)}" if first else "none")
    if first is not None:
        row = _rows(doc, "thresholds").get(f"T \u2264 {f.cutoff(first)}")
        out["OR at the first significant cutoff"] = _ratio(f, row)
    auc = _rows(doc, "roc").get("auc")
    if auc and not f.absent(auc.get("estimate")):
        out["AUC of the level T-score"] = Cell(
            f.estimate_ci_flat(auc["estimate"], auc["ci_low"], auc["ci_high"], 2)
            + (f"; {f.p_value(auc['p'], symbol=True)}" if _finite(auc.get("p")) else ""),
            auc.get("p") if _finite(auc.get("p")) else None,
            (auc["estimate"] > 0.5) - (auc["estimate"] < 0.5),
        )
    out["GEE: OR per unit lower T-score"] = _ratio(
        f, _rows(doc, "level_gee").get("continuous:tscore_lower")
    )
    # under separation the Firth model is primary (as in the manuscript's Table 4)
    multi = doc["analyses"]["multivariable"]["meta"]
    adjusted = "firth" if multi.get("primary") == "firth" else "multivariable"
    for term, row in _rows(doc, adjusted).items():
        cell = _ratio(f, row)
        if adjusted == "firth" and cell.text != f.missing:
            cell = dataclasses.replace(cell, text=f"{cell.text} (Firth)")
        out[f"Adjusted OR: {row.get('label') or term}"] = cell
    logrank = _rows(doc, "survival").get("logrank")
    if logrank and _finite(logrank.get("p")):
        out["Log-rank test by T-score group"] = Cell(
            f.p_value(logrank["p"], symbol=True), logrank["p"]
        )
    return out


def _differs(main: Cell | None, other: Cell, alpha: float) -> bool:
    if main is None:
        return False
    if main.p is not None and other.p is not None and (main.p < alpha) != (other.p < alpha):
        return True
    return bool(main.direction and other.direction and main.direction != other.direction)


def comparison_table(
    docs: dict[str, dict], f: Formatter, alpha: float, label: Callable[[str], str] = str
) -> Table:
    """Rows: key results; columns: the main analysis, then each variant (‡ = differs)."""
    names = list(docs)
    keyed = {name: key_results(doc, f) for name, doc in docs.items()}
    main = keyed[names[0]]
    quantities = list(dict.fromkeys(q for k in keyed.values() for q in k))
    rows = []
    flips = 0
    for q in quantities:
        cells = [q]
        for name in names:
            cell = keyed[name].get(q)
            if cell is None:
                cells.append("\u2014")
                continue
            mark = ""
            if name != names[0] and (
                _differs(main.get(q), cell, alpha)
                or (q == "First significant cutoff" and cell.text != main[q].text)
            ):
                mark, flips = FLIP, flips + 1
            cells.append(cell.text + mark)
        rows.append(tuple(cells))
    notes = [
        "Each column is a complete build of the paper; values are read from its results.json.",
        f"{FLIP} differs from the main analysis: significance at P < {f.num(alpha, 2)} "
        "changed, the estimate changed direction, or the first significant cutoff moved.",
    ]
    return Table(
        label="reanalyses",
        caption="Key results of the main analysis and of each reanalysis.",
        header=("Result", *(label(n) for n in names)),
        align=("l", *(["r"] * len(names))),
        rows=tuple(rows),
        notes=tuple(notes),
    )


def reanalyses_context(
    title: str, date: str, synthetic: bool, variants: list[dict], table: Table
) -> dict[str, Any]:
    """What ``templates/reanalyses.qmd.j2`` prints (all formatted strings)."""
    return {
        "title": title,
        "date": date,
        "style": "article",
        "synthetic": synthetic,
        "variants": variants,
        "entry": {"table": table, "ref": "@tbl-reanalyses", "name": "Table 1"},
        "label": "tbl-reanalyses",
    }


def sample_context(results: dict) -> dict[str, Any]:
    """A reanalyses context from one results.json set beside itself (for the lint)."""
    f = Formatter()
    table = comparison_table({"main": results, "variant": results}, f, 0.05)
    variant = {"name": "variant", "changes": ["cohort.filters.procedure = KP"], "filters": ["x"]}
    return reanalyses_context("Title", "2026-11-25", True, [variant], table)


def _flat(mapping: Any, prefix: str = "") -> list[str]:
    """``cohort.filters.procedure = KP`` lines of a variant's overrides."""
    if not isinstance(mapping, dict):
        return [f"{prefix} = {mapping}"]
    out: list[str] = []
    for key, value in mapping.items():
        out += _flat(value, f"{prefix}.{key}" if prefix else str(key))
    return out


def _client_context() -> ClientContext:
    from refracture.build.executor import ClientContext

    return ClientContext()


@dataclass(frozen=True)
class BuildTask:
    """One build of :func:`reanalyze`: everything a worker needs (picklable)."""

    name: str
    config: Any  # refracture.build.config.Config, with absolute paths
    folder: Path  # absolute
    formats: tuple[str, ...]
    style: str
    engine: str
    force: bool
    context: ClientContext = field(default_factory=_client_context)
    # config → the pipeline's check_templates, or None; a module-level function (it
    # travels to workers by name): the command line passes its lint of the authors'
    # templates
    template_check: Callable[[Any], Any] | None = None

    @property
    def title(self) -> str:
        return "the main analysis" if self.name == "main" else f"variant {self.name}"

    def __reduce__(self):
        # A Config with variants holds instances of classes pydantic created at run
        # time (refracture.build.config_schema._partial), which plain pickle cannot find
        # by name: the config travels as its validated data and is validated again on
        # arrival.
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        config = self.config
        fields["config"] = {
            **config.model_dump(exclude={"variants"}),
            "variants": {n: v.model_dump(exclude_unset=True) for n, v in config.variants.items()},
        }
        return (_unpickle_task, (fields,))


def _unpickle_task(fields: dict[str, Any]) -> BuildTask:
    from refracture.build.config import Config

    return BuildTask(**{**fields, "config": Config.model_validate(fields["config"])})


def build_task(task: BuildTask, progress: Callable[[str], None] | None = None):
    """Run one :class:`BuildTask` (in this process or on a worker) and return its
    :class:`~refracture.build.pipeline.BuildOutcome`.

    The build runs in the caller's working folder and ``SOURCE_DATE_EPOCH`` (see
    :class:`~refracture.build.executor.ClientContext`), so its results.json is the one
    the caller would have built. ``progress`` (in-process only) streams its stages.
    """
    import multiprocessing

    from refracture.build.pipeline import build

    say = progress or (lambda _label: None)
    extra: dict[str, Any] = {}
    if multiprocessing.parent_process() is not None:
        # in a worker process the executor already runs builds side by side: the
        # figures are drawn in that process rather than in more processes of its own
        extra["figure_workers"] = 0
    check = task.template_check(task.config) if task.template_check is not None else None
    if check is not None:
        extra["check_templates"] = check
    with task.context.apply():
        say(f"Building {task.title}")
        return build(
            task.config.data.path,
            task.folder,
            lambda label: say(f"  {task.name}: {label}"),
            formats=task.formats,
            style=task.style,
            engine=task.engine,
            force=task.force,
            config=task.config,
            **extra,
        )


def reanalyze(
    config,
    out: Path,
    *,
    formats: tuple[str, ...],
    style: str,
    engine: str,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    executor: Executor | None = None,
    template_check: Callable[[Any], Any] | None = None,
) -> Path:
    """Build the main analysis and every variant, then the Reanalyses supplement.

    ``template_check(config)`` gives each build's check of the authors' templates
    (see :class:`BuildTask`).

    The builds run on ``executor`` (default: the current one, see
    :func:`refracture.build.executor.current_executor`). In this process each build's
    progress streams as it runs; elsewhere a line is printed as each build finishes.
    """
    from functools import partial

    from refracture.build.folders import check_destination, claim, staged_output
    from refracture.build.pipeline import protected_inputs
    from refracture.common.dates import build_epoch
    from refracture.common.parallel import current_executor
    from refracture.report.changes import load_results
    from refracture.report.engine import choose_engine, render_all
    from refracture.report.render import template_environment
    from refracture.report.tables import write_csv

    say = progress or (lambda _label: None)
    if not config.variants:
        from refracture.errors import ConfigError

        raise ConfigError("the configuration names no variants: add some under 'variants:'")
    executor = executor or current_executor()
    out = out.absolute()  # a worker may run in another folder
    folders = {"main": out}
    for name in sorted(config.variants):
        folders[name] = out.with_name(f"{out.name}-{name}")
    dest = out.with_name(f"{out.name}-reanalyses")
    inputs = protected_inputs(config.data.path, config)
    for folder in folders.values():  # every folder, before any work starts
        check_destination(folder, inputs)
    check_destination(dest, inputs, kind="reanalyses")
    tasks = [
        BuildTask(
            name,
            config if name == "main" else config.variant(name),
            folder,
            tuple(formats),
            style,
            engine,
            force,
            template_check=template_check,
        )
        for name, folder in folders.items()
    ]
    if executor.in_process:
        executor.map(partial(build_task, progress=say), tasks)
    else:
        n = len(tasks) - 1
        say(
            f"Building the main analysis and {n} variant{'s' if n != 1 else ''} "
            f"on {executor.describe()}"
        )

        def done(i: int, outcome) -> None:
            state = "up to date" if outcome.up_to_date else "built"
            title = tasks[i].title
            say(f"{title[0].upper()}{title[1:]} {state} ({tasks[i].folder.name})")

        executor.map(build_task, tasks, on_done=done)
    docs = {name: load_results(folder) for name, folder in folders.items()}
    alpha = float(docs["main"]["meta"].get("alpha", 0.05))
    f = Formatter(alpha=alpha)
    labels = {"main": "Main analysis"}
    table = comparison_table(docs, f, alpha, label=lambda n: labels.get(n, n))
    variants = [
        {
            "name": name,
            "changes": _flat(config.variants[name].model_dump(exclude_unset=True)),
            "filters": [str(x) for x in docs[name]["meta"].get("cohort_filters", [])],
        }
        for name in folders
        if name != "main"
    ]
    renderer = choose_engine(engine, build_epoch())
    meta = config.manuscript_meta()
    with claim(dest, say, kind="reanalyses"), staged_output(dest, inputs, kind="reanalyses") as tmp:
        say("Writing and rendering the Reanalyses supplement")
        ctx = reanalyses_context(
            meta.title, meta.date, meta.synthetic and config.data.path is None, variants, table
        )
        text = template_environment().get_template("reanalyses.qmd.j2").render(ctx)
        report = tmp / "report"
        (report / "assets").mkdir(parents=True)
        (report / "reanalyses.qmd").write_text(text, encoding="utf-8")
        from refracture.report.embedded import prepare_assets

        prepare_assets(report / "assets")
        (tmp / "tables").mkdir()
        write_csv(table, tmp / "tables" / "reanalyses.csv")
        # a one-table supplement: the article layout (no title page, no line numbers)
        render_all(renderer, tmp, ("reanalyses",), formats, "article", progress=say)
    return dest
