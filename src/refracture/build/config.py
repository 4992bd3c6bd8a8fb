"""The configuration file (``refracture.yml``), ``--set`` overrides and reanalysis variants.

A configuration has six sections, every key optional with the paper's defaults:

* ``data``: ``path`` of the cohort (``null``: the built-in example cohort);
* ``manuscript``: the title page (title, authors, keywords, date, ...);
* ``analysis``: alpha, the T-score cutoff grid, covariates, bootstrap, seed, survival times;
* ``cohort``: exclusions and filters applied to the validated cohort before derivation;
* ``output``: formats, style, engine and the build folder;
* ``variants``: named partial configurations deep-merged over the rest (reanalyses).

:func:`load_config` reads the file, applies ``--set key=value`` overrides and validates
everything at once: every problem becomes one line of a single :class:`ConfigError`
(``refracture.yml: analysis.alpha: must be between 0 and 0.5 (got 0.7)``).
Relative paths in the file resolve against the file's folder; relative paths given
with ``--set`` and the defaults resolve against the working directory.

This module is the public entry point and does the loading (YAML reading, path
resolution, overrides); the schema lives in :mod:`refracture.build.config_schema`,
:class:`Config` in :mod:`refracture.build.config_model`, the rendering of problems in
:mod:`refracture.build.config_problems` and the cohort filters in
:mod:`refracture.build.cohort_filters`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from refracture.build.cohort_filters import apply_cohort_filters
from refracture.build.config_model import Config, _merge_variant, config_hash
from refracture.build.config_problems import ConfigProblems, _dotted, _problems, _show
from refracture.build.config_schema import (
    _PATH_KEYS,
    MAX_CUTOFFS,
    AnalysisSection,
    AuthorEntry,
    CohortSection,
    CutoffGrid,
    DataSection,
    Exclusions,
    Filters,
    ManuscriptSection,
    ModelSection,
    OutputSection,
    SurvivalSection,
    VariantOverrides,
    _Model,
    _section,
)
from refracture.common.settings_file import StrictLoader, read_yaml
from refracture.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "MAX_CUTOFFS",
    "AnalysisSection",
    "AuthorEntry",
    "CohortSection",
    "Config",
    "ConfigProblems",
    "CutoffGrid",
    "DataSection",
    "Exclusions",
    "Filters",
    "ManuscriptSection",
    "ModelSection",
    "OutputSection",
    "SurvivalSection",
    "VariantOverrides",
    "apply_cohort_filters",
    "config_hash",
    "load_config",
]

DEFAULT_CONFIG_NAME = "refracture.yml"


_Loader = StrictLoader  # refuses a key written twice


def _read_yaml(path: Path, label: str) -> dict[str, Any]:
    raw = read_yaml(path, label, "configuration file", _Loader)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{label}: must be a mapping of sections ({', '.join(Config.model_fields)}), "
            f"not {_show(raw)}"
        )
    return raw


def _absolute(value: Any, base: Path) -> Any:
    if not isinstance(value, str | Path) or not str(value).strip():
        return value  # invalid: validation reports it
    p = Path(value).expanduser()
    return os.path.normpath(p if p.is_absolute() else base / p)


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    """Make the path values of a raw configuration (and its variants) absolute."""
    blocks = [raw]
    variants = raw.get("variants")
    if isinstance(variants, dict):
        blocks += [v for v in variants.values() if isinstance(v, dict)]
    for block in blocks:
        for section, key in _PATH_KEYS:
            sec = block.get(section)
            if isinstance(sec, dict) and key in sec:
                sec[key] = _absolute(sec[key], base)


def _override_key(key: str) -> tuple[tuple[str, ...], str | None]:
    """The key as a path of names, or why it names no setting."""
    parts = tuple(key.split("."))
    if not key or any(not p for p in parts):
        return parts, "not a dotted key such as analysis.alpha"
    model: type[_Model] = Config
    i = 0
    while i < len(parts):
        here = _dotted(parts[:i])
        if parts[i] not in model.model_fields:
            where = f" in {here}" if here else ""
            valid = ", ".join(model.model_fields)
            return parts, f"unknown key {parts[i]!r} (valid keys{where}: {valid})"
        if model is Config and parts[i] == "variants":
            if i + 1 == len(parts):
                return parts, None
            model, i = VariantOverrides, i + 2
            continue
        sub = _section(model.model_fields[parts[i]].annotation)
        if sub is None:
            if i + 1 < len(parts):
                return parts, f"{_dotted(parts[: i + 1])} is a value and has no keys"
            return parts, None
        model, i = sub, i + 1
    return parts, None


def _set(raw: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    node = raw
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = value


def load_config(path: Path | str | None, overrides: Sequence[str] = ()) -> Config:
    """Read ``path`` (``None``: the defaults), apply ``key=value`` overrides, validate.

    Every problem is reported at once in one :class:`ConfigError`; relative paths in
    the file resolve against its folder, the others against the working directory.
    """
    label = str(path) if path is not None else ""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        raw = _read_yaml(path, label)
        _resolve_paths(raw, path.parent.absolute())

    lines: list[str] = []
    set_keys: list[tuple[str, ...]] = []
    cwd = Path.cwd()
    for item in overrides:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq:
            lines.append(f"--set {item}: must be written key=value, e.g. analysis.alpha=0.01")
            continue
        parts, problem = _override_key(key)
        if problem:
            lines.append(f"--set {key}: {problem}")
            continue
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as e:
            lines.append(f"--set {key}: the value {text!r} is not valid YAML ({e})")
            continue
        # paths given on the command line are relative to the working directory
        alone: dict[str, Any] = {}
        _set(alone, parts, value)
        _resolve_paths(alone, cwd)
        node: Any = alone
        for p in parts:
            node = node[p]
        _set(raw, parts, node)
        set_keys.append(parts)

    def source(loc: tuple[Any, ...]) -> str:
        """Who gave the value at ``loc``: the last --set of it or of a section around
        it, else every --set inside it (a section-level problem), else the file."""
        at = tuple(map(str, loc))
        around = [k for k in set_keys if at[: len(k)] == k]
        if around:
            return f"--set {'.'.join(max(around, key=len))}"
        inside = dict.fromkeys(".".join(k) for k in set_keys if k[: len(at)] == at)
        if inside:
            return ", ".join(f"--set {k}" for k in inside)
        return label or "configuration"

    config: Config | None = None
    try:
        config = Config.model_validate(raw)
    except ValidationError as e:
        lines += _problems(e, source, root=Config)
    if config is not None:
        config = _absolute_defaults(config, cwd)
        for name in config.variants:
            try:
                _merge_variant(config, name)
            except ValidationError as e:
                lines += [
                    line
                    for line in _problems(e, source, prefix=("variants", name), root=Config)
                    if line not in lines
                ]
    if lines:
        # "--set analysis.alpha: analysis.alpha: …" names the key once
        lines = [re.sub(r"^--set ([\w.]+): \1: ", r"--set \1: ", line) for line in lines]
        raise ConfigProblems(lines)
    assert config is not None
    if path is not None:
        config._file = path.absolute()
    return config


def _absolute_defaults(config: Config, cwd: Path) -> Config:
    out = config.output
    if out.out.is_absolute():
        return config
    output = out.model_copy(update={"out": Path(os.path.normpath(cwd / out.out))})
    return config.model_copy(update={"output": output})
