"""The bibliography and the numeric citation style, checked with pandoc's own citeproc."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from itertools import pairwise
from pathlib import Path

import pypandoc
import pytest

from refracture.report.assets import asset

CSL_NS = "http://purl.org/net/xbiblio/csl"
NS = {"csl": CSL_NS}

# The works the paper cites; each must stay in the bibliography.
EXPECTED_KEYS = frozenset(
    {
        "firth1993",
        "heinze2002",
        "delong1988",
        "liang1986",
        "hosmer1980",
        "youden1950",
        "holm1979",
        "wilson1927",
        "woolf1955",
        "haldane1956",
        "kaplan1958",
        "cox1972",
        "grambsch1994",
        "peduzzi1996",
        "marshall1996",
        "kanis1994",
        "lindsay2001",
        "galibert1987",
        "buchbinder2009",
        "kallmes2009",
        "wardlaw2009",
        "klazen2010",
        "pollard2018",
        "seabold2010",
        "davidsonpilon2019",
        "fisher1922",
    }
)


def _pandoc(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [pypandoc.get_pandoc_path(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def bib_path() -> Path:
    return asset("references.bib")


@pytest.fixture(scope="module")
def csl_path() -> Path:
    return asset("refracture-numeric.csl")


@pytest.fixture(scope="module")
def entries(bib_path: Path) -> dict[str, dict]:
    """The bibliography as CSL JSON, read by pandoc's BibTeX reader."""
    done = _pandoc(str(bib_path), "-f", "bibtex", "-t", "csljson")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", f"pandoc warned while reading the .bib:\n{done.stderr}"
    return {item["id"]: item for item in json.loads(done.stdout)}


def _render(markdown: str, bib: Path, csl: Path) -> str:
    done = _pandoc(
        "-f",
        "markdown",
        "-t",
        "plain",
        "--wrap=none",
        "--citeproc",
        "--bibliography",
        str(bib),
        "--csl",
        str(csl),
        stdin=markdown,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", f"citeproc warned:\n{done.stderr}"
    return done.stdout


# --- (a) the bibliography --------------------------------------------------------


def test_bib_holds_every_cited_work_and_nothing_twice(bib_path: Path, entries: dict) -> None:
    assert set(entries) >= EXPECTED_KEYS
    keys = re.findall(r"^@\w+\{([^,\s]+),", bib_path.read_text(encoding="utf-8"), re.M)
    assert len(keys) == len(set(keys)), "duplicate citation key"


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
def test_entry_is_complete(entries: dict, key: str) -> None:
    item = entries[key]
    assert item.get("title", "").strip(), f"{key}: no title"
    year = item.get("issued", {}).get("date-parts", [[None]])[0][0]
    assert isinstance(year, int), f"{key}: no year"
    assert 1800 < year < 2100, f"{key}: implausible year {year}"
    assert item.get("author"), f"{key}: no author"
    has_doi = bool(item.get("DOI", "").strip())
    has_journal_and_pages = bool(item.get("container-title")) and bool(item.get("page"))
    assert has_doi or has_journal_and_pages, f"{key}: neither a DOI nor a journal with pages"
    if has_doi:
        assert item["DOI"].startswith("10."), f"{key}: DOI {item['DOI']!r} is not a bare DOI"


def test_every_entry_says_where_it_was_verified(bib_path: Path) -> None:
    lines = ["", *bib_path.read_text(encoding="utf-8").splitlines()]
    for above, line in pairwise(lines):
        if line.startswith("@"):
            assert above.startswith("% verified: "), f"{line!r} has no '% verified:' line above it"


# --- (b) the citation style ------------------------------------------------------


def test_csl_is_a_numeric_csl_1_0_style(csl_path: Path) -> None:
    root = ET.parse(csl_path).getroot()
    assert root.tag == f"{{{CSL_NS}}}style"
    assert root.get("version") == "1.0"
    assert root.get("class") == "in-text"

    info = root.find("csl:info", NS)
    assert info is not None
    assert info.findtext("csl:title", namespaces=NS) == "refracture numeric"
    assert (info.findtext("csl:id", namespaces=NS) or "").strip()
    assert info.findtext("csl:updated", namespaces=NS) == "2026-11-25T00:00:00+00:00"
    formats = [c.get("citation-format") for c in info.findall("csl:category", NS)]
    assert "numeric" in formats

    citation = root.find("csl:citation", NS)
    assert citation is not None
    assert citation.get("collapse") == "citation-number"
    layout = citation.find("csl:layout", NS)
    assert layout is not None
    assert (layout.get("prefix"), layout.get("suffix")) == ("[", "]")
    variables = {t.get("variable") for t in citation.iter(f"{{{CSL_NS}}}text")}
    assert "citation-number" in variables

    bibliography = root.find("csl:bibliography", NS)
    assert bibliography is not None
    # No sort: entries keep the order of first citation.
    assert bibliography.find("csl:sort", NS) is None


# --- (c) rendering with pandoc citeproc --------------------------------------------


def test_numbers_follow_order_of_citation(bib_path: Path, csl_path: Path) -> None:
    # Neither alphabetical nor chronological, so only citation order explains the result.
    text = _render(
        "Survival [@kaplan1958]. Bias [@firth1993]. Separation [@heinze2002].\n"
        "Again [@firth1993]. All [@heinze2002; @kaplan1958; @firth1993].\n",
        bib_path,
        csl_path,
    )
    body, _, bibliography = text.partition("1. ")
    assert "Survival [1]. Bias [2]. Separation [3]." in body
    assert "Again [2]." in body
    assert "All [1–3]." in body

    entries = ("1. " + bibliography).strip().split("\n\n")
    assert [e.split(". ", 1)[0] for e in entries] == ["1", "2", "3"]
    assert entries[0].startswith("1. Kaplan EL, Meier P. Nonparametric estimation")
    assert entries[1].startswith("2. Firth D. Bias reduction of maximum likelihood estimates.")
    assert entries[2].startswith("3. Heinze G, Schemper M. A solution to the problem")


def test_pairs_are_listed_and_runs_collapse(bib_path: Path, csl_path: Path) -> None:
    text = _render(
        "Pair [@cox1972; @grambsch1994]. Run [@liang1986; @delong1988; @hosmer1980; @cox1972].\n",
        bib_path,
        csl_path,
    )
    assert "Pair [1,2]." in text
    assert "Run [1,3–5]." in text


def test_entries_are_vancouver_like(bib_path: Path, csl_path: Path) -> None:
    text = _render("[@firth1993; @lindsay2001; @seabold2010]\n", bib_path, csl_path)
    assert (
        "1. Firth D. Bias reduction of maximum likelihood estimates. Biometrika. "
        "1993;80(1):27–38. doi:10.1093/biomet/80.1.27"
    ) in text
    # Twelve authors: the first six, then "et al.".
    assert "2. Lindsay R, Silverman SL, Cooper C, Hanley DA, Barton I, Broy SB, et al. Risk" in text
    assert "JAMA. 2001;285(3):320–323. doi:10.1001/jama.285.3.320" in text
    assert "In: Proceedings of the 9th Python in Science Conference. 2010. p. 92–96." in text
