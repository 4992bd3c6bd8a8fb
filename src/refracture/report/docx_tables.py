"""Word tables that fit the page: every table of a DOCX gets an explicit layout.

Left to itself, a Word table written by pandoc has no width ("auto") and
equal column widths, and a word processor that honours them squeezes a wide
table into part of the page and breaks words inside cells ("Fractu red",
"0.68 8"). :func:`lay_out_docx` rewrites the tables of a finished DOCX,
whichever engine wrote it (the embedded pandoc, Quarto's pandoc, or any other
writer of refracture's), so that:

* every table spans the text width (``w:tblW`` in twentieths of a point, the
  table edge on the margins) with a fixed layout (``w:tblLayout fixed``): the
  widths below are the widths every word processor shows;
* each column is at least as wide as the longest unbreakable piece of text in
  it; the width left over goes to the columns whose text would wrap, in
  proportion to what they lack, or, when every cell fits on one line, to every
  column alike (``w:gridCol`` and ``w:tcW``). Text is measured with the
  font metrics of the font the document's styles give each run (Times New Roman
  here: Adobe's Times metrics, shipped with matplotlib, so the same widths on
  every machine), bold in header rows;
* labels and header cells wrap at spaces only (a hyphen becomes Word's
  non-breaking hyphen, ``w:noBreakHyphen``), and numbers and intervals never
  break: a space between two parts of a number ("2.55 (0.31–20.96)",
  "T ≤ −2.2", "0.8 to 1.4", "< 0.001") becomes a no-break space (U+00A0), so
  the whole value is one unbreakable piece whose width its column gets;
* a table whose unbreakable pieces do not fit the portrait text width is put
  in a landscape section of its own (with its caption and notes);
* rows do not split across pages (``w:cantSplit``).

Only characters change in the text (a space for a no-break space, a hyphen for
a no-break hyphen): text that came from the data stays plain text. Quarto
wraps a cross-referenced table with its caption in a one-cell layout table;
that wrapper is removed, so both engines give the same structure. Tables that
hold a picture (Quarto's figure wrappers) are left alone.

The page (size and margins) is read from the document's last ``w:sectPr``;
where it gives none, :data:`DEFAULT_PAGE` is written there, so that the widths
mean the same page in every word processor. The zip is rewritten with its
entries in the same order, with the same names, timestamps and attributes, so
the same input gives the same bytes.
"""

from __future__ import annotations

import copy
import functools
import io
import math
import os
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lxml import etree

__all__ = [
    "DEFAULT_PAGE",
    "PAGES",
    "Page",
    "TableLayout",
    "lay_out_docx",
    "lay_out_docx_file",
    "page_of",
    "text_width",
    "with_document",
    "with_page",
]

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
XML_NS = "http://www.w3.org/XML/1998/namespace"
DOCUMENT = "word/document.xml"


def _w(tag: str) -> str:
    return f"{{{W_NS}}}{tag}"


def _cm(value: float) -> int:
    """Centimetres in twentieths of a point (dxa)."""
    return round(value / 2.54 * 1440)


# --------------------------------------------------------------------------- page


@dataclass(frozen=True)
class Page:
    """A page in twentieths of a point (dxa; 1440 to the inch)."""

    width: int
    height: int
    top: int
    right: int
    bottom: int
    left: int
    header: int = 709
    footer: int = 709
    gutter: int = 0

    @property
    def text_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def landscape(self) -> bool:
        return self.width > self.height

    def turned(self) -> Page:
        """The same page turned to landscape (or back); the margins stay where they were."""
        return replace(self, width=self.height, height=self.width)


A4 = (11906, 16838)
PAGES: dict[str, Page] = {
    # the typst style's pages (templates/assets/refracture.typ): A4, 2.5 cm margins ...
    "submission": Page(*A4, top=_cm(2.5), right=_cm(2.5), bottom=_cm(2.5), left=_cm(2.5)),
    # ... and the article's 2.2 cm sides, 2.4 cm top and 2.2 cm bottom
    "article": Page(*A4, top=_cm(2.4), right=_cm(2.2), bottom=_cm(2.2), left=_cm(2.2)),
}
DEFAULT_PAGE = PAGES["submission"]
"""The page written into a document that names none."""

CELL_MARGINS = (85, 57)
"""Space left and right of the text in a cell (dxa): 4.25 pt (8.5 pt between columns),
or 2.85 pt where that lets a table keep to the portrait page."""

SLACK = 1.02
"""Measured widths are taken 2% (and half a point) wider. Times New Roman and its
metric twin Liberation Serif have the widths of the Times that is measured; the
slack covers rounding in the word processor."""
SLACK_DXA = 10


def _int_attr(element: etree._Element | None, name: str) -> int | None:
    if element is None:
        return None
    value = element.get(_w(name))
    try:
        return round(float(value)) if value is not None else None
    except ValueError:
        return None


def _page_from_sectpr(sectpr: etree._Element | None) -> Page | None:
    if sectpr is None:
        return None
    size, margins = sectpr.find(_w("pgSz")), sectpr.find(_w("pgMar"))
    values = [_int_attr(size, "w"), _int_attr(size, "h")]
    values += [_int_attr(margins, side) for side in ("top", "right", "bottom", "left")]
    if any(v is None for v in values):
        return None
    width, height, top, right, bottom, left = (int(v) for v in values)  # type: ignore[arg-type]
    extra = {k: _int_attr(margins, k) for k in ("header", "footer", "gutter")}
    page = Page(width, height, abs(top), right, abs(bottom), left)
    return replace(page, **{k: v for k, v in extra.items() if v is not None})


