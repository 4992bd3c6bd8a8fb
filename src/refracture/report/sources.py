"""Write the Quarto project of one build: ``_quarto.yml``, ``report/*.qmd``, tables.

The build folder is itself a Quarto project: ``report/manuscript.qmd`` and
``report/supplementary.qmd`` refer to ``../figures/NAME`` (without extension:
each format picks its image type) and to ``assets/`` beside them. Display
tables are written once more as CSV files and one Excel workbook, from the
same :class:`~refracture.report.tables.Table` objects the text was made from.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from refracture.report.assets import asset, templates_dir
from refracture.report.tables import Table, write_csv, write_xlsx

if TYPE_CHECKING:
    from refracture.analysis.results import Results
    from refracture.report.context import ManuscriptMeta

__all__ = ["ANALYSIS_PACKAGES", "software_versions", "write_sources"]

ANALYSIS_PACKAGES: tuple[str, ...] = (
    "pandas",
    "numpy",
    "scipy",
    "statsmodels",
    "lifelines",
    "firthmodels",
    "tableone",
    "matplotlib",
)


def software_versions(renderer: str) -> dict[str, str]:
    """Versions of Python, refracture and each analysis library, and the renderer."""
    from refracture import __version__

    out = {"python": ".".join(map(str, sys.version_info[:3])), "refracture": __version__}
    for name in ANALYSIS_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["renderer"] = renderer
    return out


def _sheets_key(sheets: dict[str, Table]) -> str:
    """The content of every sheet (and the workbook writer's version): the workbook's key."""
    import dataclasses
    import hashlib
    import json

    import openpyxl

    content = {name: dataclasses.asdict(t) for name, t in sheets.items()}
    text = json.dumps([openpyxl.__version__, content], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _table_files(prefix: str, tables: dict[str, dict], folder: Path, sheet: str) -> dict:
    sheets: dict[str, Table] = {}
    for i, entry in enumerate(tables.values(), start=1):
        write_csv(entry["table"], folder / f"{prefix}-table-{i}.csv")
        sheets[f"{sheet}{i}"] = entry["table"]
    return sheets


def write_sources(
    results: Results,
    project: Path,
    *,
    style: str,
    software: dict[str, str],
    meta: ManuscriptMeta | None = None,
    changes: str | None = None,
    templates: Path | None = None,
    bibliography: Path | None = None,
    reuse: Callable[[str, str], bool] | None = None,
) -> list[Path]:
    """Render the templates into ``project`` and write the display tables.

    ``reuse(file, key)`` may put an earlier build's ``file`` in place when it was
    made from the same ``key`` (the workbook, the slowest file here: see
    :mod:`refracture.build.stages`); it returns False when the file must be written.

    ``templates`` is the authors' folder of templates (each file overrides the
    shipped one of the same path) and ``bibliography`` their BibTeX file, copied as
    the build's ``references.bib``."""
    from refracture.report.context import build_context
    from refracture.report.render import render_documents

    ctx = build_context(results, meta, style=style, software=software, changes=changes)
    docs = render_documents(ctx, templates)
    report = project / "report"
    (report / "assets").mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in docs.items():
        path = report / f"{name}.qmd"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    shutil.copyfile(templates_dir() / "_quarto.yml", project / "_quarto.yml")
    # typst style, Lua filters, CSS, bibliography, CSL and the Word reference
    # documents: what Quarto and the embedded engine both read
    from refracture.report.embedded import prepare_assets

    prepare_assets(report / "assets")
    if bibliography is not None:
        shutil.copyfile(bibliography, report / "assets" / "references.bib")
    tables = project / "tables"
    tables.mkdir(exist_ok=True)
    sheets = _table_files("manuscript", ctx["tables"], tables, "Table ")
    sheets |= _table_files("supplementary", ctx["supplementary_tables"], tables, "Table S")
    if reuse is None or not reuse("tables.xlsx", _sheets_key(sheets)):
        write_xlsx(sheets, project / "tables.xlsx")
    written.append(project / "tables.xlsx")
    asset("references.bib")  # a missing asset fails here, before any render
    return written
