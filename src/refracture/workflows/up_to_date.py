"""The no-op rebuild's fast path: "up to date" before the command line is even parsed.

A rebuild with nothing changed should answer in a blink. The full path to that
answer imports the command-line parser and validates ``refracture.yml`` with
pydantic (about half a second) only to compute the same build stamp as last
time. So after every build (and every "up to date"), the command line
remembers, in refracture's cache folder, what that stamp was computed from:
the exact arguments, the working folder, the configuration file and its
bytes, and the stamp's own inputs (data path, options, the authors' files).

On the next ``refracture build`` with the same arguments in the same folder,
:func:`answer` checks the configuration file's bytes and recomputes the stamp
from those remembered inputs (:func:`~refracture.build.stamp.build_stamp` hashes
the data files, templates, refracture's code and the environment, as always).
Only when the build folder's record holds exactly that stamp does it answer
"up to date"; in every other case (a byte changed anywhere, another argument,
``--force`` or ``--since``, a missing or damaged memory) it returns None and the
ordinary command line runs. It never writes a build and imports only the
standard library and :mod:`refracture.build.stamp`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["answer", "remember"]

_NEVER = {"--force", "--since", "--help", "-h"}
_CONFIG = "refracture.yml"


def _entry_path(argv: Sequence[str], cwd: Path) -> Path:
    from refracture.common.cache import cache_dir

    name = hashlib.sha256(json.dumps([str(cwd), list(argv)]).encode()).hexdigest()
    return cache_dir() / "up-to-date" / f"{name}.json"


def _config_file(argv: Sequence[str], cwd: Path) -> Path | None:
    """The configuration file the command line would read (None: defaults)."""
    args = list(argv)
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            return (cwd / args[i + 1]).resolve()
        if arg.startswith("--config="):
            return (cwd / arg.split("=", 1)[1]).resolve()
    default = cwd / _CONFIG
    return default.resolve() if default.is_file() else None


def _sha(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def answer(argv: Sequence[str]) -> str | None:
    """The "up to date" message for ``refracture build ARGS`` when nothing changed, else None."""
    if not argv or argv[0] != "build" or _NEVER.intersection(argv):
        return None
    try:
        cwd = Path.cwd().resolve()
        entry = json.loads(_entry_path(argv[1:], cwd).read_text(encoding="utf-8"))
        config = _config_file(argv[1:], cwd)
        if entry["config"] != (str(config) if config else None):
            return None
        if entry["config_sha256"] != _sha(config):
            return None
        from refracture.build.stamp import build_stamp, is_up_to_date

        data = Path(entry["data"]) if entry["data"] is not None else None
        stamp = build_stamp(data, entry["options"], [Path(p) for p in entry["authored"]])
        out = Path(entry["out"])
        if stamp["hash"] != entry["stamp"] or not is_up_to_date(out, stamp):
            return None
        return entry["message"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(
    argv: Sequence[str],
    *,
    out: Path,
    data: Path | None,
    options: dict[str, Any],
    authored: Sequence[Path],
    stamp: str,
    message: str,
) -> None:
    """Keep what this build's stamp was computed from, for :func:`answer` next time.

    Called by the command line after a build or an "up to date"; a cache that
    cannot be written only means the next no-op takes the ordinary path."""
    if not argv or argv[0] != "build" or _NEVER.intersection(argv):
        return
    cwd = Path.cwd().resolve()
    config = _config_file(argv[1:], cwd)
    entry = {
        "config": str(config) if config else None,
        "config_sha256": _sha(config),
        "data": str(Path(data).resolve()) if data is not None else None,
        "options": options,
        "authored": [str(Path(p).resolve()) for p in authored],
        "out": str(Path(out).resolve()),
        "stamp": stamp,
        "message": message,
    }
    path = _entry_path(argv[1:], cwd)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(entry, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
