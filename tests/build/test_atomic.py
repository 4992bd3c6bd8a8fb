"""A build killed at any stage (SIGKILL) leaves the previous build byte-identical."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX"),
    pytest.mark.slow,  # a stress test: five builds killed at five stages
]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _build(out: Path) -> subprocess.Popen:
    # --force: the inputs never change here, and an up-to-date build would do nothing
    args = ["build", "--out", str(out), "--formats", "html,docx", "--force"]
    return subprocess.Popen(
        [sys.executable, "-m", "refracture", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "REFRACTURE_DEBUG"},
    )


# Stages at which to kill: while analysing, writing sources (figure workers drawing),
# waiting for the figures, rendering, guarding.
KILL_AT = [
    "Running the analyses",
    "Writing the manuscript sources",
    "Drawing the figures",
    "Rendering with",
    "Checking every output",
]


def test_killed_builds_leave_the_previous_build_intact(tmp_path) -> None:
    out = tmp_path / "_manuscript"
    first = _build(out)
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    before = _snapshot(out)
    assert "manuscript.html" in before
    killed = []
    for stage in KILL_AT:
        proc = _build(out)
        assert proc.stderr is not None
        for line in proc.stderr:
            if stage in line:
                proc.send_signal(signal.SIGKILL)
                killed.append(stage)
                break
        proc.wait(timeout=600)
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL, f"the build ended before {stage!r}"
        assert _snapshot(out) == before, f"killed at {stage!r}: the previous build changed"
    assert killed == KILL_AT
    # leftovers of the killed builds are swept by the next build, which succeeds
    assert list(tmp_path.glob(".*building-*"))
    last = _build(out)
    last.communicate(timeout=600)
    assert last.returncode == 0
    assert not list(tmp_path.glob(".*building-*"))
    assert _snapshot(out) == before  # same inputs, same bytes
