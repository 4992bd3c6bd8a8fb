"""Where the installed templates and render assets are.

The project's top-level ``templates/`` folder is installed as the package
``refracture.templates`` (see ``pyproject.toml``), so a source checkout, an
editable install and a wheel all find the same files.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["asset", "assets_dir", "templates_dir"]


def templates_dir() -> Path:
    """The folder of the Jinja templates (``templates/`` in the source tree)."""
    return Path(str(resources.files("refracture.templates")))


def assets_dir() -> Path:
    """The folder of render assets: typst style, CSL style, bibliography, filters."""
    return templates_dir() / "assets"


def asset(name: str) -> Path:
    """One asset by file name; a missing asset is a packaging bug, said plainly."""
    path = assets_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"refracture is installed without its asset {name!r} ({path})")
    return path
