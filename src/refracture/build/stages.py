"""Stage-level reuse: a rebuild redoes only the stages whose inputs changed.

Each stage's output is keyed by a content hash of exactly its inputs:

* ``analyses``: the data files, the analysis settings and cohort filters, and
  refracture's own code;
* ``figure:STEM``: the results that figure draws, its options, the formats it
  is drawn in, the build date and refracture's code;
* ``render:DOC.FMT``: the document's ``.qmd``, the render assets, the figures,
  the renderer, the style and the build date;
* ``guard:FILE``: the file's bytes, the patient identifiers and the machine's
  paths (what is written before the documents render is checked while they
  render, the rest after; a file is judged by its bytes at the end). The
  guard's verdicts are kept in refracture's cache folder, not in the build
  record: their keys depend on this machine's paths, and a build record must be
  the same wherever the same inputs are built.

The manuscript sources themselves are always written again (a fraction of a
second); what follows them is reused when its key is unchanged.

Outputs are reused from the previous build in the same folder, and only when
its record (written by refracture, :data:`~refracture.build.folders.RECORD_NAME`)
lists the stage's key and the SHA-256 of each of its files, and each file still
has those bytes: a build that cannot be verified is never reused from. The
analyses (aggregate results, never a patient-level row or identifier) are kept
as a pickle named by their key in refracture's cache folder
(:func:`~refracture.common.cache.cache_dir`), outside the build folder so that
the build stays exactly its outputs; the previous build's record holds the
pickle's SHA-256, which is checked before it is read. A long-lived process
(``refracture preview``) keeps them in memory as well (:class:`StageCache`).

A cached build is byte-identical to a cold build of the same inputs (tested
over a sequence of edits). This module imports only the standard library.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Previous",
    "StageCache",
    "Stages",
    "key",
    "load_analyses",
    "load_verdicts",
    "save_verdicts",
    "store_analyses",
    "tree_digest",
]


def key(*parts: Any) -> str:
    """A stage key: the SHA-256 of its inputs (JSON-able values, or bytes)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, bytes):
            h.update(b"b" + len(part).to_bytes(8, "big") + part)
        else:
            text = json.dumps(part, sort_keys=True, default=str).encode()
            h.update(b"j" + len(text).to_bytes(8, "big") + text)
    return h.hexdigest()


def tree_digest(folder: Path, root: Path | None = None) -> str:
    """Names and bytes of every file under ``folder`` (empty when absent)."""
    root = root or folder
    h = hashlib.sha256()
    if folder.is_dir():
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                h.update(p.relative_to(root).as_posix().encode() + b"\0")
                h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


@dataclass
class StageCache:
    """What a long-lived process keeps between its builds: the analyses, by key.

    Only the last few entries are kept, so memory stays flat however many edits
    a preview sees.
    """

    size: int = 2
    analyses: dict[str, Any] = field(default_factory=dict)

    def get(self, k: str) -> Any:
        return self.analyses.get(k)

    def put(self, k: str, value: Any) -> None:
        self.analyses.pop(k, None)
        self.analyses[k] = value
        while len(self.analyses) > self.size:
            self.analyses.pop(next(iter(self.analyses)))


@dataclass(frozen=True)
class Previous:
    """The previous build of a folder, as far as its record vouches for it."""

    folder: Path
    keys: dict[str, str]
    hashes: dict[str, str]
    cached: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> Previous | None:
        from refracture.build.folders import read_record

        record = read_record(folder)
        if record is None or record.get("written_by") != "refracture":
            return None
        keys, hashes = record.get("stages"), record.get("sha256")
        if not isinstance(keys, dict) or not isinstance(hashes, dict):
            return None
        cached = record.get("cached")
        return cls(Path(folder), dict(keys), dict(hashes), dict(cached or {}))

    def verified(self, artifact: str, k: str, files: Iterable[str]) -> bool:
        """True when ``artifact`` was made from key ``k`` and its files are intact."""
        if self.keys.get(artifact) != k:
            return False
        for f in files:
            path = self.folder / f
            want = self.hashes.get(f)
            if want is None or not path.is_file():
                return False
            if hashlib.sha256(path.read_bytes()).hexdigest() != want:
                return False
        return True

    def copy(self, files: Iterable[str], into: Path) -> None:
        for f in files:
            (into / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.folder / f, into / f)


@dataclass
class Stages:
    """The keys of one build, and which stages it ran and which it reused."""

    previous: Previous | None
    keys: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)

    def reuse(self, artifact: str, k: str, files: list[str], into: Path) -> bool:
        """Copy ``artifact``'s files from the previous build when verified; record either way."""
        self.keys[artifact] = k
        if self.previous is not None and self.previous.verified(artifact, k, files):
            self.previous.copy(files, into)
            self.reused.append(artifact)
            return True
        self.ran.append(artifact)
        return False

    def checked(self, artifact: str, k: str, verdicts: set[str]) -> bool:
        """For the guard: True when a file was found clean before under key ``k``."""
        if k in verdicts:
            self.reused.append(artifact)
            return True
        self.ran.append(artifact)
        return False


def _analyses_path(k: str) -> Path:
    from refracture.common.cache import cache_dir

    return cache_dir() / "analyses" / f"{k}.pickle"


def store_analyses(k: str, value: Any, keep: int = 16) -> str | None:
    """Keep ``value`` (aggregate results only) in the user's cache; its SHA-256, or
    None when the cache cannot be written (a build never fails for its cache)."""
    import contextlib
    import os

    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    path = _analyses_path(k)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        old = sorted(path.parent.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
        for stale in old[:-keep]:
            with contextlib.suppress(OSError):
                stale.unlink()
    except OSError:
        return None
    return hashlib.sha256(data).hexdigest()


def load_analyses(k: str, sha256: str | None) -> Any:
    """The analyses stored under key ``k`` if their bytes have SHA-256 ``sha256``."""
    if not sha256:
        return None
    try:
        data = _analyses_path(k).read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != sha256:
        return None
    try:
        return pickle.loads(data)
    except Exception:  # written by another version of refracture: compute instead
        return None


_VERDICTS = "guard-verdicts.json"


def load_verdicts() -> set[str]:
    """Keys of (file bytes, identifiers, machine paths) the guard found clean before."""
    from refracture.common.cache import cache_dir

    try:
        found = json.loads((cache_dir() / _VERDICTS).read_text(encoding="utf-8"))
        return {str(k) for k in found} if isinstance(found, list) else set()
    except (OSError, ValueError):
        return set()


def save_verdicts(new: Iterable[str], keep: int = 4000) -> None:
    """Add clean verdicts (after the guard passed), keeping the newest ``keep``."""
    import contextlib
    import os

    from refracture.common.cache import cache_dir

    new = list(new)
    if not new:
        return
    path = cache_dir() / _VERDICTS
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        old = [str(k) for k in old] if isinstance(old, list) else []
    except (OSError, ValueError):
        old = []
    fresh = set(new)
    keys = ([k for k in old if k not in fresh] + new)[-keep:]
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(keys), encoding="utf-8")
        os.replace(tmp, path)
