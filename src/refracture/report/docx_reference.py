"""The Word reference document (``--reference-doc``) of the embedded engine.

It is pandoc's own default ``reference.docx`` with ``word/styles.xml`` edited:
Times New Roman 12 pt body text (double spaced for ``submission``, 1.15 for
``article``), plain bold headings, black captions, a simple journal table style
(rules above and below the table and under the header, no vertical lines) and
a small "Table Note" style; and its page (``word/document.xml``'s section) is
the PDF's: A4 with the style's margins, which pandoc gives every document it
writes with it. The zip is rewritten with its entries in the same
order and fixed timestamps, so the same pandoc gives the same bytes every time.
"""

from __future__ import annotations

import functools
import io
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from refracture.errors import RenderError
from refracture.report.docx_tables import PAGES, with_page

__all__ = ["reference_docx", "write_reference_docx"]

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
ET.register_namespace("w", W_NS)
ET.register_namespace("r", R_NS)

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
FONT = "Times New Roman"


def _w(tag: str) -> str:
    return f"{{{W_NS}}}{tag}"


def _child(parent: ET.Element, tag: str, *, before: tuple[str, ...] = ()) -> ET.Element:
    """The child ``w:tag`` of parent, created (before any of ``before``) if missing."""
    found = parent.find(_w(tag))
    if found is not None:
        return found
    element = ET.Element(_w(tag))
    for i, existing in enumerate(list(parent)):
        if existing.tag in {_w(b) for b in before}:
            parent.insert(i, element)
            return element
    parent.append(element)
    return element


def _set(element: ET.Element, **attrs: str) -> ET.Element:
    for key, value in attrs.items():
        element.set(_w(key), value)
    return element


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Order of the children of w:style, w:pPr and w:rPr (ECMA-376 sequences).
_STYLE_ORDER = _names(
    "name aliases basedOn next link autoRedefine hidden uiPriority semiHidden "
    "unhideWhenUsed qFormat locked personal personalCompose personalReply rsid pPr rPr "
    "tblPr trPr tcPr tblStylePr"
)
_PPR_ORDER = _names(
    "pStyle keepNext keepLines pageBreakBefore framePr widowControl numPr "
    "suppressLineNumbers pBdr shd tabs suppressAutoHyphens kinsoku wordWrap overflowPunct "
    "topLinePunct autoSpaceDE autoSpaceDN bidi adjustRightInd snapToGrid spacing ind "
    "contextualSpacing mirrorIndents suppressOverlap jc textDirection textAlignment "
    "textboxTightWrap outlineLvl divId cnfStyle rPr sectPr pPrChange"
)
_RPR_ORDER = _names(
    "rStyle rFonts b bCs i iCs caps smallCaps strike dstrike outline shadow emboss imprint "
    "noProof snapToGrid vanish webHidden color spacing w kern position sz szCs highlight u "
    "effect bdr shd fitText vertAlign rtl cs em lang eastAsianLayout specVanish oMath"
)


def _ordered(parent: ET.Element, tag: str, order: tuple[str, ...]) -> ET.Element:
    later = order[order.index(tag) + 1 :] if tag in order else ()
    return _child(parent, tag, before=later)


def _ppr(style: ET.Element) -> ET.Element:
    return _ordered(style, "pPr", _STYLE_ORDER)


def _rpr(style: ET.Element) -> ET.Element:
    return _ordered(style, "rPr", _STYLE_ORDER)


def _fonts(rpr: ET.Element) -> None:
    fonts = _ordered(rpr, "rFonts", _RPR_ORDER)
    fonts.attrib.clear()
    _set(fonts, ascii=FONT, hAnsi=FONT, eastAsia=FONT, cs=FONT)


