"""Provenance of a build: what went in, what ran it, when.

Written into ``results.json`` (``meta.provenance``) and printed as an appendix
of the supplement, so every number can be traced to its exact inputs: the
SHA-256 and row count of each input file, the analysis settings, the versions
of Python, refracture and each analysis library, the renderer, the git commit
of the project folder when there is one, and the build date (from
``SOURCE_DATE_EPOCH`` when set, else a fixed date, so rebuilds stay identical).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from refracture.analysis.settings import AnalysisSettings
    from refracture.data.validate import Cohort

__all__ = ["file_sha256", "git_commit", "input_files", "provenance"]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit(folder: Path) -> str | None:
    """The commit checked out in ``folder`` (with ``+dirty`` for local changes), or None."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _settings(settings: AnalysisSettings) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, tuple):
            value = [str(v) if not isinstance(v, int | float | str) else v for v in value]
        out[f.name] = value
    return out


def input_files(cohort: Cohort) -> list[dict[str, Any]]:
    """Each input table's file name, row count and SHA-256 (the provenance's ``inputs``)."""
    src = cohort.source
    files: list[dict[str, Any]] = []
    seen: set[Path] = set()
    for table, path, label in (
        ("patients", src.patients_path, src.patients_file),
        ("levels", src.levels_path, src.levels_file),
    ):
        rows = len(getattr(cohort, table))
        entry: dict[str, Any] = {"table": table, "file": label, "rows": rows}
        if path.is_file():
            entry["sha256"] = file_sha256(path) if path not in seen else files[0]["sha256"]
            seen.add(path)
        files.append(entry)
    for role, label, path in src.extra_inputs:  # an import's mapping and dictionary
        extra: dict[str, Any] = {"table": role, "file": label}
        if path.is_file():
            extra["sha256"] = file_sha256(path)
        files.append(extra)
    return files


def provenance(
    cohort: Cohort | list[dict[str, Any]],
    settings: AnalysisSettings,
    software: dict[str, str],
    epoch: int,
    project: Path | None = None,
) -> dict[str, Any]:
    """The provenance record of one build (JSON-ready, stable key order).

    ``cohort`` is the loaded cohort, or its :func:`input_files` computed earlier
    (a rebuild that reuses the analyses does not load the data again)."""
    files = cohort if isinstance(cohort, list) else input_files(cohort)
    date = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return {
        "inputs": files,
        "settings": _settings(settings),
        "software": dict(software),
        "git_commit": git_commit(project or Path.cwd()),
        "build_date": date.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
