"""``refracture respond``: the point-by-point response to the reviewers.

The reviews file (``reviews.yml``) holds the reviewers, each comment verbatim from
the decision letter, and for each comment the authors' answer (text that may use
the manuscript's template values, ``{{ cohort.patients }}``; the template lint's
number rule applies to it) and optionally the analysis that answers it: a variant
of the configuration (``variant: NAME``) or ``--set`` overrides
(``set: ["cohort.exclusions.exclude_steroids=true"]``)::

    reviewers:
      - name: Reviewer 1
        comments:
          - comment: |
              Please exclude patients on long-term glucocorticoids.
            answer: |
              We repeated the analysis without them (main analysis: {{ cohort.patients }}).
            variant: no-steroids

:func:`respond` builds the paper (reusing every unchanged stage, ``--since OLD``
passed on so the marked-up manuscript is written too) and each analysis a comment
names (a variant into ``OUT-NAME`` as ``--variant`` does, ``--set`` overrides into
``OUT-set-HASH``), then writes ``OUT-response/`` with
``response-to-reviewers.docx`` and ``.pdf`` (template
``submission/response-to-reviewers.md.j2``, rendered like the cover letter): each
comment quoted, the answer, the key-results table of ``reanalyze`` for an analysis
answer (main beside requested, changed conclusions marked ‡), and with ``--since``
"Changes in the manuscript": each changed sentence with its section and the page and
line of the new PDF. A comment without an answer, a typed number or an unknown
value in an answer is a finding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refracture.errors import ConfigError
from refracture.workflows.respond_context import Comment, response_context

__all__ = ["RespondOutcome", "load_reviews", "respond"]

DEFAULT_REVIEWS = Path("reviews.yml")
RESPONSE = "response-to-reviewers"
_LABELS = {"main": "Main analysis", "requested": "Requested analysis"}


@dataclass(frozen=True)
class RespondOutcome:
    folder: Path
    files: tuple[str, ...]
    findings: tuple[str, ...]


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be text")
    return value.strip()


def load_reviews(path: Path) -> list[Comment]:
    """The comments of the reviews file, in order; a malformed file is a ConfigError
    naming what is wrong."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no reviews file {path.name}: write one (see refracture respond --help)")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name} is not valid YAML: {exc}") from None
    reviewers = doc.get("reviewers") if isinstance(doc, dict) else None
    if not isinstance(reviewers, list) or not reviewers:
        raise ConfigError(f"{path.name}: 'reviewers' must be a list of reviewers")
    comments: list[Comment] = []
    for r, reviewer in enumerate(reviewers, start=1):
        if not isinstance(reviewer, dict):
            raise ConfigError(f"{path.name}: reviewer {r} must have a name and comments")
        name = _text(reviewer.get("name"), f"{path.name}: reviewer {r}'s name") or f"Reviewer {r}"
        items = reviewer.get("comments") or []
        if not isinstance(items, list):
            raise ConfigError(f"{path.name}: {name}'s comments must be a list")
        for c, item in enumerate(items, start=1):
            where = f"{path.name}: {name}, comment {c}"
            if not isinstance(item, dict):
                raise ConfigError(f"{where} must have a 'comment'")
            unknown = sorted(set(item) - {"id", "comment", "answer", "variant", "set"})
            if unknown:
                raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
            text = _text(item.get("comment"), f"{where}: comment")
            if not text:
                raise ConfigError(f"{where}: 'comment' (the reviewer's words) is missing")
            overrides = item.get("set") or []
            if isinstance(overrides, str):
                overrides = [overrides]
            if not all(isinstance(o, str) and "=" in o for o in overrides):
                raise ConfigError(f"{where}: 'set' takes overrides KEY=VALUE, as --set does")
            variant = item.get("variant")
            if variant is not None and not isinstance(variant, str):
                raise ConfigError(f"{where}: 'variant' must be a variant's name")
            if variant and overrides:
                raise ConfigError(f"{where}: give 'variant' or 'set', not both")
            comments.append(
                Comment(
                    id=str(item.get("id") or f"{r}.{c}"),
                    reviewer=name,
                    text=text,
                    answer=_text(item.get("answer"), f"{where}: answer"),
                    variant=variant,
                    overrides=tuple(overrides),
                )
            )
    return comments


def _analysis_config(config, comment: Comment):
    from refracture.build.config import load_config

    if comment.variant:
        if config is None:
            raise ConfigError(
                f"comment {comment.id} names variant {comment.variant!r}, "
                "but there is no configuration file"
            )
        return config.variant(comment.variant)
    return load_config(config.file if config is not None else None, list(comment.overrides))


def _analysis_folder(build_out: Path, comment: Comment) -> Path:
    if comment.variant:
        return build_out.with_name(f"{build_out.name}-{comment.variant}")
    digest = hashlib.sha256(json.dumps(sorted(comment.overrides)).encode()).hexdigest()[:8]
    return build_out.with_name(f"{build_out.name}-set-{digest}")


def _answer(comment: Comment, ctx: Mapping[str, Any], templates: Path | None):
    """The answer rendered with the template values, and the findings in it."""
    from jinja2 import TemplateError
    from markupsafe import Markup

    from refracture.report.render import template_environment
    from refracture.workflows.lint import find_hard_numbers

    findings = []
    if not comment.answer:
        return Markup(""), [f"comment {comment.id} ({comment.reviewer}) has no answer"]
    for _offset, number in find_hard_numbers(comment.answer):
        findings.append(
            f"comment {comment.id}: hard-typed number {number} in the answer "
            "(use the template value, e.g. {{ cohort.patients }})"
        )
    try:
        text = template_environment(templates).from_string(comment.answer).render(dict(ctx))
    except (TemplateError, TypeError) as exc:
        findings.append(f"comment {comment.id}: the answer cannot be written: {exc}")
        return Markup(""), findings
    return Markup(" ".join(text.split())), findings


