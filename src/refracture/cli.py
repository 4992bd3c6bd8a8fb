"""Command-line interface: ``refracture validate | build | preview | submit | import | …``.

Known errors (:mod:`refracture.errors`) become one clear message on stderr and
their exit code; no traceback reaches the user. Heavy libraries are imported
inside the commands, so ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from refracture import __version__
from refracture.errors import EXIT_INTERNAL, EXIT_INVALID, RefractureError, describe

app = typer.Typer(
    name="refracture",
    help=(
        "Write the refracture paper from its data: validate the cohort, run the analyses "
        "and build the manuscript.\n\nExit codes: 0 success, 1 invalid data or "
        "configuration, 2 usage error, 3 render failure, 4 internal error, 130/143 "
        "interrupted (Ctrl-C, SIGTERM)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"refracture {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """refracture command line."""


def _err(message: str) -> None:
    typer.echo(message, err=True)


DataArg = Annotated[
    Path,
    typer.Argument(
        help="Cohort: a folder with patients.csv + levels.csv (or .parquet), "
        "an .xlsx workbook with sheets 'patients' and 'levels', or an import mapping "
        "(.yml) of a REDCap, SPSS, Stata, SAS or spreadsheet export.",
        show_default=False,
    ),
]


ExecutorOpt = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="Where independent pieces of work run: local (in this process), processes (a "
        "pool of --workers local processes) or dask (the dask.distributed "
        "cluster at --scheduler; install refracture[dask]). Default: in this process, "
        "except a registry-size bootstrap, which uses one process per core. Results are "
        "identical whichever runs them.",
        show_default=False,
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Number of local worker processes; alone it means --executor processes "
        "(default for processes: the number of CPUs).",
        show_default=False,
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (with "
        "--executor dask; refracture never starts a cluster).",
        show_default=False,
    ),
]


ProjectDataOpt = Annotated[
    Path | None,
    typer.Option("--data", help="Cohort (default: refracture.yml's, else the example)."),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="Configuration file (default: refracture.yml, if any)."),
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override one configuration key (repeatable).")
]


@app.command()
def validate(data: DataArg) -> None:
    """Check a cohort against the data contract and list every problem at once.

    Exits 0 when the data are valid (warnings may be listed) and 1 when not.
    """
    from refracture.data.load import read_raw
    from refracture.data.validate import validate as run_validation

    report = run_validation(read_raw(data))
    typer.echo(report.render())
    if not report.ok:
        raise typer.Exit(EXIT_INVALID)


@app.command()
def simulate(
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write patients.csv and levels.csv.")
    ],
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the example's).")] = None,
    patients: Annotated[int, typer.Option(min=5, help="Number of patients.")] = 93,
    calibrate: Annotated[
        bool | None,
        typer.Option(
            "--calibrate/--no-calibrate",
            help="Tune to the published abstract (default: on for 93 patients).",
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Write although the folder holds a patients or levels table (patients.csv and "
            "levels.csv are replaced; no other file is touched).",
        ),
    ] = False,
) -> None:
    """Write a synthetic cohort in the data-contract format (deterministic per seed).

    Refuses a folder that already holds a patients or levels table unless
    --overwrite is given; no other file of the folder is touched.
    """
    from refracture.data import blas_kernel

    blas_kernel.pin()  # before numpy loads: the same seed gives the same bytes on any CPU
    from refracture.data.simulate import DEFAULT_SEED, check_simulate_target
    from refracture.data.simulate import simulate as draw

    check_simulate_target(out, overwrite=overwrite)  # before the (slow) simulation

    try:
        cohort = draw(
            seed=DEFAULT_SEED if seed is None else seed, patients=patients, calibrate=calibrate
        )
    except RuntimeError as exc:  # calibration could not be reached for this seed
        raise RefractureError(f"simulation failed: {exc}") from exc
    paths = cohort.write(out, overwrite=overwrite)
    n_levels = len(cohort.levels["level"])
    typer.echo(
        f"Wrote {patients} patients and {n_levels} level rows to "
        f"{paths[0].parent} (patients.csv, levels.csv)."
    )


def _executor(kind: str | None, workers: int | None, scheduler: str | None):
    """The executor the options ask for; with none given, the automatic default."""
    from refracture.build.executor import make_executor

    if kind is None and workers is None and scheduler is None:
        return make_executor("auto")
    return make_executor(kind, workers, scheduler)


@app.command()
def build(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Cohort to use (default: the built-in example cohort): a folder, a workbook "
            "or an import mapping (.yml), which imports its source on the fly.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Build folder (default: _manuscript).")
    ] = None,
    formats: Annotated[
        str | None,
        typer.Option("--formats", help="Comma-separated: html, pdf, docx (default: all)."),
    ] = None,
    style: Annotated[
        str | None,
        typer.Option(
            "--style",
            help="PDF style: 'submission' (double spacing, line numbers, tables and "
            "legends after the references, the default) or 'article' (typeset preprint).",
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="auto (Quarto when installed, else embedded), quarto, or embedded "
            "(pandoc + typst from PyPI).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Configuration file (default: refracture.yml in this folder, if any).",
        ),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override one configuration key, e.g. --set analysis.alpha=0.01 or "
            "--set analysis.model.covariates=[age,bmi] (repeatable).",
        ),
    ] = None,
    variant: Annotated[
        str | None,
        typer.Option(
            "--variant",
            help="Build the named variant of the configuration into its own folder (OUT-NAME).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Rebuild every stage, reusing nothing, even when no input changed."
        ),
    ] = False,
    since: Annotated[
        Path | None,
        typer.Option(
            "--since",
            help="An earlier build folder or results.json: the supplement gets a "
            "'Changes since the previous version' appendix listing every changed number.",
        ),
    ] = None,
    executor_kind: ExecutorOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Build the paper and its supplement from the data into the build folder.

    Validates the data, runs every analysis, draws the figures and renders
    manuscript and supplementary material as HTML, PDF and DOCX, with
    results.json, tables/*.csv and tables.xlsx beside them. With --workers or
    --executor the bootstrap's chunks of replicates run on the chosen executor.
    """
    from rich.console import Console

    from refracture.build.pipeline import build as run_build
    from refracture.common.parallel import use_executor

    cfg = _load_config(config, overrides or [], variant)
    if cfg is not None:
        data = data if data is not None else cfg.data.path
        out = out if out is not None else Path(cfg.output.out)
        formats = formats if formats is not None else ",".join(cfg.output.formats)
        style = style or cfg.output.style
        engine = engine or cfg.output.engine
    out = out if out is not None else Path("_manuscript")
    if variant:
        out = out.with_name(f"{out.name}-{variant}")
    formats = formats if formats is not None else "html,pdf,docx"

    console = Console(stderr=True, highlight=False)
    quiet = not console.is_terminal
    executor = _executor(executor_kind, workers, scheduler)
    with executor, use_executor(executor), console.status("Starting…", spinner="dots") as status:

        def progress(label: str) -> None:
            if quiet:
                console.print(f"• {label}")
            else:
                status.update(label)
                console.log(label)

        outcome = run_build(
            data,
            out,
            progress,
            formats=tuple(f.strip().lower() for f in formats.split(",") if f.strip()),
            style=style or "submission",
            engine=engine or "auto",
            force=force,
            since=since,
            config=cfg,
            check_templates=_template_check(cfg),
        )
    from refracture.workflows.up_to_date import remember

    up_to_date = (
        f"{outcome.out} is up to date: data, templates, options and refracture are "
        "unchanged since it was built (use --force to rebuild)."
    )
    remember(
        sys.argv[1:],
        out=outcome.out,
        data=outcome.stamp["data"],
        options=outcome.stamp["options"],
        authored=outcome.stamp["authored"],
        stamp=outcome.stamp["hash"],
        message=up_to_date,
    )
    if outcome.up_to_date:
        typer.echo(up_to_date)
        return
    for w in outcome.warnings:
        console.print(f"warning: {w}")
    typer.echo(f"Built {len(outcome.files)} files in {outcome.out} with {outcome.engine}:")
    for f in outcome.files:
        typer.echo(f"  {f}")