def page_of(data: bytes) -> Page | None:
    """The page of a DOCX's last section (its ``w:pgSz`` and ``w:pgMar``), or None."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        root = etree.fromstring(z.read(DOCUMENT), _parser())
    body = root.find(_w("body"))
    return _page_from_sectpr(body.find(_w("sectPr")) if body is not None else None)


def with_page(document: bytes, page: Page) -> bytes:
    """``word/document.xml`` with ``page`` as the size and margins of its last section.

    pandoc takes the last section of its reference document for the documents it
    writes, so a reference document edited with this gives its page to them.
    """
    tree = etree.ElementTree(etree.fromstring(document, _parser()))
    body = tree.getroot().find(_w("body"))
    if body is None:
        raise ValueError(f"{DOCUMENT} has no body")
    final = body.find(_w("sectPr"))
    if final is None:
        final = etree.SubElement(body, _w("sectPr"))
    _write_page(final, page)
    return etree.tostring(
        tree, xml_declaration=True, encoding="UTF-8", standalone=tree.docinfo.standalone
    )


def text_width(page: Page | None = None) -> int:
    """The text width of ``page`` (default :data:`DEFAULT_PAGE`), in dxa."""
    return (page or DEFAULT_PAGE).text_width


# Order of the children of the elements this module writes (ECMA-376 sequences).
_ORDER = {
    "tblPr": "tblStyle tblpPr tblOverlap bidiVisual tblStyleRowBandSize tblStyleColBandSize "
    "tblW jc tblCellSpacing tblInd tblBorders shd tblLayout tblCellMar tblLook tblCaption "
    "tblDescription tblPrChange",
    "tcPr": "cnfStyle tcW gridSpan hMerge vMerge tcBorders shd noWrap tcMar textDirection "
    "tcFitText vAlign hideMark headers cellIns cellDel cellMerge tcPrChange",
    "trPr": "cnfStyle divId gridBefore gridAfter wBefore wAfter cantSplit trHeight tblHeader "
    "tblCellSpacing jc hidden ins del trPrChange",
    "sectPr": "headerReference footerReference footnotePr endnotePr type pgSz pgMar paperSrc "
    "pgBorders lnNumType pgNumType cols formProt vAlign noEndnote titlePg textDirection bidi "
    "rtlGutter docGrid printerSettings sectPrChange",
    "pPr": "pStyle keepNext keepLines pageBreakBefore framePr widowControl numPr "
    "suppressLineNumbers pBdr shd tabs suppressAutoHyphens kinsoku wordWrap overflowPunct "
    "topLinePunct autoSpaceDE autoSpaceDN bidi adjustRightInd snapToGrid spacing ind "
    "contextualSpacing mirrorIndents suppressOverlap jc textDirection textAlignment "
    "textboxTightWrap outlineLvl divId cnfStyle rPr sectPr pPrChange",
}
_ORDER_LISTS = {k: v.split() for k, v in _ORDER.items()}


def _child(parent: etree._Element, tag: str) -> etree._Element:
    """The child ``w:tag`` of parent, created in its schema place if missing."""
    found = parent.find(_w(tag))
    if found is not None:
        return found
    element = etree.Element(_w(tag))
    order = _ORDER_LISTS[etree.QName(parent).localname]
    later = {_w(t) for t in order[order.index(tag) + 1 :]}
    for i, existing in enumerate(parent):
        if existing.tag in later:
            parent.insert(i, element)
            return element
    parent.append(element)
    return element


def _first(parent: etree._Element, tag: str) -> etree._Element:
    """The child ``w:tag`` of parent, created as its first child if missing."""
    found = parent.find(_w(tag))
    if found is None:
        found = etree.Element(_w(tag))
        parent.insert(0, found)
    return found


def _set(element: etree._Element, **attrs: str | int) -> etree._Element:
    for key, value in attrs.items():
        element.set(_w(key), str(value))
    return element


def _write_page(sectpr: etree._Element, page: Page) -> None:
    size = _child(sectpr, "pgSz")
    size.attrib.clear()
    _set(size, w=page.width, h=page.height)
    if page.landscape:
        _set(size, orient="landscape")
    margins = _child(sectpr, "pgMar")
    margins.attrib.clear()
    _set(
        margins,
        top=page.top,
        right=page.right,
        bottom=page.bottom,
        left=page.left,
        header=page.header,
        footer=page.footer,
        gutter=page.gutter,
    )


# --------------------------------------------------------------------------- font metrics

# Families whose metrics the PostScript core fonts give (matplotlib ships their AFM
# files): (regular, bold, italic, bold italic).
_AFM = {
    "times": ("ptmr8a", "ptmb8a", "ptmri8a", "ptmbi8a"),
    "helvetica": ("phvr8a", "phvb8a", "phvro8a", "phvbo8a"),
    "courier": ("pcrr8a", "pcrb8a", "pcrro8a", "pcrbo8a"),
    "palatino": ("pplr8a", "pplb8a", "pplri8a", "pplbi8a"),
    "century": ("pncr8a", "pncb8a", "pncri8a", "pncbi8a"),
    "bookman": ("pbkl8a", "pbkd8a", "pbkli8a", "pbkdi8a"),
}
_FAMILY_NAMES = (
    ("times", ("times", "liberation serif", "tinos", "termes", "nimbus roman", "stix")),
    ("courier", ("courier", "mono", "consolas")),
    ("palatino", ("palatino", "book antiqua", "pagella")),
    ("century", ("century schoolbook", "schola")),
    ("bookman", ("bookman",)),
)
_DEFAULT_FAMILY = "helvetica"  # wider than most text fonts: a safe guess for an unknown font

# Unicode → glyph names of the AFM files (the rest of ASCII maps by its code).
_GLYPHS = {
    "'": "quotesingle",
    "`": "grave",
    "\u2018": "quoteleft",
    "\u2019": "quoteright",
    "\u201c": "quotedblleft",
    "\u201d": "quotedblright",
    "\u201a": "quotesinglbase",
    "\u201e": "quotedblbase",
    "\u2013": "endash",
    "\u2014": "emdash",
    "\u2212": "minus",
    "\u2011": "hyphen",
    "\u2010": "hyphen",
    "\u00ad": "hyphen",
    "\u00a0": "space",
    "\u202f": "space",
    "\u2009": "space",
    "\u00b1": "plusminus",
    "\u00d7": "multiply",
    "\u00f7": "divide",
    "\u00b0": "degree",
    "\u00b7": "periodcentered",
    "\u2022": "bullet",
    "\u2026": "ellipsis",
    "\u2020": "dagger",
    "\u2021": "daggerdbl",
    "\u2030": "perthousand",
    "\u00a7": "section",
    "\u00b6": "paragraph",
    "\u00a9": "copyright",
    "\u00ae": "registered",
    "\u2122": "trademark",
    "\u00b9": "onesuperior",
    "\u00b2": "twosuperior",
    "\u00b3": "threesuperior",
    "\u00bd": "onehalf",
    "\u00bc": "onequarter",
    "\u00be": "threequarters",
    "\u00b5": "mu",
    "\u00ab": "guillemotleft",
    "\u00bb": "guillemotright",
    "\u00a2": "cent",
    "\u00a3": "sterling",
    "\u00a5": "yen",
    "\u00df": "germandbls",
    "\u00e6": "ae",
    "\u00c6": "AE",
    "\u00f8": "oslash",
    "\u00d8": "Oslash",
    "\u0153": "oe",
    "\u0152": "OE",
    "\u0142": "lslash",
    "\u0141": "Lslash",
    "\u00f0": "eth",
    "\u00d0": "Eth",
    "\u00fe": "thorn",
    "\u00de": "Thorn",
    "\u0131": "dotlessi",
    "\u00a1": "exclamdown",
    "\u00bf": "questiondown",
    "\u00ac": "logicalnot",
    "\u00a6": "brokenbar",
    "\u00aa": "ordfeminine",
    "\u00ba": "ordmasculine",
    "\ufb01": "fi",
    "\ufb02": "fl",
}
# Mathematical signs and Greek letters from the Symbol font's metrics.
_SYMBOLS = {
    "\u2264": "lessequal",
    "\u2265": "greaterequal",
    "\u2260": "notequal",
    "\u2248": "approxequal",
    "\u221e": "infinity",
    "\u2192": "arrowright",
    "\u2190": "arrowleft",
    "\u2194": "arrowboth",
    "\u221a": "radical",
    "\u2211": "summation",
    "\u2206": "Delta",
    "\u2032": "minute",
    "\u2033": "second",
}
_GREEK = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
    "sigma1 sigma tau upsilon phi chi psi omega"
)
for _i, _name in enumerate(_GREEK.split(" ")):
    _SYMBOLS[chr(0x3B1 + _i)] = _name  # α … ω
    if _name != "sigma1":  # no capital final sigma
        _SYMBOLS[chr(0x391 + _i)] = _name[0].upper() + _name[1:]  # Α … Ω
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
_UNKNOWN = 600  # per mille of the font size: wider than nearly every Latin letter
_WIDE = 1000


def _afm_folder() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "afm"


@functools.cache
def _afm_widths(name: str) -> dict[str, int]:
    """Glyph name → advance width (per mille of the size) from one AFM file."""
    widths: dict[str, int] = {}
    text = (_afm_folder() / f"{name}.afm").read_text(encoding="latin-1")
    for line in text.splitlines():
        if not line.startswith("C "):
            continue
        fields = dict(part.strip().split(" ", 1) for part in line.split(";") if " " in part.strip())
        if "N" in fields and "WX" in fields:
            widths[fields["N"].strip()] = round(float(fields["WX"]))
            code = int(fields["C"])
            if 32 <= code <= 126 and chr(code) not in "'`":
                widths[chr(code)] = widths[fields["N"].strip()]
    return widths


def _family(font: str | None) -> str:
    name = (font or "").lower()
    for family, needles in _FAMILY_NAMES:
        if any(n in name for n in needles):
            return family
    return _DEFAULT_FAMILY


@functools.cache
def _char_width(char: str, family: str, bold: bool, italic: bool) -> int:
    """Advance width of one character, per mille of the font size."""
    if char in _ZERO_WIDTH or unicodedata.category(char) == "Mn":
        return 0
    widths = _afm_widths(_AFM[family][int(bold) + 2 * int(italic)])
    if char in widths:
        return widths[char]
    if char in _GLYPHS and _GLYPHS[char] in widths:
        return widths[_GLYPHS[char]]
    if char in _SYMBOLS:
        return _afm_widths("psyr").get(_SYMBOLS[char], _UNKNOWN)
    base = unicodedata.normalize("NFKD", char)
    if base and base != char:  # é → e + a combining accent
        return sum(_char_width(c, family, bold, italic) for c in base)
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return _WIDE
    return _UNKNOWN


@dataclass(frozen=True)
class _Font:
    family: str
    size: int  # half-points
    bold: bool
    italic: bool

    def width(self, text: str) -> float:
        """Width of ``text`` in dxa (twentieths of a point)."""
        per_mille = sum(_char_width(c, self.family, self.bold, self.italic) for c in text)
        return per_mille * self.size * 10 / 1000  # size/2 pt × 20 dxa/pt


# --------------------------------------------------------------------------- styles


def _on(element: etree._Element | None) -> bool | None:
    """A toggle property (``w:b``, ``w:i``): True, False, or None when absent."""
    if element is None:
        return None
    return element.get(_w("val"), "true").lower() not in ("0", "false", "off", "none")


@dataclass
class _Styles:
    """Just enough of ``word/styles.xml`` to know each run's font, size and weight."""

    by_id: dict[str, etree._Element] = field(default_factory=dict)
    defaults: etree._Element | None = None  # docDefaults/rPrDefault/rPr
    default_paragraph: str | None = None

    @classmethod
    def read(cls, xml: bytes | None) -> _Styles:
        styles = cls()
        if not xml:
            return styles
        root = etree.fromstring(xml, _parser())
        for style in root.findall(_w("style")):
            style_id = style.get(_w("styleId"))
            if style_id:
                styles.by_id[style_id] = style
                default = style.get(_w("default")) in ("1", "true", "on")
                if style.get(_w("type")) == "paragraph" and default:
                    styles.default_paragraph = style_id
        styles.defaults = root.find(f"{_w('docDefaults')}/{_w('rPrDefault')}/{_w('rPr')}")
        return styles

    def chain(self, style_id: str | None) -> list[etree._Element]:
        """The ``w:rPr`` of a style and of the styles it is based on, nearest first."""
        out: list[etree._Element] = []
        seen: set[str] = set()
        while style_id and style_id not in seen and style_id in self.by_id:
            seen.add(style_id)
            style = self.by_id[style_id]
            rpr = style.find(_w("rPr"))
            if rpr is not None:
                out.append(rpr)
            based = style.find(_w("basedOn"))
            style_id = based.get(_w("val")) if based is not None else None
        return out

    def header_rpr(self, table_style: str | None) -> list[etree._Element]:
        """The ``w:rPr`` of the table style's header-row formatting (``firstRow``)."""
        out = []
        seen: set[str] = set()
        while table_style and table_style not in seen and table_style in self.by_id:
            seen.add(table_style)
            style = self.by_id[table_style]
            for cond in style.findall(_w("tblStylePr")):
                rpr = cond.find(_w("rPr"))
                if cond.get(_w("type")) == "firstRow" and rpr is not None:
                    out.append(rpr)
            based = style.find(_w("basedOn"))
            table_style = based.get(_w("val")) if based is not None else None
        return out


