"""The project's one set of known errors and the exit codes the CLI maps them to.

Exit codes (documented in README.md):

* 0 success
* 1 invalid data or configuration
* 2 usage error (bad command-line arguments)
* 3 render failure
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from refracture.data.validate import ValidationReport

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_RENDER = 3


class RefractureError(Exception):
    """Base class of every error the CLI turns into a clean message."""

    exit_code: int = EXIT_INVALID


class DataError(RefractureError):
    """The input data cannot be read (missing file, bad encoding, unreadable format)."""

    exit_code = EXIT_INVALID


class DataValidationError(RefractureError):
    """The data were read but break rules of the data contract."""

    exit_code = EXIT_INVALID

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        n = len(report.errors)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} found in the input data")


class ConfigError(RefractureError):
    """The configuration or a command-line option is invalid."""

    exit_code = EXIT_INVALID


class UsageError(RefractureError):
    exit_code = EXIT_USAGE


class RenderError(RefractureError):
    """A renderer (Quarto, pandoc, typst) failed."""

    exit_code = EXIT_RENDER
