"""The project's one set of known errors and the exit codes the CLI maps them to.

Exit codes (documented in README.md):

* 0 success
* 1 invalid data or configuration
* 2 usage error (bad command-line arguments)
* 3 render failure
* 4 internal error (a bug), or an executor that lost its workers

Every error pickles with its message and attributes intact (see
:meth:`RefractureError.__reduce__`), so one raised in a worker process or on a
Dask worker reaches the command line as the same clear message.
"""

from __future__ import annotations

from collections.abc import Sequence, Sized
from typing import Protocol


class Report(Protocol):
    """What :class:`DataValidationError` needs of a validation report
    (:class:`refracture.data.validate.ValidationReport` is one): its errors and its
    rendering. A protocol, so that this module, which every module imports, imports
    none of them."""

    @property
    def errors(self) -> Sized: ...

    def render(self) -> str: ...


EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_RENDER = 3
EXIT_INTERNAL = 4


def _rebuild(cls: type[RefractureError], args: tuple, state: dict) -> RefractureError:
    """Unpickle an error without calling its ``__init__`` (see ``__reduce__``)."""
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class RefractureError(Exception):
    """Base class of every error the CLI turns into a clean message."""

    exit_code: int = EXIT_INVALID

    def __reduce__(self):
        # The default pickling calls ``cls(*self.args)``, which breaks subclasses whose
        # __init__ takes something other than the message (DataValidationError(report),
        # ConfigProblems(problems)); rebuild from the message and attributes instead.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class DataError(RefractureError):
    """The input data cannot be read (missing file, bad encoding, unreadable format)."""

    exit_code = EXIT_INVALID


class DataValidationError(RefractureError):
    """The data were read but break rules of the data contract."""

    exit_code = EXIT_INVALID

    def __init__(self, report: Report) -> None:
        self.report = report
        n = len(report.errors)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} found in the input data")


class ConfigError(RefractureError):
    """The configuration or a command-line option is invalid."""

    exit_code = EXIT_INVALID


class ConfigProblems(ConfigError):
    """An invalid settings file (the configuration, an import mapping): ``problems`` holds
    one ``source: key: message`` line each, every problem of the file at once."""

    def __init__(self, problems: Sequence[str], what: str = "the configuration") -> None:
        self.problems = tuple(problems)
        n = len(self.problems)
        if n == 1:
            message = self.problems[0]
        else:
            message = f"{n} problems in {what}:\n" + "\n".join(self.problems)
        super().__init__(message)


class UsageError(RefractureError):
    exit_code = EXIT_USAGE


class RenderError(RefractureError):
    """A renderer (Quarto, pandoc, typst) failed."""

    exit_code = EXIT_RENDER


class ExecutorError(RefractureError):
    """An executor lost a worker or its scheduler while running (not a data problem)."""

    exit_code = EXIT_INTERNAL


class OutputError(RefractureError):
    """An output folder or file refracture may not, or cannot, write (the user's files are
    never replaced; a read-only or full disk is reported, nothing is lost)."""

    exit_code = EXIT_INVALID


def describe(exc: BaseException) -> str:
    """The message the command line prints for ``exc``, word for word (``refracture
    preview`` shows the same text in its page, so the two cannot drift): a data
    error's full report, then ``error: MESSAGE``; an unexpected exception as a bug."""
    if isinstance(exc, RefractureError):
        lines = [exc.report.render()] if isinstance(exc, DataValidationError) else []
        return "\n".join([*lines, f"error: {exc}"])
    return (
        f"internal error: {type(exc).__name__}: {exc}\n"
        "This is a bug in refracture; set REFRACTURE_DEBUG=1 to see the traceback."
    )
