"""The pages ``refracture preview`` serves: the built HTML with its overlay added.

The overlay (``templates/preview/overlay.html``) is added to the HTML as it is
served, before ``</body>``, never to the files on disk, which stay exactly what
``refracture build`` writes. It holds a small bar (links to both documents and
their PDF and DOCX when built, a button that renders those, the rebuild status),
the error panel when the last rebuild failed (the command line's message,
escaped, above the last good paper), and an inline script that reloads the page
when the server's event stream announces a new build. No external asset.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from refracture.workflows.preview_state import Snapshot

__all__ = ["DOCUMENTS", "inject", "status_text", "waiting_page"]

DOCUMENTS = {"manuscript.html": "Manuscript", "supplementary.html": "Supplement"}
"""The two documents a preview shows, by file name in the build folder."""

_DOWNLOADS = (("pdf", "PDF"), ("docx", "DOCX"))
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@functools.cache
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from refracture.report.assets import templates_dir

    return Environment(
        loader=FileSystemLoader(templates_dir() / "preview"),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def status_text(snapshot: Snapshot) -> str:
    """The bar's one-line status."""
    if snapshot.rendering:
        return "Rendering HTML, PDF and DOCX…"
    if snapshot.building:
        return "Rebuilding…"
    if snapshot.error is not None:
        return "The last rebuild failed."
    return ""


def _documents(out: Path) -> list[dict]:
    found = []
    for html, label in DOCUMENTS.items():
        stem = html.removesuffix(".html")
        downloads = [
            {"file": f"{stem}.{ext}", "label": name}
            for ext, name in _DOWNLOADS
            if (out / f"{stem}.{ext}").is_file()
        ]
        found.append({"html": html, "label": label, "downloads": downloads})
    return found


def overlay(snapshot: Snapshot, *, paper: bool) -> str:
    """The markup added to a served page (``paper``: the page is a built document)."""
    return (
        _environment()
        .get_template("overlay.html")
        .render(
            build=snapshot.build,
            error=snapshot.error,
            paper=paper,
            building=snapshot.building,
            status=status_text(snapshot),
            documents=_documents(snapshot.out),
        )
    )


def inject(html: str, snapshot: Snapshot, *, paper: bool = True) -> str:
    """``html`` with the overlay before its last ``</body>`` (``paper``: a built document)."""
    added = overlay(snapshot, paper=paper)
    ends = list(_BODY_END.finditer(html))
    if not ends:
        return html + added
    at = ends[-1].start()
    return html[:at] + added + html[at:]


def waiting_page(snapshot: Snapshot, document: str) -> str:
    """The page shown for ``document`` while the folder holds no build of it."""
    label = DOCUMENTS.get(document, document)
    if snapshot.error is not None:
        heading = f"No {label.lower()} yet"
        message = "The first build failed (see above); fix the file and save it."
    else:
        heading = f"Building the {label.lower()}…"
        message = "This page shows the paper as soon as the first build is done."
    page = _environment().get_template("waiting.html").render(heading=heading, message=message)
    return inject(page, snapshot, paper=False)
