"""The files an import mapping reads, found without validating it.

A build of ``--data mapping.yml`` must rebuild when the REDCap export changes, not only
when the mapping does, and its output folder may not hold the export. The rebuild
check runs before pandas or pydantic are loaded (:mod:`refracture.build.stamp`), so
this module reads the mapping with PyYAML alone and takes the file keys as written;
a mapping too broken to name its files names none here, and the import itself then
reports why.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from refracture.common.settings_file import StrictLoader

__all__ = ["FILE_KEYS", "mapping_inputs", "resolve"]

#: The keys that name a file, as (section, key); section None is the top level.
FILE_KEYS: tuple[tuple[str | None, str], ...] = (
    (None, "records"),
    (None, "dictionary"),
    (None, "catalog"),
    ("levels", "records"),
)


def resolve(value: str | Path, mapping: Path) -> Path:
    """A path written in ``mapping``, relative to the mapping's folder."""
    p = Path(value).expanduser()
    return Path(os.path.normpath(p if p.is_absolute() else mapping.absolute().parent / p))


def mapping_inputs(mapping: Path) -> list[tuple[str, Path]]:
    """(key, path) of every file ``mapping`` names, in :data:`FILE_KEYS` order."""
    try:
        raw = yaml.load(Path(mapping).read_text(encoding="utf-8"), Loader=StrictLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    if not isinstance(raw, dict):
        return []
    found = []
    for section, key in FILE_KEYS:
        block = raw if section is None else raw.get(section)
        value = block.get(key) if isinstance(block, dict) else None
        if isinstance(value, str) and value.strip():
            name = key if section is None else f"{section}.{key}"
            found.append((name, resolve(value, Path(mapping))))
    return found
