"""The build pipeline: data → validate → derive → analyses → outputs.

Stages run in order and report progress through a callback; the whole output
folder is written beside its destination and swapped into place only when
every stage succeeded, so a failed build leaves the previous one untouched
(:mod:`refracture.build.folders`). Before any work the destination is checked: only an
absent or empty folder or an earlier build is ever replaced, never the data,
the configuration or a folder of the user's; one build at a time holds it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from refracture.analysis.results import Results
    from refracture.build.config import Config
    from refracture.build.stages import StageCache, Stages
    from refracture.figures.build import FigureWorkers

__all__ = ["BuildOutcome", "build", "embedded_figure_formats", "stage_names"]

Progress = Callable[[str], None]

_STAGES = (
    ("load", "Loading and validating the data"),
    ("derive", "Deriving patient- and level-level data"),
    ("analyse", "Running the analyses"),
    ("write", "Writing results"),
    ("sources", "Writing the manuscript sources"),
    ("figures", "Drawing the figures"),
    ("render", "Rendering"),
    ("guard", "Checking every output for patient identifiers"),
)


def stage_names() -> tuple[str, ...]:
    return tuple(label for _, label in _STAGES)


@dataclass(frozen=True)
class BuildOutcome:
    out: Path
    files: tuple[str, ...]
    warnings: tuple[str, ...]
    engine: str = ""
    up_to_date: bool = False
    ran: tuple[str, ...] = ()
    """The stages this build ran: ``analyses``, ``figure:STEM``, ``render:FILE``, ``guard:FILE``."""
    reused: tuple[str, ...] = ()
    """The stages whose outputs it reused, their inputs being unchanged."""
    stamp: dict[str, Any] = dataclasses.field(default_factory=dict)
    """What the build stamp was computed from (data, options, authored) and its hash."""


def _config_hash(config: Config | None) -> str | None:
    if config is None:
        return None
    from refracture.build.config import config_hash

    return config_hash(config)


def _meta(config: Config | None, data: Path | None):
    """Title-page facts. The synthetic-data notice is printed for the built-in example,
    and for data the configuration itself names when it says they are synthetic (a
    project made with ``init --example``); other data given with ``--data`` are real."""
    from refracture.report.context import ManuscriptMeta

    meta = config.manuscript_meta() if config is not None else ManuscriptMeta()
    own = config is not None and config.data.path is not None and data == config.data.path
    return dataclasses.replace(meta, synthetic=meta.synthetic and (data is None or own))


def _read_since(since: Path | None) -> tuple[dict, str] | None:
    """The earlier build's results (``--since``) and their digest, read before anything
    is replaced (``--since`` may name the very folder this build will swap out)."""
    if since is None:
        return None
    import hashlib

    from refracture.report.changes import load_results

    old = load_results(since)
    digest = hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()
    return old, digest


def _read_since_manuscript(since: Path | None) -> bytes | None:
    """The earlier build's ``manuscript.docx`` (``--since``), if it has one: the marked-up
    manuscript is made from it and the new one."""
    if since is None:
        return None
    folder = since if since.is_dir() else since.parent
    found = folder / "manuscript.docx"
    return found.read_bytes() if found.is_file() else None


def build(
    data: Path | None,
    out: Path,
    progress: Progress | None = None,
    *,
    formats: tuple[str, ...] = ("html", "pdf", "docx"),
    style: str = "submission",
    engine: str = "auto",
    force: bool = False,
    since: Path | None = None,
    config: Config | None = None,
    figure_workers: int | None = None,
    check_templates: Callable[[Any], None] | None = None,
    sources_only: bool = False,
    cache: StageCache | None = None,
    figure_formats: tuple[str, ...] | None = None,
) -> BuildOutcome:
    """Run every stage and write the build folder ``out``.

    The renderer is chosen (and options checked) before any data are read, so
    a bad option fails at once; nothing of an earlier build is touched unless
    every stage succeeds. ``figure_workers`` processes draw the figures
    (default: one per spare core, at most two; 0 draws them in this process).
    ``check_templates(results)`` runs after the analyses and before anything is
    written: the command line passes the template lint there when the authors
    have templates of their own, so a typed number or an unknown value fails the
    build with its file and line. ``sources_only`` writes the Quarto project
    (sources, assets, figures, tables, results) without rendering any document.
    Every stage whose inputs are unchanged since the build in ``out`` is reused
    from it (:mod:`refracture.build.stages`); ``cache`` keeps the analyses in
    memory across the builds of one process (``refracture preview``).
    ``figure_formats`` draws the figures in just these formats (default: PNG, PDF
    and SVG, the authors' files); the preview's HTML-only builds ask for what the
    HTML embeds (:func:`embedded_figure_formats`).
    """
    from refracture.build.folders import check_destination, claim
    from refracture.build.stamp import build_stamp, is_up_to_date

    inputs = protected_inputs(data, config)
    out = check_destination(out, inputs)  # before anything is read, written or locked
    say = progress or (lambda _label: None)
    with claim(out, say):
        old_results = _read_since(since)
        old_manuscript = _read_since_manuscript(since)
        options = {
            "formats": list(formats),
            "style": style,
            "engine": engine,
            "since": old_results[1] if old_results else None,
            "config": _config_hash(config),
        }
        if figure_formats is not None:
            options["figures"] = list(figure_formats)
        stamp = build_stamp(data, options, authored_inputs(config))
        made_from = {
            "data": data,
            "options": options,
            "authored": authored_inputs(config),
            "hash": stamp["hash"],
        }
        if not force and is_up_to_date(out, stamp):
            return BuildOutcome(out=out, files=(), warnings=(), up_to_date=True, stamp=made_from)

        from refracture.common.dates import build_epoch
        from refracture.errors import ConfigError
        from refracture.report.engine import FORMATS, STYLES, choose_engine

        bad = [f for f in formats if f not in FORMATS]
        if bad or (not formats and not sources_only):
            raise ConfigError(
                "--formats takes a comma-separated subset of "
                f"{', '.join(FORMATS)}; got {','.join(formats) or 'nothing'}"
            )
        if style not in STYLES:
            raise ConfigError(f"--style must be one of {', '.join(STYLES)}, not {style!r}")
        from refracture.figures.style import FORMATS as FIGURE_FORMATS

        if figure_formats is not None and (
            not figure_formats or set(figure_formats) - set(FIGURE_FORMATS)
        ):
            raise ConfigError(
                f"figures are drawn in a non-empty subset of {', '.join(FIGURE_FORMATS)}; "
                f"got {','.join(figure_formats) or 'nothing'}"
            )
        epoch = build_epoch()
        renderer = choose_engine(engine, epoch)
        from refracture.build.stages import Previous
        from refracture.figures.build import FigureWorkers

        previous = None if force else Previous.read(out)  # --force: every stage anew
        unchanged = previous is not None and previous.keys.get("analyses") == analyses_key(
            stamp, config
        )
        if figure_workers is None and unchanged:
            figure_workers = 0  # unchanged analyses: few figures, if any, to draw
        # figure workers start now: their imports overlap with the analyses
        plan = _Plan(
            data,
            out,
            formats,
            style,
            config,
            renderer,
            epoch,
            stamp,
            old_results,
            inputs,
            check_templates,
            old_manuscript,
            tuple(figure_formats or FIGURE_FORMATS),
        )
        with FigureWorkers(figure_workers) as figures:
            outcome = _run(plan, figures, say, None if force else cache, reuse=not force)
        return dataclasses.replace(outcome, stamp=made_from)


def embedded_figure_formats(formats: tuple[str, ...]) -> tuple[str, ...]:
    """The figure formats documents in ``formats`` embed (either renderer): SVG in the
    HTML and the PDF, PNG in the DOCX."""
    from refracture.report.embedded import FIGURE_EXTENSION

    return tuple(sorted({FIGURE_EXTENSION[f] for f in formats}))


def authored_inputs(config: Config | None) -> tuple[Path, ...]:
    """The authors' own templates folder and bibliography, where the config names them."""
    if config is None:
        return ()
    m = config.manuscript
    return tuple(p for p in (m.templates, m.bibliography) if p is not None)


def _authored_record(config: Config) -> dict[str, Any]:
    """The authors' templates and bibliography in the provenance: names and SHA-256."""
    from refracture.build.provenance import file_sha256

    m = config.manuscript
    record: dict[str, Any] = {}
    if m.templates is not None:
        record["templates"] = [
            {
                "file": f"{m.templates.name}/{p.relative_to(m.templates).as_posix()}",
                "sha256": file_sha256(p),
            }
            for p in sorted(m.templates.rglob("*"))
            if p.is_file()
        ]
    if m.bibliography is not None:
        record["bibliography"] = {
            "file": m.bibliography.name,
            "sha256": file_sha256(m.bibliography),
        }
    return record


def protected_inputs(data: Path | None, config: Config | None) -> tuple[tuple[str, Path], ...]:
    """What no build folder may be or contain: the data (with the files an import
    mapping reads) and the configuration file."""
    from refracture.data.example import example_path

    found = [("the data", Path(data) if data is not None else example_path())]
    if data is not None and Path(data).suffix.lower() in (".yml", ".yaml"):
        from refracture.data.importing.inputs import mapping_inputs

        found += [(f"the data's {key} file", path) for key, path in mapping_inputs(Path(data))]
    if config is not None and config.file is not None:
        found.append(("the configuration file", config.file))
    return tuple(found)


@dataclass(frozen=True)
class _Plan:
    """What a build was asked for, with its options checked and renderer chosen."""

    data: Path | None
    out: Path
    formats: tuple[str, ...]
    style: str
    config: Config | None
    renderer: Any
    epoch: int
    stamp: dict
    old_results: tuple[dict, str] | None
    inputs: tuple[tuple[str, Path], ...]
    check_templates: Callable[[Any], None] | None = None
    old_manuscript: bytes | None = None
    """The ``--since`` build's manuscript.docx, for the marked-up manuscript."""
    figure_formats: tuple[str, ...] = ("png", "pdf", "svg")
    """The formats each figure is drawn in."""


def machine_paths(plan: _Plan) -> dict[str, str]:
    """Paths of this machine that no output may carry (the guard looks for each)."""
    import os

    found: dict[str, Path] = {}
    with contextlib.suppress(RuntimeError, KeyError):
        found["your home folder"] = Path.home()
    found["the working folder"] = Path.cwd()
    for what, path in plan.inputs:
        found[f"the folder of {what}"] = Path(path).absolute().parent
        found[what] = Path(path).absolute()
    if plan.renderer.executable is not None:
        found["the renderer's executable"] = plan.renderer.executable
    found["the build folder"] = plan.out
    paths: dict[str, str] = {}
    for what, path in found.items():
        for form in {os.path.normpath(path), os.path.realpath(path)}:
            paths.setdefault(form, f"{what} ({form})")
    return paths


@dataclass(frozen=True)
class Analysed:
    """The analyses stage's output: aggregate results and what later stages need to
    know of the data (never a patient-level row or identifier), so it can be kept
    between builds (:mod:`refracture.build.stages`)."""

    results: Results
    inputs: list[dict[str, Any]]
    filtered: tuple[str, ...]
    warnings: tuple[str, ...]


def analyses_key(stamp: dict, config: Config | None) -> str:
    """The analyses' key: the data, the analysis settings and cohort filters, the code."""
    from refracture.build.stages import key

    parts = stamp["parts"]
    portable = config.portable() if config is not None else {}
    return key(
        "analyses",
        parts["data"],
        parts["refracture"],
        parts["environment"],
        portable.get("analysis"),
        portable.get("cohort"),
    )


def run_analyses_stage(
    data: Path | None, config: Config | None, say: Progress | None = None
) -> tuple[Analysed, list[str]]:
    """Load, filter and derive the cohort and run every analysis.

    Returns the :class:`Analysed` stage output and the patient identifiers of the
    data (all patients, before any filter: the identifier guard looks for each)."""
    from refracture.data.example import example_path

    say = say or (lambda _label: None)
    labels = dict(_STAGES)
    source = data if data is not None else example_path()

    say(labels["load"])
    from refracture.data.validate import load_cohort  # pandas and pandera: the first heavy import

    cohort = load_cohort(source)
    identifiers = cohort.patients["patient_id"].astype(str).tolist()
    from refracture.build.provenance import input_files

    inputs = input_files(cohort)
    filtered: list[str] = []
    if config is not None:
        from refracture.build.cohort_filters import apply_cohort_filters

        patients, levels, filtered = apply_cohort_filters(cohort.patients, cohort.levels, config)
        cohort = dataclasses.replace(cohort, patients=patients, levels=levels)
        inputs = [
            {**entry, "rows": len(patients if entry["table"] == "patients" else levels)}
            for entry in inputs
        ]

    say(labels["derive"])
    from refracture.data.derive import derive

    derived = derive(cohort.patients, cohort.levels)

    say(labels["analyse"])
    from refracture.analysis.results import run_analyses
    from refracture.analysis.settings import AnalysisSettings

    settings = config.analysis_settings() if config is not None else AnalysisSettings()
    results = run_analyses(
        derived, settings, progress=lambda label: say(f"{labels['analyse']}: {label}")
    )
    warnings = tuple(f"{w.file}: {w.rule}" for w in cohort.warnings)
    return Analysed(results, inputs, tuple(filtered), warnings), identifiers


def with_meta(
    analysed: Analysed,
    data: Path | None,
    config: Config | None,
    renderer_description: str,
    epoch: int,
) -> Results:
    """The analyses' results with this build's facts (data, versions, provenance)."""
    from refracture import __version__
    from refracture.analysis.results import Results
    from refracture.analysis.settings import AnalysisSettings
    from refracture.build.provenance import provenance
    from refracture.data.example import example_path
    from refracture.report.sources import software_versions

    source = data if data is not None else example_path()
    meta = dict(analysed.results.meta)
    meta["data"] = "built-in example cohort" if data is None else Path(source).name
    meta["refracture_version"] = __version__
    settings = config.analysis_settings() if config is not None else AnalysisSettings()
    software = software_versions(renderer_description)
    meta["provenance"] = provenance(list(analysed.inputs), settings, software, epoch)
    if config is not None:
        meta["provenance"]["config"] = config.portable()
    if analysed.filtered:
        meta["cohort_filters"] = list(analysed.filtered)
    if config is not None and authored_inputs(config):
        meta["provenance"]["authored"] = _authored_record(config)
    return Results(analyses=analysed.results.analyses, meta=meta)


def analyse(
    data: Path | None,
    config: Config | None,
    renderer_description: str,
    epoch: int,
    say: Progress | None = None,
    *,
    built: Path | None = None,
):
    """Run the stages of a build before anything is written (what ``refracture
    context`` shows the values of). Returns ``(identifiers, results)``.

    With ``built`` (a build folder of these inputs), its analyses are reused when
    its record vouches for them (:mod:`refracture.build.stages`)."""
    found = _built_analyses(data, config, built) if built is not None else None
    if found is None:
        found = run_analyses_stage(data, config, say)
    analysed, identifiers = found
    return identifiers, with_meta(analysed, data, config, renderer_description, epoch)


def _identifiers(data: Path | None) -> list[str]:
    """The patient identifiers of the data, read without validating (the data's bytes
    are those of a build that validated them)."""
    from refracture.data.example import example_path
    from refracture.data.load import read_raw

    raw = read_raw(data if data is not None else example_path())
    return raw.patients["patient_id"].astype(str).tolist()


def _built_analyses(
    data: Path | None, config: Config | None, built: Path
) -> tuple[Analysed, list[str]] | None:
    from refracture.build.stages import Previous, load_analyses
    from refracture.build.stamp import build_stamp

    previous = Previous.read(built)
    if previous is None:
        return None
    k = analyses_key(build_stamp(data, {}, authored_inputs(config)), config)
    if previous.keys.get("analyses") != k:
        return None
    analysed = load_analyses(k, previous.cached.get("analyses"))
    return None if analysed is None else (analysed, _identifiers(data))


def manuscript_meta(config: Config | None, data: Path | None):
    """Title-page facts; the synthetic-data notice only for the built-in example."""
    return _meta(config, data)


def _analyses(plan: _Plan, stages: Stages, cache: StageCache | None, say: Progress):
    """The analyses stage: from memory, from the verified cache, or computed.

    Returns ``(analysed, identifiers, pickle_sha256)``; identifiers are read again
    from the data when the analyses are reused from disk (no cache holds them)."""
    from refracture.build.stages import load_analyses, store_analyses

    k = analyses_key(plan.stamp, plan.config)
    stages.keys["analyses"] = k
    hit = cache.get(k) if cache is not None else None
    if hit is not None:
        stages.reused.append("analyses")
        return hit
    previous = stages.previous
    if previous is not None and previous.keys.get("analyses") == k:
        sha = previous.cached.get("analyses")
        analysed = load_analyses(k, sha)
        if analysed is not None:
            stages.reused.append("analyses")
            say(dict(_STAGES)["load"] + " (unchanged: the analyses are reused)")
            found = (analysed, _identifiers(plan.data), sha)
            if cache is not None:
                cache.put(k, found)
            return found
    stages.ran.append("analyses")
    analysed, identifiers = run_analyses_stage(plan.data, plan.config, say)
    found = (analysed, identifiers, store_analyses(k, analysed))
    if cache is not None:
        cache.put(k, found)
    return found


def _figures(plan: _Plan, results: Results, stages: Stages, figures: FigureWorkers, tmp: Path):
    """Reuse each figure whose results are unchanged; hand the others to the workers."""
    from refracture.build.stages import key
    from refracture.figures.build import figure_jobs

    wanted = set()
    formats = plan.figure_formats
    for stem, (plot, args, kwargs) in figure_jobs(results).items():
        drawn = [r.to_dict() if hasattr(r, "to_dict") else r for r in args]
        options = {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in kwargs.items()}
        code = plan.stamp["parts"]["refracture"]
        k = key("figure", stem, plot, drawn, options, formats, plan.epoch, code)
        files = [f"figures/{stem}.{fmt}" for fmt in formats]
        if not stages.reuse(f"figure:{stem}", k, files, tmp):
            wanted.add(stem)
    if wanted:
        figures.submit(results, tmp / "figures", epoch=plan.epoch, only=wanted, formats=formats)


def _render(plan: _Plan, stages: Stages, tmp: Path, say: Progress) -> None:
    """Render each document in each format unless its sources are unchanged."""
    from refracture.build.stages import key, tree_digest
    from refracture.report.engine import FORMATS, render_all

    renderer, labels = plan.renderer, dict(_STAGES)
    shared = key(
        tree_digest(tmp / "report" / "assets", tmp),
        tree_digest(tmp / "figures", tmp),
        (tmp / "_quarto.yml").read_bytes(),
        renderer.description,
        plan.style,
        plan.epoch,
        plan.stamp["parts"]["refracture"],
        plan.stamp["parts"]["environment"],
    )
    todo: dict[tuple[str, ...], list[str]] = {}
    for doc in ("manuscript", "supplementary"):
        source = (tmp / "report" / f"{doc}.qmd").read_bytes()
        formats = []
        for fmt in plan.formats:
            name = f"{doc}{FORMATS[fmt]}"
            if not stages.reuse(f"render:{name}", key("render", shared, source, fmt), [name], tmp):
                formats.append(fmt)
        if formats:
            todo.setdefault(tuple(formats), []).append(doc)
    for formats, docs in todo.items():  # documents that need the same formats render together
        render_all(
            renderer,
            tmp,
            docs,
            formats,
            plan.style,
            progress=lambda label: say(f"{labels['render']} with {renderer.name}: {label}"),
        )


def _write(
    plan: _Plan,
    results: Results,
    stages: Stages,
    figures: FigureWorkers,
    tmp: Path,
    software: dict,
    say: Progress,
) -> None:
    """The figures (drawn meanwhile when workers draw them), results and Quarto sources."""
    from refracture.report.sources import write_sources

    labels, config = dict(_STAGES), plan.config
    _figures(plan, results, stages, figures, tmp)
    say(labels["write"])
    results.write(tmp)
    say(f"{labels['sources']} ({plan.renderer.reason})")
    changes = None
    if plan.old_results:
        from refracture.report.changes import diff_results, to_markdown

        now = json.loads(results.to_json())
        changes = to_markdown(diff_results(plan.old_results[0], now), level=1)
    manuscript = config.manuscript if config is not None else None
    write_sources(
        results,
        tmp,
        style=plan.style,
        software=software,
        meta=_meta(config, plan.data),
        changes=changes,
        templates=manuscript.templates if manuscript else None,
        bibliography=manuscript.bibliography if manuscript else None,
        reuse=lambda name, k: stages.reuse(f"file:{name}", k, [name], tmp),
    )


class _Screen:
    """The identifier guard over a build's staging folder, in passes: what is written
    before the documents render is checked while pandoc (or Quarto) renders them, the
    rest afterwards. A file is checked unless the guard found it clean before with
    these bytes, identifiers and paths; a hit fails the build (nothing is published).
    Verdicts are by the bytes a file has when checked, so a file changed after its
    pass is checked again."""

    def __init__(self, stages: Stages, guard, tmp: Path) -> None:
        import hashlib

        from refracture.build.stages import key, load_verdicts

        self.guard, self.tmp = guard, tmp
        # the identifiers themselves, not the data: a changed T-score leaves the
        # verdicts of unchanged files standing
        self.context = key(
            hashlib.sha256("\n".join(sorted(guard.identifiers)).encode()).hexdigest(),
            sorted(guard.paths),
        )
        self.verdicts = load_verdicts() if stages.previous is not None else set()
        self.clean: dict[str, str] = {}  # file → the SHA-256 of the bytes found clean

    def files(self) -> list[str]:
        tmp = self.tmp
        return sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())

    def _key(self, rel: str, sha: str) -> str:
        from refracture.build.stages import key

        return key("guard", self.context, rel, sha)

    def check(self, files: list[str]) -> None:
        """Check ``files`` (relative to the staging folder) as they are now."""
        import hashlib

        todo: dict[str, str] = {}
        for rel in files:
            sha = hashlib.sha256((self.tmp / rel).read_bytes()).hexdigest()
            if self.clean.get(rel) != sha and self._key(rel, sha) not in self.verdicts:
                todo[rel] = sha
            else:
                self.clean[rel] = sha
        if todo:
            self.guard.check(self.tmp, only=todo)
        self.clean.update(todo)

    def finish(self, stages: Stages) -> dict[str, str]:
        """Check whatever is new or changed since the last pass, then record each file's
        verdict (ran: checked in this build; reused: found clean before). Returns every
        file of the folder with the SHA-256 of the bytes found clean (the build record's)."""
        from refracture.build.stages import save_verdicts

        files = self.files()
        self.check(files)
        new = []
        for rel in files:
            k = self._key(rel, self.clean[rel])
            if not stages.checked(f"guard:{rel}", k, self.verdicts):
                new.append(k)
        save_verdicts(new)
        return {rel: self.clean[rel] for rel in files}