def _lookup(rprs: Iterable[etree._Element], tag: str) -> etree._Element | None:
    for rpr in rprs:
        found = rpr.find(_w(tag))
        if found is not None:
            return found
    return None


# --------------------------------------------------------------------------- cell text

_OPERATORS = frozenset("<>≤≥=≠≈±×−–—+/:~·")
_CONNECTORS = frozenset({"to", "vs", "vs."})


def _number_part(token: str) -> bool:
    """A piece of a number or interval: it has a digit, or is an operator or one letter."""
    if any(c.isdigit() for c in token):
        return True
    if token and all(c in _OPERATORS for c in token):
        return True
    core = token.strip("()[]{},;")  # "(n" of "(n = 12)"
    return len(core) == 1 and core.isalpha()


def _glue(text: str) -> str:
    """``text`` with the spaces inside numbers and intervals made no-break spaces.

    A space becomes U+00A0 when the pieces on both sides belong to a number: they
    have a digit, or are an operator (``<``, ``≤``, ``±``, ``–`` ...) or a single
    letter (``T ≤ −2.2``, ``P < 0.001``, ``n = 12``); ``to``/``vs`` join two
    numbers (``0.8 to 1.4``). After a comma or semicolon only inside brackets
    (``[0.9, 1.6]``): a list of numbers (``1.5, 1.6, 1.7``) may still wrap. Words
    and the spaces between them are untouched.
    """
    parts = text.split(" ")
    if len(parts) < 2:
        return text
    numeric = [_number_part(p) for p in parts]
    for i, part in enumerate(parts):
        if part.lower() in _CONNECTORS and 0 < i < len(parts) - 1:
            numeric[i] = any(c.isdigit() for c in parts[i - 1]) and any(
                c.isdigit() for c in parts[i + 1]
            )
    out = [parts[0]]
    depth = 0
    for i in range(1, len(parts)):
        left, right = parts[i - 1], parts[i]
        depth = max(0, depth + sum(left.count(c) for c in "([") - sum(left.count(c) for c in ")]"))
        glued = numeric[i - 1] and numeric[i] and left != "" and right != ""
        if glued and left[-1] in ",;" and depth == 0:
            glued = False
        out.append("\u00a0" if glued else " ")
        out.append(right)
    return "".join(out)


