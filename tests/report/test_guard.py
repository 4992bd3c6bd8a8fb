"""The identifier guard: every file type of a build folder, whole-token matching,
masked messages, and speed with 100,000 identifiers."""

from __future__ import annotations

import io
import random
import re
import struct
import time
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refracture.errors import EXIT_INVALID, RefractureError
from refracture.report.guard import (
    IdentifierLeakError,
    Leak,
    _Matcher,
    check_no_identifiers,
    checkable,
    mask,
    scan_folder,
    unchecked_identifiers,
)

ID = "PX000017"


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def places(folder: Path, ids: list[str] | None = None) -> list[tuple[str, str, str]]:
    return [(lk.file, lk.where, lk.identifier) for lk in scan_folder(folder, ids or [ID])]


# ---------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("patient PX000017 had", True),
        ("(PX000017)", True),
        ("PX000017.", True),
        ("PX000017_x", True),  # "_" is not a letter or digit
        ("PX0000171", False),
        ("SPX000017", False),
        ("px000017", False),  # case-sensitive
        ("PX00001", False),
    ],
)
def test_whole_token(text: str, found: bool) -> None:
    assert bool(_Matcher([ID]).find(text)) is found


def test_short_and_numeric_identifiers_are_not_checked() -> None:
    ids = ["P1", "AB", "123", "0042", "1234", "P01", " ", "", "  P02  "]
    assert [i for i in ids if i.strip() and checkable(i.strip())] == [
        "0042",
        "1234",
        "P01",
        "  P02  ",
    ]
    assert unchecked_identifiers(ids) == ["123", "AB", "P1"]


def test_prefix_identifiers_do_not_shadow_each_other() -> None:
    m = _Matcher(["P123", "P1234", "H-001", "H-0012", "#4711", "#47"])
    assert m.find("P1234 and P123") == {"P1234", "P123"}
    assert m.find("P12345 H-0013") == set()
    assert m.find("H-0012; H-001x; H-001") == {"H-0012", "H-001"}
    assert m.find("x#4711 #4711") == {"#4711"}


def test_numeric_identifier_not_inside_a_decimal_number() -> None:
    m = _Matcher(["609455", "1234"])
    assert m.find("translate(17.6 204.609455) 1234.5") == set()
    assert m.find("id 1234. and 609455,") == {"1234", "609455"}
    assert m.find("1234,70,F") == {"1234"}  # a CSV row


_ALPHABET = "AP01-. "


def _reference(ids: set[str], text: str) -> set[str]:
    """The specification: one lookaround regex per identifier."""
    out = set()
    for i in ids:
        extra = (r"(?<![0-9]\.)", r"(?!\.[0-9])") if i.isdigit() else ("", "")
        rx = rf"(?<![A-Za-z0-9]){extra[0]}{re.escape(i)}(?![A-Za-z0-9]){extra[1]}"
        if re.search(rx, text):
            out.add(i)
    return out


@settings(max_examples=300, deadline=None)
@given(
    ids=st.sets(st.text(_ALPHABET.strip(), min_size=1, max_size=4), max_size=8),
    text=st.text(_ALPHABET, max_size=40),
)
def test_matcher_equals_the_regex_definition(ids: set[str], text: str) -> None:
    # the odd-start alternation regex finds non-overlapping matches only; compare
    # the identifiers that do not start with punctuation exactly
    found = _Matcher(ids).find(text)
    ref = _reference(ids, text)
    plain = {i for i in ids if i[0].isalnum()}
    assert found & plain == ref & plain
    assert found <= ref


def test_mask_hides_the_identifier() -> None:
    assert mask("P0000007") == "P0…7 (8 characters)"
    assert mask("P0017") == "P…7 (5 characters)"
    assert mask("P01") == "P… (3 characters)"
    leak = Leak("a.html", "text", "P0000007")
    assert "P0000007" not in str(leak)
    assert "P0000007" not in repr(leak)


# ---------------------------------------------------------------------------
# File types
# ---------------------------------------------------------------------------


def test_clean_folder(tmp_path: Path) -> None:
    write(tmp_path, "a.html", "<p>PX000018 PX0000170</p>")
    assert scan_folder(tmp_path, [ID]) == []
    check_no_identifiers(tmp_path, [ID])
    check_no_identifiers(tmp_path, [])  # nothing to check


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("sub/report.qmd", f"Patient {ID} fractured"),
        ("a.md", f"| {ID} | 70 |"),
        ("t.csv", f"x,y\n{ID},1\n"),
        ("r.json", f'{{"k": "{ID}"}}'),
        ("r2.json", '{"k": "' + "".join(f"\\u{ord(c):04x}" for c in ID) + '"}'),
        ("p.html", "<p>P<span>X0000</span>17</p>"),
        ("e.html", "<p>" + "".join(f"&#{ord(c)};" for c in ID) + "</p>"),
        (
            "f.svg",
            f'<svg><text><tspan>PX00</tspan><tspan>0017</tspan></text><desc id="{ID}"/></svg>',
        ),
        ("x.typ", f'#let id = "{ID}"'),
        ("n.txt", ID),
        ("c.yml", f"id: {ID}"),
        ("blob.bin", b"\x00\x01" + ID.encode() + b"\xff\xfe"),
    ],
)
def test_text_and_binary_files(tmp_path: Path, name: str, content: str | bytes) -> None:
    write(tmp_path, name, content)
    assert {(f, i) for f, _, i in places(tmp_path)} == {(name, ID)}


