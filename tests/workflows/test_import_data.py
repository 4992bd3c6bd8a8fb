"""``refracture import`` and ``build --data mapping.yml`` as a study team uses them.

A REDCap export of the example with its dictionary: ``import --suggest`` drafts a
mapping, the draft is accepted as it stands, ``import`` writes the example's own CSV
files, and ``build --data mapping.yml`` writes the example's paper. The folder rules of
every refracture output hold, and no output carries a patient id or a machine path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from refracture.data.example import example_path
from tests.data.importing import fixtures as F


@pytest.fixture
def study(tmp_path) -> Path:
    """A REDCap export of the example and its dictionary, with no mapping yet."""
    mapping = F.redcap_raw(tmp_path / "study")
    mapping.unlink()
    return mapping.parent


def _suggest(cli, study: Path) -> Path:
    r = cli(
        "import", "--suggest", "export.csv", "--dictionary", "dictionary.csv",
        "--out", "mapping.yml", cwd=study,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Wrote the draft mapping mapping.yml." in r.stdout
    assert "not mapped" not in r.stderr
    return study / "mapping.yml"


def test_import_writes_the_example_cohort_and_its_report(cli, study) -> None:
    mapping = _suggest(cli, study)
    r = cli("import", str(mapping), "--out", str(study / "cohort"))
    assert r.returncode == 0, r.stderr
    assert "Imported 93 patients and 258 level rows" in r.stdout
    out = study / "cohort"
    for name in ("patients.csv", "levels.csv"):
        assert (out / name).read_bytes() == (example_path() / name).read_bytes()
    report = (out / "import-report.md").read_text(encoding="utf-8")
    assert "| patients | records (rows without a repeating instrument) | 93 | 93 |" in report
    assert "| patients.sex | `1` | Female | `F` | 64 | the data dictionary |" in report
    assert "`surgeon`" in report  # a source column left unused
    assert "`patient_name`: an identifier flagged in the data dictionary" in report
    assert str(study) not in report  # files are named, never located
    assert "P00" not in report  # no patient id
    assert "Name of" not in report
    # the same inputs give the same bytes; the folder is the import's to replace
    again = cli("import", str(mapping), "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert (out / "import-report.md").read_text(encoding="utf-8") == report
    # and it is a cohort like any other
    check = cli("validate", str(out))
    assert check.returncode == 0, check.stdout


def test_import_follows_the_no_clobber_rules(cli, study, tmp_path) -> None:
    mapping = F.redcap_raw(study)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine", encoding="utf-8")
    r = cli("import", str(mapping), "--out", str(mine))
    assert r.returncode == 1
    assert "holds files refracture did not write (notes.txt)" in r.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    r = cli("import", str(mapping), "--out", str(study))  # the folder of the export
    assert r.returncode == 1
    assert "contains the mapping" in r.stderr
    assert "Traceback" not in r.stderr


def test_invalid_data_write_nothing_and_name_the_source_cell(cli, tmp_path) -> None:
    def patch(rows: list[list[str]]) -> None:
        rows[1][rows[0].index("age")] = "150"

    mapping = F.redcap_raw(tmp_path / "study", patch)
    out = tmp_path / "cohort"
    r = cli("import", str(mapping), "--out", str(out))
    assert r.returncode == 1
    assert "record P0001 (row 2)" in r.stderr
    assert "export.csv" in r.stderr
    assert "out of range (expected a number from 18 to 110)" in r.stderr
    assert not out.exists()
    v = cli("validate", str(mapping))
    assert v.returncode == 1
    assert "record P0001 (row 2)" in v.stdout


def test_a_bad_mapping_is_one_error(cli, tmp_path) -> None:
    mapping = F.redcap_raw(tmp_path / "study")
    text = mapping.read_text(encoding="utf-8").replace("sex: sex", "sexe: sex")
    mapping.write_text(text, encoding="utf-8")
    r = cli("import", str(mapping), "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    assert "error: 2 problems in the mapping:" in r.stderr
    assert "mapping.yml: patients.sexe: unknown contract column (did you mean 'sex'?" in r.stderr
    assert "Traceback" not in r.stderr


def test_suggest_prints_or_writes_a_new_file_only(cli, study) -> None:
    printed = cli("import", "--suggest", "export.csv", "--dictionary", "dictionary.csv", cwd=study)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[3:6] == [
        "format: redcap",
        "records: export.csv",
        "dictionary: dictionary.csv",
    ]
    assert not (study / "mapping.yml").exists()
    (study / "mapping.yml").write_text("mine\n", encoding="utf-8")
    r = cli("import", "--suggest", "export.csv", "--out", "mapping.yml", cwd=study)
    assert r.returncode == 1
    assert "already exists; refracture will not overwrite it" in r.stderr
    assert (study / "mapping.yml").read_text(encoding="utf-8") == "mine\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("m.yml",), "give --out DIR"),
        ((), "give a MAPPING to import"),
        (("m.yml", "--suggest", "x.csv"), "not both"),
        (("m.yml", "--dictionary", "d.csv", "--out", "o"), "go with --suggest"),
    ],
)
def test_usage_errors(cli, tmp_path, args, message) -> None:
    r = cli("import", *args, cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr


def test_a_build_rebuilds_when_the_export_changes_and_protects_it(study) -> None:
    from refracture.build.pipeline import protected_inputs
    from refracture.build.stamp import build_stamp

    mapping = F.redcap_raw(study)
    first = build_stamp(mapping, {})
    assert build_stamp(mapping, {}) == first
    with (study / "export.csv").open("a", encoding="utf-8") as fh:
        fh.write("\n")
    assert build_stamp(mapping, {})["hash"] != first["hash"]
    protected = dict((p, what) for what, p in protected_inputs(mapping, None))
    assert protected[study / "export.csv"] == "the data's records file"
    assert protected[study / "dictionary.csv"] == "the data's dictionary file"


# ---------------------------------------------------------------------------
# Done when: suggest, accept, build; the paper is the example's
# ---------------------------------------------------------------------------


def _strip_names(text: str) -> dict:
    doc = json.loads(text)
    doc["meta"].pop("data")
    doc["meta"]["provenance"].pop("inputs")
    return doc


def _build(cli, data: str, out: Path, cwd: Path):
    r = cli(
        "build", "--data", data, "--out", str(out), "--formats", "html",
        "--engine", "embedded", cwd=cwd, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r


def test_build_from_a_suggested_mapping_gives_the_examples_results(
    cli, study, tmp_path, monkeypatch
) -> None:
    """The new user's way: the draft of ``--suggest``, accepted as it stands, builds the
    example's results: results.json is the one a build of the example data writes (run
    here in-process, with the same renderer, date and folder), byte for byte, apart from
    the entries that name the files read (the mapping, the export, the dictionary)."""
    from refracture.build.pipeline import analyse
    from refracture.common.dates import build_epoch
    from refracture.report.engine import choose_engine

    mapping = _suggest(cli, study)
    paper = tmp_path / "paper"
    _build(cli, "mapping.yml", paper, study)
    mine = (paper / "results.json").read_text(encoding="utf-8")
    epoch = build_epoch()
    monkeypatch.chdir(study)
    _, reference = analyse(
        example_path(), None, choose_engine("embedded", epoch).description, epoch
    )
    assert _strip_names(mine) == _strip_names(reference.to_json())
    inputs = json.loads(mine)["meta"]["provenance"]["inputs"]
    assert [(i["table"], i["file"]) for i in inputs] == [
        ("patients", "export.csv"),
        ("levels", "export.csv [vertebral_levels]"),
        ("mapping", "mapping.yml"),
        ("data dictionary", "dictionary.csv"),
    ]
    supplement = (paper / "supplementary.html").read_text(encoding="utf-8")
    assert "dictionary.csv" in supplement
    assert str(study) not in supplement
    # unchanged inputs: nothing to do
    again = _build(cli, str(mapping), paper, study)
    assert "is up to date" in again.stdout


@pytest.mark.slow
def test_the_paper_built_from_a_mapping_is_the_examples(cli, study, tmp_path) -> None:
    """The manuscript built through a suggested mapping is, byte for byte, the one the
    example data build (given as --data, as a study's data are)."""
    _suggest(cli, study)
    _build(cli, "mapping.yml", tmp_path / "paper", study)
    data = tmp_path / "example-data"
    shutil.copytree(example_path(), data)
    _build(cli, str(data), tmp_path / "reference", study)
    for name in ("manuscript.html", "tables/thresholds.csv", "figures/roc.svg"):
        mine, ref = tmp_path / "paper" / name, tmp_path / "reference" / name
        assert mine.read_bytes() == ref.read_bytes(), name
    mine = (tmp_path / "paper" / "results.json").read_text(encoding="utf-8")
    ref = (tmp_path / "reference" / "results.json").read_text(encoding="utf-8")
    assert _strip_names(mine) == _strip_names(ref)
