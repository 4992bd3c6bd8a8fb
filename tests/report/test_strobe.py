"""The STROBE checklist: items in our words, tags of the templates, pages from the PDF."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from refracture.report.assets import templates_dir
from refracture.report.context import build_context
from refracture.report.render import render_documents, word_count
from refracture.report.sources import ANALYSIS_PACKAGES
from refracture.report.strobe import (
    TITLE_PAGE,
    checklist,
    find_tags,
    heading_pages,
    load_guideline,
    section_pages,
)

SOFTWARE = {k: "0.0" for k in ("python", "refracture", "renderer", *ANALYSIS_PACKAGES)}

# The STROBE checklist for case-control studies: 22 items; these have sub-items.
SUB_ITEMS = {"1": "ab", "6": "ab", "12": "abcde", "13": "abc", "14": "ab", "16": "abc"}


def _typst_pdf(tmp_path: Path, body: str) -> Path:
    import typst

    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(
        typst.compile(body.encode(), format="pdf", font_paths=[], ignore_system_fonts=True)
    )
    return pdf


def test_the_guideline_has_the_22_items_and_their_sub_items() -> None:
    g = load_guideline()
    expected = []
    for n in range(1, 23):
        subs = SUB_ITEMS.get(str(n))
        expected += [f"{n}{s}" for s in subs] if subs else [str(n)]
    assert [i.id for i in g.items] == expected
    assert all(i.text and i.topic for i in g.items)
    assert {i.id for i in g.items if i.optional} == {"13c", "16c"}  # "consider …"
    assert "von Elm" in g.citation
    assert "10.1016/S0140-6736(07)61602-X" in g.citation
    assert "CC BY" in g.licence


def test_tags_belong_to_the_heading_they_stand_under() -> None:
    qmd = """---
title: "x"
note: "<!-- strobe: 9 -->"
---

<!-- strobe: 1a -->

# Methods {.unnumbered}

## Patients

Text.
<!-- strobe: 4 5, 6a -->

```
<!-- strobe: 7 -->
# not a heading
```

# Results

Text <!-- strobe: 13a --> and <!-- STROBE: 14a -->.
"""
    headings, tags = find_tags(qmd)
    assert [(h.level, h.text) for h in headings] == [
        (1, "Methods"),
        (2, "Patients"),
        (1, "Results"),
    ]
    assert [(t.items, t.heading) for t in tags] == [
        (("1a",), None),
        (("4", "5", "6a"), 1),
        (("13a",), 2),
        (("14a",), 2),
    ]


def test_heading_pages_are_found_in_order_in_the_pdf(tmp_path: Path) -> None:
    pdf = _typst_pdf(
        tmp_path,
        "= Discussion\nA discussion before the methods.\n#pagebreak()\n"
        "= Methods\nMethods.\n#pagebreak()\nThe methods go on.\n\n= Results\nText.\n"
        "#pagebreak()\nMore results.\n#pagebreak()\n= Discussion\nEnd.\n",
    )
    headings, _ = find_tags("# Methods\n\n# Results\n\n# Discussion\n\n# Missing\n")
    # each heading is looked for after the one before: page 1's Discussion is not it
    assert heading_pages(pdf, headings) == [2, 3, 5, None]
    assert section_pages(pdf, headings) == [(2, 3), (3, 4), (5, 5), None]


def _example_qmd(example_results, templates: Path | None = None) -> str:
    ctx = build_context(example_results, software=SOFTWARE)
    return render_documents(ctx, templates)["manuscript"]


def test_every_item_is_tagged_by_the_shipped_templates(example_results, tmp_path) -> None:
    guideline = load_guideline()
    qmd = _example_qmd(example_results)
    _, tags = find_tags(qmd)
    tagged = {i for t in tags for i in t.items}
    required = {i.id for i in guideline.items if not i.optional}
    assert required <= tagged
    assert tagged <= {i.id for i in guideline.items}
    # tags are comments: they add no word to the counts
    assert word_count("One two.\n<!-- strobe: 4 5 6a -->\n") == 2


def test_a_removed_tagged_paragraph_turns_its_items_into_not_reported(
    example_results, tmp_path
) -> None:
    guideline = load_guideline()
    pdf = _typst_pdf(tmp_path, "= Discussion\nText.\n")
    before = checklist(guideline, _example_qmd(example_results), pdf)
    assert before.not_reported == ()
    assert next(r for r in before.rows if r.item.id == "19").places[0].section == "Discussion"
    # the authors delete the limitations paragraph (and its tag) from their discussion
    ours = tmp_path / "templates"
    (ours / "partials").mkdir(parents=True)
    text = (templates_dir() / "partials" / "discussion.md.j2").read_text(encoding="utf-8")
    paragraph = re.search(r"\nThis study has limitations\..*?<!-- strobe: 19 21 -->\n", text, re.S)
    assert paragraph is not None
    (ours / "partials" / "discussion.md.j2").write_text(
        text.replace(paragraph.group(), "\n"), encoding="utf-8"
    )
    after = checklist(guideline, _example_qmd(example_results, ours), pdf)
    assert [r.item.id for r in after.not_reported] == ["19", "21"]


def test_a_new_tagged_paragraph_of_the_authors_reports_its_item(example_results, tmp_path) -> None:
    guideline = load_guideline()
    pdf = _typst_pdf(tmp_path, "= Introduction\nText.\n")
    ours = tmp_path / "templates"
    (ours / "partials").mkdir(parents=True)
    shutil.copyfile(
        templates_dir() / "partials" / "introduction.md.j2",
        ours / "partials" / "introduction.md.j2",
    )
    with (ours / "partials" / "introduction.md.j2").open("a", encoding="utf-8") as f:
        f.write("\nA flow diagram was considered.\n<!-- strobe: 13c 99z -->\n")
    result = checklist(guideline, _example_qmd(example_results, ours), pdf)
    row = next(r for r in result.rows if r.item.id == "13c")
    assert [(p.section, p.page) for p in row.places] == [("Introduction", 1)]
    assert result.unknown == ("99z",)


def test_a_tag_before_any_heading_is_on_the_title_page(tmp_path) -> None:
    pdf = _typst_pdf(tmp_path, "Title\n")
    result = checklist(load_guideline(), "<!-- strobe: 1a -->\n", pdf)
    row = next(r for r in result.rows if r.item.id == "1a")
    assert [(p.section, p.page) for p in row.places] == [(TITLE_PAGE, 1)]


def test_the_projects_own_guideline_is_read_again_after_an_edit(tmp_path: Path) -> None:
    """Guidelines are kept by their text (the preview's lint reads one at every
    rebuild): the authors' edit of their copy is seen at once."""
    import yaml

    shipped = templates_dir() / "reporting" / "strobe-case-control.yml"
    ours = tmp_path / "reporting" / "strobe-case-control.yml"
    ours.parent.mkdir()
    data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    for title in ("Our checklist", "Our checklist, edited"):
        ours.write_text(yaml.safe_dump({**data, "title": title}), encoding="utf-8")
        assert load_guideline(tmp_path).title == title
    assert load_guideline().title == data["title"]
