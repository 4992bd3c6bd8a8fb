"""``refracture preview``: the paper in the browser, rebuilt as its inputs change.

A :class:`Preview` lives as long as the command. It serves the build folder on
the loopback (:mod:`~refracture.workflows.preview_server`), watches the paper's
inputs (:mod:`~refracture.workflows.preview_watch`) and rebuilds, one build at a
time on a worker thread, after each debounced change; changes that arrive during
a build are folded into one build after it. Edits build the HTML only, with the
figures as SVG (what the HTML embeds); the PDF and DOCX, and the figures in every
format, are built when a page asks (its "Render PDF and DOCX" button) and once
more when the preview stops (:meth:`Preview.render_final`), so the folder is left
complete.

Each rebuild reads the configuration again (a changed ``refracture.yml`` changes
the data, templates, bibliography and folder watched and served). A rebuild that
fails leaves the folder as it was (the last good paper stays on screen) and puts
its error, in the command line's words (:func:`refracture.errors.describe`), in a
panel above it; the next good rebuild removes the panel.

Every build goes through :meth:`Preview._rebuild`, which calls the pipeline's
``build`` with figures drawn in this process (no worker processes to start per
edit). Nothing of a build is kept beyond its outcome, and the garbage of builds is
collected once the page has reloaded, so the process's size does not grow with the
number of edits.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refracture.build.stages import StageCache
from refracture.common.paths import shown
from refracture.errors import describe
from refracture.workflows.preview_server import PreviewServer
from refracture.workflows.preview_state import PreviewState
from refracture.workflows.preview_watch import Watcher

if TYPE_CHECKING:
    from refracture.build.config import Config
    from refracture.build.pipeline import BuildOutcome

__all__ = ["DEFAULT_PORT", "Preview"]

DEFAULT_PORT = 4848
ALL_FORMATS = ("html", "pdf", "docx")
_SWEEP_IDLE_S = 0.25  # quiet time after a build before the garbage is collected
_SWEEP_EVERY = 4  # builds in a row after which it is collected anyway


class _Cancelled(BaseException):
    """Raised through a running build when the preview stops (its staging folder is
    removed on the way out, like on Ctrl-C)."""


class _Requests:
    """Pending rebuilds, folded into one: ``None`` none, ``False`` HTML, ``True`` every
    format (a request for every format includes the HTML)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: bool | None = None
        self._closed = False

    def put(self, *, every_format: bool) -> None:
        with self._cond:
            self._pending = bool(self._pending) or every_format
            self._cond.notify_all()

    def idle(self, timeout: float) -> bool:
        """Whether no build is asked for (and the preview is open) for ``timeout`` seconds."""
        with self._cond:
            return not self._cond.wait_for(
                lambda: self._pending is not None or self._closed, timeout
            )

    def take(self) -> bool | None:
        """The next build to run (waits for one); ``None`` once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._pending is not None or self._closed)
            if self._closed:
                return None
            pending, self._pending = self._pending, None
            return pending

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class _Setup:
    """What one build is asked for: the configuration read now and what follows from it."""

    def __init__(self, preview: Preview, cfg: Config | None) -> None:
        from refracture.build.pipeline import authored_inputs

        self.config = cfg
        self.data, self.out = preview.data, preview.out
        self.style, self.engine, formats = "submission", "auto", ALL_FORMATS
        self.templates = None
        if cfg is not None:
            self.data = self.data if self.data is not None else cfg.data.path
            self.out = self.out if self.out is not None else Path(cfg.output.out)
            self.style, self.engine = cfg.output.style, cfg.output.engine
            formats = tuple(cfg.output.formats)
            self.templates = cfg.manuscript.templates
        self.out = self.out if self.out is not None else Path("_manuscript")
        self.every_format = tuple(f for f in ALL_FORMATS if f == "html" or f in formats)
        self.authored = authored_inputs(cfg)  # the templates folder and bibliography

    def check(self) -> Callable[[Any], None] | None:
        """The lint a build runs on the authors' templates (as ``refracture build``)."""
        if self.templates is None:
            return None
        from refracture.workflows.lint import project_check

        return project_check(self.templates)


