"""A user's folder is safe: refracture replaces only its own builds, never the inputs.

Every case runs the command line as a user would and compares a hash of every
file and folder mode of the affected trees before and after.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refracture.build.folders import RECORD_NAME, check_destination, staged_output
from refracture.data.example import example_path
from refracture.errors import OutputError
from tests.conftest import _run_cli

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals, FIFOs and umask")

ADVICE = "Choose a new or empty folder for the build, or delete this one yourself."


def tree_hash(*folders: Path) -> str:
    """Hash of every path, file content, link target and mode under ``folders``."""
    h = hashlib.sha256()
    for folder in folders:
        for p in sorted([folder, *folder.rglob("*")]) if folder.exists() else []:
            st_ = p.lstat()
            h.update(f"{p}\0{stat.S_IMODE(st_.st_mode):o}\0".encode())
            if p.is_symlink():
                h.update(os.readlink(p).encode())
            elif p.is_file():
                h.update(p.read_bytes())
    return h.hexdigest()


def run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300):
    return _run_cli(*args, cwd=cwd, env=env, timeout=timeout)


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -c CODE``: the command line with a fault injected before it runs."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False
    )


def _cohort(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("patients.csv", "levels.csv"):
        (folder / name).write_bytes((example_path() / name).read_bytes())
    return folder


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A study folder: data/, a thesis in docs/, a project folder, a config beside data."""
    root = tmp_path / "study"
    _cohort(root / "data")
    (root / "docs").mkdir()
    (root / "docs" / "thesis.docx").write_bytes(b"my thesis")
    (root / "docs" / "chapter-2.md").write_text("draft\n")
    (root / "proj").mkdir()
    (root / "proj" / "notes.txt").write_text("keep me\n")
    (root / "cfg").mkdir()
    _cohort(root / "cfg" / "data")
    (root / "cfg" / "refracture.yml").write_text("data:\n  path: data\noutput:\n  out: .\n")
    (root / "empty-file").write_text("")
    (root / "dangling").symlink_to(root / "nowhere")
    return root


# (name, cwd below the study, arguments, what the message must say); nothing of the study changes
CASES = [
    ("out is the data", ".", ["build", "--data", "data", "--out", "data"], "is the data"),
    (
        "out contains the data",
        ".",
        ["build", "--data", "data", "--out", "."],
        "contains the data",
    ),
    (
        "out is the working folder",
        "proj",
        ["build", "--data", "../data", "--out", "."],
        "is the working folder",
    ),
    (
        "out holds a thesis",
        ".",
        ["build", "--data", "data", "--out", "docs"],
        "holds files refracture did not write (chapter-2.md, thesis.docx)",
    ),
    ("out from refracture.yml is the config's folder", "cfg", ["build"], "contains"),
    (
        "out is a file",
        ".",
        ["build", "--data", "data", "--out", "empty-file"],
        "is a file, not a folder",
    ),
    (
        "out is a dangling symlink",
        ".",
        ["build", "--data", "data", "--out", "dangling"],
        "is a symbolic link to nothing",
    ),
    ("out is the root", ".", ["build", "--data", "data", "--out", "/"], "filesystem root"),
    (
        "variant over the data",
        "cfg",
        ["build", "--variant", "v", "--out", "data"],
        "holds files refracture did not write",
    ),
    (
        "simulate over a cohort",
        ".",
        ["simulate", "--out", "data"],
        "already holds levels.csv, patients.csv",
    ),
    ("simulate into a file", ".", ["simulate", "--out", "empty-file"], "is not a folder"),
    (
        "data is a device",
        ".",
        ["build", "--data", "/dev/zero", "--out", "new"],
        "/dev/zero: a device, not a cohort",
    ),
    ("validate a device", ".", ["validate", "/dev/zero"], "/dev/zero: a device"),
    (
        "reanalyze over a user's folder, before any build",
        "cfg",
        ["reanalyze", "--out", "new"],
        "new-v holds files refracture did not write (mine.txt)",
    ),
]