@app.command("import")
def import_data(
    mapping: Annotated[
        Path | None,
        typer.Argument(
            help="The import mapping (.yml) of a REDCap export, SPSS/Stata/SAS file or "
            "spreadsheet.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="With MAPPING: the folder for patients.csv, levels.csv and import-report.md "
            "(new, empty or written by refracture). With --suggest: a new file for the "
            "mapping (default: print it).",
        ),
    ] = None,
    suggest: Annotated[
        Path | None,
        typer.Option(
            "--suggest",
            help="Draft a mapping of this source (a REDCap records export, .sav, .dta, "
            ".sas7bdat, .xlsx, .csv or .parquet) instead of importing.",
        ),
    ] = None,
    dictionary: Annotated[
        Path | None,
        typer.Option("--dictionary", help="With --suggest: the REDCap data dictionary (CSV)."),
    ] = None,
    levels: Annotated[
        Path | None,
        typer.Option("--levels", help="With --suggest: a second file with a row per level."),
    ] = None,
) -> None:
    """Bring a study's own export into the data contract through a mapping.

    refracture import MAPPING --out DIR reads the source the mapping names, resolves
    its values (the mapping's values, then REDCap choices or value labels, then the
    contract's synonyms), validates the result and writes patients.csv, levels.csv and
    import-report.md into DIR; every problem is listed at once at its source cell.
    refracture import --suggest SOURCE [--dictionary D] drafts a mapping, each line
    with how sure it is; it never overwrites a file.
    """
    from refracture.errors import UsageError

    if suggest is not None:
        if mapping is not None:
            raise UsageError("give either a MAPPING to import or --suggest SOURCE, not both")
        from refracture.data.importing.suggest import suggest_mapping
        from refracture.workflows.import_data import write_suggestion

        base = out.absolute().parent if out is not None else Path.cwd()
        drafted = suggest_mapping(suggest, dictionary, levels, base=base)
        if out is None:
            typer.echo(drafted.text, nl=False)
        else:
            write_suggestion(drafted.text, out)
            typer.echo(f"Wrote the draft mapping {out}.")
        if drafted.required_unmapped:
            _err(
                "Required contract columns not mapped: "
                + ", ".join(drafted.required_unmapped)
                + "; add them to the mapping."
            )
        if drafted.guesses:
            _err("Check the guesses marked '# ?': " + ", ".join(drafted.guesses) + ".")
        return
    if dictionary is not None or levels is not None:
        raise UsageError("--dictionary and --levels go with --suggest")
    if mapping is None:
        raise UsageError("give a MAPPING to import (with --out DIR) or --suggest SOURCE")
    if out is None:
        raise UsageError("give --out DIR, the folder for the imported cohort")
    from rich.console import Console

    from refracture.workflows.import_data import import_cohort

    console = Console(stderr=True, highlight=False)
    outcome = import_cohort(mapping, out, progress=lambda label: console.print(f"• {label}"))
    notes = f"; {outcome.warnings} warning(s), see import-report.md" if outcome.warnings else ""
    typer.echo(
        f"Imported {outcome.patients} patients and {outcome.levels} level rows into {out} "
        f"(patients.csv, levels.csv, import-report.md){notes}."
    )


