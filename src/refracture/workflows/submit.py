"""``refracture submit``: the paper as a journal's submission system takes it.

The paper is built first, as ``refracture build`` builds it into the usual build
folder (a build whose inputs did not change is a no-op, so a submission after a
build costs no second render). Then the submission folder (``_submission/`` beside
the build folder, or ``--out``) is written by the rules of every folder refracture
writes (:mod:`refracture.build.folders`: only a new, empty or earlier refracture
folder is replaced, whole, once complete):

* ``manuscript.docx`` and ``.pdf``, ``supplementary.pdf`` and ``.docx``: the build's;
* ``figure-N.tif`` (or ``.eps``, ``.pdf``): each figure of the manuscript, numbered
  as the manuscript numbers it, drawn again at the journal's column width and
  resolution (:mod:`refracture.figures.export`);
* ``table-N.docx``: each table as an editable Word file, when the profile asks;
* ``strobe-checklist.docx`` and ``.pdf``: each STROBE item with the section and
  the pages of ``manuscript.pdf`` where it is reported (:mod:`refracture.report.strobe`);
* ``cover-letter.docx``: a draft from the title page, the article type and the counts;
* ``submission-check.md``: every check against the journal's profile
  (:mod:`refracture.report.limits`), pass or a finding;
* ``JOURNAL-submission.zip``: the files to upload (all but ``submission-check.md``),
  with fixed timestamps and permissions, in sorted order: the same bytes every time.

The figures, the word counts and the tables come from the results, analysed again
here exactly as the build analysed them (a second, deterministic run of the
analyses); every other fact is measured on the files of the submission.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from refracture.errors import OutputError, RenderError

if TYPE_CHECKING:
    from refracture.build.config import Config
    from refracture.report.journal import JournalProfile
    from refracture.report.limits import Check, Facts, FigureFacts
    from refracture.report.strobe import Checklist

__all__ = [
    "CHECK_FILE",
    "DEFAULT_OUT",
    "SubmitOutcome",
    "sample_context",
    "submit",
    "write_zip",
]

DEFAULT_OUT = "_submission"
"""The submission folder's name, beside the build folder."""

CHECK_FILE = "submission-check.md"
"""The report of the checks: for the authors, not in the zip."""

ZIP_TIME = (1980, 1, 1, 0, 0, 0)
"""The timestamp of every zip entry (the earliest a zip can hold)."""

_FIGURE_SUFFIX = {"tiff": ".tif", "eps": ".eps", "pdf": ".pdf"}
_COPIED = ("manuscript.docx", "manuscript.pdf", "supplementary.docx", "supplementary.pdf")
_FIGURE = re.compile(r"\]\(\.\./figures/([\w-]+)\)\{#fig-")
_TABLE = re.compile(r"\{#tbl-([\w-]+)\}")
_CITATION = re.compile(r"(?<![\w@])-?@([A-Za-z0-9_][\w:.#$%&+?<>~/-]*[A-Za-z0-9_])")
_CSL = re.compile(r"^csl:\s*[\"']?(?:[^\"'\n]*/)?([^/\"'\n]+?)[\"']?\s*$", re.M)


@dataclass(frozen=True)
class SubmitOutcome:
    folder: Path
    zip: Path
    journal: str
    built: bool
    """False when the build folder was up to date (nothing was rebuilt)."""
    checks: tuple[Check, ...]
    findings: tuple[str, ...]
    files: tuple[str, ...] = field(default=())


def _front_matter_end(qmd: str) -> int:
    if not qmd.startswith("---"):
        return 0
    end = re.search(r"^(?:---|\.\.\.)\s*$", qmd[3:], re.M)
    return 3 + end.end() if end else 0


def cited_keys(qmd: str) -> list[str]:
    """The bibliography keys the manuscript cites, in order of first citation (cross-
    references to figures and tables are not citations)."""
    body = qmd[_front_matter_end(qmd) :]
    body = re.sub(r"<!--.*?-->", " ", body, flags=re.S)
    seen: list[str] = []
    for key in _CITATION.findall(body):
        if key.startswith(("fig-", "tbl-")) or key in seen:
            continue
        seen.append(key)
    return seen


