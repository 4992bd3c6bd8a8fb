"""The executor interface: where independent pieces of work run.

An :class:`Executor` maps a function over items and returns the results in input
order. :class:`LocalExecutor` runs them in this process, one after the other;
the process pool and the Dask cluster are in :mod:`refracture.build.executor`.
The executor of the running command is set with :func:`use_executor` and read
with :func:`current_executor`, so the analyses (the ROC bootstrap) find it
without every caller in between passing it along, and without importing the
build machinery.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["Executor", "LocalExecutor", "OnDone", "current_executor", "use_executor"]

OnDone = Callable[[int, Any], None]


class Executor:
    """Runs ``fn`` over items; see the module docstring. Use it as a context manager."""

    kind: str = ""
    in_process: bool = False
    """True when the pieces run in this process (no pickling; progress can stream)."""

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        common: tuple[Any, ...] = (),
        on_done: OnDone | None = None,
    ) -> list[Any]:
        """``[fn(*common, item) for item in items]``, in input order.

        ``common`` is sent to the workers once per piece (``processes``) or once in
        all (``dask``); ``on_done(index, result)`` is called in this process as
        each piece finishes, in completion order. The first error raised by a
        piece is raised here and the pieces not yet started are cancelled.
        """
        raise NotImplementedError

    def describe(self) -> str:
        """Where the work runs, for progress messages."""
        raise NotImplementedError

    def for_work(self, size: float) -> Executor:
        """The executor for a job of ``size`` units (see :class:`AutoExecutor`): this one."""
        return self

    def close(self) -> None:
        """Release the workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """In this process, one item after the other (the default)."""

    kind = "local"
    in_process = True

    def map(self, fn, items, *, common=(), on_done=None):
        results = []
        for i, item in enumerate(items):
            results.append(fn(*common, item))
            if on_done is not None:
                on_done(i, results[-1])
        return results

    def describe(self) -> str:
        return "this process"


_LOCAL = LocalExecutor()
_CURRENT: ContextVar[Executor | None] = ContextVar("refracture_executor", default=None)


def current_executor() -> Executor:
    """The executor set by :func:`use_executor`, else the in-process one."""
    return _CURRENT.get() or _LOCAL


@contextmanager
def use_executor(executor: Executor) -> Iterator[Executor]:
    """Make ``executor`` the :func:`current_executor` inside the ``with`` block."""
    token = _CURRENT.set(executor)
    try:
        yield executor
    finally:
        _CURRENT.reset(token)
