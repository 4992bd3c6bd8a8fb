"""One figure as a journal wants it: drawn again at the journal's width, saved as one file.

A submission system takes each figure as its own file, in the journal's format
(TIFF with LZW compression, EPS or PDF), at its column width and, for a raster,
its resolution. The figure is drawn again from the results, exactly as the build
draws it, then set to the journal's single- or double-column width (whichever
the figure was drawn for; its height stays, and the constrained layout refits
the axes and labels to the new width, so text keeps its print size) and saved:

* ``tiff``: rasterised by matplotlib at exactly the journal's resolution (the
  pixel width is the width in inches times the dpi), converted to the colour mode
  and written by Pillow with LZW compression and the resolution in its tags;
* ``eps``: matplotlib's PostScript, vector, without a creation date;
* ``pdf``: vector, through the same SVG → typst conversion as the build's figures.

Every format is byte-identical for the same results and settings.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from refracture.analysis.results import Results

__all__ = ["COLUMN", "ExportedFigure", "column_of", "export_figure", "pixel_width"]

MM_PER_INCH = 25.4
COLUMN = ("single", "double")
_PIL_MODE = {"rgb": "RGB", "cmyk": "CMYK", "grayscale": "L"}


@dataclass(frozen=True)
class ExportedFigure:
    path: Path
    column: str
    """"single" or "double": the width the figure was drawn for."""
    width_mm: float
    height_mm: float


def pixel_width(width_mm: float, dpi: int) -> int:
    """The pixel width of a raster ``width_mm`` wide at ``dpi`` (rounded to a pixel)."""
    return round(width_mm / MM_PER_INCH * dpi)


def column_of(width_in: float) -> str:
    """The column a figure drawn ``width_in`` inches wide was drawn for."""
    from refracture.figures.style import DOUBLE_COLUMN_IN, SINGLE_COLUMN_IN

    return "single" if width_in <= (SINGLE_COLUMN_IN + DOUBLE_COLUMN_IN) / 2 else "double"


def _draw(results: Results, stem: str):
    """The figure ``stem`` drawn as the build draws it (figures.build.figure_jobs)."""
    import matplotlib

    matplotlib.use("Agg")
    from refracture.figures import plots
    from refracture.figures.build import figure_jobs

    jobs = figure_jobs(results)
    if stem not in jobs:
        raise KeyError(f"no figure {stem!r} (figures: {', '.join(jobs)})")
    plot, args, kwargs = jobs[stem]
    return getattr(plots, plot)(*args, **kwargs).figure


def export_figure(
    results: Results,
    stem: str,
    path: Path,
    *,
    fmt: str,
    single_mm: float,
    double_mm: float,
    dpi: int,
    colour: str,
    epoch: int,
) -> ExportedFigure:
    """Draw the figure ``stem`` at the journal's width and write it to ``path`` as ``fmt``."""
    from refracture.figures.style import journal_style

    if fmt not in ("tiff", "eps", "pdf"):
        raise ValueError(f"unknown figure format {fmt!r} (tiff, eps or pdf)")
    if colour not in _PIL_MODE:
        raise ValueError(f"unknown colour mode {colour!r} (rgb, cmyk or grayscale)")
    with journal_style():
        fig = _draw(results, stem)
        width_in, height_in = fig.get_size_inches()
        column = column_of(width_in)
        width_mm = single_mm if column == "single" else double_mm
        if fmt == "tiff":
            # matplotlib's canvas truncates width × dpi to whole pixels: half a pixel
            # more makes the truncation land on the rounded pixel width exactly
            width_in = (pixel_width(width_mm, dpi) + 0.5) / dpi
        else:
            width_in = width_mm / MM_PER_INCH
        fig.set_size_inches(width_in, height_in)
        if fmt == "tiff":
            _save_tiff(fig, path, dpi, colour)
        elif fmt == "eps":
            _save_eps(fig, path, epoch)
        else:
            from refracture.figures.style import save

            produced = save(fig, path.with_suffix(""), ("pdf",), epoch=epoch)[0]
            if produced != path:
                produced.replace(path)
    return ExportedFigure(path, column, width_mm, height_in * MM_PER_INCH)


def _save_eps(fig, path: Path, epoch: int) -> None:
    """PostScript with the build's date as its creation date (matplotlib would stamp now)."""
    import datetime as dt
    import logging
    import re

    buffer = io.BytesIO()
    ps_log = logging.getLogger("matplotlib.backends.backend_ps")
    level = ps_log.level
    ps_log.setLevel(logging.ERROR)  # "does not support transparency": nothing here is
    try:
        fig.savefig(buffer, format="eps")
    finally:
        ps_log.setLevel(level)
    when = dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%a %b %d %H:%M:%S %Y")
    data = re.sub(
        rb"^%%CreationDate: [^\n]*",
        b"%%CreationDate: " + when.encode(),
        buffer.getvalue(),
        count=1,
        flags=re.M,
    )
    path.write_bytes(data)


def _save_tiff(fig, path: Path, dpi: int, colour: str) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    buffer.seek(0)
    with Image.open(buffer) as image:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        flat.convert(_PIL_MODE[colour]).save(
            path, format="TIFF", compression="tiff_lzw", dpi=(dpi, dpi)
        )
