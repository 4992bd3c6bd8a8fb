"""Where refracture keeps what it may recompute: ``REFRACTURE_CACHE_DIR``, else the
user cache folder (``$XDG_CACHE_HOME/refracture`` or ``~/.cache/refracture``).

Nothing in it is an output or an input of a build: deleting it only makes the
next build slower (compiled templates, the analyses of earlier builds)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """refracture's cache folder (not created here)."""
    explicit = os.environ.get("REFRACTURE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "refracture"
