"""How a path is shown to the user: as they may have typed it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["shown"]


def shown(path: Path | str) -> str:
    """``path`` relative to the working folder when it lies inside it (``.`` for the
    folder itself), else as given: messages name ``data/levels.csv``, not the
    machine's full path to it."""
    try:
        rel = Path(path).resolve().relative_to(Path.cwd().resolve())
    except (ValueError, OSError, RuntimeError):
        return str(path)
    return "." if rel == Path(".") else rel.as_posix()