@dataclass
class _CellText:
    """The text of one cell: for each line, pieces of (text, font)."""

    lines: list[list[tuple[str, _Font]]]

    def widths(self) -> tuple[float, float]:
        """(longest unbreakable piece, longest line), in dxa, as measured."""
        longest_piece = longest_line = 0.0
        for line in self.lines:
            line_width = piece = 0.0
            for text, font in line:
                for i, chunk in enumerate(text.split(" ")):
                    if i:  # a breakable space ends a piece
                        longest_piece = max(longest_piece, piece)
                        piece = 0.0
                        line_width += font.width(" ")
                    width = font.width(chunk)
                    piece += width
                    line_width += width
            longest_piece = max(longest_piece, piece)
            longest_line = max(longest_line, line_width)
        return longest_piece, longest_line


def _runs(paragraph: etree._Element) -> Iterator[etree._Element]:
    """The runs of a paragraph in order (inside hyperlinks, fields, insertions too)."""
    for run in paragraph.iter(_w("r")):
        ancestor = run.getparent()
        skip = False
        while ancestor is not None and ancestor is not paragraph:
            if ancestor.tag in (_w("del"), _w("moveFrom")):
                skip = True
            ancestor = ancestor.getparent()
        if not skip:
            yield run


def _run_text(run: etree._Element) -> Iterator[tuple[str, etree._Element]]:
    for child in run:
        if child.tag == _w("t"):
            yield child.text or "", child
        elif child.tag == _w("noBreakHyphen"):
            yield "\u2011", child
        elif child.tag == _w("tab"):
            yield " ", child
        elif child.tag in (_w("br"), _w("cr")):
            yield "\n", child