def write_zip(folder: Path, names: Sequence[str], path: Path) -> Path:
    """Zip ``names`` (files of ``folder``) into ``path``: sorted, with a fixed time and
    fixed permissions, so the same files give the same bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(names):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that the permissions below are read
            info.external_attr = (0o100644 & 0xFFFF) << 16
            archive.writestr(info, (folder / name).read_bytes(), compresslevel=9)
    return path


def _measure_figure(number: int, path: Path, fmt: str, column: str) -> FigureFacts:
    from refracture.report.limits import FigureFacts

    if fmt == "tiff":
        from PIL import Image

        with Image.open(path) as image:
            dpi = float(image.info.get("dpi", (0, 0))[0])
            mode = {"RGB": "rgb", "CMYK": "cmyk", "L": "grayscale"}.get(image.mode, image.mode)
            width, height = image.size
            compression = image.info.get("compression")
        mm = 25.4 / dpi if dpi else 0.0
        return FigureFacts(
            number,
            path.name,
            fmt,
            column,
            width * mm,
            height * mm,
            dpi,
            (width, height),
            mode,
            compression,
        )
    if fmt == "eps":
        box = re.search(
            rb"^%%HiResBoundingBox:\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)",
            path.read_bytes()[:4096],
            re.M,
        )
        if box is None:
            raise RenderError(f"{path.name} has no bounding box")
        x0, y0, x1, y1 = (float(v) for v in box.groups())
        return FigureFacts(
            number, path.name, fmt, column, (x1 - x0) / 72 * 25.4, (y1 - y0) / 72 * 25.4
        )
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    try:
        width, height = doc[0].get_size()
    finally:
        doc.close()
    return FigureFacts(number, path.name, fmt, column, width / 72 * 25.4, height / 72 * 25.4)


def _corresponding(meta) -> Any:
    return next((a for a in meta.authors if a.corresponding), None)


def _article_phrase(article_type: str) -> str:
    article = "an" if article_type[:1].lower() in "aeiou" else "a"
    return f"{article} {article_type[:1].lower()}{article_type[1:]}"


def _strobe_context(checklist: Checklist) -> dict[str, Any]:
    sections: list[dict[str, Any]] = []
    for row in checklist.rows:
        item = row.item
        if not sections or sections[-1]["name"] != item.section:
            sections.append({"name": item.section, "rows": []})
        if row.places:
            where = "; ".join(
                f"{p.section}, {p.cite}" if p.pages else f"{p.section} (page not found)"
                for p in row.places
            )
        else:
            where = "not reported (optional)" if item.optional else "not reported"
        sections[-1]["rows"].append(
            {
                "label": item.id + (" *" if item.separately else ""),
                "topic": item.topic,
                "text": item.text,
                "where": where,
            }
        )
    required = [r for r in checklist.rows if not r.item.optional]
    reported = sum(1 for r in required if r.reported)
    summary = f"{reported} of {len(required)} required items are reported" + (
        f"; not reported: {', '.join(r.item.id for r in checklist.not_reported)}."
        if checklist.not_reported
        else "."
    )
    return {
        "sections": sections,
        "summary": summary,
        "optional_missing": [
            r.item.id for r in checklist.rows if r.item.optional and not r.reported
        ],
    }


def _documents_context(
    meta,
    profile: JournalProfile,
    facts: Facts,
    checklist: Checklist,
    checks: Sequence[Check],
    findings: Sequence[str],
    files: dict[str, Any],
) -> dict[str, Any]:
    """The one context of the submission's templates (cover letter, checklist, check)."""
    corresponding = _corresponding(meta)
    origin = (
        f"{profile.key}.yml of the project's templates"
        if profile.origin == "project"
        else f"refracture's {profile.key}.yml"
    )
    guideline = checklist.guideline
    return {
        "meta": meta,
        "journal": {
            "key": profile.key,
            "name": profile.name,
            "article_type": profile.article_type,
            "article_type_phrase": _article_phrase(profile.article_type),
            "level_of_evidence": profile.level_of_evidence,
            "profile": origin,
            "notes": list(profile.notes),
            "sources": [
                f"{s.title + ', ' if s.title else ''}{s.page} (read {s.read})"
                for s in profile.sources
            ],
        },
        "corresponding": None
        if corresponding is None
        else {
            "name": corresponding.name,
            "affiliations": list(corresponding.affiliations),
            "email": corresponding.email,
        },
        "counts": {
            "abstract_words": str(facts.abstract_words),
            "main_words": str(facts.main_words),
            "tables": str(facts.tables),
            "figures": str(facts.figures),
            "references": str(facts.references),
        },
        "guideline": {
            "name": guideline.name,
            "title": guideline.title,
            "citation": guideline.citation,
            "licence": guideline.licence,
        },
        "strobe": _strobe_context(checklist),
        "checks": [
            {"what": c.what, "value": c.value, "limit": c.limit, "result": c.result} for c in checks
        ],
        "findings": list(findings),
        "summary": {"findings": str(len(findings))},
        "files": files,
    }


def _say_nothing(_label: str) -> None:
    pass


def _check_folders(out: Path, build_out: Path) -> None:
    a, b = out.resolve(), build_out.resolve()
    if a == b or a in b.parents or b in a.parents:
        raise OutputError(
            f"The submission folder {out} and the build folder {build_out} must be separate "
            "folders, neither inside the other: choose another --out."
        )


