"""``refracture import``: a study's own export in, a contract-format cohort out.

``import MAPPING --out DIR`` reads the source through the mapping
(:func:`refracture.data.importing.run.import_mapping`), validates the result as any
cohort is validated (every problem at once, each at its source cell) and, only when it
is valid, writes ``patients.csv``, ``levels.csv`` and ``import-report.md`` into ``DIR``.
The folder is written by the rules of every folder refracture writes
(:mod:`refracture.build.folders`): it is replaced whole, and only when absent, empty or
written by refracture before; it may neither be nor contain the mapping or a source
file, which are checked before anything is read.

``import --suggest SOURCE`` drafts a mapping (:mod:`refracture.data.importing.suggest`);
it writes a new file only (``--out FILE``), never over an existing one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ImportOutcome", "import_cohort", "write_suggestion"]

FILES = ("patients.csv", "levels.csv", "import-report.md")


@dataclass(frozen=True)
class ImportOutcome:
    out: Path
    patients: int
    levels: int
    warnings: int


def _inputs(mapping: Path) -> list[tuple[str, Path]]:
    from refracture.data.importing.inputs import mapping_inputs

    found = [("the mapping", Path(mapping))]
    found += [(f"the mapping's {key} file", path) for key, path in mapping_inputs(mapping)]
    return found


def import_cohort(
    mapping: Path, out: Path, progress: Callable[[str], None] | None = None
) -> ImportOutcome:
    """Import the cohort ``mapping`` describes into the folder ``out``."""
    from refracture.build.folders import check_destination, claim, staged_output
    from refracture.data.importing.report import contract_csv, import_report
    from refracture.data.importing.run import import_mapping
    from refracture.data.load import cohort_from_import
    from refracture.data.validate import validate
    from refracture.errors import DataValidationError

    say = progress or (lambda _label: None)
    inputs = _inputs(mapping)
    check_destination(out, inputs, kind="import")  # before anything is read
    say(f"Reading {Path(mapping).name} and its source")
    imported = import_mapping(mapping)
    raw = cohort_from_import(imported)
    say("Validating the imported cohort")
    report = validate(raw)
    if not report.ok:
        raise DataValidationError(report)
    texts = {
        "patients.csv": contract_csv(raw.patients),
        "levels.csv": contract_csv(raw.levels),
        "import-report.md": import_report(imported.summary, report.warnings, Path(mapping).name),
    }
    with claim(out, say, kind="import"), staged_output(out, inputs, kind="import") as tmp:
        for name in FILES:
            (tmp / name).write_text(texts[name], encoding="utf-8", newline="")
    return ImportOutcome(
        out=Path(out),
        patients=len(raw.patients),
        levels=len(raw.levels),
        warnings=len(report.warnings),
    )


def write_suggestion(text: str, out: Path) -> Path:
    """Write a drafted mapping to ``out``, a file that must not exist yet."""
    import os

    from refracture.errors import OutputError

    out = Path(out)
    if out.exists() or out.is_symlink():
        raise OutputError(
            f"{out} already exists; refracture will not overwrite it. Give a new file name, "
            "or leave out --out to print the mapping."
        )
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise OutputError(f"{out} already exists; refracture will not overwrite it.") from None
    except OSError as exc:
        raise OutputError(f"Cannot write {out}: {exc.strerror or exc}.") from exc
    with open(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return out