def _make_unbreakable(paragraph: etree._Element) -> None:
    """No-break spaces inside numbers; each hyphen a ``w:noBreakHyphen``.

    The paragraph's text is glued as a whole (pandoc may put a space in a run of
    its own), then each hyphen of a ``w:t`` becomes a ``w:noBreakHyphen`` in its run.
    """
    pieces_of = [
        (el, (el.text or "") if el.tag == _w("t") else "-")
        for run in _runs(paragraph)
        for el in run
        if el.tag in (_w("t"), _w("noBreakHyphen"))
    ]
    glued = _glue("".join(text for _, text in pieces_of))
    position = 0
    for el, text in pieces_of:  # _glue changes characters one for one
        if el.tag == _w("t"):
            el.text = glued[position : position + len(text)]
        position += len(text)
    for t in (el for el, _ in pieces_of if el.tag == _w("t")):
        pieces = (t.text or "").split("-")
        if len(pieces) == 1:
            continue
        run = t.getparent()
        index = run.index(t)
        run.remove(t)
        new: list[etree._Element] = []
        for i, piece in enumerate(pieces):
            if i:
                new.append(etree.Element(_w("noBreakHyphen")))
            if piece:
                element = etree.Element(_w("t"))
                element.set(f"{{{XML_NS}}}space", "preserve")
                element.text = piece
                new.append(element)
        for offset, element in enumerate(new):
            run.insert(index + offset, element)


# --------------------------------------------------------------------------- tables


def _cells(row: etree._Element) -> list[etree._Element]:
    """The cells of a row (also those inside custom XML or structured document tags)."""
    out = []
    for child in row:
        if child.tag == _w("tc"):
            out.append(child)
        elif child.tag in (_w("sdt"), _w("customXml")):
            out.extend(c for c in child.iter(_w("tc")) if _owning_row(c) is row)
    return out


def _owning_row(element: etree._Element) -> etree._Element | None:
    parent = element.getparent()
    while parent is not None and parent.tag != _w("tr"):
        parent = parent.getparent()
    return parent


def _rows(table: etree._Element) -> list[etree._Element]:
    return [r for r in table.iter(_w("tr")) if _owning_table(r) is table]


def _owning_table(element: etree._Element) -> etree._Element | None:
    parent = element.getparent()
    while parent is not None and parent.tag != _w("tbl"):
        parent = parent.getparent()
    return parent


def _span(cell: etree._Element) -> int:
    return max(1, _int_attr(cell.find(f"{_w('tcPr')}/{_w('gridSpan')}"), "val") or 1)


def _grid_before(row: etree._Element) -> int:
    return _int_attr(row.find(f"{_w('trPr')}/{_w('gridBefore')}"), "val") or 0


def _is_header(row: etree._Element, index: int, table: etree._Element) -> bool:
    if _on(row.find(f"{_w('trPr')}/{_w('tblHeader')}")):
        return True
    look = table.find(f"{_w('tblPr')}/{_w('tblLook')}")
    if index == 0 and look is not None:
        if look.get(_w("firstRow")) is not None:
            return look.get(_w("firstRow")) in ("1", "true", "on")
        val = look.get(_w("val")) or "0"
        return bool(re.fullmatch(r"[0-9A-Fa-f]{1,8}", val)) and bool(int(val, 16) & 0x0020)
    return False


def _has_picture(element: etree._Element) -> bool:
    return any(True for _ in element.iter(_w("drawing"), _w("pict"), _w("object")))


@dataclass(frozen=True)
class TableLayout:
    """What :func:`lay_out_docx` did to one table (widths in dxa)."""

    columns: tuple[int, ...]
    minimum: tuple[int, ...]  # the longest unbreakable piece of each column (with margins)
    margin: int  # the cell margin left and right
    landscape: bool
    fits: bool  # False: even landscape is narrower than the unbreakable pieces


@dataclass
class _Context:
    styles: _Styles
    modern: bool  # Word 2013 or later layout (compatibilityMode 15 and up)


