"""Which column names hold personal identifiers (names, dates of birth, record numbers, …).

Such columns never reach a cohort: the loader drops them from a contract-format table
(:mod:`refracture.data.load`) and an import mapping may not read them
(:mod:`refracture.data.importing`); only their names are ever reported.
"""

from __future__ import annotations

import re

from refracture.data.schema import TABLES

__all__ = ["is_identifier_column", "normalise_column_name"]


#: Normalised column names (lower case, runs of other characters -> "_") of
#: columns that hold personal identifiers. ``_?`` lets "FirstName", "first name"
#: and "first_name" all match.
_NUM = r"(?:_?(?:number|num|nr|no|nbr|id))?"
_IDENTIFIER_COLUMN_PATTERNS: dict[str, str] = {
    "a name": r"(?:(?:patient|pt|first|last|given|family|full|middle|maiden|sur|fore|christian)_?)?"
    r"names?|initials",
    "a date of birth": r"dob|d_o_b|date_?of_?birth|birth_?(?:date|day)|born(?:_?on)?",
    "a record number": r"mrn|medical_?record"
    + _NUM
    + r"|(?:patient_?)?record_?(?:number|num|nr|no)"
    r"|hospital_?(?:number|num|nr|no)|nhs" + _NUM + r"|chi_?(?:number|num|nr|no)",
    "a social security number": r"ssn|social_?security" + _NUM + r"|national_?insurance" + _NUM,
    "an address": r"(?:home_?|street_?|postal_?|mailing_?|patient_?)?address(?:_?line)?(?:_?\d+)?"
    r"|street(?:_?name)?|zip(?:_?code)?|post_?code|postal_?code",
    "a phone number": r"(?:tele)?phone"
    + _NUM
    + r"|tel|telephone|(?:mobile|cell)(?:_?phone)?"
    + _NUM
    + r"|fax"
    + _NUM,
    "an e-mail address": r"e_?mail(?:_?address)?",
}
_IDENTIFIER_COLUMN_RES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (what, re.compile(rx)) for what, rx in _IDENTIFIER_COLUMN_PATTERNS.items()
)
_CONTRACT_NAMES: frozenset[str] = frozenset(n for t in TABLES for n in t.names)


def normalise_column_name(name: str) -> str:
    """Lower case, every run of other characters than letters and digits one ``_``:
    ``"First Name"``, ``"first-name"`` and ``"first_name"`` compare equal."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def is_identifier_column(name: str) -> str | None:
    """What a column named ``name`` looks like it holds (e.g. ``"a date of birth"``)
    if it looks like a personal identifier, else ``None``. Contract columns (such as
    ``patient_id``, the pseudonymous study id) never match."""
    if name in _CONTRACT_NAMES:
        return None
    norm = normalise_column_name(str(name))
    for what, rx in _IDENTIFIER_COLUMN_RES:
        if rx.fullmatch(norm):
            return what
    return None
