"""``refracture sources``: the Quarto project of the paper at the project's root.

``quarto render`` and ``quarto preview`` at a project's root read ``_quarto.yml``,
which renders ``report/manuscript.qmd`` and ``report/supplementary.qmd``; these
refer to ``report/assets/`` (typst style, CSS, Word reference, bibliography, CSL)
and ``../figures/``. A build folder holds all of that; this command writes the
same documents, ``report/assets/`` and ``figures/`` (and ``_quarto.yml`` when there
is none) into the project's root, without rendering any document, so that Quarto
users can render and preview the paper there.

The sources are made by a complete build (validation, analyses, figures, both
guards) into a scratch folder, then written by two rules:

* ``report/assets/`` and ``figures/`` are refracture's alone and are replaced
  whole, by the rules of every build folder (:mod:`refracture.build.folders`):
  only when absent, empty, or written by refracture before.
* ``report/`` itself may hold the authors' files too (a README, notes, a
  ``.qmd`` of their own), so it is written file by file: a document is
  (over)written only when absent or still exactly as refracture last wrote it,
  which :data:`RECORD` in ``report/`` records by content hash. A document the
  authors edited by hand is refused, every such document named at once, before
  any work starts; the rest of ``report/`` is never touched.

A ``_quarto.yml`` of the authors' is left as it is.
"""

from __future__ import annotations

import contextlib
import filecmp
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from refracture.errors import OutputError

__all__ = ["DOCUMENTS", "FOLDERS", "RECORD", "write_sources_at"]

FOLDERS = ("report/assets", "figures")
"""The folders of a project's root that ``refracture sources`` replaces whole."""

DOCUMENTS = ("manuscript.qmd", "supplementary.qmd")
"""The documents ``refracture sources`` writes into ``report/``, one by one."""

RECORD = ".refracture-sources.json"
"""In ``report/``: the content hashes of the documents refracture wrote there."""

_LEGACY_RECORD = ".refracture-build.json"  # report/ replaced whole, before documents had hashes


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ours(report: Path) -> dict[str, set[str]]:
    """For each document, the hashes it may have and still be refracture's own."""
    try:
        record = json.loads((report / RECORD).read_text(encoding="utf-8"))
        files = record["files"] if record.get("written_by") == "refracture" else {}
        return {str(name): set(hashes) for name, hashes in dict(files).items()}
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return {}


def _legacy(report: Path) -> set[str]:
    """Documents listed by the build record of a ``report/`` written whole earlier."""
    try:
        record = json.loads((report / _LEGACY_RECORD).read_text(encoding="utf-8"))
        return {str(f) for f in record["files"]} if record.get("written_by") else set()
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return set()


def _write_record(report: Path, files: dict[str, Iterable[str]]) -> None:
    record = {"written_by": "refracture", "files": {k: sorted(v) for k, v in files.items()}}
    _replace_text(report / RECORD, json.dumps(record, indent=2, sort_keys=True) + "\n")


def _replace_text(path: Path, text: str) -> None:
    _replace_bytes(path, text.encode("utf-8"))


def _replace_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` in one step: a whole new file or the old one, never half of one."""
    tmp = path.with_name(f".{path.name}.writing-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _refused(report: Path, names: Iterable[str], inputs: list[tuple[str, Path]]) -> list[str]:
    """The documents of ``report/`` refracture may not overwrite, each with the reason."""
    ours, legacy = _ours(report), _legacy(report)
    protected = {p.resolve(): what for what, p in inputs}
    refused = []
    for name in names:
        path = report / name
        rel = f"report/{name}"
        if path.resolve() in protected:
            refused.append(f"{rel} is {protected[path.resolve()]}")
        elif path.is_symlink() or (path.exists() and not path.is_file()):
            refused.append(f"{rel} is not a plain file")
        elif path.is_file() and name not in legacy and _sha256(path) not in ours.get(name, ()):
            why = "was changed since refracture wrote it" if name in ours else "is not refracture's"
            refused.append(f"{rel} {why}")
    return refused


def _check_report(report: Path, inputs: list[tuple[str, Path]]) -> None:
    if report.is_symlink() and not report.exists():
        raise OutputError(
            "report/ is a symbolic link to nothing; refracture will not write through it."
        )
    if report.exists() and not report.is_dir():
        raise OutputError(
            "report is a file, not a folder; refracture writes its documents into a folder report/."
        )
    refused = _refused(report, DOCUMENTS, inputs)
    if refused:
        raise OutputError(
            "refracture will not overwrite "
            + "; ".join(refused)
            + ". Write your words in the project's templates (they make these documents), "
            "or move the file away and run refracture sources again."
        )


def _write_documents(report: Path, built: Path) -> None:
    """Write the documents of ``built`` into ``report/``; a kill midway loses nothing."""
    report.mkdir(parents=True, exist_ok=True)
    ours = _ours(report)
    new = {name: hashlib.sha256((built / name).read_bytes()).hexdigest() for name in DOCUMENTS}
    # The record first allows both the old and the new bytes, so a document replaced
    # just before a kill is still recognised as refracture's on the next run.
    on_disk = {name: _sha256(report / name) for name in DOCUMENTS if (report / name).is_file()}
    _write_record(
        report,
        {n: {new[n], *ours.get(n, ()), *([on_disk[n]] if n in on_disk else [])} for n in DOCUMENTS},
    )
    for name in DOCUMENTS:
        if on_disk.get(name) != new[name]:
            _replace_bytes(report / name, (built / name).read_bytes())
    _write_record(report, {n: {new[n]} for n in DOCUMENTS})
    with contextlib.suppress(FileNotFoundError):
        (report / _LEGACY_RECORD).unlink()  # its documents are now in RECORD, its assets in assets/


def write_sources_at(
    root: Path,
    data: Path | None,
    *,
    config: Any = None,
    style: str = "submission",
    engine: str = "auto",
    check_templates: Callable[[Any], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write ``report/``'s documents and assets, ``figures/`` (and ``_quarto.yml`` if missing)."""
    from refracture.build.folders import check_destination, claim, staged_output
    from refracture.build.pipeline import build, protected_inputs

    say = progress or (lambda _label: None)
    root = Path(root)
    report = root / "report"
    inputs = protected_inputs(data, config)
    _check_report(report, inputs)  # everything checked before any work
    for name in FOLDERS:
        check_destination(root / name, inputs, kind="sources")
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="refracture-sources-") as scratch:
        built = Path(scratch) / "build"
        build(
            data,
            built,
            say,
            formats=(),
            style=style,
            engine=engine,
            force=True,
            config=config,
            check_templates=check_templates,
            sources_only=True,
        )
        with claim(report, say):
            _check_report(report, inputs)  # nothing edited while the build ran
            try:
                _write_documents(report, built / "report")
            except OSError as exc:
                raise OutputError(f"Cannot write report/: {exc.strerror or exc}.") from exc
        written += [report / name for name in DOCUMENTS]
        for name in FOLDERS:
            folder = root / name
            with (
                claim(folder, say, kind="sources"),
                staged_output(folder, inputs, kind="sources") as tmp,
            ):
                shutil.copytree(built / name, tmp, dirs_exist_ok=True)
            written.append(root / name)
        quarto = root / "_quarto.yml"
        if not quarto.exists():
            shutil.copyfile(built / "_quarto.yml", quarto)
            written.append(quarto)
        elif not filecmp.cmp(quarto, built / "_quarto.yml", shallow=False):
            say(f"{quarto.name} differs from refracture's and was left as it is")
    return written
