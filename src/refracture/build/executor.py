"""Where independent pieces of work run: in this process, a local process pool or Dask.

``refracture build`` maps the ROC bootstrap's chunks of replicates, and
``refracture reanalyze`` the main and variant builds, over an :class:`Executor`:

* ``local`` (the default): in this process, one piece after the other. Nothing
  is pickled and nothing extra is imported.
* ``processes``: a pool of ``--workers N`` local processes
  (:class:`concurrent.futures.ProcessPoolExecutor`, started with "spawn": the
  parent holds numpy/BLAS threads, which a forked child must not inherit).
* ``dask``: the ``dask.distributed`` cluster whose scheduler is at
  ``--scheduler ADDRESS`` (installed with ``refracture[dask]``). refracture never
  starts a cluster; the workers need the same refracture installed.

:meth:`Executor.map` returns the results in input order whatever order the
pieces finish in, and the pieces are seeded by what they compute (never by
where or when they run), so results are identical whichever executor ran them.
A :class:`~refracture.errors.RefractureError` raised in a worker is raised again
here with its message intact (errors pickle cleanly, see :mod:`refracture.errors`).

The interface, the in-process executor and the current-executor context live
in :mod:`refracture.common.parallel`, so the analyses use an executor without
importing the build machinery; this module adds the process pool, Dask, the
command line's automatic choice and :func:`make_executor`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refracture.common.parallel import (
    Executor,
    LocalExecutor,
    current_executor,
    use_executor,
)
from refracture.errors import ConfigError, ExecutorError

__all__ = [
    "DASK_CONNECT_TIMEOUT",
    "KINDS",
    "ClientContext",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "ProcessExecutor",
    "current_executor",
    "make_executor",
    "use_executor",
]

KINDS = ("local", "processes", "dask")
"""The executor kinds ``--executor`` accepts."""

DASK_CONNECT_TIMEOUT = 10.0
"""Seconds to wait for the Dask scheduler (and for its first worker) before giving up."""

AUTO_PARALLEL_SIZE = 2e8
"""Work (bootstrap replicates × levels) from which the default executor spreads a job
over local processes: about 2,000 replicates on 100,000 levels, a few seconds."""


class AutoExecutor(LocalExecutor):
    """The command line's default: this process, except for large jobs.

    A job of at least :data:`AUTO_PARALLEL_SIZE` (a registry-size bootstrap) runs
    on a pool of one process per core, started for it and kept for the rest of
    the run; results are the same as in this process (seeded per replicate).
    Only the command line uses it: a pool of spawned processes re-imports the
    caller's ``__main__``, which is safe for refracture's own entry points but
    not for every script that imports refracture.
    """

    kind = "auto"

    def __init__(self, cores: int | None = None) -> None:
        self.cores = _cpu_count() if cores is None else cores
        self._pool: ProcessExecutor | None = None

    def for_work(self, size: float) -> Executor:
        import multiprocessing

        if size < AUTO_PARALLEL_SIZE or self.cores < 2 or multiprocessing.parent_process():
            return self
        if self._pool is None:
            self._pool = ProcessExecutor(self.cores)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __exit__(self, exc_type, *rest) -> None:
        if self._pool is not None:
            self._pool.__exit__(exc_type, *rest)
            self._pool = None


class ProcessExecutor(Executor):
    """A pool of ``workers`` local processes, started with "spawn"."""

    kind = "processes"

    def __init__(self, workers: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        # processes start on the first submit, so an unused pool costs nothing
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )
        self._closed = False

    def map(self, fn, items, *, common=(), on_done=None):
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        futures = [self._pool.submit(fn, *common, item) for item in items]
        index = {f: i for i, f in enumerate(futures)}
        try:
            for f in as_completed(futures):
                result = f.result()
                if on_done is not None:
                    on_done(index[f], result)
        except BrokenProcessPool as exc:
            self._stop()
            raise ExecutorError(
                f"a worker process stopped unexpectedly (out of memory or killed?): {exc}"
            ) from exc
        except BaseException:
            for f in futures:  # pieces already running finish; leaving the pool's
                f.cancel()  # context with the error ends them (see __exit__)
            raise
        return [f.result() for f in futures]

    def _stop(self) -> None:
        """Cancel what has not started and end the workers now (on an error or Ctrl-C:
        a killed build leaves only a temporary folder, which the next build sweeps)."""
        if self._closed:
            return
        self._closed = True
        terminate = getattr(self._pool, "terminate_workers", None)  # Python 3.14+
        if terminate is not None:
            terminate()
        else:
            for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def describe(self) -> str:
        return f"{self.workers} local worker process{'es' if self.workers != 1 else ''}"

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __exit__(self, exc_type, *rest) -> None:
        if exc_type is not None:
            self._stop()
        self.close()


def _apply(item: Any, *, fn: Callable[..., Any], common: tuple[Any, ...]) -> Any:
    """``fn(*common, item)`` on a Dask worker (``common`` arrives scattered once)."""
    return fn(*common, item)


class DaskExecutor(Executor):
    """The dask.distributed cluster whose scheduler is at ``address`` (never started here)."""

    kind = "dask"

    def __init__(self, address: str, timeout: float | None = None) -> None:
        try:
            from dask.distributed import Client
        except ImportError as exc:
            raise ConfigError(
                "--executor dask needs dask.distributed, which is not installed: "
                "install refracture[dask] (pip install 'refracture[dask]')"
            ) from exc
        self.address = address
        timeout = DASK_CONNECT_TIMEOUT if timeout is None else float(timeout)
        client = Client.__new__(Client)
        try:
            client.__init__(address, timeout=timeout, set_as_default=False)
        except Exception as exc:  # refused, timed out, malformed, or not a scheduler
            _discard(client)
            raise ConfigError(
                f"cannot reach the Dask scheduler at {address}: {_reason(exc)}"
            ) from exc
        self._client = client
        self._closed = False
        try:
            client.wait_for_workers(1, timeout=timeout)
        except Exception as exc:
            self.close()
            raise ConfigError(
                f"the Dask scheduler at {address} has no workers (none joined within {timeout:g} s)"
            ) from exc

    def map(self, fn, items, *, common=(), on_done=None):
        from dask.distributed import as_completed
        from distributed import KilledWorker

        client = self._client
        shared = client.scatter([common], hash=False)[0] if common else ()
        futures = client.map(_apply, list(items), fn=fn, common=shared, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for f in as_completed(futures, loop=client.loop):
                result = f.result()
                if on_done is not None:
                    on_done(index[f.key], result)
            return client.gather(futures)
        except KilledWorker as exc:
            client.cancel(futures)
            raise ExecutorError(
                f"Dask workers at {self.address} died while running a task "
                f"(out of memory?): {_reason(exc)}"
            ) from exc
        except BaseException:
            client.cancel(futures)
            raise

    def describe(self) -> str:
        try:
            workers = self._client.scheduler_info().get("workers", {})
        except Exception:  # only for a message: never fail on it
            return f"the Dask cluster at {self.address}"
        threads = sum(int(w.get("nthreads", 0)) for w in workers.values())
        return (
            f"the Dask cluster at {self.address} ({len(workers)} worker"
            f"{'s' if len(workers) != 1 else ''}, {threads} thread{'s' if threads != 1 else ''})"
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.close()


def _discard(client: Any) -> None:
    """Stop a Client whose connection failed. Left alone, its ``__del__`` waits for a
    close that cannot complete (twice the timeout) and prints a traceback."""
    with suppress(Exception):
        client.close(timeout=1)
    with suppress(Exception):
        client.status = "closed"
        client._loop_runner.stop()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__


def make_executor(
    kind: str | None = None, workers: int | None = None, scheduler: str | None = None
) -> Executor:
    """The executor the options ask for; ``kind=None`` means "local", or "processes"
    when ``workers`` is given; "auto" (the command line's default when no option is
    given) is :class:`AutoExecutor`. Bad combinations raise :class:`ConfigError`."""
    if kind == "auto" and workers is None and scheduler is None:
        return AutoExecutor()
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"--executor must be one of {', '.join(KINDS)}, not {kind!r}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, not {workers}")
    if kind is None:
        kind = "processes" if workers is not None else "local"
    if scheduler is not None and kind != "dask":
        raise ConfigError("--scheduler ADDRESS is for --executor dask (add --executor dask)")
    if kind == "local":
        if workers is not None:
            raise ConfigError(
                "--workers runs a pool of local processes: use it alone or with "
                "--executor processes, not with --executor local"
            )
        return LocalExecutor()
    if kind == "processes":
        return ProcessExecutor(workers if workers is not None else _cpu_count())
    if workers is not None:
        raise ConfigError(
            "--workers does not apply to --executor dask: the cluster's workers are "
            "started with the cluster"
        )
    if not scheduler:
        raise ConfigError(
            "--executor dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786) of a "
            "running Dask scheduler; refracture does not start a cluster"
        )
    return DaskExecutor(scheduler)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------
# the caller's working folder and environment, for a piece run elsewhere
# ---------------------------------------------------------------------------

FORWARDED_ENV = ("SOURCE_DATE_EPOCH",)
"""Environment variables that change a build's outputs (the documents' date)."""

_CONTEXT_LOCK = threading.Lock()


@dataclass(frozen=True)
class ClientContext:
    """The working folder and the output-changing environment of the calling process.

    A build records the git commit of its working folder and dates its documents
    from ``SOURCE_DATE_EPOCH``; a worker started elsewhere has its own of both.
    :meth:`apply` makes a worker match the caller for the duration of one piece.
    """

    cwd: str = field(default_factory=lambda: str(Path.cwd()))
    env: dict[str, str | None] = field(
        default_factory=lambda: {k: os.environ.get(k) for k in FORWARDED_ENV}
    )

    @contextmanager
    def apply(self) -> Iterator[None]:
        """Run the block in the caller's folder (when it exists here) and environment.

        Both are process-wide, so the block holds a lock: pieces that use this run
        one at a time per worker process (builds are not thread-safe anyway).
        """
        with _CONTEXT_LOCK:
            saved_cwd = os.getcwd()
            saved_env = {k: os.environ.get(k) for k in self.env}
            try:
                if self.cwd != saved_cwd and Path(self.cwd).is_dir():
                    os.chdir(self.cwd)
                _set_env(self.env)
                yield
            finally:
                _set_env(saved_env)
                if os.getcwd() != saved_cwd:
                    os.chdir(saved_cwd)


def _set_env(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