def _changes_context(old_docx: bytes, built: Path) -> list[dict[str, str]]:
    from refracture.report.revision_diff import diff_blocks
    from refracture.report.revision_places import changed_sentences, find_places
    from refracture.report.tracked_changes import read_blocks

    changes = diff_blocks(
        read_blocks(old_docx), read_blocks((built / "manuscript.docx").read_bytes())
    )
    sentences = changed_sentences(changes)
    pdf = built / "manuscript.pdf"
    places = find_places(pdf, [s.looked_for for s in sentences]) if pdf.is_file() else []
    places += [None] * (len(sentences) - len(places))
    kinds = {"changed": "changed", "added": "added", "deleted": "deleted", "table": "table row"}
    out = []
    for sentence, place in zip(sentences, places, strict=True):
        where = [sentence.section] if sentence.section else []
        if place is not None:
            where.append(f"page {place.page}" + (f", line {place.line}" if place.line else ""))
        out.append(
            {
                "where": ", ".join(where) or "title page",
                "kind": kinds[sentence.kind],
                "text": sentence.text.strip(),
            }
        )
    return out


def respond(
    data: Path | None,
    config,
    *,
    reviews: Path,
    since: Path | None = None,
    engine: str | None = None,
    progress: Callable[[str], None] | None = None,
    check_templates: Callable[[Any], None] | None = None,
) -> RespondOutcome:
    """Build what the reviews reference, then write ``OUT-response/`` (see the module)."""
    from refracture.build.folders import check_destination, claim, staged_output, write_record
    from refracture.build.pipeline import analyse, build, manuscript_meta, protected_inputs
    from refracture.common.dates import build_epoch
    from refracture.common.format import Formatter
    from refracture.report.changes import load_results
    from refracture.report.context import build_context
    from refracture.report.engine import FORMATS, choose_engine, lay_out_tables
    from refracture.report.sources import software_versions
    from refracture.report.submission_docs import render_markdown, render_template
    from refracture.workflows.reanalyze import comparison_table
    from refracture.workflows.submit import _guard

    say = progress or (lambda _label: None)
    comments = load_reviews(reviews)
    manuscript = config.manuscript if config is not None else None
    templates = manuscript.templates if manuscript is not None else None
    build_out = Path(config.output.out) if config is not None else Path("_manuscript")
    out = build_out.with_name(f"{build_out.name}-response")
    inputs = protected_inputs(data, config)
    check_destination(out, inputs, kind="response")
    analyses = {
        c.id: (_analysis_config(config, c), _analysis_folder(build_out, c))
        for c in comments
        if c.analysis
    }
    for _cfg, folder in analyses.values():
        check_destination(folder, inputs)
    old_docx = None
    if since is not None:
        folder = since if since.is_dir() else since.parent
        if (folder / "manuscript.docx").is_file():
            old_docx = (folder / "manuscript.docx").read_bytes()  # before the build replaces it
    wanted = set(config.output.formats if config is not None else FORMATS) | {"pdf", "docx"}
    formats = tuple(f for f in FORMATS if f in wanted)
    style = config.output.style if config is not None else "submission"
    engine = engine or (config.output.engine if config is not None else "auto")
    common = {
        "formats": formats,
        "style": style,
        "engine": engine,
        "check_templates": check_templates,
    }
    say("Building the paper")
    built = Path(build(data, build_out, say, since=since, config=config, **common).out)
    docs = {}
    for cid, (cfg, folder) in analyses.items():
        say(f"Building the analysis that answers comment {cid}")
        done = build(
            cfg.data.path if cfg.data.path is not None else data, folder, say, config=cfg, **common
        )
        docs[cid] = load_results(Path(done.out))
    epoch = build_epoch()
    renderer = choose_engine(engine, epoch)
    identifiers, results = analyse(data, config, renderer.description, epoch, built=built)
    meta = manuscript_meta(config, data)
    ctx = build_context(
        results, meta, style=style, software=software_versions(renderer.description)
    )
    main_doc = load_results(built)
    alpha = float(main_doc["meta"].get("alpha", 0.05))
    f = Formatter(alpha=alpha)
    findings: list[str] = []
    answers: dict[str, Any] = {}
    tables: dict[str, Any] = {}
    for c in comments:
        answers[c.id], found = _answer(c, ctx, templates)
        findings += found
        if c.id in docs:
            tables[c.id] = comparison_table(
                {"main": main_doc, "requested": docs[c.id]}, f, alpha, label=_LABELS.__getitem__
            )
    changes = _changes_context(old_docx, built) if old_docx is not None else []
    context = response_context(meta, comments, answers, tables, changes)
    with claim(out, say, kind="response"), staged_output(out, inputs, kind="response") as tmp:
        say("Writing the response to the reviewers")
        markdown = render_template("response-to-reviewers.md.j2", context, templates).lstrip()
        written = render_markdown(markdown, tmp, RESPONSE, ["docx", "pdf"], epoch=epoch)
        lay_out_tables(written["docx"], "submission")
        _guard(identifiers, inputs, renderer, out, build_out, tmp)
        names = sorted(p.name for p in tmp.iterdir() if p.is_file())
        write_record(tmp, names, kind="response")
    return RespondOutcome(folder=out, files=tuple(names), findings=tuple(findings))
