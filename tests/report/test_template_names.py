"""The names a template uses, read from its syntax tree through every Jinja construct."""

from __future__ import annotations

from refracture.report.template_names import used_names

CONTEXT = {
    "study": {"title": "T", "arms": [{"name": "A", "n": "3"}], "flags": {"x": "1", "y": "2"}},
    "other": {"value": "v", "unused": "u"},
    "label": "partials/b.md.j2",
}

TEMPLATE = """\
{% import "partials/b.md.j2" as b %}
{% from "partials/b.md.j2" import shout %}
{% set block %}{{ study.title }}{% endset %}
{% for arm in study.arms if arm.n %}{{ arm.name }}{% else %}none{% endfor %}
{% for key, value in study.flags.items() %}{{ key }}={{ value }}{% endfor %}
{% with v = other.value %}{{ v }}{% endwith %}
{% filter upper %}{{ other.value }}{% endfilter %}
{% macro m(x, y="d") %}{{ x }}{{ y }}{{ caller() }}{% endmacro %}
{% call m(study.title) %}inner{% endcall %}
{% include "partials/a.md.j2" %}
{% include label %}
"""


def test_every_construct_is_followed(tmp_path) -> None:
    partials = tmp_path / "partials"
    partials.mkdir()
    (tmp_path / "doc.qmd.j2").write_text(TEMPLATE)
    # a partial that includes itself: the cycle is walked once
    (partials / "a.md.j2").write_text('{{ study.title }}{% include "partials/a.md.j2" %}\n')
    (partials / "b.md.j2").write_text("{% macro shout(s) %}{{ s | upper }}{% endmacro %}\n")
    names = used_names(CONTEXT, tmp_path)
    assert {"study.title", "study.arms[].name", "study.arms[].n", "other.value", "label"} <= names
    assert "other.unused" not in names
    assert any(name.startswith("study.flags") for name in names)
