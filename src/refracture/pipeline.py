"""The build pipeline: data → validate → derive → analyses → outputs.

Stages run in order and report progress through a callback; the whole output
folder is written beside its destination and swapped into place only when
every stage succeeded, so a failed build leaves the previous one untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BuildOutcome", "build", "stage_names"]

Progress = Callable[[str], None]

_STAGES = (
    ("load", "Loading and validating the data"),
    ("derive", "Deriving patient- and level-level data"),
    ("analyse", "Running the analyses"),
    ("figures", "Drawing the figures"),
    ("write", "Writing results"),
)


def stage_names() -> tuple[str, ...]:
    return tuple(label for _, label in _STAGES)


@dataclass(frozen=True)
class BuildOutcome:
    out: Path
    files: tuple[str, ...]
    warnings: tuple[str, ...]


@contextmanager
def staged_output(out: Path) -> Iterator[Path]:
    """Yield a fresh folder beside ``out``; on success it replaces ``out``."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.previous"
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def build(data: Path | None, out: Path, progress: Progress | None = None) -> BuildOutcome:
    """Run every stage that exists and write the build folder ``out``."""
    from refracture import __version__
    from refracture.data.example import example_path
    from refracture.data.validate import load_cohort

    say = progress or (lambda _label: None)
    labels = dict(_STAGES)
    source = data if data is not None else example_path()

    say(labels["load"])
    cohort = load_cohort(source)

    say(labels["derive"])
    from refracture.data.derive import derive

    derived = derive(cohort.patients, cohort.levels)

    say(labels["analyse"])
    from refracture.analysis.results import run_analyses

    results = run_analyses(derived, progress=lambda label: say(f"{labels['analyse']}: {label}"))
    results.meta["data"] = "built-in example cohort" if data is None else Path(source).name
    results.meta["refracture_version"] = __version__

    with staged_output(out) as tmp:
        say(labels["figures"])
        from refracture.figures.build import draw_all

        draw_all(results, tmp / "figures")
        say(labels["write"])
        results.write(tmp)
        files = tuple(sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file()))
    warnings = tuple(f"{w.file}: {w.rule}" for w in cohort.warnings)
    return BuildOutcome(out=out, files=files, warnings=warnings)