def submit(
    data: Path | None,
    config: Config | None,
    *,
    journal: str | None = None,
    out: Path | None = None,
    engine: str | None = None,
    progress: Callable[[str], None] | None = None,
    check_templates: Callable[[Any], None] | None = None,
) -> SubmitOutcome:
    """Build the paper (when anything changed), then write the submission folder and zip.

    ``journal`` (default: ``manuscript.journal`` of the configuration, else spine)
    names the profile; ``out`` is the submission folder (default ``_submission``
    beside the build folder). Every check is run; the findings are returned (and
    written to ``submission-check.md``), never raised.
    """
    from refracture.build.folders import check_destination, claim, staged_output, write_record
    from refracture.build.pipeline import analyse, build, manuscript_meta, protected_inputs
    from refracture.common.dates import build_epoch
    from refracture.report.engine import FORMATS, choose_engine
    from refracture.report.journal import load_journal

    say = progress or _say_nothing
    manuscript = config.manuscript if config is not None else None
    templates = manuscript.templates if manuscript is not None else None
    profile = load_journal(journal or (manuscript.journal if manuscript else "spine"), templates)
    build_out = Path(config.output.out) if config is not None else Path("_manuscript")
    out = Path(out) if out is not None else build_out.parent / DEFAULT_OUT
    _check_folders(out, build_out)
    inputs = protected_inputs(data, config)
    check_destination(out, inputs, kind="submission")  # before any work
    wanted = set(config.output.formats if config is not None else FORMATS) | {"pdf", "docx"}
    formats = tuple(f for f in FORMATS if f in wanted)
    style = config.output.style if config is not None else "submission"
    engine = engine or (config.output.engine if config is not None else "auto")

    outcome = build(
        data,
        build_out,
        say,
        formats=formats,
        style=style,
        engine=engine,
        config=config,
        check_templates=check_templates,
    )
    built = Path(outcome.out)
    if outcome.up_to_date:
        say(f"{built.name} is up to date: the paper is not built again")
    epoch = build_epoch()
    renderer = choose_engine(engine, epoch)
    say("Reading the results for the submission")
    identifiers, results = analyse(data, config, renderer.description, epoch, built=built)

    from refracture.report.context import build_context
    from refracture.report.render import main_sections, word_counts
    from refracture.report.sources import software_versions

    meta = manuscript_meta(config, data)
    ctx = build_context(
        results, meta, style=style, software=software_versions(renderer.description)
    )
    sections = main_sections(ctx, templates)
    counts = word_counts(sections)
    qmd = (built / "report" / "manuscript.qmd").read_text(encoding="utf-8")

    with claim(out, say, kind="submission"), staged_output(out, inputs, kind="submission") as tmp:
        for name in _COPIED:
            shutil.copyfile(built / name, tmp / name)
        figures = _write_figures(results, qmd, profile, tmp, epoch, say)
        tables = _write_tables(ctx, qmd, profile, tmp, epoch, templates, say)
        facts = _facts(meta, counts, sections, qmd, figures, tables, style)
        say("Finding where each STROBE item is reported")
        from refracture.report.limits import findings as all_findings
        from refracture.report.limits import run_checks
        from refracture.report.strobe import checklist as make_checklist
        from refracture.report.strobe import load_guideline

        checklist = make_checklist(load_guideline(templates), qmd, tmp / "manuscript.pdf")
        checks = run_checks(profile, facts)
        findings = all_findings(checks, checklist)
        zip_name = f"{profile.key}-submission.zip"
        documents = ("strobe-checklist.docx", "strobe-checklist.pdf", "cover-letter.docx")
        bundle = sorted([*_COPIED, *(f.name for f in figures), *tables, *documents])
        files = {"zip": zip_name, "bundle": bundle, "tables": list(tables)}
        context = _documents_context(meta, profile, facts, checklist, checks, findings, files)
        _write_documents(context, tmp, epoch, templates, say)
        say("Checking every file for patient identifiers and paths of this machine")
        _guard(identifiers, inputs, renderer, out, build_out, tmp)
        write_zip(tmp, bundle, tmp / zip_name)
        written = sorted(p.name for p in tmp.iterdir() if p.is_file())
        write_record(tmp, written, kind="submission", journal=profile.key)
    return SubmitOutcome(
        folder=out,
        zip=out / zip_name,
        journal=profile.name,
        built=not outcome.up_to_date,
        checks=tuple(checks),
        findings=tuple(findings),
        files=tuple(written),
    )


