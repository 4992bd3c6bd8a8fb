"""The Quarto wrapper's contract, checked against a fake ``quarto`` executable.

These tests prove what the wrapper does with a program called ``quarto``: how it
is found, how its version is read and checked, the exact argument list, working
folder and environment it gets, and how failures, timeouts and missing outputs
become errors. They do NOT prove that Quarto renders the paper: Quarto is not
run here. The fake is a small Python script that logs its argv, cwd and some
environment variables as JSON, and behaves as its FAKE_QUARTO_* variables say.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from refracture.errors import EXIT_RENDER, ConfigError, RenderError
from refracture.report.quarto import (
    MIN_VERSION,
    QuartoBinary,
    describe,
    find_quarto,
    locate,
    quarto_version,
    render,
)

pytestmark = pytest.mark.skipif(
    os.name == "nt", reason="the fake quarto is a shebang script (POSIX only)"
)

FAKE = """#!{python}
import json, os, subprocess, sys, time
from pathlib import Path

VERSION = {version!r}
VERSION_EXIT = {version_exit!r}

args = sys.argv[1:]
if args == ["--version"]:
    print(VERSION)
    sys.exit(VERSION_EXIT)

env = os.environ
if env.get("FAKE_QUARTO_LOG"):
    Path(env["FAKE_QUARTO_LOG"]).write_text(json.dumps({{
        "argv": args,
        "cwd": os.getcwd(),
        "env": {{k: v for k, v in env.items() if k.startswith(("FAKE_", "INHERITED_"))}},
    }}))
if env.get("FAKE_QUARTO_STDERR"):
    sys.stderr.write(env["FAKE_QUARTO_STDERR"])
    sys.stderr.flush()
if env.get("FAKE_QUARTO_SLEEP"):
    # A child that outlives us unless the whole process group is killed.
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(float(%r))" % env["FAKE_QUARTO_SLEEP"]]
    )
    Path(env["FAKE_QUARTO_CHILD_PID"]).write_text(str(child.pid))
    time.sleep(float(env["FAKE_QUARTO_SLEEP"]))
code = int(env.get("FAKE_QUARTO_EXIT", "0"))
if code == 0 and not env.get("FAKE_QUARTO_NO_OUTPUT"):
    document, fmt = Path(args[1]), args[args.index("--to") + 1]
    suffix = {{"html": ".html", "typst": ".pdf", "docx": ".docx"}}[fmt]
    document.with_name(document.stem + suffix).write_text("rendered " + fmt)
