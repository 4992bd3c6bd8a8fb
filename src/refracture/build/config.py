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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from refracture.analysis.settings import COVARIATE_LABELS, AnalysisSettings
from refracture.errors import ConfigError
from refracture.report.context import Author, ManuscriptMeta
from refracture.report.engine import ENGINES, FORMATS, STYLES

if TYPE_CHECKING:
    import pandas as pd

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
MAX_CUTOFFS = 200
VARIANT_NAME = re.compile(r"[a-z0-9_-]{1,40}")

_SETTINGS = AnalysisSettings()
_META = ManuscriptMeta()


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


# --- field types ---------------------------------------------------------------------------


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(f"refracture_{kind}", message)


def _between(low: float, high: float) -> AfterValidator:
    def check(v: float) -> float:
        if not low < v < high:  # also rejects NaN
            raise _fail("range", f"must be between {low:g} and {high:g}")
        return v

    return AfterValidator(check)


def _at_least(low: float, *, strict: bool = False) -> AfterValidator:
    def check(v: float) -> float:
        if not (v > low if strict else v >= low):
            raise _fail("range", f"must be {'above' if strict else 'at least'} {low:g}")
        return v

    return AfterValidator(check)


def _unique(v: tuple[Any, ...]) -> tuple[Any, ...]:
    seen: set[Any] = set()
    for x in v:
        if x in seen:
            raise _fail("duplicate", f"lists {x!r} more than once")
        seen.add(x)
    return v


def _increasing(v: tuple[int, ...]) -> tuple[int, ...]:
    if any(b <= a for a, b in itertools.pairwise(v)):
        raise _fail("order", "must be in increasing order without repeats")
    return v


def _covariate(v: str) -> str:
    if v not in COVARIATE_LABELS:
        raise _fail("covariate", f"must be one of {', '.join(COVARIATE_LABELS)}")
    return v


def _to_decimal(v: Any) -> Decimal:
    """A decimal from a YAML number or string, exactly as written (``-2.2`` is -2.2)."""
    bad = _fail("decimal", "must be a decimal number such as -2.5")
    if isinstance(v, bool):
        raise bad
    if isinstance(v, Decimal):
        d = v
    elif isinstance(v, int):
        d = Decimal(v)
    elif isinstance(v, float):
        d = Decimal(repr(v))  # the shortest text that reads back as this float
    elif isinstance(v, str):
        try:
            d = Decimal(v.strip())
        except InvalidOperation:
            raise bad from None
    else:
        raise bad
    if not d.is_finite():
        raise bad
    if d == 0:
        return Decimal(0)
    return Decimal(format(d.normalize(), "f"))  # "-1.50" and -1.5 are the same cutoff


def _date_text(v: Any) -> Any:
    # YAML reads an unquoted 2026-11-25 as a date
    return v.isoformat() if isinstance(v, dt.date) else v


def _path(v: Any) -> Any:
    if isinstance(v, str) and not v.strip():
        raise _fail("path", "must be a path (not empty)")
    return v


def _email(v: str) -> str:
    if v and "@" not in v:
        raise _fail("email", "must be an e-mail address")
    return v


def _canonical_formats(v: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f for f in FORMATS if f in v)


def _variant_name(v: str) -> str:
    if not VARIANT_NAME.fullmatch(v):
        raise _fail("name", "variant names are 1 to 40 characters of a-z, 0-9, _ and -")
    return v