def test_docx_run_split_word(tmp_path: Path) -> None:
    import docx

    doc = docx.Document()
    p = doc.add_paragraph("Patient ")
    p.add_run("PX00").bold = True
    p.add_run("0017")
    p.add_run(" was excluded.")
    doc.add_paragraph("nothing here")
    doc.save(tmp_path / "m.docx")
    assert ("m.docx", "word/document.xml", ID) in places(tmp_path)


@pytest.mark.parametrize("identifier", ["PX-000017", "P 000017"])
def test_docx_table_cell_with_no_break_characters(tmp_path: Path, identifier: str) -> None:
    """The table layout makes a hyphen Word's no-break hyphen and a space inside a
    number a no-break space (report/docx_tables.py): the guard still sees the text."""
    import docx

    from refracture.report.docx_tables import lay_out_docx

    doc = docx.Document()
    table = doc.add_table(rows=1, cols=2)
    table.cell(0, 0).text = f"Excluded: {identifier}"
    table.cell(0, 1).text = identifier
    doc.save(tmp_path / "plain.docx")
    data, _ = lay_out_docx((tmp_path / "plain.docx").read_bytes())
    (tmp_path / "plain.docx").unlink()
    (tmp_path / "m.docx").write_bytes(data)
    xml = zipfile.ZipFile(tmp_path / "m.docx").read("word/document.xml").decode("utf-8")
    assert ("<w:noBreakHyphen/>" in xml) == ("-" in identifier)
    assert ("P\u00a0000017" in xml) == (" " in identifier)
    assert ("m.docx", "word/document.xml", identifier) in places(tmp_path, [identifier])


def test_docx_core_properties(tmp_path: Path) -> None:
    import docx

    doc = docx.Document()
    doc.core_properties.title = f"Case {ID}"
    doc.save(tmp_path / "m.docx")
    assert ("m.docx", "docProps/core.xml", ID) in places(tmp_path)


