"""What ``refracture preview`` watches, with ``watchfiles``: the inputs of the paper.

The targets are the data (a folder or a workbook), the configuration file, the
project's templates folder and its bibliography. A folder is watched with its
subfolders; a single file, or a target that does not exist yet, through the
folder it is in (not its subfolders: a project's root may hold a ``.venv`` or
``.git``), keeping only changes of that very file, so an editor that saves by
replacing the file is followed too. Changes are debounced: an editor's burst of
writes, or several files saved at once, arrive as one set.

Never a reason to rebuild: the build folder and what a build writes beside it (its
lock, staging and previous folders), hidden files, and editors' swap, backup and
lock files (``.#x``, ``x.swp``, ``x~``, ``~$x.xlsx``, ``.~lock.x#``, vim's ``4913``).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEBOUNCE_MS", "Watcher", "watch_plan"]

DEBOUNCE_MS = 20
"""Quiet time after a change before it is reported (changes closer than this are grouped)."""
_LONGEST_MS = 1000  # a stream of changes is reported at least this often
_READY_MS = 300  # the watch loop wakes up this often without changes (and sees a stop)

_JUNK = re.compile(r"^\.|~$|^~\$|\.sw[a-p]$|^4913$|\.(tmp|bak|crswap|part)$|^flycheck_")


@dataclass(frozen=True)
class _Plan:
    """Folders watched with their subfolders, folders watched alone, and what counts."""

    deep: tuple[Path, ...]
    flat: tuple[Path, ...]
    targets: tuple[Path, ...]
    ignored: tuple[Path, ...]


def watch_plan(targets: Iterable[Path], ignored: Iterable[Path] = ()) -> _Plan:
    """How to watch ``targets`` (absolute paths) leaving out ``ignored`` build folders."""
    targets = tuple(dict.fromkeys(Path(t).absolute() for t in targets))
    deep = tuple(t for t in targets if t.is_dir())
    flat: list[Path] = []
    for t in targets:
        if t in deep:
            continue
        parent = t.parent
        while not parent.is_dir() and parent != parent.parent:
            parent = parent.parent
        flat.append(parent)
    ignored = tuple(Path(p).absolute() for p in ignored)
    return _Plan(deep, tuple(dict.fromkeys(flat)), targets, ignored)


def _under(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def wanted(plan: _Plan, path: Path) -> bool:
    """Whether a change of ``path`` is a reason to rebuild."""
    if path in plan.targets:
        return True
    for build in plan.ignored:  # the build folder and its lock, staging and previous folders
        if _under(path, build) or (
            path.parent == build.parent and path.name.startswith(f".{build.name}.")
        ):
            return False
    for root in plan.targets:
        if _under(path, root):
            inside = path.relative_to(root).parts
            return not any(_JUNK.search(part) for part in inside)
    return False


class Watcher:
    """Calls ``on_change(paths)`` with each debounced set of changed inputs, from a thread
    of its own, until :meth:`close`. :meth:`watch` sets (or changes) what is watched."""

    def __init__(self, on_change: Callable[[list[Path]], None]) -> None:
        self._on_change = on_change
        self._plan: _Plan | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ready: list[threading.Event] = []
        self._lock = threading.Lock()  # watch() runs on the build thread, close() on the main
        self._closed = False

    def watch(self, targets: Iterable[Path], ignored: Iterable[Path] = ()) -> None:
        """Watch ``targets``; nothing is restarted when the plan is the same and running."""
        plan = watch_plan(targets, ignored)
        with self._lock:
            if self._closed or (plan == self._plan and all(t.is_alive() for t in self._threads)):
                return
            self._start(plan)

    def _start(self, plan: _Plan) -> None:
        self._halt()
        self._plan, self._stop = plan, threading.Event()
        for folders, recursive in ((plan.deep, True), (plan.flat, False)):
            if folders:
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._loop,
                    args=(plan, folders, recursive, self._stop, ready),
                    name="refracture-preview-watch",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
                self._ready.append(ready)

    def ready(self, timeout: float) -> bool:
        """Wait until every folder is watched (changes from then on are seen)."""
        return all(event.wait(timeout) for event in self._ready)

    def _loop(self, plan: _Plan, folders, recursive: bool, stop, ready) -> None:
        from watchfiles import watch

        def keep(_change, path: str) -> bool:
            return wanted(plan, Path(path))

        # a folder removed while watched ends the loop: the next rebuild watches anew
        with contextlib.suppress(OSError, RuntimeError):
            for changes in watch(
                *folders,
                watch_filter=keep,
                debounce=_LONGEST_MS,
                step=DEBOUNCE_MS,
                stop_event=stop,
                rust_timeout=_READY_MS,
                yield_on_timeout=True,  # an empty set: the folders are being watched
                recursive=recursive,
                raise_interrupt=False,
            ):
                ready.set()
                if stop.is_set():
                    return
                if changes:
                    self._on_change(sorted({Path(p) for _, p in changes}))

    def _halt(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads, self._ready = [], []

    def close(self) -> None:
        """Stop watching, for good."""
        with self._lock:
            self._closed = True
            self._halt()
            self._plan = None
