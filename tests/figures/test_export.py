"""A figure as its own file at a journal's width and resolution, measured on disk."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from PIL import Image

from refracture.figures.export import export_figure, pixel_width

SIZES = {"single_mm": 80.0, "double_mm": 170.0}


def _export(results, stem: str, path: Path, **options):
    settings = {"fmt": "tiff", "dpi": 300, "colour": "rgb", "epoch": 0, **SIZES, **options}
    return export_figure(results, stem, path, **settings)


@pytest.mark.parametrize(
    ("stem", "column", "width_mm"), [("roc", "single", 80.0), ("model_forest", "double", 170.0)]
)
def test_a_tiff_has_the_profiles_resolution_and_pixel_width(
    example_results, tmp_path, stem, column, width_mm
) -> None:
    path = tmp_path / "figure.tif"
    made = _export(example_results, stem, path, dpi=300)
    assert (made.column, made.width_mm) == (column, width_mm)
    with Image.open(path) as image:
        assert image.format == "TIFF"
        assert image.info["compression"] == "tiff_lzw"
        assert image.info["dpi"] == pytest.approx((300, 300))
        assert image.mode == "RGB"
        # the width in inches times the resolution, to the pixel
        assert image.size[0] == pixel_width(width_mm, 300) == round(width_mm / 25.4 * 300)
        assert image.size[1] == pytest.approx(made.height_mm / 25.4 * 300, abs=1)
        # drawn, not blank: the figure's ink covers part of the page
        assert image.convert("L").getextrema()[0] < 64


def _blur(image: Image.Image) -> float:
    """The share of inked pixels that are neither ink nor paper: antialiased edges."""
    grey = image.convert("L").tobytes()
    inked = [v for v in grey if v < 224]
    return sum(1 for v in inked if v > 32) / len(inked)


def test_the_resolution_is_drawn_not_scaled(example_results, tmp_path) -> None:
    low, high = tmp_path / "low.tif", tmp_path / "high.tif"
    _export(example_results, "roc", low, dpi=150)
    _export(example_results, "roc", high, dpi=600)
    with Image.open(low) as a, Image.open(high) as b:
        assert b.size[0] == pixel_width(80, 600)
        assert a.size[0] == pixel_width(80, 150)
        upscaled = a.resize(b.size, Image.Resampling.BICUBIC)
        # drawn at 600 dpi, lines are solid and their edges one pixel; a 150 dpi image
        # blown up to the same size has edges four pixels wide
        assert _blur(b) < 0.7 * _blur(upscaled)


@pytest.mark.parametrize(("colour", "mode"), [("cmyk", "CMYK"), ("grayscale", "L")])
def test_the_colour_mode_is_the_profiles(example_results, tmp_path, colour, mode) -> None:
    path = tmp_path / "figure.tif"
    _export(example_results, "roc", path, colour=colour)
    with Image.open(path) as image:
        assert image.mode == mode


def test_vector_figures_have_the_profiles_width(example_results, tmp_path) -> None:
    import pypdfium2 as pdfium

    eps = tmp_path / "figure.eps"
    _export(example_results, "model_forest", eps, fmt="eps", epoch=1764028800)
    head = eps.read_bytes()[:2048].decode("latin-1")
    box = re.search(r"%%HiResBoundingBox: ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)", head)
    assert box is not None
    assert (float(box.group(3)) - float(box.group(1))) / 72 * 25.4 == pytest.approx(170, abs=0.1)
    assert "%%CreationDate: Tue Nov 25 00:00:00 2025" in head  # the build's date, not now
    pdf = tmp_path / "figure.pdf"
    _export(example_results, "roc", pdf, fmt="pdf")
    doc = pdfium.PdfDocument(str(pdf))
    try:
        assert doc[0].get_size()[0] / 72 * 25.4 == pytest.approx(80, abs=0.1)
    finally:
        doc.close()


@pytest.mark.parametrize("fmt", ["tiff", "eps", "pdf"])
def test_the_same_figure_gives_the_same_bytes(example_results, tmp_path, fmt) -> None:
    a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    _export(example_results, "tscore_levels", a, fmt=fmt)
    _export(example_results, "tscore_levels", b, fmt=fmt)
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b)]
    assert digest[0] == digest[1]