@app.command()
def reanalyze(
    out: Annotated[
        Path | None, typer.Option("--out", help="Main build folder (default: _manuscript).")
    ] = None,
    formats: Annotated[
        str | None, typer.Option("--formats", help="Comma-separated: html, pdf, docx.")
    ] = None,
    engine: Annotated[
        str | None, typer.Option("--engine", help="auto, quarto or embedded.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Configuration file (default: refracture.yml).")
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override one configuration key.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild every analysis.")] = False,
    executor_kind: ExecutorOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Build the main analysis and every named variant, then a Reanalyses supplement.

    Each variant is a complete paper in OUT-NAME; OUT-reanalyses holds the
    side-by-side table of key results with every changed conclusion marked.
    With --workers or --executor the builds run side by side on the chosen
    executor (each build's bootstrap then runs on the worker that builds it).
    """
    from rich.console import Console

    from refracture.common.parallel import use_executor
    from refracture.workflows.reanalyze import reanalyze as run

    cfg = _load_config(config, overrides or [], None)
    if cfg is None:
        from refracture.build.config import load_config

        cfg = load_config(None)
    out = out if out is not None else Path(cfg.output.out)
    fmts = formats.split(",") if formats else list(cfg.output.formats)
    console = Console(stderr=True, highlight=False)
    executor = _executor(executor_kind, workers, scheduler)
    with executor, use_executor(executor):
        dest = run(
            cfg,
            out,
            formats=tuple(x.strip().lower() for x in fmts if x.strip()),
            style=cfg.output.style,
            engine=engine or cfg.output.engine,
            force=force,
            progress=lambda label: console.print(f"• {label}"),
            executor=executor,
            template_check=_template_check,
        )
    typer.echo(f"Reanalyses written to {dest}")


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="The new project's folder (new or empty).")],
    example: Annotated[
        bool,
        typer.Option("--example", help="Copy the example cohort into data/ so it builds at once."),
    ] = False,
) -> None:
    """Create a study project: refracture.yml, data/, your own templates and references.

    The templates are a copy of refracture's, each overriding the shipped file of
    the same path; edit them to write your own paper. Refuses a folder that is
    not empty.
    """
    from refracture.workflows.init import init_project

    init_project(folder, example=example)
    next_steps = (
        f"cd {folder} && refracture build"
        if example
        else f"put patients.csv and levels.csv into {folder}/data, then cd {folder} && "
        "refracture build"
    )
    typer.echo(f"Created the project {folder}. Next: {next_steps}")


@app.command()
def context(
    data: ProjectDataOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="md (a table) or json.")] = "md",
    config: ConfigOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Every value a template can use, with its meaning and its value on these data.

    Runs the analyses of the data (as a build would, writing nothing) and prints
    each name, e.g. cohort.refracture.n, as {{ cohort.refracture.n }} in a template.
    """
    from refracture.build.pipeline import analyse, manuscript_meta
    from refracture.common.dates import build_epoch
    from refracture.errors import UsageError
    from refracture.report.context import build_context
    from refracture.report.context_reference import reference
    from refracture.report.sources import software_versions

    if fmt not in ("md", "json"):
        raise UsageError(f"--format must be md or json, not {fmt!r}")
    cfg, data = _project(config, overrides, data)
    _, results = analyse(data, cfg, "the renderer", build_epoch())
    ctx = build_context(
        results,
        manuscript_meta(cfg, data),
        style=cfg.output.style if cfg is not None else "submission",
        software=software_versions("the renderer"),
    )
    typer.echo(reference(ctx, fmt), nl=False)


@app.command()
def sources(
    data: ProjectDataOpt = None,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Write the Quarto project of the paper at the project's root, without rendering.

    report/ (the .qmd sources and their assets), figures/ and, when missing,
    _quarto.yml: then `quarto render` or `quarto preview` there renders the paper.
    The project's root is the folder of refracture.yml (else this folder).
    report/assets/ and figures/ are replaced only when empty or written by
    refracture; in report/ the two .qmd are written only when absent or unchanged
    since refracture wrote them, and your other files there are left alone.
    """
    from rich.console import Console

    from refracture.workflows.sources import write_sources_at

    cfg, data = _project(config, overrides, data)
    root = cfg.file.parent if cfg is not None and cfg.file is not None else Path(".")
    console = Console(stderr=True, highlight=False)
    written = write_sources_at(
        root,
        data,
        config=cfg,
        style=cfg.output.style if cfg is not None else "submission",
        engine=cfg.output.engine if cfg is not None else "auto",
        check_templates=_template_check(cfg),
        progress=lambda label: console.print(f"• {label}"),
    )
    shown = ", ".join(p.name + ("/" if p.is_dir() else "") for p in written)
    where = os.path.relpath(root.resolve(), Path.cwd().resolve())
    there = "here" if where == "." else f"in {where}"
    typer.echo(f"Wrote {shown}: run quarto render (or quarto preview) {there}.")


@app.command()
def preview(
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=0,
            help="Port on 127.0.0.1 (default: 4848, or the next free one; a port given "
            "here must be free; 0 lets the system pick).",
            show_default=False,
        ),
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open the paper in the web browser.")
    ] = False,
    render_on_exit: Annotated[
        bool,
        typer.Option(
            "--render-on-exit/--no-render-on-exit",
            help="On Ctrl-C, build every format (PDF and DOCX too) before stopping.",
        ),
    ] = True,
    data: ProjectDataOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Build folder (default: refracture.yml's, else _manuscript)."),
    ] = None,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Serve the paper at http://127.0.0.1:PORT/ and rebuild it as you edit.

    Watches the data, refracture.yml, the project's templates and bibliography;
    after each change rebuilds the HTML and reloads the page. An error shows in the
    page above the last good paper. PDF and DOCX are built by the page's "Render PDF
    and DOCX" button and on Ctrl-C (unless --no-render-on-exit). Loopback only.
    """
    import webbrowser

    from refracture.common.paths import shown
    from refracture.workflows.preview import DEFAULT_PORT, Preview

    session = Preview(
        load_config=lambda: _load_config(config, overrides or [], None),
        config_file=config if config is not None else Path("refracture.yml"),
        data=data,
        out=out,
        port=DEFAULT_PORT if port is None else port,
        strict_port=port is not None,
        say=_err,
    )
    with session:
        if port is None and session.server.port != DEFAULT_PORT:
            _err(f"Port {DEFAULT_PORT} is in use (another preview?), so this one takes the next.")
        _err(f"Previewing the paper at {session.url} (on this computer only)")
        _err("Watching: " + ", ".join(shown(p) for p in session.watched))
        _err("Ctrl-C stops" + (", after building the PDF and DOCX." if render_on_exit else "."))
        if not no_browser:
            webbrowser.open(session.url)
        try:
            session.wait()
        except _Stopped:
            _err("Stopping.")
    if not render_on_exit:
        _err("Not rendered on exit (--no-render-on-exit): refracture build makes PDF and DOCX.")
        return
    _err("Building HTML, PDF and DOCX before stopping (Ctrl-C again stops at once)…")
    outcome = session.render_final()
    done = "was up to date" if outcome.up_to_date else "is built"
    _err(f"{shown(outcome.out)} {done}: the paper in every format.")


@app.command()
def submit(
    journal: Annotated[
        str | None,
        typer.Option(
            "--journal",
            help="Journal profile (default: manuscript.journal of refracture.yml, else spine; "
            "shipped: generic, spine; add one as journals/NAME.yml in your templates).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Submission folder (default: _submission beside the build)."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when any check has a finding.")
    ] = False,
    data: ProjectDataOpt = None,
    engine: Annotated[
        str | None, typer.Option("--engine", help="auto, quarto or embedded (for the build).")
    ] = None,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Build the paper, then write the submission folder and its zip for a journal.

    The folder holds manuscript.docx and .pdf, each figure as its own file in the
    journal's format, width and resolution, the supplement, the STROBE checklist
    with the page of each item, a draft cover letter and submission-check.md (every
    limit of the journal's profile, pass or a finding); JOURNAL-submission.zip holds
    the files to upload. A build that is up to date is not rebuilt.
    """
    from rich.console import Console

    from refracture.workflows.submit import CHECK_FILE
    from refracture.workflows.submit import submit as run

    cfg, data = _project(config, overrides, data)
    console = Console(stderr=True, highlight=False)
    outcome = run(
        data,
        cfg,
        journal=journal,
        out=out,
        engine=engine,
        progress=lambda label: console.print(f"• {label}"),
        check_templates=_template_check(cfg),
    )
    typer.echo(f"Wrote the submission for {outcome.journal} to {outcome.folder}:")
    typer.echo(f"  {outcome.zip.name} (the files to upload) and {CHECK_FILE}")
    for c in outcome.checks:
        typer.echo(f"  {c.result:<8} {c.what}: {c.value} [{c.limit}]")
    _findings(outcome.findings, strict)


@app.command()
def respond(
    reviews: Annotated[
        Path,
        typer.Option("--reviews", help="The reviews file: reviewers, comments, answers."),
    ] = Path("reviews.yml"),
    since: Annotated[
        Path | None,
        typer.Option(
            "--since",
            help="The build folder of the submitted version: the response lists each "
            "changed sentence with its page and line, and the build marks the changes.",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when any comment has a finding.")
    ] = False,
    data: ProjectDataOpt = None,
    engine: Annotated[
        str | None, typer.Option("--engine", help="auto, quarto or embedded (for the builds).")
    ] = None,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Build what the reviews reference, then write the response to the reviewers.

    Writes OUT-response/response-to-reviewers.docx and .pdf: each comment quoted,
    the authors' answer, for an answer by a reanalysis (a variant or --set
    overrides) its key results beside the main analysis, and with --since the
    changed sentences with their section, page and line. A comment without an
    answer is a finding.
    """
    from rich.console import Console

    from refracture.workflows.respond import respond as run

    cfg, data = _project(config, overrides, data)
    console = Console(stderr=True, highlight=False)
    outcome = run(
        data,
        cfg,
        reviews=reviews,
        since=since,
        engine=engine,
        progress=lambda label: console.print(f"• {label}"),
        check_templates=_template_check(cfg),
    )
    typer.echo(f"Wrote the response to the reviewers to {outcome.folder}:")
    for name in outcome.files:
        typer.echo(f"  {name}")
    _findings(outcome.findings, strict)


def _findings(findings, strict: bool) -> None:
    """Print what remains to be done (submit, respond); with --strict, exit 1 if anything."""
    if findings:
        n = len(findings)
        typer.echo(f"{n} finding{'s' if n != 1 else ''}:")
        for f in findings:
            typer.echo(f"  - {f}")
    else:
        typer.echo("No findings.")
    if strict and findings:
        raise typer.Exit(EXIT_INVALID)


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="Earlier results.json or build folder.")],
    new: Annotated[Path, typer.Argument(help="Later results.json or build folder.")],
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Write a Markdown section instead of text.")
    ] = False,
) -> None:
    """List every reported number that changed between two builds, old → new.

    Significance flips, direction changes, N changes and a new first significant
    cutoff are flagged first. Exits 0 whether or not anything changed.
    """
    from refracture.report.changes import diff_results, format_diff, load_results, to_markdown

    change = diff_results(load_results(old), load_results(new))
    typer.echo(to_markdown(change) if markdown else format_diff(change))


@app.command()
def lint(
    templates: Annotated[
        Path | None,
        typer.Option(
            "--templates",
            help="Template folder (default: the project's manuscript.templates of "
            "refracture.yml over the installed templates, or the installed ones).",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Check the templates: no hard-typed result number in prose, no unknown context value.

    With a project's own templates (manuscript.templates), checks them as a build
    reads them: each file of the project over the installed template of the same
    path. Exits 1 when something is found, listing file:line:column for each finding.
    """
    from refracture.report.assets import templates_dir
    from refracture.workflows.lint import run_lint

    folders = None
    if templates is None:
        cfg = _load_config(config, [], None)
        if cfg is not None and cfg.manuscript.templates is not None:
            folders = [cfg.manuscript.templates, templates_dir()]
    status = run_lint(templates if templates is not None else folders)
    if status:
        raise typer.Exit(EXIT_INVALID)


def _template_check(cfg):
    """The lint a build runs on the authors' own templates (none without them)."""
    if cfg is None or cfg.manuscript.templates is None:
        return None
    from refracture.workflows.lint import project_check

    return project_check(cfg.manuscript.templates)


def _project(config: Path | None, overrides: list[str] | None, data: Path | None):
    """The configuration in effect and the data: ``--data`` if given, else the
    configuration's (None: the built-in example)."""
    cfg = _load_config(config, overrides or [], None)
    if cfg is not None and data is None:
        data = cfg.data.path
    return cfg, data


def _load_config(path: Path | None, overrides: list[str], variant: str | None):
    """The configuration in effect, or None when there is none at all (built-in defaults)."""
    default = Path("refracture.yml")
    if path is None and not overrides and not variant and not default.is_file():
        return None
    from refracture.build.config import load_config

    if path is None and default.is_file():
        path = default
    cfg = load_config(path, overrides)
    return cfg.variant(variant) if variant else cfg


class _Stopped(BaseException):
    """Ctrl-C or SIGTERM, raised through the build like KeyboardInterrupt (so staging
    folders are removed) but not caught by the command-line parser on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, frame) -> None:
    raise _Stopped(signum)


def main() -> None:
    """Entry point: run the app and turn known errors into a message and exit code.

    Usage errors are handled by the command-line parser itself (exit 2). Ctrl-C
    and SIGTERM stop a build cleanly: its staging folder is removed, the previous
    build stays whole, and the exit code is 130 or 143 with one line.
    """
    import signal

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        app()
    except _Stopped as stop:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt this
        word = "Interrupted" if stop.signum == signal.SIGINT else "Terminated"
        _err(f"{word}: nothing of an earlier build was changed.")
        sys.exit(128 + stop.signum)
    except RefractureError as exc:
        _err(describe(exc))  # the words refracture preview shows in its page too
        sys.exit(exc.exit_code)
    except Exception as exc:
        if os.environ.get("REFRACTURE_DEBUG"):
            raise
        _err(describe(exc))
        sys.exit(EXIT_INTERNAL)
