"""One journal style for every figure, and deterministic saving.

Sizes are final print sizes: a single column is 85 mm wide, a double column
174 mm. Fonts are 7–8 pt at that size. The palette is Okabe–Ito, which stays
distinguishable with the common colour-vision deficiencies. Figures carry no
titles: captions live in the manuscript.

Saved files are deterministic to the byte: PNG without software or date
chunks, PDF without creation date or producer version, SVG with a fixed hash
salt (for element ids) and no date.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DOUBLE_COLUMN_IN",
    "FORMATS",
    "OKABE_ITO",
    "SINGLE_COLUMN_IN",
    "figure",
    "journal_style",
    "save",
]

MM_PER_INCH = 25.4
SINGLE_COLUMN_IN = 85 / MM_PER_INCH
DOUBLE_COLUMN_IN = 174 / MM_PER_INCH
FORMATS = ("png", "pdf", "svg")
PNG_DPI = 300

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#7F7F7F",
}

RC = {
    "font.family": "DejaVu Sans",
    "font.size": 7.5,
    "axes.labelsize": 7.5,
    "axes.titlesize": 7.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "lines.linewidth": 1.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": None,  # set in journal_style (needs cycler)
    "legend.frameon": False,
    "savefig.dpi": PNG_DPI,
    "figure.dpi": 150,
    "svg.hashsalt": "refracture",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "path.simplify": False,
}


@contextmanager
def journal_style() -> Iterator[None]:
    """Apply the journal style for the duration of a ``with`` block."""
    import matplotlib as mpl
    from cycler import cycler

    rc = dict(RC)
    rc["axes.prop_cycle"] = cycler(
        color=[OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "purple", "sky")]
    )
    with mpl.rc_context(rc):
        yield


def figure(width: str = "single", height_mm: float = 60.0, **subplots) -> tuple[Figure, object]:
    """A new figure of the journal width (``"single"`` or ``"double"``) and height."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    w = SINGLE_COLUMN_IN if width == "single" else DOUBLE_COLUMN_IN
    fig = Figure(figsize=(w, height_mm / MM_PER_INCH), layout="constrained")
    axes = fig.subplots(**subplots) if subplots else fig.subplots()
    return fig, axes


def save(
    fig: Figure, stem: Path, formats: tuple[str, ...] = FORMATS, *, epoch: int | None = None
) -> list[Path]:
    """Save ``fig`` as ``stem.png`` (600 dpi), ``stem.pdf`` and ``stem.svg``, deterministically.

    matplotlib draws the SVG and the PNG; the PDF is the SVG converted by typst
    (text is already outlined in the SVG, so the PDF is vector, needs no font
    and takes milliseconds, where matplotlib's own PDF backend spends most of a
    second subsetting fonts per figure). ``epoch`` is the PDF's creation date
    (default: ``SOURCE_DATE_EPOCH``, else the build's fixed date).
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown figure format(s) {unknown}; choose from {FORMATS}")
    svg = stem.with_suffix(".svg")
    keep_svg = "svg" in formats
    with journal_style():
        if keep_svg or "pdf" in formats:
            fig.savefig(svg, format="svg", metadata={"Creator": None, "Date": None})
        if "png" in formats:
            # The layout is settled by the first save; freezing it skips a second
            # constrained-layout pass. compress_level 3: a third of the time of
            # the default 6 for files about a fifth larger.
            if keep_svg or "pdf" in formats:
                fig.set_layout_engine("none")
            path = stem.with_suffix(".png")
            fig.savefig(
                path,
                format="png",
                dpi=PNG_DPI,
                metadata={"Software": None},
                pil_kwargs={"compress_level": 3},
            )
    if "pdf" in formats:
        svg_to_pdf(svg, stem.with_suffix(".pdf"), epoch)
        if not keep_svg:
            svg.unlink()
    return [stem.with_suffix(f".{fmt}") for fmt in formats]


SVG_TO_PDF = "#set page(width: auto, height: auto, margin: 0pt)\n#image({name})\n"


def svg_to_pdf(svg: Path, pdf: Path, epoch: int | None = None) -> Path:
    """Convert a figure's SVG into a one-page vector PDF of the same size (typst)."""
    import json

    import typst

    if epoch is None:
        from refracture.common.dates import build_epoch

        epoch = build_epoch()
    source = SVG_TO_PDF.format(name=json.dumps(svg.name)).encode()
    data = typst.compile(
        source,
        root=str(svg.parent),
        format="pdf",
        timestamp=epoch,
        font_paths=[],
        ignore_system_fonts=True,
    )
    pdf.write_bytes(data)
    return pdf
