"""The built-in example cohort, shipped inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["example_path"]


def example_path() -> Path:
    """Folder holding the example ``patients.csv`` and ``levels.csv``.

    It is the output of ``refracture simulate`` with the default seed and size,
    calibrated to the published abstract (see :mod:`refracture.data.simulate`).
    """
    return Path(str(resources.files("refracture") / "example"))