def _font(
    run: etree._Element,
    paragraph: etree._Element,
    table_style: str | None,
    header: bool,
    ctx: _Context,
) -> _Font:
    styles = ctx.styles
    rpr = run.find(_w("rPr"))
    chain: list[etree._Element] = [rpr] if rpr is not None else []
    rstyle = rpr.find(_w("rStyle")) if rpr is not None else None
    if rstyle is not None:
        chain += styles.chain(rstyle.get(_w("val")))
    pstyle = paragraph.find(f"{_w('pPr')}/{_w('pStyle')}")
    chain += styles.chain(pstyle.get(_w("val")) if pstyle is not None else styles.default_paragraph)
    if header:
        chain += styles.header_rpr(table_style)
    chain += styles.chain(table_style)
    if styles.defaults is not None:
        chain.append(styles.defaults)
    size = _int_attr(_lookup(chain, "sz"), "val") or 20
    fonts = _lookup(chain, "rFonts")
    name = None
    if fonts is not None:
        name = fonts.get(_w("ascii")) or fonts.get(_w("hAnsi"))
    bold = bool(_on(_lookup(chain, "b"))) or header
    italic = bool(_on(_lookup(chain, "i")))
    return _Font(_family(name), size, bold, italic)


def _cell_text(
    cell: etree._Element, table_style: str | None, header: bool, ctx: _Context
) -> _CellText:
    lines: list[list[tuple[str, _Font]]] = []
    for paragraph in cell.iter(_w("p")):
        if _owning_table(paragraph) is not _owning_table(cell):
            continue  # a paragraph of a nested table
        line: list[tuple[str, _Font]] = []
        lines.append(line)
        for run in _runs(paragraph):
            font = _font(run, paragraph, table_style, header, ctx)
            for text, _element in _run_text(run):
                if text == "\n":
                    line = []
                    lines.append(line)
                else:
                    line.append((text, font))
    return _CellText(lines)


def _distribute(minimum: list[float], natural: list[float], width: int) -> list[int]:
    """Column widths summing to ``width``: each at least its minimum where possible."""
    n = len(minimum)
    total_min, total_nat = sum(minimum), sum(natural)
    if total_min >= width:  # too wide: shrink in proportion (text will break)
        raw = [m * width / total_min for m in minimum]
    elif total_nat <= width:  # every cell on one line: the rest shared out evenly
        raw = [x + (width - total_nat) / n for x in natural]
    else:  # the wrapping columns share what the minimums leave
        lack = [x - m for x, m in zip(natural, minimum, strict=True)]
        spare = width - total_min
        raw = [m + spare * k / sum(lack) for m, k in zip(minimum, lack, strict=True)]
    out = [math.floor(x) for x in raw]
    # hand out the rounding remainder, largest fractions first (ties: leftmost)
    order = sorted(range(n), key=lambda i: (out[i] - raw[i], i))
    for i in order[: width - sum(out)]:
        out[i] += 1
    return out


def _measure(
    table: etree._Element, ctx: _Context, margin: int
) -> tuple[list[float], list[float]] | None:
    """(minimum, natural) width of each grid column, margins included; None if no cells."""
    style_el = table.find(f"{_w('tblPr')}/{_w('tblStyle')}")
    table_style = style_el.get(_w("val")) if style_el is not None else None
    rows = _rows(table)
    spans: list[tuple[int, int, float, float]] = []
    n_cols = len(table.findall(f"{_w('tblGrid')}/{_w('gridCol')}"))
    for index, row in enumerate(rows):
        header = _is_header(row, index, table)
        column = _grid_before(row)
        for cell in _cells(row):
            span = _span(cell)
            piece, line = _cell_text(cell, table_style, header, ctx).widths()
            pad = 2 * margin
            piece, line = (x * SLACK + SLACK_DXA + pad for x in (piece, line))
            spans.append((column, span, piece, line))
            column += span
        n_cols = max(n_cols, column)
    if n_cols == 0:
        return None
    minimum = [2.0 * margin] * n_cols
    natural = [2.0 * margin] * n_cols
    for column, span, piece, line in sorted(spans, key=lambda s: s[1]):
        cols = range(column, column + span)
        for values, need in ((minimum, piece), (natural, line)):
            have = sum(values[c] for c in cols)
            if need > have:  # a spanning cell widens its columns evenly
                for c in cols:
                    values[c] += (need - have) / span
    natural = [max(x, m) for x, m in zip(natural, minimum, strict=True)]
    return minimum, natural


def _apply_widths(table: etree._Element, widths: list[int], margin: int, ctx: _Context) -> None:
    tblpr = table.find(_w("tblPr"))
    if tblpr is None:
        tblpr = etree.Element(_w("tblPr"))
        table.insert(0, tblpr)
    total = sum(widths)
    _set(_child(tblpr, "tblW"), w=total, type="dxa")
    # Word 2013 and later put the table's edge at the indent, earlier versions its text
    _set(_child(tblpr, "tblInd"), w=0 if ctx.modern else margin, type="dxa")
    _set(_child(tblpr, "tblLayout"), type="fixed")
    margins = _child(tblpr, "tblCellMar")
    top, bottom = margins.find(_w("top")), margins.find(_w("bottom"))
    for old in list(margins):
        margins.remove(old)
    for side, kept in (("top", top), ("left", None), ("bottom", bottom), ("right", None)):
        if kept is not None:
            margins.append(kept)
        elif side in ("left", "right"):
            _set(etree.SubElement(margins, _w(side)), w=margin, type="dxa")

    grid = table.find(_w("tblGrid"))
    if grid is None:
        grid = etree.Element(_w("tblGrid"))
        table.insert(table.index(tblpr) + 1, grid)
    for old in list(grid):
        grid.remove(old)
    for width in widths:
        _set(etree.SubElement(grid, _w("gridCol")), w=width)

    for row in _rows(table):
        trpr = row.find(_w("trPr"))
        if trpr is None:
            trpr = etree.Element(_w("trPr"))
            index = 1 if len(row) and row[0].tag == _w("tblPrEx") else 0
            row.insert(index, trpr)
        _child(trpr, "cantSplit")
        column = _grid_before(row)
        for cell in _cells(row):
            span = _span(cell)
            tcpr = _first(cell, "tcPr")
            _set(_child(tcpr, "tcW"), w=sum(widths[column : column + span]), type="dxa")
            column += span