def test_xlsx_cell(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Table 1"
    ws["A1"] = "patient"
    ws["B4"] = ID
    wb.save(tmp_path / "tables.xlsx")
    found = places(tmp_path)
    assert ("tables.xlsx", "sheet 'Table 1' cell B4", ID) in found
    assert all(f == "tables.xlsx" for f, _, _ in found)


def test_xlsx_numeric_identifier(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active["C2"] = 104711
    wb.active["C3"] = 12.5
    wb.save(tmp_path / "t.xlsx")
    found = places(tmp_path, ["104711", "1250"])
    assert ("t.xlsx", "sheet 'Sheet' cell C2", "104711") in found
    assert {i for _, _, i in found} == {"104711"}


def _pdf(text: str, **metadata: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(4, 2))
    fig.text(0.05, 0.5, text)
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf", metadata=metadata or None)
    plt.close(fig)
    return buf.getvalue()


def test_pdf_page_text(tmp_path: Path) -> None:
    write(tmp_path, "m.pdf", _pdf(f"patient {ID} had a fracture"))
    assert places(tmp_path) == [("m.pdf", "page 1", ID)]


def test_pdf_split_token_and_metadata(tmp_path: Path) -> None:
    write(tmp_path, "split.pdf", _pdf("patient PX00 0017 and 16 17.2"))
    write(tmp_path, "meta.pdf", _pdf("nothing", Title=f"Case {ID}"))
    found = places(tmp_path, [ID, "1617"])
    assert found == [("meta.pdf", "metadata", ID), ("split.pdf", "page 1", ID)]


def _png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00\x00")
    body = [chunk(b"IHDR", ihdr), *(chunk(k, b) for k, b in chunks), chunk(b"IDAT", idat)]
    return b"\x89PNG\r\n\x1a\n" + b"".join(body) + chunk(b"IEND", b"")


def test_png_text_chunks(tmp_path: Path) -> None:
    write(tmp_path, "a.png", _png([(b"tEXt", b"Title\0" + ID.encode())]))
    write(tmp_path, "b.png", _png([(b"zTXt", b"Comment\0\0" + zlib.compress(ID.encode()))]))
    itxt = b"Description\0\x01\0en\0\0" + zlib.compress(f"Fall {ID}".encode())
    write(tmp_path, "c.png", _png([(b"iTXt", itxt)]))
    write(tmp_path, "d.png", _png([(b"tEXt", b"Software\0matplotlib")]))
    assert places(tmp_path) == [
        ("a.png", "PNG text chunk 'Title'", ID),
        ("b.png", "PNG text chunk 'Comment'", ID),
        ("c.png", "PNG text chunk 'Description'", ID),
    ]


def test_png_pixels_are_not_read(tmp_path: Path) -> None:
    # a raster's pixel data is not text: bytes inside an IDAT chunk are not read
    # (documented limitation; text drawn into a figure cannot be checked)
    write(tmp_path, "a.png", _png([(b"IDAT", ID.encode())]))
    assert places(tmp_path) == []


def test_corrupt_pdf_fails_closed(tmp_path: Path) -> None:
    write(tmp_path, "m.pdf", b"%PDF-1.7 not really")
    with pytest.raises(IdentifierLeakError, match=r"m\.pdf could not be read"):
        scan_folder(tmp_path, [ID])


# ---------------------------------------------------------------------------
# The error
# ---------------------------------------------------------------------------


def test_error_masks_identifiers(tmp_path: Path) -> None:
    write(tmp_path, "a.html", f"<p>{ID}</p>")
    write(tmp_path, "tables/t.csv", f"{ID},P0000999\n")
    with pytest.raises(IdentifierLeakError) as exc:
        check_no_identifiers(tmp_path, [ID, "P0000999", "P1"])
    err = exc.value
    assert isinstance(err, RefractureError)
    assert err.exit_code == EXIT_INVALID == 1
    text = str(err)
    assert ID not in text
    assert "P0000999" not in text
    assert "2 identifiers in 3 places of 2 files" in text
    assert "a.html (text): identifier PX…7 (8 characters)" in text
    assert "tables/t.csv (text): identifier P0…9 (8 characters)" in text
    assert {lk.file for lk in err.leaks} == {"a.html", "tables/t.csv"}


def test_error_lists_at_most_30(tmp_path: Path) -> None:
    ids = [f"Q{i:05d}" for i in range(40)]
    write(tmp_path, "a.txt", " ".join(ids))
    with pytest.raises(IdentifierLeakError, match="… and 10 more"):
        check_no_identifiers(tmp_path, ids)


# ---------------------------------------------------------------------------
# Speed
# ---------------------------------------------------------------------------


def test_100k_identifiers_are_fast(tmp_path: Path) -> None:
    rng = random.Random(7)
    ids = [f"PT{rng.randrange(10**6):06d}" for _ in range(60_000)]
    ids += [str(rng.randrange(10**4, 10**8)) for _ in range(30_000)]
    ids += [f"H-{rng.randrange(10**5):05d}" for _ in range(10_000)]
    words = ["the", "odds", "ratio", "0.047", "T-score", "L1", "P12", "(95%", "CI)", "2.41"]
    body = " ".join(rng.choice(words) for _ in range(400_000))  # ~2 MB of text
    write(tmp_path, "manuscript.html", f"<html><body><p>{body}</p></body></html>")
    write(tmp_path, "results.json", '{"text": "' + body[:500_000] + '"}')
    write(tmp_path, "tables/t.csv", body[:500_000].replace(" ", ","))
    start = time.perf_counter()
    assert scan_folder(tmp_path, ids) == []
    elapsed = time.perf_counter() - start
    assert elapsed < 5, f"{elapsed:.2f} s"
    write(tmp_path, "tables/u.csv", f"x\n{ids[12_345]}\n{ids[70_000]}\n{ids[95_000]}\n")
    found = {i for _, _, i in places(tmp_path, ids)}
    assert found == {ids[12_345], ids[70_000], ids[95_000]}


# --- paths of the building machine --------------------------------------------------------


def test_machine_paths_are_found_wherever_they_are_written(tmp_path: Path) -> None:
    from refracture.report.guard import Guard, MachinePathError

    (tmp_path / "results.json").write_text('{"data": "/home/ana/study/data"}')
    (tmp_path / "clean.html").write_text(
        # a longer name, a base64 run and a URL are not the path
        "/home/anabel/x data:image/png;base64,QQ/home/anaZ== https://e.org/home/ana"
    )
    guard = Guard([], {"/home/ana": "your home folder (/home/ana)"})
    with pytest.raises(MachinePathError) as err:
        guard.check(tmp_path)
    assert err.value.hits == (("results.json", "text", "your home folder (/home/ana)"),)
    assert "results.json (text): your home folder (/home/ana)" in str(err.value)
    assert err.value.exit_code == EXIT_INVALID


def test_the_root_alone_is_no_machine_path(tmp_path: Path) -> None:
    from refracture.report.guard import Guard

    (tmp_path / "a.txt").write_text("a / b and /x")
    Guard([], {"/": "a root"}).check(tmp_path)  # nothing raised
