"""The command line as a user runs it: ``python -m refracture ...`` in a subprocess."""

from __future__ import annotations

import json
import shutil

import pytest

from refracture import __version__
from refracture.data.example import example_path


def _broken_cohort(tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(example_path(), folder)
    pat = (folder / "patients.csv").read_text(encoding="utf-8").splitlines()
    lev = (folder / "levels.csv").read_text(encoding="utf-8").splitlines()
    # patients row 3: age 17 (below 18); row 5: sex "X"
    cells = pat[2].split(",")
    cells[1] = "17"
    pat[2] = ",".join(cells)
    cells = pat[4].split(",")
    cells[2] = "X"
    pat[4] = ",".join(cells)
    # levels row 2 (P0001 T7, fractured): months_to_fracture blank -> required
    cells = lev[1].split(",")
    cells[8] = ""
    lev[1] = ",".join(cells)
    # an orphan level row
    lev.append("P9999,L3,no,-2.0,,,,no,")
    (folder / "patients.csv").write_text("\n".join(pat) + "\n", encoding="utf-8")
    (folder / "levels.csv").write_text("\n".join(lev) + "\n", encoding="utf-8")
    return folder


def test_version(cli) -> None:
    r = cli("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"refracture {__version__}"


@pytest.mark.parametrize("command", ["validate", "simulate", "build"])
def test_help_of_every_command(cli, command: str) -> None:
    r = cli(command, "--help")
    assert r.returncode == 0
    assert "Usage" in r.stdout


def test_usage_error_exits_2(cli) -> None:
    r = cli("build", "--no-such-option")
    assert r.returncode == 2
    assert "No such option" in r.stderr
    assert "Traceback" not in r.stderr


def test_validate_accepts_the_example(cli) -> None:
    r = cli("validate", str(example_path()))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 errors" in r.stdout


def test_validate_lists_every_problem_and_exits_1(cli, tmp_path) -> None:
    r = cli("validate", str(_broken_cohort(tmp_path)))
    assert r.returncode == 1
    out = r.stdout
    assert "Traceback" not in out + r.stderr
    assert "4 errors" in out
    for needle in (
        "patients.csv",
        "levels.csv",
        "age",
        "17",
        "sex",
        "X",
        "months_to_fracture",
        "P9999",
    ):
        assert needle in out, needle
    # rows as the user sees them in a spreadsheet (header = row 1)
    lines = out.splitlines()
    assert any("patients.csv" in ln and " 3 " in f" {ln} " and "age" in ln for ln in lines)


def test_validate_missing_path_is_a_clean_error(cli, tmp_path) -> None:
    r = cli("validate", str(tmp_path / "nowhere"))
    assert r.returncode == 1
    assert "nowhere" in r.stderr
    assert "Traceback" not in r.stderr


def test_simulate_is_deterministic_and_valid(cli, tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli("simulate", "--out", str(a), "--seed", "3", "--patients", "60").returncode == 0
    assert cli("simulate", "--out", str(b), "--seed", "3", "--patients", "60").returncode == 0
    for name in ("patients.csv", "levels.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert cli("validate", str(a)).returncode == 0


def test_simulate_default_reproduces_the_example(cli, tmp_path) -> None:
    r = cli("simulate", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    for name in ("patients.csv", "levels.csv"):
        assert (tmp_path / name).read_bytes() == (example_path() / name).read_bytes()


def test_build_example_writes_results(example_build) -> None:
    out = example_build
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    cohort = {row["term"]: row for row in results["analyses"]["cohort"]["table"]}
    assert cohort["patients"]["estimate"] == 93
    assert cohort["refracture"]["estimate"] == 16


def test_build_with_bad_data_keeps_the_previous_build(cli, tmp_path) -> None:
    out = tmp_path / "build"
    assert cli("build", "--out", str(out), "--formats", "html").returncode == 0
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    r = cli("build", "--data", str(_broken_cohort(tmp_path)), "--out", str(out))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "age" in r.stderr
    after = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "build"]


def test_no_patient_identifier_in_results(example_build) -> None:
    out = example_build
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".csv", ".svg"}:
            assert "P00" not in path.read_text(encoding="utf-8"), path


def test_diff_shows_a_changed_number(cli, example_build, tmp_path) -> None:
    data = json.loads((example_build / "results.json").read_text(encoding="utf-8"))
    rows = data["analyses"]["multivariable"]["table"]
    age = next(r for r in rows if r["term"] == "age")
    age["p"] = 0.2  # was 0.0498: a significance flip
    edited = tmp_path / "results.json"
    edited.write_text(json.dumps(data), encoding="utf-8")
    r = cli("diff", str(example_build), str(edited))
    assert r.returncode == 0, r.stderr
    assert "significance flip" in r.stdout
    assert "0.0498 → 0.200" in r.stdout
    same = cli("diff", str(example_build), str(example_build))
    assert "No result changed" in same.stdout


def test_diff_of_a_missing_file_is_a_clean_error(cli, tmp_path) -> None:
    r = cli("diff", str(tmp_path / "nope"), str(tmp_path / "nope2"))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr


def test_lint_passes_on_the_shipped_templates_and_fails_on_a_planted_number(cli, tmp_path) -> None:
    assert cli("lint").returncode == 0
    from refracture.report.assets import templates_dir

    planted = tmp_path / "templates"
    import shutil

    shutil.copytree(templates_dir(), planted, ignore=shutil.ignore_patterns("assets", "*.py"))
    intro = planted / "partials" / "introduction.md.j2"
    intro.write_text(intro.read_text(encoding="utf-8") + "\nThe OR was 6.88.\n", encoding="utf-8")
    r = cli("lint", "--templates", str(planted))
    assert r.returncode == 1
    assert "introduction.md.j2" in r.stdout
    assert "6.88" in r.stdout


def test_set_override_changes_the_model_and_the_text(cli, tmp_path) -> None:
    out = tmp_path / "out"
    r = cli(
        "build",
        "--out",
        str(out),
        "--formats",
        "html",
        "--set",
        "analysis.model.covariates=[age,bmi]",
    )
    assert r.returncode == 0, r.stderr
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    terms = [row["term"] for row in results["analyses"]["multivariable"]["table"]]
    assert terms == ["age", "bmi"]
    text = (out / "report" / "manuscript.qmd").read_text(encoding="utf-8")
    assert "model of any subsequent fracture included age and body mass index" in text


def test_variant_builds_into_its_own_folder(cli, tmp_path) -> None:
    out = tmp_path / "out"
    r = cli("build", "--out", str(out), "--formats", "html", "--variant", "exclude_steroids")
    assert r.returncode == 0, r.stderr
    variant = tmp_path / "out-exclude_steroids"
    assert not out.exists()
    text = (variant / "report" / "manuscript.qmd").read_text(encoding="utf-8")
    assert "excluded 9 patients on long-term glucocorticoids" in text
    assert "We reviewed 84 patients" in text


def test_bad_configuration_lists_every_problem(cli, tmp_path) -> None:
    r = cli("build", "--out", str(tmp_path / "o"), "--set", "analysis.alpha=2", "--variant", "x")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "analysis.alpha" in r.stderr


def test_reanalyze_sets_variants_beside_the_main_analysis(cli, tmp_path) -> None:
    out = tmp_path / "m"
    r = cli("reanalyze", "--out", str(out), "--formats", "html", timeout=900)
    assert r.returncode == 0, r.stderr
    for name in ("m", "m-exclude_steroids", "m-kyphoplasty_only"):
        assert (tmp_path / name / "manuscript.html").is_file(), name
    table = (tmp_path / "m-reanalyses" / "tables" / "reanalyses.csv").read_text(encoding="utf-8")
    lines = {line.split(",")[0]: line for line in table.splitlines()}
    assert lines["Result"] == "Result,Main analysis,exclude_steroids,kyphoplasty_only"
    assert lines["Patients"] == "Patients,93,84,35"
    # the first significant cutoff moves in both variants: marked as a changed conclusion
    assert lines["First significant cutoff"] == "First significant cutoff,T ≤ −2.2,T ≤ −2.5‡,none‡"
    # the variant reverses a finding, and its prose follows
    main = (tmp_path / "m" / "report" / "manuscript.qmd").read_text(encoding="utf-8")
    kp = (tmp_path / "m-kyphoplasty_only" / "report" / "manuscript.qmd").read_text(encoding="utf-8")
    assert "T ≤ −2.2 was the first significant cutoff" in main
    assert "No cutoff was associated with a subsequent fracture" in kp
    assert "was the first significant cutoff" not in kp
    html = (tmp_path / "m-reanalyses" / "reanalyses.html").read_text(encoding="utf-8")
    assert "excluded 9 patients on long-term glucocorticoids" in html


def test_context_lists_every_value_with_its_meaning_and_value(cli, tmp_path) -> None:
    import json

    r = cli("context", "--format", "json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    entries = {e["name"]: e for e in json.loads(r.stdout)}
    assert entries["cohort.patients"]["value"] == "93"
    assert entries["cohort.refracture.n"]["meaning"]
    assert entries["meta.synthetic"]["value"] == "true"  # the built-in example
    md = cli("context", cwd=tmp_path)
    assert "| `cohort.patients` |" in md.stdout
    bad = cli("context", "--format", "xml", cwd=tmp_path)
    assert bad.returncode == 2
    assert "--format must be md or json" in bad.stderr
