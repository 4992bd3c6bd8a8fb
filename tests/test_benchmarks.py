"""The benchmark suite's smoke run: every benchmark runs, at tiny sizes, once.

The targets themselves are measured by ``python benchmarks/run.py`` (see
benchmarks/RESULTS.md), never asserted here: timings on a shared CI machine
are not a test. This checks that the suite works and reports every target.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TARGET_ROWS = (
    "Cold full build of the example",
    "Render step alone",
    "No-op rebuild (no configuration file)",
    "No-op rebuild with `refracture.yml`",
    "bootstrap replicates",
    "Full build, 300 patients",
    "Peak RSS of the build, 300 patients",
    "Table 1 stage vs bare tableone",
    "Threshold table, all cutoffs",
    "Simulate 300 patients",
)


@pytest.mark.slow
def test_benchmark_smoke_run_reports_every_target(tmp_path) -> None:
    results = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--smoke",
            "--results",
            str(results),
            "--executors",
            "processes:2",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = results.read_text(encoding="utf-8")
    for row in TARGET_ROWS:
        assert any(line.startswith("| ") and row in line for line in text.splitlines()), row
    assert "Machine:" in text
    assert "cores" in text
    raw = json.loads(results.with_suffix(".json").read_text(encoding="utf-8"))
    # every measured figure is a positive number of seconds
    example = raw["example"]
    for key in ("cold_build", "noop", "noop_with_config", "render"):
        assert example[key], key
        assert all(t > 0 for t in example[key]), key
    stages = [s["stage"] for s in example["profile"]["stages"]]
    assert stages[0] == "start-up"
    assert "Drawing the figures" in stages
    boot = raw["large"]["components"]["bootstrap"]
    assert boot["processes:2_identical"] is True
