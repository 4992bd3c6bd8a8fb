"""What every settings file refracture reads shares: strict YAML and problems in its words.

Two files are written by people and validated by refracture: the configuration
(``refracture.yml``, :mod:`refracture.build.config`) and an import mapping
(:mod:`refracture.data.importing.mapping`). Both are read with :class:`StrictLoader`,
which refuses a key written twice (YAML keeps the last one silently, so a forgotten
duplicate would change a setting without a word), and both report every problem at
once, one ``source: key: message`` line each, whose message :func:`describe_error`
words from a pydantic error in the terms of the file (``must be one of 'redcap',
'table' (got 'csv')``) rather than pydantic's.

This module imports PyYAML and nothing of pydantic (the errors arrive as the plain
dictionaries of ``ValidationError.errors()``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

__all__ = ["StrictLoader", "describe_error", "dotted", "show"]


class StrictLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key written twice in one mapping."""


def _mapping(loader: StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
    return loader.construct_mapping(node)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def show(v: Any, limit: int = 80) -> str:
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


def dotted(loc: Sequence[Any]) -> str:
    """A location as the file's reader names it: ``analysis.cutoffs[2]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe_error(
    err: Mapping[str, Any],
    loc: tuple[Any, ...],
    valid_keys: Callable[[tuple[Any, ...]], Sequence[str] | None],
) -> str:
    """The message of one pydantic error at ``loc``, in the words of a settings file.

    ``valid_keys(parent)`` lists the keys allowed where an unknown key was found (or
    None when it cannot tell). Errors the schema raised itself (types starting with
    ``refracture_``) keep their own message.
    """
    kind = str(err["type"])
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        keys = ", ".join(valid_keys(loc[:-1]) or ())
        where = f" in {dotted(loc[:-1])}" if loc[:-1] else ""
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
    return f"{msg} (got {show(err.get('input'))})"


def read_yaml(path: Path, label: str, what: str, loader: type[yaml.SafeLoader]) -> Any:
    """The YAML document of ``path`` (a ``what``: "configuration file", "mapping file"),
    or :class:`~refracture.errors.ConfigError` naming ``label`` and, for a syntax error,
    the line and column."""
    from refracture.errors import ConfigError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: {what} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a folder, not a {what}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{label}: cannot read the {what} ({e})") from None
    try:
        return yaml.load(text, Loader=loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{label}: {where}not valid YAML: {e.problem}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{label}: not valid YAML: {e}") from None
