"""Configuration problems: :class:`ConfigProblems` and the rendering of pydantic
validation errors as one ``source: key: message`` line each, in the words of the
configuration file (``analysis.alpha: must be between 0 and 0.5 (got 0.7)``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from refracture.build.config_schema import VariantOverrides, _Model, _section
from refracture.errors import ConfigError


class ConfigProblems(ConfigError):
    """Invalid configuration: ``problems`` holds one ``source: key: message`` line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        n = len(self.problems)
        if n == 1:
            message = self.problems[0]
        else:
            message = f"{n} problems in the configuration:\n" + "\n".join(self.problems)
        super().__init__(message)


# --- error messages ------------------------------------------------------------------------


def _show(v: Any, limit: int = 80) -> str:
    """A value as YAML would write it, short."""

    def fmt(x: Any) -> str:
        if x is None:
            return "null"
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, int | float | Decimal):
            return str(x)
        if isinstance(x, str):
            return repr(x)
        if isinstance(x, Path):
            return repr(str(x))
        if isinstance(x, Mapping):
            return "{" + ", ".join(f"{k}: {fmt(val)}" for k, val in x.items()) + "}"
        if isinstance(x, list | tuple):
            return "[" + ", ".join(fmt(i) for i in x) + "]"
        return repr(x)

    text = fmt(v)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def _dotted(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(err: Mapping[str, Any], loc: tuple[Any, ...], root: type[_Model]) -> str:
    kind = str(err["type"])
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        parent = _walk(root, loc[:-1])
        keys = ", ".join(parent.model_fields) if parent else ""
        where = f" in {_dotted(loc[:-1])}" if loc[:-1] else ""
        return f"unknown key (valid keys{where}: {keys})"
    if kind.startswith("refracture_"):
        msg = str(err["msg"])
    elif kind == "literal_error":
        msg = f"must be one of {ctx.get('expected', '')}"
    elif kind in ("bool_type", "bool_parsing"):
        msg = "must be true or false"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        msg = "must be a whole number"
    elif kind in ("float_type", "float_parsing", "finite_number"):
        msg = "must be a number"
    elif kind in ("string_type", "string_unicode"):
        msg = "must be text"
    elif kind == "string_too_short":
        msg = "must not be empty"
    elif kind in ("tuple_type", "list_type", "iterable_type"):
        msg = "must be a list"
    elif kind == "too_short":
        n = int(ctx.get("min_length", 1))
        msg = "must not be empty" if n == 1 else f"must have at least {n} items"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        msg = "must be a mapping of keys to values"
    elif kind in ("path_type", "path_parsing"):
        msg = "must be a path"
    else:
        text = str(err["msg"])
        msg = text[:1].lower() + text[1:]
    return f"{msg} (got {_show(err.get('input'))})"


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
