"""The schema of the configuration: field types with their validators, the section models
(``data``, ``manuscript``, ``analysis``, ``cohort``, ``output``) with the paper's defaults,
and the partial models a variant is validated against (every key optional).

:class:`refracture.build.config_model.Config` is built on these sections; validation
problems are raised as pydantic errors whose messages
:mod:`refracture.build.config_problems` renders.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import types
import typing
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from refracture.analysis.settings import COVARIATE_LABELS, AnalysisSettings
from refracture.report.context import ManuscriptMeta
from refracture.report.engine import ENGINES, FORMATS, STYLES
from refracture.report.journal import available_journals

MAX_CUTOFFS = 200
VARIANT_NAME = re.compile(r"[a-z0-9_-]{1,40}")

_SETTINGS = AnalysisSettings()
_META = ManuscriptMeta()

# the keys holding paths (made absolute on reading, reduced to their name in documents)
_PATH_KEYS = (
    ("data", "path"),
    ("output", "out"),
    ("manuscript", "templates"),
    ("manuscript", "bibliography"),
)


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


def _folder(v: Path) -> Path:
    if not v.is_dir():
        raise _fail("path", "must be an existing folder")
    return v


def _file(v: Path) -> Path:
    if not v.is_file():
        raise _fail("path", "must be an existing file")
    return v


def _email(v: str) -> str:
    if v and "@" not in v:
        raise _fail("email", "must be an e-mail address")
    return v


def _journal(v: str, info: ValidationInfo) -> str:
    """A journal with a profile, shipped or in the project's templates (``journals/``)."""
    known = available_journals((info.data or {}).get("templates"))
    if v not in known:
        raise _fail("journal", f"must be a journal with a profile: {', '.join(known)}")
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
    templates: Annotated[Path, BeforeValidator(_path), AfterValidator(_folder)] | None = None
    """The project's templates: each file overrides the shipped one of the same path."""
    bibliography: Annotated[Path, BeforeValidator(_path), AfterValidator(_file)] | None = None
    """The project's BibTeX file, used instead of the shipped references."""
    journal: Annotated[str, Strict(), AfterValidator(_journal)] = "spine"
    """The journal profile ``refracture submit`` checks against (after ``templates``, whose
    ``journals/`` folder may add profiles)."""


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
