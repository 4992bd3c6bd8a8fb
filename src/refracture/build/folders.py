"""The folders refracture writes: which it may replace, one writer at a time, atomic swaps.

A build is written into a staging folder beside its destination and swapped in
whole only when every stage succeeded. What it may swap out is decided here,
before any work starts:

* an absent folder, an empty one, or a previous refracture build (recognised by
  the build record refracture wrote into it, :data:`RECORD_NAME`, and holding
  nothing that record does not list) may be replaced;
* anything else, and any folder that is or contains the data, the
  configuration file, the working folder, the home folder, a filesystem root or
  a git work tree's root, is refused with :class:`~refracture.errors.OutputError`.

:func:`claim` takes an OS file lock beside the folder (``.NAME.lock``), so two
builds into one folder run one after the other; the lock dies with its process.
This module imports only the standard library.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from refracture.common.paths import shown
from refracture.errors import OutputError

__all__ = [
    "RECORD_NAME",
    "check_destination",
    "claim",
    "read_record",
    "staged_output",
    "write_record",
]

RECORD_NAME = ".refracture-build.json"
"""The build record: written last into every folder refracture builds."""

_LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".quarto"})
"""Entries a file manager or ``quarto render`` of the build folder leaves; never user data."""

_SHOWN = 5  # names listed in a refusal


def read_record(folder: Path) -> dict | None:
    """The build record in ``folder``, or None when there is none (or it is not ours)."""
    try:
        record = json.loads((Path(folder) / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("files"), list):
        return None
    return record


def write_record(folder: Path, files: Iterable[str], **fields: object) -> Path:
    """Record in ``folder`` that refracture wrote it, with the files it holds."""
    path = Path(folder) / RECORD_NAME
    record = {**fields, "written_by": "refracture", "files": sorted(files)}
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def _files(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != RECORD_NAME
    )


def _foreign(folder: Path) -> list[str]:
    """Entries of ``folder`` that no build record of refracture accounts for."""
    entries = sorted(p.name for p in folder.iterdir() if p.name not in _LITTER)
    if not entries:
        return []
    record = read_record(folder)
    if record is None:
        return entries
    files = {str(f) for f in record["files"]} | {RECORD_NAME}
    foreign = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if rel.parts[0] in _LITTER or rel.name in _LITTER:
            continue
        if p.is_dir() and not p.is_symlink():
            continue  # a folder is judged by what it holds; an empty one loses nothing
        if rel.as_posix() not in files:
            foreign.append(rel.as_posix())
    return foreign


def _names(paths: list[str]) -> str:
    listed = ", ".join(paths[:_SHOWN])
    more = len(paths) - _SHOWN
    return listed + (f" and {more} more" if more > 0 else "")


def _git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


BUILD = "build"
"""The default ``kind`` of an output folder in messages ("the build folder")."""


def _protected(inputs: Iterable[tuple[str, Path]]) -> list[tuple[str, Path]]:
    """What no output folder may be or contain, resolved, with a word for each."""
    cwd = Path.cwd().resolve()
    found: list[tuple[str, Path]] = [(what, Path(p).resolve()) for what, p in inputs]
    found.append(("the working folder", cwd))
    with contextlib.suppress(RuntimeError, KeyError):
        found.append(("your home folder", Path.home().resolve()))
    for what, path in list(found):
        root = _git_root(path if path.is_dir() else path.parent)
        if root is not None:
            found.append((f"the git work tree of {what}", root))
    return found


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_destination(
    out: Path, inputs: Iterable[tuple[str, Path]] = (), *, kind: str = BUILD
) -> Path:
    """The resolved folder ``out`` if a build may replace it; else :class:`OutputError`.

    ``inputs`` are (what, path) pairs the folder may neither be nor contain (the
    data, the configuration file); the working folder, the home folder, any
    filesystem root and their git work trees are always protected. Nothing is
    written or changed here. ``kind`` is what the folder is called in a message
    (the build folder, the submission folder …).
    """
    given = Path(out)
    the = f"The {kind} folder"
    advice = f"Choose a new or empty folder for the {kind}, or delete this one yourself."
    replaces = "refracture replaces this whole folder each time, so it will not write there"
    if given.is_symlink() and not given.exists():
        raise OutputError(
            f"{the} {given} is a symbolic link to nothing; refracture will not "
            f"write through it. {advice}"
        )
    path = given.resolve()
    if path.exists() and not path.is_dir():
        raise OutputError(f"{the} {shown(path)} is a file, not a folder. {advice}")
    if path.parent == path or os.path.ismount(path):
        raise OutputError(
            f"{the} {path} is a filesystem root; refracture never replaces one. {advice}"
        )
    for what, protected in _protected(inputs):
        if _inside(protected, path):
            holds = "is" if protected == path else "contains"
            raise OutputError(f"{the} {shown(path)} {holds} {what}; {replaces}. {advice}")
    if path.is_dir():
        foreign = _foreign(path)
        if foreign:
            raise OutputError(
                f"{the} {shown(path)} holds files refracture did not write "
                f"({_names(foreign)}); {replaces}. {advice}"
            )
    return path


@contextlib.contextmanager
def claim(
    out: Path, say: Callable[[str], None] | None = None, *, kind: str = BUILD
) -> Iterator[None]:
    """Hold the lock of the ``kind`` folder ``out`` (an OS lock on ``.NAME.lock`` beside it).

    A second build into the same folder waits here (saying so) until the first is
    done; the lock is released when the holder exits or dies. The lock file is
    removed on release; a waiter that then holds the lock of a removed file
    opens the new one and locks again, so two holders can never overlap.
    """
    out = Path(out)
    lock = out.parent / f".{out.name}.lock"
    if sys.platform == "win32":  # no flock: one build at a time is not enforced there
        yield
        return
    import fcntl

    said = False
    while True:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise _cannot_write(out, exc, kind) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if say is not None and not said:
                say(f"Waiting for another command writing {shown(out.absolute())} to finish")
                said = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break  # the lock file still in place is the one locked
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)  # closing the descriptor releases the lock


def _cannot_write(out: Path, exc: OSError, kind: str = BUILD) -> OutputError:
    reason = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exhausted",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
    }.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return OutputError(
        f"Cannot write the {kind} folder {shown(Path(out))}: {reason}. "
        "Nothing written there before was changed."
    )


_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False where the system cannot (another OS, an old kernel or libc, a
    filesystem without support); the caller then falls back to two renames.
    """
    if sys.platform != "linux":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(
        at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), ctypes.c_uint(rename_exchange)
    )
    return done == 0


