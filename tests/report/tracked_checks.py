"""Accepting or rejecting every tracked change of a DOCX, as Word would, and the text
of a DOCX as its blocks: what the tests of the marked-up manuscript compare."""

from __future__ import annotations

import io
import zipfile

from lxml import etree

from refracture.report.revision_diff import Paragraph, Table
from refracture.report.tracked_changes import read_blocks

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def resolve(data: bytes, *, accept: bool) -> bytes:
    """Accept (or reject) every tracked change, as Word would."""
    z = zipfile.ZipFile(io.BytesIO(data))
    root = etree.fromstring(z.read("word/document.xml"))
    keep, drop = (W + "ins", W + "del") if accept else (W + "del", W + "ins")
    for mark in list(root.iter(keep, drop)):
        parent = mark.getparent()
        if etree.QName(parent).localname == "rPr" and parent.getparent().tag == W + "pPr":
            if mark.tag == drop:  # the paragraph mark itself: the paragraph goes
                p = parent.getparent().getparent()
                p.getparent().remove(p)
            else:
                parent.remove(mark)
        elif etree.QName(parent).localname == "trPr":
            if mark.tag == drop:
                row = parent.getparent()
                row.getparent().remove(row)
            else:
                parent.remove(mark)
    for mark in list(root.iter(drop)):
        if mark.getparent() is not None:
            mark.getparent().remove(mark)
    for mark in list(root.iter(keep)):
        for child in list(mark):
            mark.addprevious(child)
        mark.getparent().remove(mark)
    for t in root.iter(W + "delText"):
        t.tag = W + "t"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in z.namelist():
            content = etree.tostring(root) if name == "word/document.xml" else z.read(name)
            target.writestr(name, content)
    return out.getvalue()


def texts(data: bytes) -> list:
    def shape(block):
        if isinstance(block, Paragraph):
            return block.text
        assert isinstance(block, Table)
        return [[[p.text for p in cell] for cell in row] for row in block.rows]

    return [shape(b) for b in read_blocks(data)]