def _lay_out_table(table: etree._Element, page: Page, ctx: _Context) -> TableLayout | None:
    """Widths for one table: portrait with wide cell margins, else narrow, else landscape."""
    choice = None
    for margin in CELL_MARGINS:
        measured = _measure(table, ctx, margin)
        if measured is None:
            return None
        if sum(measured[0]) <= page.text_width:
            choice = (margin, measured, page.text_width, False)
            break
    if choice is None:
        margin = CELL_MARGINS[0]
        measured = _measure(table, ctx, margin)
        assert measured is not None
        choice = (margin, measured, page.turned().text_width, True)
    margin, (minimum, natural), available, landscape = choice
    widths = _distribute(minimum, natural, available)
    _apply_widths(table, widths, margin, ctx)
    return TableLayout(
        columns=tuple(widths),
        minimum=tuple(math.floor(m) for m in minimum),
        margin=margin,
        landscape=landscape,
        fits=sum(minimum) <= available,
    )


def _unwrap_layout_tables(body: etree._Element) -> None:
    """Replace each one-cell table that holds a table (Quarto's float) by its content."""
    for table in list(body.findall(_w("tbl"))):
        rows = _rows(table)
        if len(rows) != 1:
            continue
        cells = _cells(rows[0])
        if len(cells) != 1 or cells[0].find(_w("tbl")) is None:
            continue
        content = [c for c in cells[0] if c.tag != _w("tcPr")]
        index = body.index(table)
        body.remove(table)
        for offset, element in enumerate(content):
            body.insert(index + offset, element)


def _compat_mode(settings: bytes | None) -> int:
    if not settings:
        return 0
    root = etree.fromstring(settings, _parser())
    for setting in root.iter(_w("compatSetting")):
        if setting.get(_w("name")) == "compatibilityMode":
            return _int_attr(setting, "val") or 0
    return 0


# --------------------------------------------------------------------------- sections


def _style_of(element: etree._Element) -> str:
    style = element.find(f"{_w('pPr')}/{_w('pStyle')}")
    return (style.get(_w("val")) or "") if style is not None else ""


def _is_page_break(element: etree._Element) -> bool:
    """A paragraph that holds nothing but a page break (pandoc's ``pagebreak``)."""
    if element.tag != _w("p") or element.find(f"{_w('pPr')}/{_w('sectPr')}") is not None:
        return False
    breaks = [b for b in element.iter(_w("br")) if b.get(_w("type")) == "page"]
    text = "".join(t.text or "" for t in element.iter(_w("t")))
    return len(breaks) == 1 and not text.strip() and not _has_picture(element)


def _ends_section(element: etree._Element | None) -> bool:
    return element is not None and element.find(f"{_w('pPr')}/{_w('sectPr')}") is not None


def _block(body: etree._Element, table: etree._Element) -> tuple[int, int]:
    """Indices (first, last) of a table with its caption before it and notes after it."""
    children = list(body)
    first = last = children.index(table)
    caption = False
    i = first - 1
    while i >= 0:
        el = children[i]
        if el.tag in (_w("bookmarkStart"), _w("bookmarkEnd")):
            first = i
        elif el.tag == _w("p") and not caption and "caption" in _style_of(el).lower():
            first, caption = i, True
        else:
            break
        i -= 1
    i = last + 1
    while i < len(children):
        el = children[i]
        if el.tag in (_w("bookmarkStart"), _w("bookmarkEnd")) or (
            el.tag == _w("p") and "note" in _style_of(el).lower() and not _ends_section(el)
        ):
            last = i
            i += 1
            continue
        break
    return first, last


def _section_end(sectpr: etree._Element) -> etree._Element:
    """An empty paragraph that ends a section with ``sectpr``."""
    paragraph = etree.Element(_w("p"))
    etree.SubElement(paragraph, _w("pPr")).append(sectpr)
    return paragraph


def _clear_runs(paragraph: etree._Element) -> etree._Element:
    """Remove everything but the paragraph properties; return them."""
    for child in list(paragraph):
        if child.tag != _w("pPr"):
            paragraph.remove(child)
    return _first(paragraph, "pPr")


