"""The validated configuration, :class:`Config`: its sections and named variants, the
settings it hands to the analysis and the report, its resolved and portable forms,
the merging of a variant over it, and :func:`config_hash` of it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError

from refracture.analysis.settings import AnalysisSettings
from refracture.build.config_problems import ConfigProblems, _problems
from refracture.build.config_schema import _PATH_KEYS, VariantName, VariantOverrides, _Sections
from refracture.errors import ConfigError
from refracture.report.context import Author, ManuscriptMeta


class Config(_Sections):
    """A validated configuration (see :mod:`refracture.build.config`)."""

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
            lines = _problems(
                e, lambda loc: f"variant {name}", prefix=("variants", name), root=Config
            )
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