def _sweep(out: Path) -> None:
    """Remove what killed builds left beside ``out`` (never ``out`` itself)."""
    for leftover in out.parent.glob(f".{out.name}.building-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.rmtree(out.parent / f".{out.name}.previous", ignore_errors=True)


def _staging(out: Path) -> Path:
    """A new folder beside ``out`` with the mode ``out`` has (or the umask gives)."""
    while True:
        tmp = out.parent / f".{out.name}.building-{secrets.token_hex(4)}"
        try:
            os.mkdir(tmp, 0o777)  # the umask applies, as to any folder the user makes
        except FileExistsError:
            continue
        break
    with contextlib.suppress(FileNotFoundError):
        os.chmod(tmp, stat.S_IMODE(out.stat().st_mode))
    return tmp


@contextlib.contextmanager
def staged_output(
    out: Path, inputs: Iterable[tuple[str, Path]] = (), *, kind: str = BUILD
) -> Iterator[Path]:
    """Yield a fresh folder beside ``out``; on success it replaces ``out`` atomically.

    ``out`` is checked first (:func:`check_destination`). The build is written
    into ``.NAME.building-*`` on the same filesystem and exchanged with ``out``
    in one ``renameat2`` call only when complete, so a build killed at any moment
    (even SIGKILL) leaves either the previous build or the new one, whole. A
    folder left without a build record gets one listing its files. Leftovers of
    killed builds are swept first; an error while writing removes the staging
    folder and leaves ``out`` as it was.
    """
    out = check_destination(out, inputs, kind=kind)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _sweep(out)
        tmp = _staging(out)
    except OSError as exc:
        raise _cannot_write(out, exc, kind) from exc
    try:
        yield tmp
        if not (tmp / RECORD_NAME).is_file():
            write_record(tmp, _files(tmp))
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno in _WRITE_ERRNOS:
            raise _cannot_write(out, exc, kind) from exc
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    check_destination(out, inputs, kind=kind)  # nothing foreign arrived while it ran
    if out.exists() and _exchange(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous build
        return
    old = out.parent / f".{out.name}.previous"
    if out.exists():
        os.replace(out, old)  # no atomic exchange here: a kill between these two
    os.replace(tmp, out)  # renames leaves the previous build in .NAME.previous
    shutil.rmtree(old, ignore_errors=True)