class Preview:
    """A preview session: server, watcher and rebuild worker; use as a context manager.

    ``load_config()`` returns the configuration in effect (None: the defaults) or
    raises the command line's error; ``config_file`` is watched whether or not it
    exists yet. ``data`` and ``out`` override the configuration's. ``port`` is the
    port to serve on (``strict``: that port or fail; else the next free one of a
    few). ``say`` prints one line for the terminal.
    """

    def __init__(
        self,
        *,
        load_config: Callable[[], Config | None],
        config_file: Path,
        data: Path | None = None,
        out: Path | None = None,
        port: int = DEFAULT_PORT,
        strict_port: bool = False,
        say: Callable[[str], None] = print,
    ) -> None:
        self.load_config = load_config
        self.config_file = Path(config_file).absolute()
        self.data = data
        self.out = out
        self.say = say
        self._cache = StageCache()  # the analyses, kept in memory across rebuilds
        self._requests = _Requests()
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self._watcher = Watcher(self._changed)
        self._setup = self._read_setup(report=False)
        self.state = PreviewState(self._setup.out if self._setup else self._default_out())
        self.server = PreviewServer(self.state, self.request_render, port, strict=strict_port)
        self.url = self.server.url

    # --- life --------------------------------------------------------------------------------

    def __enter__(self) -> Preview:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def start(self) -> None:
        """Serve, watch and start the first build (the page shows it when it is done)."""
        self.server.start()
        self._retarget(self._setup)
        self._worker = threading.Thread(
            target=self._work, name="refracture-preview-build", daemon=True
        )
        self._worker.start()
        self._requests.put(every_format=False)

    def watching(self, timeout: float) -> bool:
        """Wait until the inputs are being watched (a change from then on is seen)."""
        return self._watcher.ready(timeout)

    def wait(self) -> None:
        """Block until interrupted (Ctrl-C, SIGTERM: the caller handles the signal)."""
        forever = threading.Event()
        while not forever.wait(0.5):
            pass

    def close(self) -> None:
        """Stop watching, stop the running build (its staging folder is removed) and the
        server; the folder keeps the last good paper."""
        self._cancel.set()
        self._requests.close()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        self._watcher.close()
        self.server.close()

    # --- requests ----------------------------------------------------------------------------

    def _changed(self, paths: list[Path]) -> None:
        names = ", ".join(shown(p) for p in paths[:3]) + (" …" if len(paths) > 3 else "")
        self.say(f"Changed: {names}")
        self._requests.put(every_format=False)

    def request_render(self) -> None:
        """Build every format (PDF and DOCX too) after the running build, if any."""
        self.say("Rendering HTML, PDF and DOCX (asked by the page)")
        self._requests.put(every_format=True)

    # --- builds ------------------------------------------------------------------------------

    def _work(self) -> None:
        unswept = 0  # builds since the last full garbage collection
        while True:
            # A full collection takes tens of milliseconds and holds the interpreter: it
            # runs once the page has had time to reload (or after a run of builds), so
            # that neither the reload nor the next build waits for it.
            if unswept and (unswept >= _SWEEP_EVERY or self._requests.idle(_SWEEP_IDLE_S)):
                gc.collect()  # a build's tables and figures go now, not at some later build
                unswept = 0
            every_format = self._requests.take()
            if every_format is None:
                return
            self._build_once(every_format)
            unswept += 1

    def _build_once(self, every_format: bool) -> None:
        self.state.started(rendering=every_format)
        began = time.monotonic()
        try:
            outcome = self._rebuild(every_format, self._check_cancel)
        except _Cancelled:
            self.state.cancelled()
            return
        except Exception as exc:
            text = describe(exc)
            if os.environ.get("REFRACTURE_DEBUG"):
                import traceback

                traceback.print_exc()
            self.say(f"Rebuild failed; the page shows the last good paper and this error:\n{text}")
            self.state.finished(error=text)
        else:
            seconds = time.monotonic() - began
            if outcome.up_to_date:
                self.say(f"{shown(outcome.out)} is up to date ({seconds:.1f} s)")
            else:
                what = "HTML, PDF and DOCX" if every_format else "HTML"
                self.say(f"Rebuilt the {what} in {seconds:.1f} s: {self.url}")
            self.state.finished(out=outcome.out, new=not outcome.up_to_date)

    def _check_cancel(self, _label: str) -> None:
        if self._cancel.is_set():
            raise _Cancelled

    def _rebuild(self, every_format: bool, progress: Callable[[str], None]) -> BuildOutcome:
        """One build: the configuration is read again and what is watched follows it."""
        setup = self._read_setup(report=True)
        self._retarget(setup)
        formats = setup.every_format if every_format else ("html",)
        return self._build(setup, formats, progress, complete=every_format)

    def _build(
        self,
        setup: _Setup,
        formats: tuple[str, ...],
        progress: Callable[[str], None],
        *,
        complete: bool = False,
    ) -> BuildOutcome:
        """The preview's only call of the pipeline, with the stage cache that lives as long
        as the preview (unchanged stages are reused, the analyses from memory) and the
        figures drawn in this process: no worker processes to start for each edit.

        An edit's build draws the figures only as its documents embed them (the HTML:
        SVG; their PNG, for the DOCX, is most of a figure's drawing time); a
        ``complete`` build makes the folder ``refracture build`` would, every figure
        in every format.
        """
        from refracture.build.pipeline import build, embedded_figure_formats

        return build(
            setup.data,
            setup.out,
            progress,
            formats=formats,
            style=setup.style,
            engine=setup.engine,
            config=setup.config,
            figure_workers=0,
            check_templates=setup.check(),
            cache=self._cache,
            figure_formats=None if complete else embedded_figure_formats(formats),
        )

    def render_final(self) -> BuildOutcome:
        """The last build, in every format, in the calling thread (after :meth:`close`)."""
        self._cancel.clear()
        return self._rebuild(True, lambda _label: None)

    # --- configuration -----------------------------------------------------------------------

    def _read_setup(self, *, report: bool) -> _Setup | None:
        """The configuration now; a bad one raises (``report``) or gives None."""
        try:
            cfg = self.load_config()
        except Exception:
            if report:
                raise
            return None
        setup = _Setup(self, cfg)
        self._setup = setup
        return setup

    def _default_out(self) -> Path:
        return self.out if self.out is not None else Path("_manuscript")

    def _retarget(self, setup: _Setup | None) -> None:
        """Watch what the configuration names (never the build folder)."""
        out = setup.out if setup is not None else self._default_out()
        self._watcher.watch(self._targets(setup), ignored=[out])

    def _targets(self, setup: _Setup | None) -> list[Path]:
        """The configuration file and, as it says, the data, templates and bibliography;
        for an import mapping, the export and dictionary it reads as well."""
        found = [self.config_file]
        if setup is not None:
            found += _data_targets(setup.data) + list(setup.authored)
        return found

    @property
    def watched(self) -> list[Path]:
        """What is watched now (for the terminal)."""
        return self._targets(self._setup)


def _data_targets(data: Path | None) -> list[Path]:
    """The data and, when the data are an import mapping, every file it reads."""
    if data is None:
        return []
    found = [Path(data)]
    if Path(data).suffix.lower() in (".yml", ".yaml"):
        from refracture.data.importing.inputs import mapping_inputs

        found += [path for _, path in mapping_inputs(Path(data))]
    return found