def _run(
    rpr: ET.Element,
    *,
    size: int | None = None,
    bold: bool | None = None,
    italic: bool | None = None,
    black: bool = False,
) -> None:
    """Run properties: size in half-points, bold/italic on/off, colour removed."""
    _fonts(rpr)
    for tag, on in (("b", bold), ("i", italic)):
        if on is None:
            continue
        element = _ordered(rpr, tag, _RPR_ORDER)
        element.attrib.clear()
        if not on:
            _set(element, val="0")
    if black:
        color = _ordered(rpr, "color", _RPR_ORDER)
        color.attrib.clear()
        _set(color, val="000000")
    if size is not None:
        _set(_ordered(rpr, "sz", _RPR_ORDER), val=str(size))
        _set(_ordered(rpr, "szCs", _RPR_ORDER), val=str(size))


def _para(
    ppr: ET.Element,
    *,
    before: int | None = None,
    after: int | None = None,
    line: int | None = None,
    first_line: int | None = None,
    jc: str | None = None,
    keep_next: bool = False,
) -> None:
    """Paragraph properties: spacing in twentieths of a point, line in 240ths."""
    if keep_next:
        _ordered(ppr, "keepNext", _PPR_ORDER)
    if before is not None or after is not None or line is not None:
        spacing = _ordered(ppr, "spacing", _PPR_ORDER)
        if before is not None:
            _set(spacing, before=str(before))
        if after is not None:
            _set(spacing, after=str(after))
        if line is not None:
            _set(spacing, line=str(line), lineRule="auto")
    if first_line is not None:
        ind = _ordered(ppr, "ind", _PPR_ORDER)
        ind.attrib.clear()
        _set(ind, firstLine=str(first_line))
    if jc is not None:
        _set(_ordered(ppr, "jc", _PPR_ORDER), val=jc)


def _style(
    root: ET.Element,
    style_id: str,
    *,
    kind: str = "paragraph",
    name: str | None = None,
    based_on: str = "Normal",
) -> ET.Element:
    for style in root.findall(_w("style")):
        if style.get(_w("styleId")) == style_id:
            return style
    style = ET.SubElement(root, _w("style"))
    _set(style, type=kind, customStyle="1", styleId=style_id)
    _set(ET.SubElement(style, _w("name")), val=name or style_id)
    _set(ET.SubElement(style, _w("basedOn")), val=based_on)
    ET.SubElement(style, _w("qFormat"))
    return style


def _border(parent: ET.Element, side: str, size: int) -> None:
    element = ET.SubElement(parent, _w(side))
    _set(element, val="single", sz=str(size), space="0", color="000000")