def _write_figures(results, qmd: str, profile: JournalProfile, tmp: Path, epoch: int, say):
    from refracture.figures.export import export_figure

    rules = profile.figures
    suffix = _FIGURE_SUFFIX[rules.format]
    stems = list(dict.fromkeys(_FIGURE.findall(qmd)))
    facts = []
    for number, stem in enumerate(stems, start=1):
        say(f"Figure {number}: {rules.format.upper()} for {profile.name}")
        path = tmp / f"figure-{number}{suffix}"
        made = export_figure(
            results,
            stem,
            path,
            fmt=rules.format,
            single_mm=rules.single_column_mm,
            double_mm=rules.double_column_mm,
            dpi=rules.dpi,
            colour=rules.colour,
            epoch=epoch,
        )
        facts.append(_measure_figure(number, path, rules.format, made.column))
    return facts


def _write_tables(ctx, qmd: str, profile: JournalProfile, tmp: Path, epoch: int, templates, say):
    """The manuscript's tables as separate Word files (when the profile asks), in the
    order the manuscript numbers them."""
    if profile.tables != "separate":
        return []
    from refracture.report.submission_docs import write_table_docx

    by_label = {f"{key}": entry for key, entry in ctx["tables"].items()}
    names = []
    for number, label in enumerate(dict.fromkeys(_TABLE.findall(qmd)), start=1):
        entry = by_label.get(label)
        if entry is None:
            continue  # a table of the authors' own templates: not one refracture made
        say(f"Table {number} as a Word file")
        path = write_table_docx(
            {**entry, "name": f"Table\u00a0{number}"},
            tmp / f"table-{number}.docx",
            epoch=epoch,
            templates=templates,
        )
        names.append(path.name)
    return names


def _facts(meta, counts, sections, qmd: str, figures, tables, style: str) -> Facts:
    from refracture.report.limits import Facts

    corresponding = _corresponding(meta)
    csl = _CSL.search(qmd[: _front_matter_end(qmd)])
    body = qmd[_front_matter_end(qmd) :]
    return Facts(
        abstract_words=counts["abstract"],
        main_words=counts["main"],
        abstract=str(sections["abstract"]),
        tables=len(set(_TABLE.findall(body))),
        figures=len(figures),
        references=len(cited_keys(qmd)),
        figure_files=tuple(figures),
        corresponding_email=corresponding.email if corresponding is not None else "",
        keywords=len(meta.keywords),
        running_title=meta.running_title,
        level_of_evidence=bool(re.search(r"level of evidence", body, re.I)),
        reference_style=csl.group(1) if csl else "none",
        synthetic=meta.synthetic,
        style=style,
        table_files=tuple(tables),
    )


def _write_documents(context, tmp: Path, epoch: int, templates, say) -> None:
    from refracture.report.submission_docs import render_markdown, render_template

    say("Writing the STROBE checklist and the cover letter")
    render_markdown(
        render_template("strobe-checklist.md.j2", context, templates).lstrip(),
        tmp,
        "strobe-checklist",
        ["docx", "pdf"],
        epoch=epoch,
    )
    render_markdown(
        render_template("cover-letter.md.j2", context, templates).lstrip(),
        tmp,
        "cover-letter",
        ["docx"],
        epoch=epoch,
    )
    text = render_template("submission-check.md.j2", context, templates).lstrip()
    (tmp / CHECK_FILE).write_text(text, encoding="utf-8")


def _guard(identifiers, inputs, renderer, out: Path, build_out: Path, tmp: Path) -> None:
    from refracture.build.pipeline import machine_paths
    from refracture.report.guard import Guard

    plan = SimpleNamespace(
        inputs=(*inputs, ("the build folder", build_out)), renderer=renderer, out=out
    )
    Guard(identifiers, machine_paths(plan)).check(tmp)  # type: ignore[arg-type]


def sample_context(ctx: dict[str, Any]) -> dict[str, Any]:
    """A context of the submission's templates made from a manuscript context (for the
    template lint): every name they use, with plausible values."""
    from refracture.report.journal import load_journal
    from refracture.report.limits import Check, Facts
    from refracture.report.strobe import Checklist, Place, Row, load_guideline

    guideline = load_guideline()
    rows = tuple(
        Row(item, () if n % 5 == 4 else (Place("Results", 7, 8),))
        for n, item in enumerate(guideline.items)
    )
    facts = Facts(250, 3000, "", 4, 4, 26)
    check = Check(
        "Abstract", "250 words", "at most 300 (Journal)", "abstract: 250 words, 1 over the limit"
    )
    files = {
        "zip": "generic-submission.zip",
        "bundle": ["manuscript.pdf"],
        "tables": ["table-1.docx"],
    }
    return _documents_context(
        ctx["meta"],
        load_journal("spine"),
        facts,
        Checklist(guideline, rows, (), ()),
        [check],
        ["abstract: 250 words, 1 over the limit"],
        files,
    )


def sample_table_context(ctx: dict[str, Any]) -> dict[str, Any]:
    """The context of ``submission/table.md.j2`` from a manuscript context (for the lint)."""
    entry = next(iter(ctx["tables"].values()))
    return {"entry": {**entry, "name": "Table\u00a01"}}
