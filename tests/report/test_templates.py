"""The shipped templates stay readable: short lines, control tags on lines of their own.

A co-author edits sentences in ``templates/``; each sentence starts on its own
line and the Jinja logic ({% if %}, {% for %}, {% set %} …) sits on lines of
its own between them, so that no sentence hides inside a line of code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from refracture.report.assets import templates_dir
from refracture.report.render import template_environment

MAX_LINE = 200
TEMPLATES = sorted(templates_dir().rglob("*.j2"))
CONTROL_TAG = re.compile(r"\{%.*?%\}")
COMMENT = re.compile(r"\{##.*?##\}", re.S)


def _name(path: Path) -> str:
    return path.relative_to(templates_dir()).as_posix()


def _without_comments(text: str) -> str:
    """``text`` with each Jinja comment blanked, line breaks kept (so line numbers hold)."""
    return COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


def test_there_are_templates_to_check() -> None:
    names = {_name(p) for p in TEMPLATES}
    assert {"manuscript.qmd.j2", "partials/results.md.j2", "partials/macros.md.j2"} <= names


@pytest.mark.parametrize("path", TEMPLATES, ids=_name)
def test_no_line_is_longer_than_the_limit(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    long = [(n, len(line)) for n, line in enumerate(lines, start=1) if len(line) > MAX_LINE]
    assert not long, f"{_name(path)}: lines over {MAX_LINE} characters (line, length): {long}"


@pytest.mark.parametrize("path", TEMPLATES, ids=_name)
def test_control_tags_stand_on_their_own_lines(path: Path) -> None:
    text = _without_comments(path.read_text(encoding="utf-8"))
    crowded = []
    for n, line in enumerate(text.splitlines(), start=1):
        tags = CONTROL_TAG.findall(line)
        if tags and (len(tags) > 1 or line.strip() != tags[0]):
            crowded.append(n)
    assert not crowded, f"{_name(path)}: a control tag shares its line (lines {crowded})"


def test_the_check_sees_a_crowded_line() -> None:
    # the patterns the two tests above rely on
    line = "Text {% if x %}more{% endif %}."
    assert len(CONTROL_TAG.findall(line)) == 2
    assert _without_comments("{## {% if %}\n ##}\n{% endif %}").splitlines()[2] == "{% endif %}"
    assert CONTROL_TAG.findall(_without_comments("{## a {% tag %} in a comment ##}")) == []


def test_macros_print_each_value_escaped_once() -> None:
    """A macro's text prints as it stands: its values were escaped where it printed them."""
    env = template_environment()
    source = (
        '{% from "partials/macros.md.j2" import count, agree, list_sep, or_p %}'
        '{{ or_p(odds, p, unit) }}|{{ count("1", "patient") }}|{{ count("2", "woman", "women") }}'
        '|{{ agree(["a"], "was", "were") }}|{{ agree("3", "was", "were") }}'
        "|{% for x in items %}{{ x }}{{ list_sep(loop) }} {% endfor %}"
    )
    out = env.from_string(source).render(
        odds="1.08, 95% CI 1.01–1.17", p="P < 0.001", unit="per *unit*", items=["a", "b", "c"]
    )
    assert out == (
        r"(OR per \*unit\* 1.08, 95% CI 1.01–1.17; P \< 0.001)|1 patient|2 women|was|were"
        "|a, b and c "
    )