def _run(
    plan: _Plan,
    figures: FigureWorkers,
    say: Progress,
    cache: StageCache | None = None,
    *,
    reuse: bool = True,
) -> BuildOutcome:
    from refracture.build.stages import Previous, Stages
    from refracture.build.stamp import write_stamp
    from refracture.report.sources import software_versions

    out, formats, config = plan.out, plan.formats, plan.config
    renderer, epoch, stamp = plan.renderer, plan.epoch, plan.stamp
    labels = dict(_STAGES)
    stages = Stages(Previous.read(out) if reuse else None)
    analysed, identifiers, analyses_sha = _analyses(plan, stages, cache, say)
    results = with_meta(analysed, plan.data, config, renderer.description, epoch)
    software = software_versions(renderer.description)

    from refracture.build.folders import staged_output
    from refracture.report.guard import Guard, unchecked_identifiers

    with staged_output(out, plan.inputs) as tmp:
        try:
            _write(plan, results, stages, figures, tmp, software, say)
        except Exception:
            if plan.check_templates is not None:  # the lint explains a template's error best
                plan.check_templates(results)
            raise
        say(labels["figures"])
        # the main process would only wait here: it prepares the identifier guard
        guard = Guard(identifiers, machine_paths(plan))
        figures.wait()
        screen = _Screen(stages, guard, tmp)
        written = screen.files()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="refracture-render") as pool:
            # the documents render in processes of their own (pandoc, Quarto); meanwhile
            # this one lints the templates and checks what is written. A lint finding
            # fails the build before a render error does.
            rendering = pool.submit(_render, plan, stages, tmp, say) if formats else None
            if plan.check_templates is not None:
                plan.check_templates(results)
            screen.check(written)
            if rendering is not None:
                rendering.result()
        if plan.old_manuscript is not None and "docx" in formats:
            from refracture.report.tracked_changes import write_marked_up

            say("Marking the changes since the earlier manuscript")
            write_marked_up(plan.old_manuscript, tmp, _meta(config, plan.data), epoch, formats)
        say(labels["guard"])
        hashes = screen.finish(stages)  # the folder is complete: its files as checked
        files = tuple(hashes)
        write_stamp(
            tmp,
            stamp,
            files,
            stages=stages.keys,
            sha256=hashes,
            cached={"analyses": analyses_sha} if analyses_sha else {},
        )
    warnings = analysed.warnings
    short = unchecked_identifiers(identifiers)
    if short:
        warnings += (
            f"{len(short)} patient identifier(s) are too short or too plainly numeric to be "
            "told apart from numbers in the text, so the outputs could not be checked for "
            "them; use longer pseudonymous study ids",
        )
    return BuildOutcome(
        out=out,
        files=files,
        warnings=warnings,
        engine=renderer.description,
        ran=tuple(stages.ran),
        reused=tuple(stages.reused),
    )
