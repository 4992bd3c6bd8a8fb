"""``refracture sources``: the Quarto project of the paper at the project's root.

``quarto render`` and ``quarto preview`` at a project's root read ``_quarto.yml``,
which renders ``report/manuscript.qmd`` and ``report/supplementary.qmd``; these
refer to ``report/assets/`` (typst style, CSS, Word reference, bibliography, CSL)
and ``../figures/``. A build folder holds all of that; this command writes the
same ``report/`` and ``figures/`` (and ``_quarto.yml`` when there is none) into
the project's root, without rendering any document, so that Quarto users can
render and preview the paper there.

The sources are made by a complete build (validation, analyses, figures, both
guards) into a scratch folder; ``report/`` and ``figures/`` of the root are then
replaced whole, by the rules of every build folder (:mod:`refracture.build.folders`):
only when absent, empty, or written by refracture before. A ``_quarto.yml`` of the
authors' is left as it is.
"""

from __future__ import annotations

import filecmp
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["FOLDERS", "write_sources_at"]

FOLDERS = ("report", "figures")
"""The folders of a project's root that ``refracture sources`` writes (each whole)."""


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
    """Write ``report/``, ``figures/`` (and ``_quarto.yml`` if missing) into ``root``."""
    from refracture.build.folders import check_destination, claim, staged_output
    from refracture.build.pipeline import build, protected_inputs

    say = progress or (lambda _label: None)
    root = Path(root)
    inputs = protected_inputs(data, config)
    for name in FOLDERS:  # every folder checked before any work
        check_destination(root / name, inputs)
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
        for name in FOLDERS:
            with claim(root / name, say), staged_output(root / name, inputs) as tmp:
                shutil.copytree(built / name, tmp, dirs_exist_ok=True)
            written.append(root / name)
        quarto = root / "_quarto.yml"
        if not quarto.exists():
            shutil.copyfile(built / "_quarto.yml", quarto)
            written.append(quarto)
        elif not filecmp.cmp(quarto, built / "_quarto.yml", shallow=False):
            say(f"{quarto.name} differs from refracture's and was left as it is")
    return written