def _edit_styles(xml: bytes, style: str) -> bytes:
    root = ET.fromstring(xml)
    submission = style == "submission"
    body_size = 24 if submission else 22  # half-points: 12 pt / 11 pt
    body_line = 480 if submission else 276  # double / 1.15

    defaults = root.find(_w("docDefaults"))
    assert defaults is not None
    rpr_default = _child(_child(defaults, "rPrDefault"), "rPr")
    _run(rpr_default, size=body_size)
    ppr_default = _child(_child(defaults, "pPrDefault", before=()), "pPr")
    _para(ppr_default, before=0, after=0, line=body_line)

    body = _style(root, "BodyText")
    # Submission: paragraphs apart, not indented; article: indented, justified.
    _para(
        _ppr(body),
        before=0,
        after=240 if submission else 0,
        line=body_line,
        first_line=0 if submission else 284,
        jc="left" if submission else "both",
    )
    _para(_ppr(_style(root, "FirstParagraph")), first_line=0)
    # Table cells and tight lists: single spaced, no indent.
    _para(_ppr(_style(root, "Compact")), before=0, after=0, line=240, first_line=0, jc="left")

    for style_id, size, jc in (
        ("Title", 32, "center"),
        ("Subtitle", 26, "center"),
        ("Author", body_size, "center"),
        ("Date", body_size, "center"),
    ):
        element = _style(root, style_id)
        _run(_rpr(element), size=size, bold=style_id == "Title", italic=False, black=True)
        _para(
            _ppr(element),
            before=0,
            after=240,
            line=body_line if style_id != "Title" else 360,
            jc=jc,
        )
    for style_id in ("TitleChar", "SubtitleChar"):
        _run(_rpr(_style(root, style_id, kind="character")), italic=False, black=True)

    for level in range(1, 10):
        heading = _style(root, f"Heading{level}")
        _run(_rpr(heading), size=body_size, bold=True, italic=level >= 2, black=True)
        _para(
            _ppr(heading),
            before=240 if submission else 200,
            after=0 if submission else 80,
            line=body_line,
            keep_next=True,
        )
        _run(
            _rpr(_style(root, f"Heading{level}Char", kind="character")),
            size=body_size,
            bold=True,
            italic=level >= 2,
            black=True,
        )

    for style_id in ("Caption", "TableCaption", "ImageCaption"):
        caption = _style(root, style_id)
        _run(_rpr(caption), size=body_size if submission else 20, italic=False)
        _para(
            _ppr(caption),
            before=120,
            after=120,
            line=240 if not submission else body_line,
            first_line=0,
            jc="left",
            keep_next=style_id == "TableCaption",
        )

    note = _style(root, "TableNote", name="Table Note", based_on="Normal")
    _run(_rpr(note), size=20)
    _para(_ppr(note), before=60, after=240, line=240, first_line=0, jc="left")
    meta = _style(root, "TitleMeta", name="Title Meta", based_on="Normal")
    _para(_ppr(meta), before=0, after=120, line=body_line, first_line=0, jc="left")

    _para(_ppr(_style(root, "Bibliography")), before=0, after=120, line=body_line, first_line=0)
    _run(_rpr(_style(root, "Hyperlink", kind="character")), black=True)

    # Journal table style: rules above and below, a thin rule under the header.
    table = _style(root, "Table", kind="table")
    tblpr = _ordered(table, "tblPr", _STYLE_ORDER)
    for old in tblpr.findall(_w("tblBorders")):
        tblpr.remove(old)
    borders = ET.Element(_w("tblBorders"))
    _border(borders, "top", 8)
    _border(borders, "bottom", 8)
    tblpr.insert(1, borders)
    for cond in table.findall(_w("tblStylePr")):
        if cond.get(_w("type")) == "firstRow":
            table.remove(cond)
    first = ET.SubElement(table, _w("tblStylePr"))
    _set(first, type="firstRow")
    _run(_child(first, "rPr"), bold=True)
    tcpr = _child(first, "tcPr")
    tcb = _child(tcpr, "tcBorders")
    _border(tcb, "top", 8)
    _border(tcb, "bottom", 4)
    _set(_child(tcpr, "vAlign"), val="bottom")
    _run(_rpr(table), size=20 if submission else 18)
    _para(_ppr(table), before=0, after=0, line=240)

    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


@functools.cache
def _pandoc_default_reference(pandoc: str) -> bytes:
    try:
        proc = subprocess.run(
            [pandoc, "--print-default-data-file", "reference.docx"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"pandoc could not print its default reference.docx: {exc}") from exc
    if proc.returncode != 0 or not proc.stdout:
        tail = proc.stderr.decode("utf-8", "replace")[-2000:]
        raise RenderError(f"pandoc could not print its default reference.docx:\n{tail}")
    return proc.stdout


@functools.cache
def reference_docx(pandoc: str, style: str = "submission") -> bytes:
    """The reference document for ``style`` ("submission" or "article"), as bytes."""
    if style not in ("submission", "article"):
        raise RenderError(f"unknown style {style!r} (submission or article)")
    source = zipfile.ZipFile(io.BytesIO(_pandoc_default_reference(pandoc)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/styles.xml":
                data = _edit_styles(data, style)
            elif item.filename == "word/document.xml":
                data = with_page(data, PAGES[style])
            info = zipfile.ZipInfo(item.filename, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            info.external_attr = 0
            target.writestr(info, data, compresslevel=9)
    return out.getvalue()


def write_reference_docx(path: Path, pandoc: str, style: str = "submission") -> Path:
    """Write the reference document for ``style`` to ``path`` (only if it changed)."""
    data = reference_docx(pandoc, style)
    if not path.is_file() or path.read_bytes() != data:
        path.write_bytes(data)
    return path
