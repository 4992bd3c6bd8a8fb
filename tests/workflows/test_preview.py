"""``refracture preview``: the server, the page overlay, the watcher and the command.

The server and watcher tests run a :class:`Preview` whose builds are stand-ins
(they write a small page), so they take a second; the command is run as a user
runs it, on an ``init --example`` project. The browser test, with Debian's
headless Chromium, is in ``test_preview_browser.py``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from refracture.build.pipeline import BuildOutcome
from refracture.errors import ConfigError, describe
from refracture.workflows.preview import Preview
from refracture.workflows.preview_server import HOST, PreviewServer
from refracture.workflows.preview_state import PreviewState
from refracture.workflows.preview_watch import Watcher, wanted, watch_plan

PAPER = "<!DOCTYPE html>\n<html><body>\n<h1>The paper</h1>\n<p>{text}</p>\n</body>\n</html>\n"


def _until(condition, timeout: float = 30, what: str = "the condition"):
    """Poll ``condition`` until it is true (no timing is asserted: the timeout only
    ends a test that would otherwise hang)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _get(port: int, path: str, *, method: str = "GET", headers: dict | None = None):
    """``(status, body)`` of one request; the path is sent exactly as given."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8")
    finally:
        conn.close()


def _paper(out: Path, text: str) -> None:
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "manuscript.html").write_text(PAPER.format(text=text), encoding="utf-8")
    (out / "supplementary.html").write_text(PAPER.format(text="supplement"), encoding="utf-8")
    (out / "figures" / "roc.svg").write_text("<svg/>", encoding="utf-8")


@pytest.fixture
def served(tmp_path):
    """A server on a build folder, with a file beside the folder that must stay unreachable."""
    out = tmp_path / "project" / "_manuscript"
    _paper(out, "first version")
    (tmp_path / "project" / "secret.txt").write_text("not for the web", encoding="utf-8")
    (out / "link").symlink_to(tmp_path / "project" / "secret.txt")
    state = PreviewState(out)
    renders: list[int] = []
    server = PreviewServer(state, lambda: renders.append(1), 0, strict=True)
    server.start()
    try:
        yield server, state, out, renders
    finally:
        server.close()


# --- the server ----------------------------------------------------------------------------


def test_the_server_binds_the_loopback_only(served) -> None:
    server, *_ = served
    assert server.socket.getsockname()[0] == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.port}/"


def test_nothing_outside_the_build_folder_is_served(served) -> None:
    server, *_ = served
    assert _get(server.port, "/figures/roc.svg") == (200, "<svg/>")
    for path in (
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/figures/../../secret.txt",
        "/figures/%2E%2E/%2E%2E/secret.txt",
        "/link",  # a link inside the folder to a file outside it
        "//etc/passwd",
        "/figures",
    ):
        status, body = _get(server.port, path)
        assert status == 404, path
        assert "not for the web" not in body


def test_the_overlay_is_served_but_never_written(served) -> None:
    server, _, out, _ = served
    on_disk = (out / "manuscript.html").read_bytes()
    status, page = _get(server.port, "/")
    assert status == 200
    assert "first version" in page
    assert 'new EventSource("/__refracture/events")' in page
    assert '<a href="/supplementary.html">Supplement</a>' in page
    # the overlay goes before </body>; the rest of the page is the file, unchanged
    before, _, after = on_disk.decode().rpartition("</body>")
    assert page.startswith(before)
    assert page.endswith("</body>" + after)
    assert (out / "manuscript.html").read_bytes() == on_disk
    assert b"__refracture" not in on_disk
    status, supplement = _get(server.port, "/supplementary.html")
    assert status == 200
    assert "supplement" in supplement
    assert "EventSource" in supplement


def test_the_error_panel_escapes_the_message(served) -> None:
    server, state, *_ = served
    assert 'id="refracture-preview-error"' not in _get(server.port, "/")[1]
    state.finished(error="error: levels.csv row 4: <script>alert('x')</script> & more")
    page = _get(server.port, "/")[1]
    assert 'id="refracture-preview-error"' in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in page
    assert "<script>alert(" not in page
    assert "first version" in page  # the last good paper stays under the panel


def test_the_event_stream_announces_each_new_build(served) -> None:
    server, state, out, _ = served
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    conn.request("GET", "/__refracture/events")
    resp = conn.getresponse()
    assert resp.getheader("Content-Type") == "text/event-stream"

    def event() -> dict:
        lines = []
        while True:
            line = resp.readline().decode().rstrip("\n")
            if line == "" and lines:
                break
            if line and not line.startswith(":"):
                lines.append(line)
        assert lines[0] == "event: state"
        return json.loads(lines[1].removeprefix("data: "))

    try:
        first = event()
        assert first["building"] is False
        state.started(rendering=False)
        assert event() == {**first, "building": True, "status": "Rebuilding…"}
        state.finished(out=out, new=True)
        rebuilt = event()
        assert rebuilt["build"] != first["build"]
        assert rebuilt["building"] is False
    finally:
        conn.close()


def test_only_a_new_paper_or_a_new_error_changes_the_build_id(tmp_path) -> None:
    state = PreviewState(tmp_path)
    first = state.snapshot().build
    state.started(rendering=False)
    state.finished(out=tmp_path, new=False)  # up to date: the page stays
    assert state.snapshot().build == first
    state.finished(error="error: one")
    assert state.snapshot().build != first
    failed = state.snapshot().build
    state.finished(error="error: one")  # the same error again: the page stays
    assert state.snapshot().build == failed
    state.finished(out=tmp_path, new=False)  # fixed back to the built paper: the panel goes
    assert state.snapshot().build != failed
    assert state.snapshot().error is None


def test_render_requests_and_foreign_requests(served) -> None:
    server, _, _, renders = served
    assert _get(server.port, "/__refracture/render", method="POST")[0] == 202
    assert renders == [1]
    evil = {"Origin": "http://evil.example"}
    assert _get(server.port, "/__refracture/render", method="POST", headers=evil)[0] == 403
    # a name that is not the loopback (DNS rebinding) gets nothing
    status, body = _get(server.port, "/", headers={"Host": f"evil.example:{server.port}"})
    assert status == 403
    assert "first version" not in body
    assert renders == [1]


def test_a_busy_port_is_said_plainly_or_the_next_one_is_taken(served) -> None:
    server, state, *_ = served
    with pytest.raises(ConfigError, match=f"port {server.port} of 127.0.0.1 is in use"):
        PreviewServer(state, lambda: None, server.port, strict=True)
    beside = PreviewServer(state, lambda: None, server.port, strict=False)
    try:
        assert beside.port != server.port
    finally:
        beside.server_close()


def test_a_page_not_built_yet_waits_for_the_first_build(tmp_path) -> None:
    state = PreviewState(tmp_path / "_manuscript")
    server = PreviewServer(state, lambda: None, 0, strict=True)
    server.start()
    try:
        status, page = _get(server.port, "/")
        assert status == 200
        assert "Building the manuscript" in page
        assert "EventSource" in page
        assert _get(server.port, "/results.json")[0] == 404
    finally:
        server.close()


# --- the watcher ---------------------------------------------------------------------------


def test_what_is_and_is_not_a_reason_to_rebuild(tmp_path) -> None:
    root = tmp_path / "paper"
    (root / "templates" / "partials").mkdir(parents=True)
    (root / "data").mkdir()
    config, bib = root / "refracture.yml", root / "references.bib"
    config.touch()
    out = root / "_manuscript"
    plan = watch_plan([config, root / "data", root / "templates", bib], ignored=[out])
    assert set(plan.deep) == {root / "data", root / "templates"}
    assert plan.flat == (root,)  # the files, through their folder, not its subfolders
    for path in (
        config,
        bib,
        root / "data" / "levels.csv",
        root / "templates" / "partials" / "discussion.md.j2",
    ):
        assert wanted(plan, path), path
    for path in (
        root / "notes.txt",  # beside the configuration, but not an input
        out / "manuscript.html",
        root / "._manuscript.building-x1" / "manuscript.html",
        root / "._manuscript.lock",
        root / "data" / ".~lock.levels.csv#",
        root / "data" / "~$levels.xlsx",
        root / "templates" / "partials" / ".discussion.md.j2.swp",
        root / "templates" / "partials" / "discussion.md.j2~",
        root / "templates" / "partials" / "4913",
        root / "templates" / ".git" / "index",
    ):
        assert not wanted(plan, path), path


def test_a_burst_of_edits_is_reported_once(tmp_path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    reported: list[list[Path]] = []
    watcher = Watcher(reported.append)
    watcher.watch([folder])
    try:
        assert watcher.ready(10)
        for i in range(5):
            (folder / f"part{i}.md.j2").write_text(f"text {i}\n", encoding="utf-8")
        _until(lambda: reported, what="the change")
        time.sleep(1.5)  # longer than the longest grouping: anything more would be here
        assert len(reported) == 1
        assert {p.name for p in reported[0]} == {f"part{i}.md.j2" for i in range(5)}
    finally:
        watcher.close()


# --- the session, with stand-in builds -----------------------------------------------------


class _StandIn(Preview):
    """A preview whose builds write a small page; ``gate`` (when cleared) holds a build."""

    def __init__(self, root: Path, load_config=lambda: None) -> None:
        self.calls: list[bool] = []  # each build asked for: True every format, False HTML
        self.formats: list[tuple[str, ...]] = []  # what each build that ran was given
        self.gate = threading.Event()
        self.gate.set()
        self.fail: Exception | None = None
        self.lines: list[str] = []
        super().__init__(
            load_config=load_config,
            config_file=root / "refracture.yml",
            data=root / "data",
            out=root / "_manuscript",
            port=0,
            strict_port=True,
            say=self.lines.append,
        )

    def _rebuild(self, every_format, progress):
        self.calls.append(every_format)
        return super()._rebuild(every_format, progress)  # reads the configuration

    def _build(self, setup, formats, progress, *, complete=False):
        self.formats.append(formats)
        assert self.gate.wait(30)
        if self.fail is not None:
            raise self.fail
        _paper(setup.out, f"build {len(self.calls)}")
        return BuildOutcome(out=setup.out, files=(), warnings=())

    def idle(self, builds: int) -> None:
        _until(
            lambda: len(self.calls) >= builds and not self.state.snapshot().building,
            what=f"build {builds}",
        )


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "levels.csv").write_text("a\n", encoding="utf-8")
    return tmp_path


def test_a_burst_of_saves_is_one_rebuild(project) -> None:
    with _StandIn(project) as preview:
        preview.idle(1)
        assert preview.watching(10)
        for name in ("patients.csv", "levels.csv", "levels.csv", "patients.csv"):
            (project / "data" / name).write_text(name, encoding="utf-8")
        preview.idle(2)
        time.sleep(1.5)  # longer than the longest grouping of changes
        assert preview.calls == [False, False]  # HTML only: no PDF or DOCX per edit


def test_changes_during_a_build_fold_into_one_more_build(project) -> None:
    with _StandIn(project) as preview:
        preview.idle(1)
        assert preview.watching(10)
        preview.gate.clear()
        (project / "data" / "levels.csv").write_text("b\n", encoding="utf-8")
        _until(lambda: len(preview.calls) == 2, what="the second build to start")
        for text in ("c\n", "d\n", "e\n"):  # three separate saves while it runs
            (project / "data" / "levels.csv").write_text(text, encoding="utf-8")
            time.sleep(0.4)
        _until(lambda: sum(line.startswith("Changed:") for line in preview.lines) == 4)
        preview.gate.set()
        preview.idle(3)
        time.sleep(1)
        assert len(preview.calls) == 3
        assert "build 3" in _get(preview.server.port, "/")[1]


def test_a_failed_rebuild_shows_its_error_over_the_last_good_paper(project) -> None:
    with _StandIn(project) as preview:
        preview.idle(1)
        port = preview.server.port
        preview.fail = ConfigError("refracture.yml: analysis.alpha: must be <0.5>")
        preview._requests.put(every_format=False)
        preview.idle(2)
        assert preview.state.snapshot().error == describe(preview.fail)
        page = _get(port, "/")[1]
        assert "build 1" in page
        assert "error: refracture.yml: analysis.alpha: must be &lt;0.5&gt;" in page
        assert any(describe(preview.fail) in line for line in preview.lines)  # the terminal
        preview.fail = None
        preview._requests.put(every_format=False)
        preview.idle(3)
        page = _get(port, "/")[1]
        assert "build 3" in page
        assert 'id="refracture-preview-error"' not in page


def test_the_page_asks_for_pdf_and_docx(project) -> None:
    with _StandIn(project) as preview:
        preview.idle(1)
        assert _get(preview.server.port, "/__refracture/render", method="POST")[0] == 202
        preview.idle(2)
        assert preview.calls == [False, True]
        assert preview.formats == [("html",), ("html", "pdf", "docx")]


def test_the_configuration_is_read_again_and_says_what_is_watched(project) -> None:
    from refracture.build.config import load_config

    config = project / "refracture.yml"
    config.write_text("analysis:\n  alpha: 0.05\n", encoding="utf-8")
    with _StandIn(project, load_config=lambda: load_config(config)) as preview:
        preview.idle(1)
        assert preview.watching(10)
        config.write_text("analysis:\n  alpha: 7\n", encoding="utf-8")  # a bad value
        preview.idle(2)
        error = preview.state.snapshot().error
        assert error is not None
        assert error.startswith("error: ")
        assert "analysis.alpha" in error
        assert "build 1" in _get(preview.server.port, "/")[1]
        # fixed, and now with templates of the project's own: they are watched from now on
        (project / "mine").mkdir()
        config.write_text("manuscript:\n  templates: mine\n", encoding="utf-8")
        preview.idle(3)
        assert preview.state.snapshot().error is None
        assert project / "mine" in preview.watched
        assert preview.watching(10)
        (project / "mine" / "discussion.md.j2").write_text("Ours.\n", encoding="utf-8")
        preview.idle(4)
        assert any(line.endswith("mine/discussion.md.j2") for line in preview.lines)


def test_closing_stops_a_running_build_and_the_server(project) -> None:
    preview = _StandIn(project)
    preview.start()
    preview.idle(1)
    port = preview.server.port
    preview.close()
    with pytest.raises(ConnectionRefusedError):
        _get(port, "/")
    assert not any(t.name.startswith("refracture-preview") for t in threading.enumerate())


# --- the command ---------------------------------------------------------------------------


class _Running:
    """``refracture preview`` in a subprocess, its stderr collected line by line."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "refracture", "preview", "--no-browser", "--port", "0", *args],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            line = self.wait_for("Previewing the paper at ")
        except BaseException:
            self.kill()
            raise
        self.url = line.split(" at ")[1].split()[0]
        self.port = int(self.url.rstrip("/").rsplit(":", 1)[1])

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, start: str, count: int = 1, timeout: float = 300) -> str:
        def found():
            if self.proc.poll() is not None and not self._reader.is_alive():
                raise AssertionError("preview ended:\n" + "\n".join(self.lines))
            hits = [line for line in self.lines if line.startswith(start)]
            return hits[count - 1] if len(hits) >= count else None

        return _until(found, timeout, what=f"{start!r} (#{count}) in\n" + "\n".join(self.lines))

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=300)
        self._reader.join(timeout=10)
        return code

    def kill(self) -> None:
        """End the preview if a test failed before stopping it, and close its pipe."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        self.proc.stderr.close()


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on ``port`` (Linux /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.fixture(scope="module")
def paper(tmp_path_factory, cli) -> Path:
    root = tmp_path_factory.mktemp("preview")
    assert cli("init", "paper", "--example", cwd=root).returncode == 0
    return root / "paper"


@pytest.mark.skipif(not Path("/proc/net/tcp").is_file(), reason="reads Linux's /proc/net/tcp")
def test_the_command_serves_the_paper_on_the_loopback_and_stops_cleanly(paper) -> None:
    run = _Running("--no-render-on-exit", cwd=paper)
    try:
        run.wait_for("Rebuilt the HTML")
        assert listening_addresses(run.port) == {"0100007F"}  # 127.0.0.1, nothing else
        status, page = _get(run.port, "/")
        assert status == 200
        assert "Discussion" in page
        assert "__refracture/events" in page
        assert "__refracture" not in (paper / "_manuscript" / "manuscript.html").read_text()
        assert run.stop() == 0
    finally:
        run.kill()
    assert "Traceback" not in "\n".join(run.lines)
    assert run.lines[-1].startswith("Not rendered on exit (--no-render-on-exit)")
    with pytest.raises(ConnectionRefusedError):
        _get(run.port, "/")
    assert not (paper / "_manuscript" / "manuscript.pdf").exists()


# --- in a real browser ---------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Tab:
    """One tab of headless Chromium, read through the DevTools protocol (websocket-client):
    the test only reads the page; every reload is the page's own."""

    def __init__(self, url: str, profile: Path) -> None:
        import websocket

        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",  # the tests run as root in CI
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            active = profile / "DevToolsActivePort"  # Chromium writes its port here
            _until(lambda: active.is_file() and active.read_text().count("\n") >= 1, 120)
            port = int(active.read_text().split()[0])

            def tab():
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as answer:
                    pages = json.load(answer)
                return next((p for p in pages if p["type"] == "page"), None)

            target = _until(tab, 60, what="Chromium's tab")
            self.ws = websocket.create_connection(
                target["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
            )
        except BaseException:
            self.close()
            raise
        self._id = 0

    def evaluate(self, expression: str):
        """The value of ``expression`` in the page, None while the page is (re)loading."""
        self._id += 1
        call = {"expression": expression, "returnByValue": True}
        self.ws.send(json.dumps({"id": self._id, "method": "Runtime.evaluate", "params": call}))
        while True:
            answer = json.loads(self.ws.recv())
            if answer.get("id") == self._id:
                result = answer.get("result", {})
                return (
                    None if "exceptionDetails" in result else result.get("result", {}).get("value")
                )

    def text(self) -> str:
        return self.evaluate("document.readyState === 'complete' ? document.body.innerText : null")

    def wait_for(self, condition, what: str) -> str:
        """The page's text once ``condition(text)`` holds."""
        return _until(lambda: (lambda t: t if t and condition(t) else None)(self.text()), 300, what)

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.mark.slow  # about a minute: seven builds of the paper and a browser
@pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (apt-get install -y chromium, as .ci/run does)"
)
def test_in_a_browser_edits_show_errors_show_over_the_last_paper_and_fixes_recover(
    tmp_path, cli
) -> None:
    assert cli("init", "paper", "--example", cwd=tmp_path).returncode == 0
    paper = tmp_path / "paper"
    discussion = paper / "templates" / "partials" / "discussion.md.j2"
    levels = paper / "data" / "levels.csv"
    original_discussion = discussion.read_text(encoding="utf-8")
    original_levels = levels.read_text(encoding="utf-8")
    sentence = "This sentence was written while the preview was open."
    failed = "The last rebuild failed"

    run = _Running(cwd=paper)
    tab = None
    try:
        run.wait_for("Rebuilt the HTML")
        assert listening_addresses(run.port) == {"0100007F"}  # the loopback only
        tab = _Tab(run.url, tmp_path / "chromium")
        first = tab.wait_for(lambda t: "Discussion" in t, "the paper in the browser")
        assert sentence not in first
        assert failed not in first
        tab.evaluate("window.loadedOnce = true")

        # an edited template: the page reloads itself with the new sentence
        discussion.write_text(original_discussion + f"\n{sentence}\n", encoding="utf-8")
        tab.wait_for(lambda t: sentence in t, "the new sentence")
        assert tab.evaluate("window.loadedOnce === undefined")  # a reload, not the same page

        # a broken data cell: the error panel names file, row and column over the last paper
        rows = original_levels.splitlines()
        header = rows[0].split(",")
        cells = rows[3].split(",")  # row 4 as a spreadsheet shows it (the header is row 1)
        cells[header.index("tscore")] = "abc"
        levels.write_text("\n".join([*rows[:3], ",".join(cells), *rows[4:]]) + "\n")
        broken = tab.wait_for(lambda t: failed in t, "the error panel")
        assert re.search(r"levels\.csv\s+4\s+tscore\s+abc\s+not a number", broken), broken
        assert "error: 1 problem found in the input data" in broken
        assert sentence in broken  # the last good paper is still there

        # fixed: the paper comes back without the panel, without a restart
        levels.write_text(original_levels, encoding="utf-8")
        back = tab.wait_for(lambda t: failed not in t, "the paper without the panel")
        assert sentence in back

        # a value that does not exist in a template: the file is named in the panel
        discussion.write_text(
            original_discussion + f"\n{sentence}\n{{{{ cohort.nonsense }}}}\n", encoding="utf-8"
        )
        bad = tab.wait_for(lambda t: failed in t, "the template error")
        assert "discussion.md.j2" in bad
        assert "cohort.nonsense" in bad
        discussion.write_text(original_discussion + f"\n{sentence}\n", encoding="utf-8")
        tab.wait_for(lambda t: failed not in t and sentence in t, "the paper once more")

        # Ctrl-C: the PDF and DOCX are built, then the preview ends cleanly
        assert run.stop() == 0
    finally:
        if tab is not None:
            tab.close()
        run.kill()
    log = "\n".join(run.lines)
    assert "Traceback" not in log
    assert run.lines[-1] == "_manuscript is built: the paper in every format."
    for name in ("manuscript.pdf", "manuscript.docx", "supplementary.pdf", "supplementary.docx"):
        assert (paper / "_manuscript" / name).is_file()


