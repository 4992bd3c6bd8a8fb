"""Rebuild only when something changed: a content hash of everything a build reads.

The stamp hashes the input data files, the templates and render assets, the
refracture source itself (so a changed formula counts, not only a new version
number), the build options and the environment that changes outputs
(``SOURCE_DATE_EPOCH``, which Quarto would be used). It is written into the
build folder's record (:data:`refracture.build.folders.RECORD_NAME`); a build whose
stamp matches the one in its folder has nothing to do. The Quarto executable
counts by a digest of its path, so no path of the machine is written. This
module imports only the standard library, so the "up to date" answer comes
before pandas, statsmodels or matplotlib are loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["build_stamp", "is_up_to_date", "write_stamp"]

_DATA_SUFFIXES = {".csv", ".parquet", ".xlsx"}


def _data_files(data: Path | None) -> list[Path]:
    """The files a load of ``data`` may read (the example cohort when None); for an
    import mapping, the mapping and every file it names (a fresh export rebuilds)."""
    if data is None:
        from refracture.data.example import example_path

        data = example_path()
    data = Path(data)
    if data.is_file() and data.suffix.lower() in (".yml", ".yaml"):
        from refracture.data.importing.inputs import mapping_inputs

        return [data, *(p for _, p in mapping_inputs(data) if p.is_file())]
    if data.is_file():
        return [data]
    if not data.is_dir():
        return []
    return sorted(
        p
        for p in data.iterdir()
        if p.is_file() and p.suffix.lower() in _DATA_SUFFIXES and not p.name.startswith("~$")
    )


def _tree(folder: Path, suffixes: Iterable[str] | None = None) -> list[Path]:
    wanted = set(suffixes) if suffixes is not None else None
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and (wanted is None or p.suffix in wanted)
    )


def _digest(paths: Iterable[Path], root: Path | None = None) -> str:
    h = hashlib.sha256()
    for p in paths:
        name = p.relative_to(root).as_posix() if root else p.name
        h.update(name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def build_stamp(
    data: Path | None, options: Mapping[str, object], authored: Iterable[Path] = ()
) -> dict[str, object]:
    """The stamp of a build of ``data`` with ``options`` (formats, style, engine, …).

    ``authored`` are the authors' own inputs (their templates folder, their
    bibliography): an edit of any of their files makes the build run again."""
    import refracture
    from refracture.report.assets import templates_dir

    package = Path(refracture.__file__).parent
    templates = templates_dir()
    quarto = os.environ.get("QUARTO_PATH") or shutil.which("quarto") or ""
    parts = {
        "data": _digest(_data_files(data)),
        "templates": _digest(_tree(templates), templates),
        "refracture": refracture.__version__
        + ":"
        + _digest(_tree(package, {".py", ".csv"}), package),
        "options": json.dumps(dict(options), sort_keys=True, default=str),
        "authored": _digest(
            [f for p in authored for f in (_tree(p) if Path(p).is_dir() else [Path(p)])]
        ),
        "environment": json.dumps(
            {
                "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", ""),
                "quarto": hashlib.sha256(quarto.encode()).hexdigest()[:16] if quarto else "",
                "python": ".".join(map(str, sys.version_info[:3])),
            },
            sort_keys=True,
        ),
    }
    total = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return {"hash": total, "parts": parts}


def is_up_to_date(out: Path, stamp: Mapping[str, object]) -> bool:
    """True when ``out`` holds a complete build made from exactly these inputs."""
    from refracture.build.folders import read_record

    old = read_record(Path(out))
    if old is None or old.get("hash") != stamp["hash"]:
        return False
    return all((Path(out) / f).is_file() for f in old["files"])


def write_stamp(
    folder: Path, stamp: Mapping[str, object], files: Iterable[str], **fields: object
) -> Path:
    """Record the stamp and the files the build made (checked again by is_up_to_date),
    with ``fields`` such as each stage's key (:mod:`refracture.build.stages`)."""
    from refracture.build.folders import write_record

    return write_record(folder, files, **stamp, **fields)
