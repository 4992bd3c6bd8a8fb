"""The web server of ``refracture preview``: the build folder, on the loopback only.

It binds ``127.0.0.1`` (never all interfaces) and answers:

* ``GET /`` the manuscript, ``GET /NAME`` a file of the build folder (HTML pages
  with the preview overlay added, :mod:`refracture.workflows.preview_page`);
  nothing outside the folder (404);
* ``GET /__refracture/events``: a server-sent event stream; one ``state`` event
  when it opens and one at each change of the preview (the page reloads when the
  build id differs from its own);
* ``GET /__refracture/state``: the same state as JSON, with the error text;
* ``POST /__refracture/render``: asks for a build in every format (PDF, DOCX).

Requests must name the server by its loopback address (``Host``), and a render
request coming from another web site's page (``Origin``) is refused, so that no
web page open in the browser can read the paper or start builds through a
rebinding of its own domain name.
"""

from __future__ import annotations

import contextlib
import errno
import json
import mimetypes
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from refracture.errors import ConfigError
from refracture.workflows.preview_page import DOCUMENTS, inject, status_text, waiting_page
from refracture.workflows.preview_state import PreviewState, Snapshot

__all__ = ["HOST", "PORT_TRIES", "PreviewServer"]

HOST = "127.0.0.1"
"""The only address the preview binds: the loopback, never every interface."""

PORT_TRIES = 20
"""Without ``--port``, this many ports from the default are tried before giving up."""

_PREFIX = "/__refracture/"
_KEEPALIVE = 15.0  # seconds between comments on an idle event stream


class PreviewServer(ThreadingHTTPServer):
    """Serves ``state``'s build folder at ``http://127.0.0.1:PORT/``; ``render()`` is
    called when a page asks for PDF and DOCX."""

    daemon_threads = True  # an open event stream never holds the process

    def __init__(
        self, state: PreviewState, render: Callable[[], None], port: int, *, strict: bool
    ) -> None:
        self.state = state
        self.render = render
        tries = [port] if strict or port == 0 else range(port, port + PORT_TRIES)
        for candidate in tries:
            try:
                super().__init__((HOST, candidate), _Handler)
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise ConfigError(f"cannot serve on {HOST}:{candidate}: {exc}") from exc
        else:
            last = tries[-1]
            span = f"port {port}" if len(tries) == 1 else f"ports {port} to {last}"
            raise ConfigError(
                f"{span} of {HOST} {'is' if len(tries) == 1 else 'are'} in use (another "
                "preview?); choose a free one with --port N (--port 0 lets the system pick)"
            )
        self.port = self.server_address[1]
        self.url = f"http://{HOST}:{self.port}/"
        self.hosts = {f"{HOST}:{self.port}", f"localhost:{self.port}"}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve on a thread of its own until :meth:`close`."""
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="refracture-preview-server",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving: end the event streams, stop the loop, close the socket."""
        self.state.close()
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
        self.server_close()

    def handle_error(self, request, client_address) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return  # the browser went away: nothing to say
        sys.stderr.write(f"preview: a request failed: {type(exc).__name__}: {exc}\n")


class _Handler(BaseHTTPRequestHandler):
    server: PreviewServer
    server_version = "refracture-preview"
    sys_version = ""

    def log_message(self, format, *args) -> None:  # one line per request would drown the log
        pass

    # --- routing ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        path = urlsplit(self.path).path
        if path == f"{_PREFIX}events":
            self._events()
        elif path == f"{_PREFIX}state":
            self._json(HTTPStatus.OK, self._state(self.server.state.snapshot(), error=True))
        elif path.startswith(_PREFIX):
            self._text(HTTPStatus.NOT_FOUND, "not found")
        else:
            self._file(path)

    def do_HEAD(self) -> None:
        self._text(HTTPStatus.METHOD_NOT_ALLOWED, "GET only")

    def do_POST(self) -> None:
        if not self._host_ok():
            return
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc not in self.server.hosts:
            self._text(HTTPStatus.FORBIDDEN, "render requests come only from the preview's pages")
            return
        if urlsplit(self.path).path != f"{_PREFIX}render":
            self._text(HTTPStatus.NOT_FOUND, "not found")
            return
        self.server.render()
        self._json(HTTPStatus.ACCEPTED, {"requested": "html,pdf,docx"})

    def _host_ok(self) -> bool:
        if self.headers.get("Host") in self.server.hosts:
            return True
        self._text(HTTPStatus.FORBIDDEN, f"the preview answers at {self.server.url} only")
        return False

    # --- answers ---------------------------------------------------------------------------

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _text(self, status: HTTPStatus, text: str) -> None:
        self._send(status, f"{text}\n".encode(), "text/plain; charset=utf-8")

    def _json(self, status: HTTPStatus, data: dict) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    @staticmethod
    def _state(snapshot: Snapshot, *, error: bool = False) -> dict:
        state = {
            "build": snapshot.build,
            "building": snapshot.building,
            "rendering": snapshot.rendering,
            "failed": snapshot.error is not None,
            "status": status_text(snapshot),
        }
        if error:
            state["error"] = snapshot.error
        return state

    def _file(self, path: str) -> None:
        """A file of the build folder; an HTML page with the overlay; else 404."""
        snapshot = self.server.state.snapshot()
        name = "manuscript.html" if path in ("/", "/index.html") else unquote(path)
        found = _inside(snapshot.out, name)
        if found is None:
            if name.lstrip("/") in DOCUMENTS:  # not built yet, or the first build failed
                page = waiting_page(snapshot, name.lstrip("/"))
                self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
            else:
                self._text(HTTPStatus.NOT_FOUND, "not found")
            return
        try:
            body = found.read_bytes()
        except OSError:  # swapped out by a build at this very moment
            self._text(HTTPStatus.NOT_FOUND, "not found")
            return
        if found.suffix.lower() in (".html", ".htm"):
            page = inject(body.decode("utf-8", errors="replace"), snapshot)
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
            return
        kind = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        self._send(HTTPStatus.OK, body, kind)

    def _events(self) -> None:
        """The event stream: the state now, then at each change, until the preview stops."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        seen: Snapshot | None = None
        with contextlib.suppress(OSError):  # the page went away
            while True:
                now = self.server.state.wait(seen, _KEEPALIVE)
                if now.closed:
                    return
                if now == seen:
                    self.wfile.write(b": still here\n\n")
                else:
                    data = json.dumps(self._state(now))
                    self.wfile.write(f"event: state\ndata: {data}\n\n".encode())
                    seen = now
                self.wfile.flush()


def _inside(folder: Path, name: str) -> Path | None:
    """The file ``name`` (a URL path) of ``folder``, or None when it is not a file there
    (missing, a folder, or anywhere outside ``folder``: ``..``, links, absolute paths)."""
    rel = name.lstrip("/")
    if not rel or "\\" in rel or "\0" in rel or ".." in rel.split("/"):
        return None
    try:
        root = folder.resolve()
        path = (root / rel).resolve()
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path
