"""Provenance: input hashes and row counts, settings, versions, git commit, build date."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

from refracture.build.provenance import git_commit
from refracture.data.example import example_path


def test_results_json_records_the_inputs(example_build) -> None:
    prov = json.loads((example_build / "results.json").read_text(encoding="utf-8"))["meta"][
        "provenance"
    ]
    by_table = {f["table"]: f for f in prov["inputs"]}
    for table, rows in (("patients", 93), ("levels", 258)):
        raw = (example_path() / f"{table}.csv").read_bytes()
        assert by_table[table]["sha256"] == hashlib.sha256(raw).hexdigest()
        assert by_table[table]["rows"] == rows
    assert prov["settings"]["alpha"] == 0.05
    assert prov["settings"]["cutoffs"][0] == "-1.5"
    assert prov["software"]["statsmodels"]
    assert "pandoc" in prov["software"]["renderer"]
    if not os.environ.get("SOURCE_DATE_EPOCH"):
        assert prov["build_date"] == "2026-11-25T00:00:00Z"  # the fixed default


def test_git_commit(tmp_path) -> None:
    assert git_commit(tmp_path) is None  # not a repository
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("x")
    env = ["-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run(["git", *env, "-C", str(tmp_path), "add", "f"], check=True)
    subprocess.run(["git", *env, "-C", str(tmp_path), "commit", "-qm", "x"], check=True)
    commit = git_commit(tmp_path)
    assert commit is not None
    assert len(commit) == 40
    (tmp_path / "f").write_text("y")
    assert git_commit(tmp_path) == f"{commit}+dirty"