def _landscape_sections(body: etree._Element, tables: Sequence[etree._Element], page: Page) -> None:
    """Put each of ``tables`` (with caption and notes) in a landscape section.

    The portrait section before it ends just before its caption, and the landscape
    one just after its notes: a page-break paragraph found there carries the end
    of the section instead (a new section starts a page), so no blank page appears.
    """
    final = body.find(_w("sectPr"))
    assert final is not None
    restart = final.find(f"{_w('footnotePr')}/{_w('numRestart')}")
    if restart is not None and restart.get(_w("val")) == "eachSect":
        # pandoc's documents have one section: footnotes go on counting across the new ones
        holder = restart.getparent()
        holder.remove(restart)
        if len(holder) == 0:
            final.remove(holder)
    portrait = copy.deepcopy(final)
    landscape = copy.deepcopy(final)
    _write_page(landscape, page.turned())
    for table in tables:
        first, _ = _block(body, table)
        children = list(body)
        before = [el for el in children[:first] if el.tag not in _MARKS]
        if before and not _ends_section(before[-1]):
            if _is_page_break(before[-1]):
                _clear_runs(before[-1]).append(copy.deepcopy(portrait))
            else:
                body.insert(first, _section_end(copy.deepcopy(portrait)))
        _, last = _block(body, table)
        children = list(body)
        after = [el for el in children[last + 1 :] if el.tag not in _MARKS]
        following = after[0] if after else None
        if following is None or following.tag == _w("sectPr"):
            # the document ends with it: its last section is the landscape one
            _write_page(final, page.turned())
        elif _ends_section(following):  # laid out before
            _write_page(following.find(f"{_w('pPr')}/{_w('sectPr')}"), page.turned())
        elif _is_page_break(following):
            _clear_runs(following).append(copy.deepcopy(landscape))
        else:
            body.insert(last + 1, _section_end(copy.deepcopy(landscape)))


_MARKS = (_w("bookmarkStart"), _w("bookmarkEnd"))


# --------------------------------------------------------------------------- the document


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=False
    )


def _lay_out_document(
    document: bytes, styles: bytes | None, settings: bytes | None, page: Page | None
) -> tuple[bytes, list[TableLayout]]:
    tree = etree.ElementTree(etree.fromstring(document, _parser()))
    root = tree.getroot()
    body = root.find(_w("body"))
    if body is None:
        return document, []
    final = body.find(_w("sectPr"))
    if final is None:
        final = etree.SubElement(body, _w("sectPr"))
    if page is None:
        page = _page_from_sectpr(final) or DEFAULT_PAGE
    if page.landscape:
        page = page.turned()
    _write_page(final, page)

    _unwrap_layout_tables(body)
    ctx = _Context(
        styles=_Styles.read(styles),
        modern=_compat_mode(settings) >= 15,
    )
    layouts: list[TableLayout] = []
    wide: list[etree._Element] = []
    for table in body.findall(_w("tbl")):
        if _has_picture(table):
            continue
        for paragraph in table.iter(_w("p")):
            if _owning_table(paragraph) is table:
                _make_unbreakable(paragraph)
        layout = _lay_out_table(table, page, ctx)
        if layout is None:
            continue
        layouts.append(layout)
        if layout.landscape:
            wide.append(table)
    if wide:
        _landscape_sections(body, wide, page)
    xml = etree.tostring(
        tree,
        xml_declaration=True,
        encoding="UTF-8",
        standalone=tree.docinfo.standalone,
    )
    return xml, layouts


def lay_out_docx(data: bytes, page: Page | None = None) -> tuple[bytes, list[TableLayout]]:
    """Lay out every table of the DOCX ``data``; the new DOCX and what was done.

    ``page`` sets the page of the document (size and margins; its text width is
    what the tables span); by default the page its last section gives, else
    :data:`DEFAULT_PAGE`. Tables too wide for portrait go into landscape sections.
    The other zip entries are copied as they are, in the same order, and every
    entry keeps its name, timestamp and attributes, so equal inputs give equal bytes.
    """
    try:
        source = zipfile.ZipFile(io.BytesIO(data))
        names = source.namelist()
        if DOCUMENT not in names:
            raise ValueError(f"not a Word document: no {DOCUMENT}")
        styles = source.read("word/styles.xml") if "word/styles.xml" in names else None
        settings = source.read("word/settings.xml") if "word/settings.xml" in names else None
        document, layouts = _lay_out_document(source.read(DOCUMENT), styles, settings, page)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a Word document: {exc}") from exc
    except etree.LxmlError as exc:
        raise ValueError(f"not a Word document: {exc}") from exc
    return with_document(data, document), layouts


def with_document(data: bytes, document: bytes) -> bytes:
    """The DOCX ``data`` with ``document`` as its ``word/document.xml``; the other zip
    entries are copied as they are, in the same order, each keeping its name,
    timestamp and attributes, so equal inputs give equal bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = document if item.filename == DOCUMENT else source.read(item.filename)
            info = zipfile.ZipInfo(item.filename, date_time=item.date_time)
            info.compress_type = item.compress_type
            info.create_system = item.create_system
            info.external_attr = item.external_attr
            info.comment = item.comment
            info.extra = item.extra
            target.writestr(info, content)
    return out.getvalue()


def lay_out_docx_file(path: Path, page: Page | None = None) -> list[TableLayout]:
    """Lay out the tables of the DOCX at ``path`` in place (see :func:`lay_out_docx`).

    The file is replaced atomically (a scratch file beside it, then a rename),
    keeping its permissions.
    """
    path = Path(path)
    data, layouts = lay_out_docx(path.read_bytes(), page)
    if data != path.read_bytes():
        scratch = path.with_name(f".{path.name}.layout")
        scratch.write_bytes(data)
        os.chmod(scratch, path.stat().st_mode & 0o7777)
        os.replace(scratch, path)
    return layouts