@pytest.mark.parametrize(
    ("cwd", "args", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_refused_with_nothing_lost(study, cwd, args, message) -> None:
    if "--variant" in args or "reanalyze" in args:  # a variant whose folder is a user's
        cfg = study / "cfg" / "refracture.yml"
        cfg.write_text("data:\n  path: data\nvariants:\n  v:\n    analysis:\n      alpha: 0.01\n")
        for folder in ("data-v", "new-v"):
            (study / "cfg" / folder).mkdir()
            (study / "cfg" / folder / "mine.txt").write_text("mine")
    before = tree_hash(study)
    r = run(*args, cwd=study / cwd, timeout=60)
    assert r.returncode == 1, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.count("error:") == 1, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: ")
    if args[0] in ("build", "reanalyze"):
        assert ADVICE in r.stderr or "not a cohort" in r.stderr
    assert tree_hash(study) == before
    assert not list(study.rglob(".*.building-*"))
    assert not (study / "cfg" / "new").exists()  # reanalyze refused before its first build


def test_home_folder_is_refused(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("# mine\n")
    _cohort(tmp_path / "data")
    before = tree_hash(home)
    r = run("build", "--data", "data", "--out", str(home), cwd=tmp_path, env={"HOME": str(home)})
    assert r.returncode == 1
    assert "is your home folder" in r.stderr
    assert tree_hash(home) == before


def test_git_work_tree_root_is_refused(tmp_path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    _cohort(tmp_path / "data")
    before = tree_hash(repo)
    r = run("build", "--data", str(tmp_path / "data"), "--out", ".", cwd=repo / "src")
    assert r.returncode == 1
    assert "is the working folder" in r.stderr
    r = run("build", "--data", str(tmp_path / "data"), "--out", "..", cwd=repo / "src")
    assert r.returncode == 1
    assert "contains the working folder" in r.stderr  # and the git work tree
    assert tree_hash(repo) == before


def test_fifo_and_socket_as_data_never_hang(tmp_path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    sock_path = tmp_path / "s"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    folder = tmp_path / "cohort"
    folder.mkdir()
    os.mkfifo(folder / "patients.csv")
    (folder / "levels.csv").write_text("x\n")
    try:
        for data, kind in (
            (fifo, "a named pipe (FIFO)"),
            (sock_path, "a socket"),
            (folder / "patients.csv", "a named pipe"),
        ):
            r = run("validate", str(data), cwd=tmp_path, timeout=60)
            assert r.returncode == 1
            assert kind in r.stderr
            assert "internal error" not in r.stderr
        r = run("validate", str(folder), cwd=tmp_path, timeout=60)
        assert r.returncode == 1
        assert "patients.csv: a named pipe (FIFO), not a data file" in r.stderr
    finally:
        sock.close()


def test_simulate_overwrite_replaces_only_the_tables(tmp_path) -> None:
    folder = _cohort(tmp_path / "data")
    (folder / "README.md").write_text("my notes\n")
    (folder / "patients.csv").write_text("old\n")
    r = run("simulate", "--out", "data", "--overwrite", "--patients", "20", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (folder / "README.md").read_text() == "my notes\n"
    assert (folder / "patients.csv").read_text().startswith("patient_id,")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "levels.csv", "patients.csv"]


def test_simulate_full_disk_leaves_the_folder_as_it_was(tmp_path) -> None:
    """ENOSPC injected into the second table's write: neither table is replaced."""
    folder = _cohort(tmp_path / "data")
    before = tree_hash(folder)
    code = (
        "import errno, sys\n"
        "from refracture.cli import main\n"
        "from refracture.data import simulate\n"
        "calls = []\n"
        "class Full:\n"
        "    def __init__(self, fd, *a, **k): self.f = open(fd, *a, **k)\n"
        "    def __enter__(self): return self\n"
        "    def __exit__(self, *e): self.f.close()\n"
        "    def write(self, text):\n"
        "        calls.append(1)\n"
        "        if len(calls) == 2: raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "        return self.f.write(text)\n"
        "simulate.open = Full\n"
        "sys.argv = ['refracture', 'simulate', '--out', 'data', '--overwrite']\n"
        "main()\n"
    )
    r = run_python(code, tmp_path)
    assert r.returncode == 1, r.stderr
    assert "No space left on device" in r.stderr
    assert tree_hash(folder) == before


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A small earlier build (HTML only) that the interrupt and disk tests rebuild over."""
    root = tmp_path_factory.mktemp("built")
    _cohort(root / "data")
    r = run("build", "--data", "data", "--out", "out", "--formats", "html", cwd=root)
    assert r.returncode == 0, r.stderr
    return root


@pytest.mark.parametrize(
    ("sig", "code", "line"),
    [(signal.SIGINT, 130, "Interrupted"), (signal.SIGTERM, 143, "Terminated")],
)
def test_interrupt_removes_staging_and_keeps_the_previous_build(built, sig, code, line) -> None:
    before = tree_hash(built / "out")
    args = ["build", "--data", "data", "--out", "out", "--formats", "html", "--force"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "refracture", *args],
        cwd=built,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    for text in proc.stderr:
        seen.append(text)
        if "Writing the manuscript sources" in text:
            proc.send_signal(sig)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=120)
    proc.stderr.close()
    assert proc.returncode == code, "".join(seen) + rest
    assert rest.strip().splitlines()[-1] == f"{line}: nothing of an earlier build was changed."
    assert "Traceback" not in rest
    assert tree_hash(built / "out") == before
    assert not list(built.glob(".*.building-*"))


def test_full_disk_during_a_build_keeps_the_previous_build(built) -> None:
    before = tree_hash(built / "out")
    code = (
        "import errno, sys\n"
        "from refracture.analysis import results\n"
        "def full(self, folder):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "results.Results.write = full\n"
        "from refracture.cli import main\n"
        "sys.argv = ['refracture', 'build', '--data', 'data', '--out', 'out', "
        "'--formats', 'html', '--force']\n"
        "main()\n"
    )
    r = run_python(code, built)
    assert r.returncode == 1, r.stderr
    assert "Cannot write the build folder out: the disk is full" in r.stderr
    assert tree_hash(built / "out") == before
    assert not list(built.glob(".*.building-*"))


def test_read_only_destination(tmp_path) -> None:
    """A read-only file system (a real read-only tmpfs where this user may mount one,
    else EROFS injected where the staging folder is made)."""
    _cohort(tmp_path / "data")
    mnt = tmp_path / "ro"
    mnt.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mnt)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
        if os.geteuid() == 0
        else False
    )
    try:
        if mounted:
            r = run("build", "--data", "data", "--out", "ro/out", cwd=tmp_path)
        else:
            code = (
                "import errno, os, sys\n"
                "real = os.mkdir\n"
                "def ro(path, *a, **k):\n"
                "    if '.building-' in str(path) or str(path).endswith('out'):\n"
                "        raise OSError(errno.EROFS, 'Read-only file system')\n"
                "    return real(path, *a, **k)\n"
                "os.mkdir = ro\n"
                "from refracture.cli import main\n"
                "sys.argv = ['refracture', 'build', '--data', 'data', '--out', 'ro/out']\n"
                "main()\n"
            )
            r = run_python(code, tmp_path)
        assert r.returncode == 1, r.stderr
        assert "Cannot write the build folder ro/out: the file system is read-only" in r.stderr
        assert "Traceback" not in r.stderr
    finally:
        if mounted:
            subprocess.run(["umount", str(mnt)], check=False)


def test_two_builds_into_one_folder_run_one_after_the_other(tmp_path) -> None:
    _cohort(tmp_path / "data")
    args = [sys.executable, "-m", "refracture", "build", "--data", "data", "--out", "out"]
    args += ["--formats", "html", "--force"]
    first = subprocess.Popen(
        args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert first.stderr is not None
    for text in first.stderr:
        if "Running the analyses" in text:
            break
    second = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, check=False)
    first.stderr.read()
    first.wait(timeout=300)
    first.stderr.close()
    assert first.returncode == 0
    assert second.returncode == 0, second.stderr
    assert "Waiting for another command writing out to finish" in second.stderr
    record = json.loads((tmp_path / "out" / RECORD_NAME).read_text())
    on_disk = sorted(
        p.relative_to(tmp_path / "out").as_posix()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file() and p.name != RECORD_NAME
    )
    assert on_disk == record["files"]  # one whole build, nothing of the other mixed in
    assert not list(tmp_path.glob(".*.building-*"))


def test_build_folder_gets_the_umask_mode_or_keeps_its_own(tmp_path) -> None:
    _cohort(tmp_path / "data")
    code = (
        "import os, sys\n"
        "os.umask(0o027)\n"
        "from refracture.cli import main\n"
        "sys.argv = ['refracture', 'build', '--data', 'data', '--out', 'out', "
        "'--formats', 'html', '--force']\n"
        "main()\n"
    )
    r = run_python(code, tmp_path)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "out" / "figures").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "out" / "manuscript.html").stat().st_mode) == 0o640
    (tmp_path / "out").chmod(0o705)
    r = run("build", "--data", "data", "--out", "out", "--formats", "html", "--force", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o705


# --- the rule itself, in-process ---------------------------------------------------------

_names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=12
).filter(lambda n: n not in {".", "..", ".quarto", "desktop.ini", RECORD_NAME})
_trees = st.dictionaries(
    st.lists(_names, min_size=1, max_size=3).map(tuple), st.binary(max_size=64), min_size=1
)


def _make_tree(root: Path, tree: dict[tuple[str, ...], bytes]) -> None:
    root.mkdir()
    for parts, content in tree.items():
        target = root.joinpath(*parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.write_bytes(content)
        except (FileExistsError, NotADirectoryError):
            continue  # a file where a folder was wanted: the tree is still a user's tree


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tree=_trees, with_record=st.booleans())
def test_any_tree_of_user_files_is_refused_and_unchanged(tmp_path_factory, tree, with_record):
    """Random trees of files refracture did not write (with or without a build record that
    lists only some of them) are refused before anything is touched."""
    root = tmp_path_factory.mktemp("tree") / "t"
    _make_tree(root, tree)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    if with_record:
        (root / RECORD_NAME).write_text(json.dumps({"files": files[1:]}))
    before = tree_hash(root)
    with pytest.raises(OutputError, match="holds files refracture did not write"):
        check_destination(root)
    with pytest.raises(OutputError), staged_output(root):
        pytest.fail("a refused folder must never be staged")
    assert tree_hash(root) == before
    assert not list(root.parent.glob(".*building*"))


def test_an_earlier_build_an_empty_folder_and_litter_are_replaceable(tmp_path) -> None:
    out = tmp_path / "out"
    with staged_output(out) as tmp:
        (tmp / "figures").mkdir()
        (tmp / "figures" / "a.png").write_bytes(b"png")
    record = json.loads((out / RECORD_NAME).read_text())
    assert record["written_by"] == "refracture"
    assert record["files"] == ["figures/a.png"]
    (out / ".DS_Store").write_bytes(b"finder")
    (out / ".quarto").mkdir()
    (out / ".quarto" / "cache").write_bytes(b"quarto render of the build folder")
    assert check_destination(out) == out.resolve()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_destination(empty) == empty.resolve()


def test_an_error_in_staging_removes_it_and_keeps_the_folder(tmp_path) -> None:
    out = tmp_path / "out"
    with staged_output(out) as tmp:
        (tmp / "a.txt").write_text("first")
    before = tree_hash(out)

    def fill(tmp: Path) -> None:
        (tmp / "a.txt").write_text("second")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match="the disk is full"), staged_output(out) as tmp:
        fill(tmp)
    assert tree_hash(out) == before
    assert not list(tmp_path.glob(".*.building-*"))


def test_lock_is_released_when_its_holder_dies(tmp_path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path\n"
            "from refracture.build.folders import claim\n"
            "with claim(Path(sys.argv[1])):\n"
            "    print('held', flush=True); time.sleep(60)\n",
            str(tmp_path / "out"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    holder.stdout.close()
    from refracture.build.folders import claim

    start = time.monotonic()
    with claim(tmp_path / "out"):
        pass
    assert time.monotonic() - start < 5


def test_without_an_atomic_exchange_the_previous_build_is_renamed_away(
    tmp_path, monkeypatch
) -> None:
    """Where renameat2 cannot exchange (another OS, another filesystem), two renames."""
    from refracture.build import folders

    out = tmp_path / "out"
    with staged_output(out) as tmp:
        (tmp / "a.txt").write_text("first")
    monkeypatch.setattr(folders, "_exchange", lambda a, b: False)
    with staged_output(out) as tmp:
        (tmp / "a.txt").write_text("second")
    assert (out / "a.txt").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staging_names_never_collide(tmp_path, monkeypatch) -> None:
    from refracture.build import folders

    out = tmp_path / "out"
    (tmp_path / ".out.building-aaaa").mkdir()  # a leftover another build still uses
    names = iter(["aaaa", "bbbb"])
    monkeypatch.setattr(folders, "_sweep", lambda out: None)
    monkeypatch.setattr(folders.secrets, "token_hex", lambda n: next(names))
    assert folders._staging(out).name == ".out.building-bbbb"


def test_an_error_that_is_no_write_error_passes_through_and_staging_goes(tmp_path) -> None:
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError), staged_output(out) as tmp:
        (tmp / "missing" / "x").read_text()
    assert not out.exists()
    assert not list(tmp_path.glob(".*.building-*"))


def test_a_record_that_is_not_ours_does_not_count(tmp_path) -> None:
    from refracture.build.folders import read_record

    out = tmp_path / "out"
    out.mkdir()
    (out / RECORD_NAME).write_text('["not", "a", "record"]')
    assert read_record(out) is None
    with pytest.raises(OutputError, match=r"holds files refracture did not write"):
        check_destination(out)


def test_a_waiter_locks_the_new_lock_file_when_the_holder_removed_it(tmp_path) -> None:
    """The lock file is removed on release: a waiter that locked the removed file must
    open and lock the new one, so two holders never overlap."""
    import threading

    from refracture.build.folders import claim

    out = tmp_path / "out"
    order: list[str] = []
    said: list[str] = []
    waiting = threading.Event()

    def second() -> None:
        def say(text: str) -> None:
            said.append(text)
            waiting.set()

        with claim(out, say):
            order.append("second")

    with claim(out):
        thread = threading.Thread(target=second)
        thread.start()
        assert waiting.wait(timeout=10)  # the waiter is blocked on this holder's file
        order.append("first")
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert order == ["first", "second"]
    assert said == [f"Waiting for another command writing {out} to finish"]
    assert not (tmp_path / ".out.lock").exists()


@pytest.mark.parametrize(
    ("kind", "advice"),
    [
        ("build", "Choose a new or empty folder for the build"),
        ("submission", "Choose a new or empty folder for the submission"),
    ],
)
def test_a_refusal_names_the_kind_of_folder(tmp_path, kind, advice) -> None:
    """``refracture submit`` refuses a folder of the user's as "the submission folder",
    not as a build folder; the build's own words are unchanged."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(OutputError) as refused:
        check_destination(out, kind=kind)
    text = str(refused.value)
    assert text.startswith(f"The {kind} folder ")
    assert "holds files refracture did not write (mine.txt)" in text
    assert advice in text