sys.exit(code)
"""


def make_quarto(folder: Path, *, version: str = "1.7.32", version_exit: int = 0) -> Path:
    """Write an executable fake ``quarto`` into ``folder`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "quarto"
    path.write_text(
        FAKE.format(python=sys.executable, version=version, version_exit=version_exit),
        encoding="utf-8",
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def quarto(tmp_path: Path) -> QuartoBinary:
    return locate(env={"PATH": str(make_quarto(tmp_path / "bin").parent)})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "paper.qmd").write_text("---\ntitle: x\n---\n", encoding="utf-8")
    return folder


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "fake-quarto-log.json"


def read_log(log: Path) -> dict:
    return json.loads(log.read_text(encoding="utf-8"))


# --- finding Quarto ----------------------------------------------------------------


def test_quarto_path_is_preferred_over_path(tmp_path: Path) -> None:
    explicit = make_quarto(tmp_path / "explicit")
    on_path = make_quarto(tmp_path / "onpath")
    env = {"QUARTO_PATH": str(explicit), "PATH": str(on_path.parent)}
    assert find_quarto(env) == explicit


def test_quarto_is_found_on_path(tmp_path: Path) -> None:
    on_path = make_quarto(tmp_path / "onpath")
    env = {"PATH": os.pathsep.join([str(tmp_path / "empty"), str(on_path.parent)])}
    assert find_quarto(env) == on_path


def test_not_found_is_none(tmp_path: Path) -> None:
    assert find_quarto({"PATH": str(tmp_path)}) is None


def test_quarto_path_to_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "quarto"
    on_path = make_quarto(tmp_path / "onpath")
    with pytest.raises(RenderError, match="QUARTO_PATH") as info:
        find_quarto({"QUARTO_PATH": str(missing), "PATH": str(on_path.parent)})
    assert str(missing) in str(info.value)


def test_quarto_path_to_non_executable_file_is_an_error(tmp_path: Path) -> None:
    plain = tmp_path / "quarto"
    plain.write_text("not a program", encoding="utf-8")
    with pytest.raises(RenderError, match="not executable"):
        find_quarto({"QUARTO_PATH": str(plain), "PATH": ""})


def test_missing_quarto_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(RenderError) as info:
        locate(env={"PATH": str(tmp_path)})
    message = str(info.value)
    assert "not found" in message
    assert "https://quarto.org" in message
    assert "QUARTO_PATH" in message
    assert info.value.exit_code == EXIT_RENDER == 3


def test_locate_returns_the_checked_binary(tmp_path: Path) -> None:
    path = make_quarto(tmp_path / "bin", version="1.7.32")
    binary = locate(env={"QUARTO_PATH": str(path)})
    assert binary == QuartoBinary(path=path, version=(1, 7, 32), version_text="1.7.32")
    assert describe(binary) == f"Quarto 1.7.32 at {path}"


# --- the version -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("printed", "version", "text"),
    [
        ("1.7.32", (1, 7, 32), "1.7.32"),
        ("99.9.9\n\n", (99, 9, 9), "99.9.9"),
        ("1.8.0-dev", (1, 8, 0), "1.8.0-dev"),
        ("  1.4.550 (built today)\n", (1, 4, 550), "1.4.550"),
    ],
)
def test_version_is_parsed(
    tmp_path: Path, printed: str, version: tuple[int, int, int], text: str
) -> None:
    path = make_quarto(tmp_path, version=printed)
    assert quarto_version(path) == (version, text)


def test_too_old_version_is_an_error(tmp_path: Path) -> None:
    path = make_quarto(tmp_path, version="1.3.450")
    with pytest.raises(RenderError) as info:
        locate(env={"QUARTO_PATH": str(path)})
    message = str(info.value)
    assert "1.3.450" in message
    assert ".".join(map(str, MIN_VERSION)) in message
    assert str(path) in message


def test_unparsable_version_is_an_error(tmp_path: Path) -> None:
    path = make_quarto(tmp_path, version="quarto, some version")
    with pytest.raises(RenderError, match="Cannot read a version") as info:
        quarto_version(path)
    assert str(path) in str(info.value)


def test_failing_version_command_is_an_error(tmp_path: Path) -> None:
    path = make_quarto(tmp_path, version="1.7.32", version_exit=4)
    with pytest.raises(RenderError, match="exit code 4"):
        quarto_version(path)


# --- rendering ---------------------------------------------------------------------


def test_exact_arguments_cwd_and_env(
    quarto: QuartoBinary,
    project: Path,
    log: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    document = "sub dir/my paper; echo pwned $HOME.qmd"
    (project / "sub dir").mkdir()
    (project / document).write_text("x", encoding="utf-8")
    monkeypatch.setenv("INHERITED_FROM_PARENT", "yes")

    out = render(
        quarto,
        project,
        document,
        "html",
        metadata={"lang": "en-GB", "title": "A: b; c"},
        env={"FAKE_QUARTO_LOG": str(log)},
    )

    logged = read_log(log)
    assert logged["argv"] == [
        "render",
        document,
        "--to",
        "html",
        "-M",
        "lang:en-GB",
        "-M",
        "title:A: b; c",
    ]
    assert Path(logged["cwd"]).resolve() == project.resolve()
    assert logged["env"]["INHERITED_FROM_PARENT"] == "yes"  # os.environ is merged in
    assert logged["env"]["FAKE_QUARTO_LOG"] == str(log)
    assert out == project / "sub dir" / "my paper; echo pwned $HOME.html"
    assert out.read_text(encoding="utf-8") == "rendered html"


@pytest.mark.parametrize(
    ("fmt", "suffix"), [("html", ".html"), ("typst", ".pdf"), ("docx", ".docx")]
)
def test_output_file_per_format(
    quarto: QuartoBinary, project: Path, log: Path, fmt: str, suffix: str
) -> None:
    out = render(quarto, project, "paper.qmd", fmt, env={"FAKE_QUARTO_LOG": str(log)})
    assert out == project / f"paper{suffix}"
    assert out.read_text(encoding="utf-8") == f"rendered {fmt}"
    assert read_log(log)["argv"] == ["render", "paper.qmd", "--to", fmt]


def test_non_zero_exit_carries_code_and_stderr_tail(quarto: QuartoBinary, project: Path) -> None:
    stderr = "".join(f"stderr line {i:03d}\n" for i in range(100))
    with pytest.raises(RenderError) as info:
        render(
            quarto,
            project,
            "paper.qmd",
            "typst",
            env={"FAKE_QUARTO_EXIT": "2", "FAKE_QUARTO_STDERR": stderr},
        )
    message = str(info.value)
    assert "exit code 2" in message
    assert str(quarto.path) in message
    assert "stderr line 099" in message
    assert "stderr line 060" in message  # the last 40 lines are kept ...
    assert "stderr line 059" not in message  # ... and no more
    assert info.value.exit_code == 3
    assert not (project / "paper.pdf").exists()


def test_timeout_kills_the_process_group(
    quarto: QuartoBinary, project: Path, tmp_path: Path
) -> None:
    child_pid_file = tmp_path / "child.pid"
    start = time.monotonic()
    with pytest.raises(RenderError, match=r"timed out after 1 s"):
        render(
            quarto,
            project,
            "paper.qmd",
            "html",
            timeout=1,
            env={
                "FAKE_QUARTO_SLEEP": "30",
                "FAKE_QUARTO_CHILD_PID": str(child_pid_file),
            },
        )
    # Had the sleeping grandchild survived, it would hold the output pipe open
    # and the wrapper would wait another 5 s for it.
    assert time.monotonic() - start < 4
    child_pid = int(child_pid_file.read_text(encoding="utf-8"))
    deadline = time.monotonic() + 2
    while _running(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child_pid), "the fake quarto's child outlived the timeout"


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its reaper does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat_file = Path(f"/proc/{pid}/stat")
    if stat_file.exists():
        state = stat_file.read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def test_exit_zero_without_output_is_an_error(quarto: QuartoBinary, project: Path) -> None:
    with pytest.raises(RenderError, match=r"exited 0 but wrote no .*paper\.docx"):
        render(quarto, project, "paper.qmd", "docx", env={"FAKE_QUARTO_NO_OUTPUT": "1"})


def test_stale_output_does_not_pass_for_a_new_one(quarto: QuartoBinary, project: Path) -> None:
    (project / "paper.html").write_text("from an earlier run", encoding="utf-8")
    with pytest.raises(RenderError, match="wrote no"):
        render(quarto, project, "paper.qmd", "html", env={"FAKE_QUARTO_NO_OUTPUT": "1"})


def test_unknown_format_is_a_config_error(quarto: QuartoBinary, project: Path, log: Path) -> None:
    with pytest.raises(ConfigError, match="'pdf'"):
        render(quarto, project, "paper.qmd", "pdf", env={"FAKE_QUARTO_LOG": str(log)})
    assert not log.exists()  # Quarto was never started


def test_bad_metadata_key_is_a_config_error(quarto: QuartoBinary, project: Path) -> None:
    with pytest.raises(ConfigError, match="metadata key"):
        render(quarto, project, "paper.qmd", "html", metadata={"a:b": "c"})


def test_binary_gone_after_locate_is_a_render_error(quarto: QuartoBinary, project: Path) -> None:
    quarto.path.unlink()
    with pytest.raises(RenderError, match="Cannot run Quarto") as info:
        render(quarto, project, "paper.qmd", "html")
    assert str(quarto.path) in str(info.value)