Bool = Annotated[bool, Strict()]
Int = Annotated[int, Strict()]
Number = Annotated[float, Strict()]
Text = Annotated[str, Strict()]
NonEmptyText = Annotated[str, Strict(), Field(min_length=1)]
CohortPath = Annotated[Path, BeforeValidator(_path)]
Dec = Annotated[Decimal, BeforeValidator(_to_decimal)]
Covariate = Annotated[str, Strict(), AfterValidator(_covariate)]
Covariates = Annotated[tuple[Covariate, ...], Field(min_length=1), AfterValidator(_unique)]
Month = Annotated[int, Strict(), _at_least(0)]
Procedure = Literal["VP", "KP"]
Format = Literal[tuple(FORMATS)]  # type: ignore[valid-type]
Style = Literal[STYLES]  # type: ignore[valid-type]
EngineName = Literal[ENGINES]  # type: ignore[valid-type]
VariantName = Annotated[str, AfterValidator(_variant_name)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- sections ------------------------------------------------------------------------------


class DataSection(_Model):
    path: CohortPath | None = None
    """Cohort folder or workbook; ``None``: the built-in example cohort."""


class AuthorEntry(_Model):
    name: NonEmptyText
    affiliations: tuple[Text, ...] = ()
    email: Annotated[str, Strict(), AfterValidator(_email)] = ""
    corresponding: Bool = False


class ManuscriptSection(_Model):
    title: NonEmptyText = _META.title
    running_title: NonEmptyText = _META.running_title
    authors: Annotated[tuple[AuthorEntry, ...], Field(min_length=1)] = tuple(
        AuthorEntry(
            name=a.name,
            affiliations=a.affiliations,
            email=a.email,
            corresponding=a.corresponding,
        )
        for a in _META.authors
    )
    keywords: tuple[NonEmptyText, ...] = _META.keywords
    date: Annotated[str, BeforeValidator(_date_text), Strict(), Field(min_length=1)] = _META.date
    study_period: NonEmptyText = _META.study_period
    setting: NonEmptyText = _META.setting
    synthetic: Bool = _META.synthetic
    funding: Text = _META.funding
    conflicts: Text = _META.conflicts


class CutoffGrid(_Model):
    """The T-score cutoffs from ``high`` down to ``low`` in steps of ``step``, exactly."""

    high: Dec = _SETTINGS.cutoffs[0]
    low: Dec = _SETTINGS.cutoffs[-1]
    step: Annotated[Dec, _at_least(0, strict=True)] = _SETTINGS.cutoffs[0] - _SETTINGS.cutoffs[1]

    @model_validator(mode="after")
    def _check(self) -> CutoffGrid:
        if self.high <= self.low:
            raise _fail("grid", f"high ({self.high}) must be above low ({self.low})")
        n = int((self.high - self.low) // self.step) + 1
        if n > MAX_CUTOFFS:
            raise _fail("grid", f"gives {n} cutoffs; at most {MAX_CUTOFFS} are allowed")
        return self

    def grid(self) -> tuple[Decimal, ...]:
        """``high, high - step, ...`` down to ``low`` (as ``AnalysisSettings`` builds it)."""
        out = []
        x = self.high
        while x >= self.low:
            out.append(x)
            x -= self.step
        return tuple(out)


class ModelSection(_Model):
    covariates: Covariates = _SETTINGS.model_covariates
    epv_warning: Annotated[Number, _at_least(0, strict=True)] = _SETTINGS.epv_warning


class SurvivalSection(_Model):
    km_times: Annotated[tuple[Month, ...], Field(min_length=1), AfterValidator(_increasing)] = (
        _SETTINGS.km_times
    )
    cumulative_incidence_times: Annotated[
        tuple[Month, ...], Field(min_length=1), AfterValidator(_increasing)
    ] = _SETTINGS.cumulative_incidence_times


class AnalysisSection(_Model):
    alpha: Annotated[Number, _between(0, 0.5)] = _SETTINGS.alpha
    cutoffs: CutoffGrid = Field(default_factory=CutoffGrid)
    model: ModelSection = Field(default_factory=ModelSection)
    candidate_covariates: Covariates = _SETTINGS.candidate_covariates
    bootstrap_replicates: Annotated[Int, _at_least(0)] = _SETTINGS.bootstrap_replicates
    seed: Int = _SETTINGS.seed
    survival: SurvivalSection = Field(default_factory=SurvivalSection)


class Exclusions(_Model):
    min_followup_months: Annotated[Number, _at_least(0)] | None = None
    exclude_steroids: Bool = False


class Filters(_Model):
    procedure: Procedure | None = None


class CohortSection(_Model):
    exclusions: Exclusions = Field(default_factory=Exclusions)
    filters: Filters = Field(default_factory=Filters)


class OutputSection(_Model):
    formats: Annotated[
        tuple[Format, ...], Field(min_length=1), AfterValidator(_canonical_formats)
    ] = tuple(FORMATS)
    style: Style = STYLES[0]
    engine: EngineName = "auto"
    out: CohortPath = Path("_manuscript")


class _Sections(_Model):
    data: DataSection = Field(default_factory=DataSection)
    manuscript: ManuscriptSection = Field(default_factory=ManuscriptSection)
    analysis: AnalysisSection = Field(default_factory=AnalysisSection)
    cohort: CohortSection = Field(default_factory=CohortSection)
    output: OutputSection = Field(default_factory=OutputSection)


# --- variants: the same sections with every key optional ----------------------------------


def _section(annotation: Any) -> type[_Model] | None:
    """The section model an annotation holds (``X`` or ``X | None``), if any."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = inner[0] if len(inner) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, _Model):
        return annotation
    return None


def _partial(model: type[_Model]) -> type[_Model]:
    """``model`` with every key optional (unset keys leave the base value alone)."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        sub = _section(info.annotation)
        if sub is not None:
            fields[name] = (_partial(sub), None)
        elif info.metadata:
            fields[name] = (Annotated[(info.annotation, *info.metadata)], None)
        else:
            fields[name] = (info.annotation, None)
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"Partial{model.__name__}", __base__=_Model, __module__=__name__, **fields
    )


VariantOverrides = _partial(_Sections)
"""A variant: any subset of the keys of the sections above, as a nested mapping."""


class Config(_Sections):
    """A validated configuration (see the module docstring)."""

    variants: dict[VariantName, VariantOverrides] = Field(  # type: ignore[valid-type]
        default_factory=dict
    )
    _file: Path | None = PrivateAttr(default=None)

    @property
    def file(self) -> Path | None:
        """The configuration file read (absolute), or None for defaults alone."""
        return self._file

    def __eq__(self, other: object) -> bool:
        """Equal settings, wherever they were read from."""
        if not isinstance(other, Config):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def variant(self, name: str) -> Config:
        """This configuration with variant ``name`` merged in (and no variants of its own)."""
        if name not in self.variants:
            known = ", ".join(self.variants) or "none are defined"
            raise ConfigError(f"unknown variant {name!r} (variants: {known})")
        try:
            merged = _merge_variant(self, name)
        except ValidationError as e:
            lines = _problems(e, lambda loc: f"variant {name}", prefix=("variants", name))
            raise ConfigProblems(lines) from None
        merged._file = self._file
        return merged

    def analysis_settings(self) -> AnalysisSettings:
        a = self.analysis
        return AnalysisSettings(
            alpha=float(a.alpha),
            cutoffs=a.cutoffs.grid(),
            model_covariates=tuple(a.model.covariates),
            candidate_covariates=tuple(a.candidate_covariates),
            bootstrap_replicates=int(a.bootstrap_replicates),
            seed=int(a.seed),
            km_times=tuple(a.survival.km_times),
            cumulative_incidence_times=tuple(a.survival.cumulative_incidence_times),
            epv_warning=float(a.model.epv_warning),
        )

    def manuscript_meta(self) -> ManuscriptMeta:
        m = self.manuscript
        return ManuscriptMeta(
            title=m.title,
            running_title=m.running_title,
            authors=tuple(
                Author(a.name, tuple(a.affiliations), a.email, a.corresponding) for a in m.authors
            ),
            keywords=tuple(m.keywords),
            date=m.date,
            study_period=m.study_period,
            setting=m.setting,
            synthetic=m.synthetic,
            funding=m.funding,
            conflicts=m.conflicts,
        )

    def resolved(self) -> dict[str, Any]:
        """Every value (defaults included) as JSON-ready data in a fixed key order.

        Sections and keys follow the model's order, variants are sorted by name and
        hold only the keys they set; decimals are strings, paths absolute strings.
        """
        out = self.model_dump(mode="json", exclude={"variants"})
        out["variants"] = {
            name: self.variants[name].model_dump(mode="json", exclude_unset=True)
            for name in sorted(self.variants)
        }
        return out

    def portable(self) -> dict[str, Any]:
        """:meth:`resolved` with each path reduced to its last name, for the documents:
        they never carry a path of the machine that built them."""
        out = self.resolved()
        for section in (out, *out["variants"].values()):
            for group, key in _PATH_KEYS:
                value = section.get(group, {}).get(key)
                if isinstance(value, str):
                    section[group][key] = Path(value).name
        return out


def config_hash(config: Config) -> str:
    """SHA-256 (hex) of the canonical JSON of :meth:`Config.portable`: the build record
    holds it, and a project moved to another folder or machine keeps its hash (the
    data's content is hashed on its own)."""
    text = json.dumps(config.portable(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


def _merge_variant(config: Config, name: str) -> Config:
    base = config.model_dump(exclude={"variants"})
    over = config.variants[name].model_dump(exclude_unset=True)
    return Config.model_validate(_deep_merge(base, over))


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


def _walk(loc: Sequence[Any]) -> type[_Model] | None:
    """The section model at ``loc`` (keys from the top), or ``None`` if it is no section."""
    model: type[_Model] = Config
    i = 0
    while i < len(loc):
        key = loc[i]
        info = model.model_fields.get(str(key))
        if info is None:
            return None
        if model is Config and key == "variants":
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


def _message(err: Mapping[str, Any], loc: tuple[Any, ...]) -> str:
    kind = str(err["type"])
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        parent = _walk(loc[:-1])
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
) -> list[str]:
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
        line = f"{source(full)}: {key}: {_message(err, full)}"
        if line not in lines:
            lines.append(line)
    return lines


# --- loading -------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key written twice in one mapping."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
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


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _read_yaml(path: Path, label: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: configuration file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a folder, not a configuration file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{label}: cannot read the configuration file ({e})") from None
    try:
        raw = yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{label}: {where}not valid YAML: {e.problem}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{label}: not valid YAML: {e}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{label}: must be a mapping of sections ({', '.join(Config.model_fields)}), "
            f"not {_show(raw)}"
        )
    return raw


_PATH_KEYS = (("data", "path"), ("output", "out"))


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
        lines += _problems(e, source)
    if config is not None:
        config = _absolute_defaults(config, cwd)
        for name in config.variants:
            try:
                _merge_variant(config, name)
            except ValidationError as e:
                lines += [
                    line
                    for line in _problems(e, source, prefix=("variants", name))
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


# --- cohort exclusions and filters ---------------------------------------------------------


PROCEDURE_NAMES = {"VP": "vertebroplasty", "KP": "kyphoplasty"}


def _patients(n: int) -> str:
    return f"{n} patient{'' if n == 1 else 's'}"


def apply_cohort_filters(
    patients: pd.DataFrame,
    levels: pd.DataFrame,
    cohort_cfg: CohortSection | Config,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Drop the patients the exclusions and filters remove, and their level rows.

    Works on the validated frames (:class:`refracture.data.validate.Cohort`, before
    derivation); returns new frames (index 0..n-1, ``_row`` kept) and one line per
    active criterion, in the order applied. A missing follow-up counts as below the
    minimum; an unknown glucocorticoid use is kept (and said so).
    """
    import pandas as pd

    cfg = cohort_cfg.cohort if isinstance(cohort_cfg, Config) else cohort_cfg
    keep = pd.Series(True, index=patients.index)
    lines: list[str] = []
    ex, flt = cfg.exclusions, cfg.filters
    if ex.min_followup_months is not None:
        fu = pd.to_numeric(patients["followup_months"], errors="coerce")
        drop = keep & ~(fu >= ex.min_followup_months).fillna(False).astype(bool)
        lines.append(
            f"excluded {_patients(int(drop.sum()))} with follow-up below "
            f"{ex.min_followup_months:g} months"
        )
        keep &= ~drop
    if ex.exclude_steroids:
        steroid = patients["steroid_use"].astype("boolean")
        drop = keep & steroid.eq(True).fillna(False).astype(bool)
        unknown = keep & steroid.isna().astype(bool)
        lines.append(f"excluded {_patients(int(drop.sum()))} on long-term glucocorticoids")
        if unknown.any():
            lines.append(
                f"kept {_patients(int(unknown.sum()))} whose glucocorticoid use is not recorded"
            )
        keep &= ~drop
    if flt.procedure is not None:
        proc = patients["procedure"].astype("string")
        drop = keep & ~proc.eq(flt.procedure).fillna(False).astype(bool)
        name = PROCEDURE_NAMES[flt.procedure]
        lines.append(
            f"excluded {_patients(int(drop.sum()))} not treated with {name} ({flt.procedure})"
        )
        keep &= ~drop
    if not keep.any():
        detail = "; ".join(lines)
        raise ConfigError(f"no patient remains after the cohort exclusions and filters ({detail})")
    kept = patients.loc[keep].reset_index(drop=True)
    ids = set(kept["patient_id"].astype(str))
    lv = levels.loc[levels["patient_id"].astype(str).isin(ids)].reset_index(drop=True)
    return kept, lv, lines
