"""The date stamped into every output, so that rebuilds are byte-identical."""

from __future__ import annotations

import os

from refracture.errors import ConfigError

__all__ = ["DEFAULT_EPOCH", "build_epoch", "source_date_epoch"]

DEFAULT_EPOCH = 1795564800
"""2026-11-25 00:00 UTC: the creation date written into documents when
``SOURCE_DATE_EPOCH`` is not set, so that rebuilds are byte-identical."""


def source_date_epoch(default: int) -> int:
    """``SOURCE_DATE_EPOCH`` when set (reproducible builds), else ``default``."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"SOURCE_DATE_EPOCH must be whole seconds, not {raw!r}") from exc


def build_epoch() -> int:
    """The build date in seconds: ``SOURCE_DATE_EPOCH``, else :data:`DEFAULT_EPOCH`."""
    return source_date_epoch(DEFAULT_EPOCH)
