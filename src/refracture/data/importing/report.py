"""What ``refracture import`` writes: the cohort as contract CSV, and ``import-report.md``.

The report says what the import read (the mapping and its files, by name), how many rows
it read and wrote per table, how each contract column was filled, every value it
recoded with its count, the source columns it left unused (identifier-like ones by name
only) and what validation found. It holds no patient identifier and no path of the
machine (files are named, never located), and the same inputs give the same bytes.
Values of number and text columns are never listed; only the codes of category and
yes/no columns are.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence

import pandas as pd

from refracture.data import schema as S
from refracture.data.importing.run import ImportSummary
from refracture.data.problems import Problem

__all__ = ["contract_csv", "import_report"]


def contract_csv(frame: pd.DataFrame) -> str:
    """A contract table as CSV text (UTF-8, ``\\n`` line ends), its cells as imported."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([str(c) for c in frame.columns])
    w.writerows(frame.astype(str).itertuples(index=False, name=None))
    return buf.getvalue()


def _cell(text: object) -> str:
    """Text safe in a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`" if text and "`" not in text else _cell(text or "(blank)")


def _table(header: Sequence[str], align: str, rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def import_report(summary: ImportSummary, warnings: Sequence[Problem], mapping_name: str) -> str:
    """``import-report.md`` for an import whose cohort passed validation with ``warnings``."""
    files = ", ".join(f"`{name}`" for _, name in summary.files)
    lines = [
        "# Import report",
        "",
        f"The mapping `{summary.mapping}` read {summary.kind}: {files}.",
        "",
        "## Rows",
        "",
        *_table(
            ("Table", "Read from", "Rows read", "Rows written"),
            (":--", ":--", "--:", "--:"),
            [(t, what, f"{n:,}", f"{w:,}") for t, what, n, w in summary.rows],
        ),
        "",
        "## Columns",
        "",
        "Each contract column, the source column it is read from and how its values are read.",
        "",
        *_table(
            ("Contract column", "Source column", "Values"),
            (":--", ":--", ":--"),
            [(f"{u.table}.{u.column}", u.source, u.how) for u in summary.uses],
        ),
        "",
        "## Values recoded",
        "",
    ]
    if summary.recodes:
        lines += [
            "Source values that became another contract value, with the number of rows.",
            "",
            *_table(
                ("Contract column", "Source value", "Label", "Contract value", "Rows", "By"),
                (":--", ":--", ":--", ":--", "--:", ":--"),
                [
                    (f"{t}.{c}", _code(r.source), r.meaning, _code(r.target), f"{r.rows:,}", r.by)
                    for t, c, r in summary.recodes
                ],
            ),
        ]
    else:
        lines.append("None: every value was already a contract value.")
    lines += ["", "## Source columns not used", ""]
    if summary.unused:
        lines.append(", ".join(f"`{c}`" for c in summary.unused) + ".")
    else:
        lines.append("None.")
    if summary.identifiers:
        lines += [
            "",
            "Never read, as they hold personal identifiers: "
            + "; ".join(f"`{c}`: {what}" for c, what in summary.identifiers)
            + ".",
        ]
    if summary.notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in summary.notes)]
    lines += ["", "## Validation", ""]
    counted = _plural(len(warnings), "warning")
    lines.append(f"The imported cohort meets the data contract: no errors, {counted}.")
    if warnings:
        kinds = Counter(
            (S.CHECK_TITLES.get(w.check, w.check), (w.column or "-").split(" → ")[-1])
            for w in warnings
        )
        lines += [
            "",
            *_table(
                ("Warning", "Column", "Rows"),
                (":--", ":--", "--:"),
                [(title, col, f"{n:,}") for (title, col), n in sorted(kinds.items())],
            ),
            "",
            f"`refracture validate {mapping_name}` lists each with its source cell.",
        ]
    return "\n".join(lines) + "\n"
