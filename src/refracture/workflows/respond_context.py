"""The context of the response to the reviewers (``submission/response-to-reviewers.md.j2``):
the comments of the reviews file and what the letter prints of each, apart from
:mod:`refracture.workflows.respond` so that the template lint can make a sample of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Comment", "response_context", "sample_context"]


@dataclass(frozen=True)
class Comment:
    id: str
    reviewer: str
    text: str
    answer: str = ""
    variant: str | None = None
    overrides: tuple[str, ...] = ()

    @property
    def analysis(self) -> str | None:
        """The requested analysis's name in the letter, or None."""
        if self.variant:
            return f"variant {self.variant}"
        if self.overrides:
            return "the analysis with " + "; ".join(self.overrides)
        return None


def _quoted(text: str) -> list[str]:
    """The comment's paragraphs (split at blank lines), each on one line."""
    paragraphs = [" ".join(p.split()) for p in text.replace("\r\n", "\n").split("\n\n")]
    return [p for p in paragraphs if p]


def response_context(
    meta,
    comments: Sequence[Comment],
    answers: Mapping[str, Any],
    tables: Mapping[str, Any],
    changes,
) -> dict[str, Any]:
    """What ``submission/response-to-reviewers.md.j2`` prints."""
    reviewers: dict[str, list[dict[str, Any]]] = {}
    for c in comments:
        reviewers.setdefault(c.reviewer, []).append(
            {
                "id": c.id,
                "quoted": _quoted(c.text),
                "answer": answers.get(c.id, ""),
                "table": tables.get(c.id),
                "analysis": c.analysis or "",
            }
        )
    return {
        "meta": meta,
        "reviewers": [{"name": name, "comments": items} for name, items in reviewers.items()],
        "changes": changes,
    }


def sample_context(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """A response context from the manuscript's context (for the lint)."""
    import json as _json

    from refracture.common.format import Formatter
    from refracture.workflows.reanalyze import comparison_table

    results = _json.loads(ctx["_results"].to_json())
    table = comparison_table({"main": results, "variant": results}, Formatter(), 0.05)
    comment = Comment("1.1", "Reviewer 1", "A comment.", "An answer.", variant="variant")
    change = {"where": "Results, page 1, line 1", "kind": "changed", "text": "A sentence."}
    return response_context(ctx["meta"], [comment], {"1.1": "An answer."}, {"1.1": table}, [change])