def test_a_port_given_that_is_busy_is_one_clear_error(cli, served) -> None:
    server, *_ = served
    r = cli("preview", "--no-browser", "--port", str(server.port))
    assert r.returncode == 1
    assert r.stderr == (
        f"error: port {server.port} of 127.0.0.1 is in use (another preview?); choose a free "
        "one with --port N (--port 0 lets the system pick)\n"
    )


def test_an_import_mapping_is_watched_with_the_files_it_reads(tmp_path) -> None:
    """A fresh REDCap export rebuilds the preview, not only an edit of the mapping."""
    from refracture.workflows.preview import _data_targets

    mapping = tmp_path / "mapping.yml"
    mapping.write_text(
        "format: redcap\nrecords: exports/export.csv\ndictionary: dictionary.csv\n",
        encoding="utf-8",
    )
    assert _data_targets(mapping) == [
        mapping,
        tmp_path / "exports" / "export.csv",
        tmp_path / "dictionary.csv",
    ]
    assert _data_targets(tmp_path / "data") == [tmp_path / "data"]
    assert _data_targets(None) == []


def test_garbage_is_collected_only_once_no_build_is_asked_for() -> None:
    from refracture.workflows.preview import _Requests

    requests = _Requests()
    assert requests.idle(0.05)  # nothing asked: idle
    requests.put(every_format=False)
    assert not requests.idle(0.05)  # a build is waiting
    assert requests.take() is False
    threading.Timer(0.05, lambda: requests.put(every_format=True)).start()
    assert not requests.idle(5)  # a request came before the time was up
    requests.close()
    assert not requests.idle(0.05)
