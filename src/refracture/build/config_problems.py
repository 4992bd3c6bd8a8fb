"""Configuration problems: the rendering of pydantic validation errors as one
``source: key: message`` line each, in the words of the configuration file
(``analysis.alpha: must be between 0 and 0.5 (got 0.7)``), raised together as one
:class:`~refracture.errors.ConfigProblems` (shared with import mappings, as are the
words: :mod:`refracture.common.settings_file`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from refracture.build.config_schema import VariantOverrides, _Model, _section
from refracture.common.settings_file import describe_error
from refracture.common.settings_file import dotted as _dotted
from refracture.common.settings_file import show as _show
from refracture.errors import ConfigProblems

__all__ = ["ConfigProblems", "_dotted", "_problems", "_show"]


# --- error messages ------------------------------------------------------------------------


def _walk(root: type[_Model], loc: Sequence[Any]) -> type[_Model] | None:
    """The section model at ``loc`` (keys from the top of ``root``, the whole
    configuration's model), or ``None`` if it is no section."""
    model: type[_Model] = root
    i = 0
    while i < len(loc):
        key = loc[i]
        info = model.model_fields.get(str(key))
        if info is None:
            return None
        if model is root and key == "variants":
            if i + 1 == len(loc):
                return None  # the mapping of variants itself
            model, i = VariantOverrides, i + 2
            continue
        sub = _section(info.annotation)
        if sub is None:
            return None
        model, i = sub, i + 1
    return model


def _message(err: Mapping[str, Any], loc: tuple[Any, ...], root: type[_Model]) -> str:
    def keys(parent: tuple[Any, ...]) -> list[str] | None:
        model = _walk(root, parent)
        return list(model.model_fields) if model else None

    return describe_error(err, loc, keys)


def _problems(
    e: ValidationError,
    source: Callable[[tuple[Any, ...]], str],
    prefix: tuple[Any, ...] = (),
    *,
    root: type[_Model],
) -> list[str]:
    """One line per problem of ``e``, raised validating ``root`` (the configuration's
    model); ``source`` names who gave the value at a location, ``prefix`` is prepended
    to every location."""
    errors = e.errors()
    locs = [tuple(p for p in err["loc"] if p != "[key]") for err in errors]
    lines = []
    for err, loc in zip(errors, locs, strict=True):
        if err["type"] == "too_short" and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other in locs
        ):
            continue  # a list whose items failed: the items say why
        full = prefix + loc
        key = _dotted(full) or "(top level)"
        line = f"{source(full)}: {key}: {_message(err, full, root)}"
        if line not in lines:
            lines.append(line)
    return lines
