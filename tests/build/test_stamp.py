"""Rebuild when changed: an unchanged build does no work, a one-row edit is caught,
and ``--since`` appends the changes to the supplement."""

from __future__ import annotations

import shutil
import subprocess
import sys

from refracture.data.example import example_path

NO_HEAVY = """
import sys
from refracture.cli import main
sys.argv = ["refracture", "build", "--data", {data!r}, "--out", {out!r}, "--formats", "html"]
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in ("pandas", "numpy", "statsmodels", "matplotlib") if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


def test_unchanged_rebuild_does_no_work_and_an_edit_is_caught(cli, tmp_path) -> None:
    data = tmp_path / "data"
    shutil.copytree(example_path(), data)
    out = tmp_path / "out"
    first = cli("build", "--data", str(data), "--out", str(out), "--formats", "html")
    assert first.returncode == 0, first.stderr
    built = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}

    # unchanged: decided before pandas & co. are imported, nothing rewritten
    r = subprocess.run(
        [sys.executable, "-c", NO_HEAVY.format(data=str(data), out=str(out))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "is up to date" in r.stdout, r.stdout + r.stderr
    assert "HEAVY:\n" in r.stdout + "\n"  # no heavy module was imported
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == built

    # --force rebuilds anyway
    forced = cli("build", "--data", str(data), "--out", str(out), "--formats", "html", "--force")
    assert forced.returncode == 0
    assert "up to date" not in forced.stdout

    # a one-row edit: the T-score of the first fractured untreated level
    levels = (data / "levels.csv").read_text(encoding="utf-8").splitlines()
    header = levels[0].split(",")
    col_t, col_f = header.index("tscore"), header.index("subsequent_fracture")
    for i, line in enumerate(levels[1:], start=1):
        cells = line.split(",")
        if cells[col_t] and cells[col_f] == "yes":
            cells[col_t] = "-0.5"
            levels[i] = ",".join(cells)
            break
    (data / "levels.csv").write_text("\n".join(levels) + "\n", encoding="utf-8")
    old = tmp_path / "old"
    shutil.copytree(out, old)
    again = cli(
        "build", "--data", str(data), "--out", str(out), "--formats", "html", "--since", str(out)
    )
    assert again.returncode == 0, again.stderr
    assert "up to date" not in again.stdout
    supplement = (out / "report" / "supplementary.qmd").read_text(encoding="utf-8")
    assert "Changes since the previous version" in supplement
    assert "Level-specific T-scores" in supplement  # the fractured mean moved
    shown = cli("diff", str(old), str(out))
    assert shown.returncode == 0
    assert "level_tscore" in shown.stdout
    assert "fractured: estimate" in shown.stdout
