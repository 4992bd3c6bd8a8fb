"""What ``refracture preview`` shows, shared between its rebuild worker and its server.

One :class:`PreviewState` holds an immutable :class:`Snapshot`: the id of the page
to show, whether a rebuild is running, and the error of the last rebuild when it
failed. The rebuild worker changes it; every open page's event stream waits on
it and tells the page to reload when the id changes. The id changes only when
what a page shows changes (a new build, a new or fixed error), never for a
rebuild that found everything up to date.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PreviewState", "Snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """The preview at one moment (equal snapshots show the same thing)."""

    build: str
    """Id of what the pages show; a page whose id differs reloads."""
    out: Path
    """The build folder served (the last good paper, whatever failed since)."""
    building: bool = False
    rendering: bool = False
    """The running build makes every format (PDF and DOCX too), not only HTML."""
    error: str | None = None
    """The last rebuild's error, in the command line's words; None when it succeeded."""
    closed: bool = False


class PreviewState:
    """A thread-safe :class:`Snapshot` with a way to wait for the next one."""

    def __init__(self, out: Path) -> None:
        self._cond = threading.Condition()
        self._session = secrets.token_hex(4)  # a restarted preview makes open pages reload
        self._count = 0
        self._now = Snapshot(build=self._id(), out=out)

    def _id(self) -> str:
        return f"{self._session}-{self._count}"

    def snapshot(self) -> Snapshot:
        with self._cond:
            return self._now

    def _set(self, **changes) -> None:
        with self._cond:
            self._now = dataclasses.replace(self._now, **changes)
            self._cond.notify_all()

    def started(self, *, rendering: bool) -> None:
        self._set(building=True, rendering=rendering)

    def finished(self, *, error: str | None = None, out: Path | None = None, new: bool = False):
        """A rebuild ended: ``error`` when it failed, else ``out`` was (re)built (``new``
        when it wrote a new paper rather than finding the folder up to date)."""
        with self._cond:
            shown = new or error != self._now.error
            if shown:
                self._count += 1
            self._set(
                building=False,
                rendering=False,
                error=error,
                out=out if out is not None else self._now.out,
                build=self._id(),
            )

    def cancelled(self) -> None:
        self._set(building=False, rendering=False)

    def close(self) -> None:
        self._set(closed=True)

    def wait(self, seen: Snapshot | None, timeout: float) -> Snapshot:
        """The snapshot, as soon as it differs from ``seen`` (or after ``timeout``)."""
        with self._cond:
            self._cond.wait_for(lambda: self._now != seen or self._now.closed, timeout)
            return self._now
