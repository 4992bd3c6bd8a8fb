"""The identifier guard: check that no patient identifier reached the build output.

:func:`scan_folder` reads every file under a folder (recursively) and returns
each place where one of the given identifiers (the cohort's ``patient_id``
values) occurs; :func:`check_no_identifiers` raises :class:`IdentifierLeakError`
if there is any.

What is read, by file type:

* text (``.html``, ``.qmd``, ``.md``, ``.csv``, ``.json``, ``.svg``, ``.typ``,
  ``.txt``, ``.yml`` and a few more): the UTF-8 text as written, the text with
  markup removed (inline tags such as ``<span>`` removed without a gap, so a word
  split across them is joined again) and with HTML/XML entities decoded, and for
  JSON the decoded strings (``\\u`` escapes);
* ``.docx``, ``.xlsx``, ``.pptx`` (and any other zip archive): every XML entry as
  raw XML, as text with the tags stripped, and per paragraph (``w:p``, ``a:p``)
  or shared string (``si``) with the text of its runs concatenated, because Word
  may split one word over several runs (a no-break hyphen or space, as table
  cells have them, reads as a hyphen or space there); workbook cells are also read with
  openpyxl so that a leak is reported as e.g. ``sheet 'Table 1' cell B4``;
* ``.pdf``: the text of every page (PDFium, through pypdfium2: twenty times
  faster than pypdf here), whitespace-normalised, plus the
  document metadata; to catch a token the PDF splits (``P00 17``), runs of
  neighbouring words are also joined without the space, for identifiers that
  contain a letter (joining numbers would turn neighbouring table cells such as
  ``16`` and ``17.2`` into ``1617``);
* ``.png``: the image itself is a raster and is **not** read (text drawn into a
  figure cannot be checked here; figures are drawn from results, which hold no
  identifiers), but its ``tEXt``, ``zTXt`` and ``iTXt`` metadata chunks are;
* anything else: the raw bytes, decoded as UTF-8 with undecodable bytes
  replaced, so the UTF-8 encoding of an identifier is found.

Matching: an identifier matches as a whole token, case-sensitively: not inside a
longer run of ASCII letters and digits, as the regular expression
``(?<![A-Za-z0-9])ID(?![A-Za-z0-9])`` would (``P1`` does not match ``P12`` or
``SP1``; ``P-1`` does not match ``P-12``). A purely numeric identifier also does
not match as part of a decimal number (``1234.5``, ``204.609455``): figures and
tables are full of those. Identifiers shorter than
:data:`MIN_LENGTH` (3) characters and purely numeric ones with fewer than
:data:`MIN_DIGITS` (4) digits are **not checked**: they would match table numbers,
counts and percentages everywhere. :func:`unchecked_identifiers` lists them so
that the caller can warn (by count; never print an identifier).

Speed: one alternation regex over 100,000 identifiers takes seconds to compile
and scans only a few hundred kB per second, so the same matching is done another
way: identifiers made of letters and digits only (nearly all) are looked up in a
set against the text's letter-and-digit runs; identifiers with other characters
are looked up by their leading run and compared in place; only identifiers that
start with another character go into one alternation regex (longest first, each
``re.escape``-d). With 100,000 identifiers a folder is checked in about the time
its PDFs take to extract.

The same scan looks for the paths of the machine the build ran on (the home
folder, the working folder, the data folder, the renderer's executable; see
:class:`Guard`'s ``paths``): a document must name its inputs and renderer, never
where they lie, so that two machines build the same bytes. A path matches
unless a letter, digit or ``+`` touches it on either side (so base64 image data
does not match by chance); a hit raises :class:`MachinePathError`.

Messages never show an identifier in full (:func:`mask`: ``P0…7 (8 characters)``),
so that the guard's own output does not leak it into logs. A file that cannot be
read as its type (a corrupt PDF or workbook) cannot be shown to be clean: that is
an error too.
"""

from __future__ import annotations

import html
import json
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

from refracture.errors import EXIT_INVALID, RefractureError

__all__ = [
    "MIN_DIGITS",
    "MIN_LENGTH",
    "Guard",
    "IdentifierLeakError",
    "Leak",
    "MachinePathError",
    "check_no_identifiers",
    "checkable",
    "mask",
    "scan_folder",
    "unchecked_identifiers",
]

#: Identifiers shorter than this are not checked.
MIN_LENGTH = 3
#: Purely numeric identifiers with fewer digits than this are not checked.
MIN_DIGITS = 4

TEXT_SUFFIXES = frozenset(
    {".html", ".htm", ".qmd", ".md", ".csv", ".json", ".svg", ".typ", ".txt", ".yml", ".yaml"}
    | {".xml", ".tex", ".bib", ".css", ".js", ".lua", ".tsv", ".log"}
)
ZIP_SUFFIXES = frozenset({".docx", ".xlsx", ".pptx"})
_MARKUP_SUFFIXES = frozenset({".html", ".htm", ".svg", ".xml", ".qmd", ".md"})

#: Lines of leaks shown in an error message before "… and N more".
_MAX_LISTED = 30


# ---------------------------------------------------------------------------
# Results and errors
# ---------------------------------------------------------------------------


def mask(identifier: str) -> str:
    """``identifier`` shown so that it cannot be read back: ``"P0…7 (8 characters)"``.

    At most a quarter of the characters are shown (2 + 1 from 8 on, 1 + 1 from 5,
    the first one only below that)."""
    n = len(identifier)
    head, tail = (2, 1) if n >= 8 else (1, 1) if n >= 5 else (1, 0)
    shown = identifier[:head] + "…" + (identifier[n - tail :] if tail else "")
    return f"{shown} ({n} characters)"


@dataclass(frozen=True, order=True)
class Leak:
    """One place where an identifier occurs. ``str()`` masks the identifier; the
    ``repr`` leaves it out, so neither puts it into a log or a test report."""

    file: str  #: path relative to the scanned folder (with "/" separators)
    where: str  #: e.g. "text", "word/document.xml", "sheet 'Table 1' cell B4", "page 3"
    identifier: str = field(repr=False)  #: the identifier found (never print it)

    @property
    def masked(self) -> str:
        return mask(self.identifier)

    def __str__(self) -> str:
        return f"{self.file} ({self.where}): identifier {self.masked}"


class IdentifierLeakError(RefractureError):
    """Patient identifiers were found in the build output (or a file of it could not
    be checked). The message masks every identifier."""

    exit_code = EXIT_INVALID

    def __init__(self, message: str, leaks: Iterable[Leak] = ()) -> None:
        self.leaks = tuple(leaks)
        super().__init__(message)

    @classmethod
    def from_leaks(cls, leaks: Iterable[Leak]) -> IdentifierLeakError:
        leaks = sorted(set(leaks))
        files = len({lk.file for lk in leaks})
        ids = len({lk.identifier for lk in leaks})
        lines = [
            f"patient identifiers found in the build output: {ids} identifier"
            f"{'s' if ids != 1 else ''} in {len(leaks)} place{'s' if len(leaks) != 1 else ''} "
            f"of {files} file{'s' if files != 1 else ''}"
        ]
        lines += [f"  {lk}" for lk in leaks[:_MAX_LISTED]]
        if len(leaks) > _MAX_LISTED:
            lines.append(f"  … and {len(leaks) - _MAX_LISTED} more")
        return cls("\n".join(lines), leaks)


class MachinePathError(RefractureError):
    """A path of the building machine was found in the build output."""

    exit_code = EXIT_INVALID

    def __init__(self, hits: Iterable[tuple[str, str, str]]) -> None:
        hits = sorted(set(hits))
        lines = [
            "paths of this machine found in the build output (documents must name files, "
            "never where they lie on a machine):"
        ]
        lines += [f"  {file} ({where}): {what}" for file, where, what in hits[:_MAX_LISTED]]
        if len(hits) > _MAX_LISTED:
            lines.append(f"  … and {len(hits) - _MAX_LISTED} more")
        self.hits = tuple(hits)
        super().__init__("\n".join(lines))


# ---------------------------------------------------------------------------
# Which identifiers are checked
# ---------------------------------------------------------------------------


def checkable(identifier: str) -> bool:
    """Whether ``identifier`` is checked (see the module docstring)."""
    n = len(identifier)
    return n >= MIN_LENGTH and (
        n >= MIN_DIGITS or not (identifier.isascii() and identifier.isdigit())
    )


def _clean(identifiers: Iterable[str]) -> set[str]:
    stripped = {i.strip() if type(i) is str else str(i).strip() for i in identifiers}
    stripped.discard("")
    return stripped


def unchecked_identifiers(identifiers: Iterable[str]) -> list[str]:
    """The identifiers :func:`scan_folder` skips (too short, or short numbers), sorted.
    Report their number, not the identifiers."""
    return sorted(i for i in _clean(identifiers) if not checkable(i))


# ---------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------

_ALNUM = re.compile(r"[A-Za-z0-9]+")
_ALNUM_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


class _Matcher:
    """Finds whole-token occurrences of many identifiers at once (see the module
    docstring, "Speed"); equivalent to the lookaround alternation regex."""

    def __init__(self, identifiers: Iterable[str]) -> None:
        idents = identifiers if isinstance(identifiers, (set, frozenset)) else set(identifiers)
        # ASCII letters and digits only (nearly all identifiers): one set, no regex
        tokens = {i for i in idents if i.isascii() and i.isalnum()}
        compound: dict[str, dict[int, set[str]]] = {}
        odd: list[str] = []
        for ident in idents.difference(tokens) if tokens else idents:
            lead = _ALNUM.match(ident)
            if lead is None:
                odd.append(ident)
            else:
                compound.setdefault(lead.group(), {}).setdefault(len(ident), set()).add(ident)
        self.tokens = frozenset(tokens)
        self.compound = {k: {n: frozenset(s) for n, s in v.items()} for k, v in compound.items()}
        self.odd: re.Pattern[str] | None = None
        if odd:
            alternation = "|".join(re.escape(s) for s in sorted(odd, key=lambda s: (-len(s), s)))
            self.odd = re.compile(rf"(?<![A-Za-z0-9])(?:{alternation})(?![A-Za-z0-9])")
        self.maxlen = max(
            max(map(len, tokens), default=0),
            max((n for v in compound.values() for n in v), default=0),
            max(map(len, odd), default=0),
        )

    def __bool__(self) -> bool:
        return self.maxlen > 0

    def find(self, text: str) -> set[str]:
        """The identifiers that occur in ``text`` as whole tokens."""
        found: set[str] = set()
        if not text or not self:
            return found
        if self.tokens or self.compound:
            runs = _ALNUM.findall(text)
            hits = set(self.tokens.intersection(runs))
            for number in [h for h in hits if h.isdigit()]:
                if not _standalone_number(text, number):
                    hits.discard(number)
            found.update(hits)
            if self.compound and not self.compound.keys().isdisjoint(runs):
                for m in _ALNUM.finditer(text):
                    by_length = self.compound.get(m.group())
                    if by_length is None:
                        continue
                    start = m.start()
                    for n, idents in by_length.items():
                        candidate = text[start : start + n]
                        if candidate in idents and text[start + n : start + n + 1] not in (
                            _ALNUM_CHARS
                        ):
                            found.add(candidate)
        if self.odd is not None:
            found.update(m.group() for m in self.odd.finditer(text))
        return found


def _standalone_number(text: str, number: str) -> bool:
    """Whether ``number`` occurs in ``text`` as a whole token that is not part of a
    decimal number (``204.609455``, ``1234.5``)."""
    rx = re.compile(rf"(?<![A-Za-z0-9])(?<![0-9]\.){number}(?![A-Za-z0-9])(?!\.[0-9])")
    return rx.search(text) is not None


def _joined_neighbours(words: list[str], maxlen: int) -> str:
    """Runs of 2+ neighbouring words joined without their space (one per line): an
    identifier a PDF split as ``P00 17`` reads ``P0017`` here."""
    out: list[str] = []
    n = len(words)
    for i in range(n - 1):
        joined = words[i][-(maxlen + 1) :]
        inner = 0
        for j in range(i + 1, n):
            joined += words[j][: maxlen + 1]
            out.append(joined)
            inner += len(words[j])
            if inner >= maxlen:
                break
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------

_INLINE_TAG = re.compile(
    r"</?(?:span|em|strong|b|i|u|s|a|sub|sup|code|mark|small|abbr|tspan)\b[^>]*>", re.I
)
_TAG = re.compile(r"<[^>]*>")


def _strip_tags(markup: str, *, inline: bool) -> str:
    if inline:
        markup = _INLINE_TAG.sub("", markup)
    return html.unescape(_TAG.sub(" ", markup))


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _xml_paragraphs(data: bytes) -> str:
    """Text per paragraph (``w:p``/``a:p``) or shared/inline string (``si``/``is``),
    runs concatenated, one per line."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return ""
    paras = []
    for el in root.iter():
        if _local(el.tag) in ("p", "si", "is"):
            text = "".join(_run_text(t) for t in el.iter())
            if text:
                paras.append(text.translate(_NO_BREAK))
    return "\n".join(paras)


# Word's no-break hyphen element and the no-break characters of table cells
# (refracture.report.docx_tables) read as the plain hyphen and space.
_NO_BREAK = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2011": "-"})


def _run_text(element: ET.Element) -> str:
    tag = _local(element.tag)
    if tag == "t":
        return element.text or ""
    return "-" if tag == "noBreakHyphen" else ""


def _json_strings(text: str) -> str:
    try:
        doc = json.loads(text)
    except ValueError:
        return ""
    out: list[str] = []
    stack = [doc]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            out.extend(map(str, x.keys()))
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
        elif isinstance(x, str):
            out.append(x)
    return "\n".join(out)


def _png_text_chunks(data: bytes) -> Iterator[tuple[str, str]]:
    """(keyword, text) of the tEXt, zTXt and iTXt chunks of a PNG."""
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        try:
            if kind == b"tEXt":
                key, _, text = body.partition(b"\0")
                yield key.decode("latin-1"), text.decode("latin-1")
            elif kind == b"zTXt":
                key, _, rest = body.partition(b"\0")
                yield key.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")
            elif kind == b"iTXt":
                key, _, rest = body.partition(b"\0")
                compressed, rest = rest[0], rest[2:]
                lang, _, rest = rest.partition(b"\0")
                translated, _, text = rest.partition(b"\0")
                if compressed:
                    text = zlib.decompress(text)
                yield (
                    key.decode("latin-1"),
                    "\n".join(x.decode("utf-8", "replace") for x in (lang, translated, text)),
                )
            elif kind == b"IEND":
                return
        except (zlib.error, IndexError):
            yield kind.decode("latin-1"), body.decode("utf-8", "replace")


def _has_letter(identifier: str) -> bool:
    if identifier.isascii() and identifier.isalnum():
        return not identifier.isdigit()  # letters and digits, not only digits
    return any(c.isalpha() for c in identifier)


class _Scanner:
    def __init__(self, root: Path, identifiers: set[str], prepared: Guard | None = None) -> None:
        self.root = root
        if prepared is None:
            prepared = Guard(identifiers)
        self.matcher = prepared.matcher
        self.split_matcher = prepared.split_matcher
        self.path_pattern = prepared.path_pattern
        self.path_names = prepared.paths
        self.leaks: set[Leak] = set()
        self.path_hits: set[tuple[str, str, str]] = set()

    def check(self, file: str, where: str, text: str) -> bool:
        hits = self.matcher.find(text)
        self.leaks.update(Leak(file, where, h) for h in hits)
        if self.path_pattern is not None and text:
            for m in self.path_pattern.finditer(text):
                self.path_hits.add((file, where, self.path_names[m.group()]))
        return bool(hits)

    def scan(self, path: Path) -> None:
        rel = path.relative_to(self.root).as_posix()
        suffix = path.suffix.lower()
        data = path.read_bytes()
        try:
            if suffix in TEXT_SUFFIXES:
                self.text(rel, suffix, data)
            elif suffix == ".pdf":
                self.pdf(rel, path)
            elif suffix == ".png" or data.startswith(b"\x89PNG\r\n\x1a\n"):
                for key, text in _png_text_chunks(data):
                    self.check(rel, f"PNG text chunk {key!r}", text)
            elif suffix in ZIP_SUFFIXES or data.startswith(b"PK\x03\x04"):
                self.zip(rel, path)
                if suffix == ".xlsx":
                    self.xlsx_cells(rel, path)
            else:
                self.check(rel, "bytes", data.decode("utf-8", "replace"))
        except IdentifierLeakError:
            raise
        except Exception as exc:  # a corrupt file: fail closed
            first = str(exc).strip().splitlines()
            reason = first[0] if first else type(exc).__name__
            raise IdentifierLeakError(
                f"{rel} could not be read as a {suffix or 'binary'} file to check it for "
                f"patient identifiers ({reason}); the build output cannot be shown to be free "
                "of them"
            ) from None

    def text(self, rel: str, suffix: str, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        self.check(rel, "text", text)
        if suffix in _MARKUP_SUFFIXES and ("<" in text or "&" in text):
            self.check(rel, "text", _strip_tags(text, inline=True))
        elif "&" in text:
            self.check(rel, "text", html.unescape(text))
        if suffix == ".json" and "\\u" in text:
            self.check(rel, "text", _json_strings(text))

    def zip(self, rel: str, path: Path) -> None:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                data = zf.read(info)
                name = info.filename
                if name.lower().endswith((".xml", ".rels", ".vml")) or data.lstrip().startswith(
                    b"<?xml"
                ):
                    xml = data.decode("utf-8", "replace")
                    self.check(rel, name, xml)
                    self.check(rel, name, _strip_tags(xml, inline=False))
                    self.check(rel, name, _xml_paragraphs(data))
                elif data.startswith(b"\x89PNG\r\n\x1a\n"):
                    for key, text in _png_text_chunks(data):
                        self.check(rel, f"{name}, PNG text chunk {key!r}", text)
                else:
                    self.check(rel, name, data.decode("utf-8", "replace"))

    def xlsx_cells(self, rel: str, path: Path) -> None:
        import openpyxl
        from openpyxl.utils import get_column_letter

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
            try:
                for ws in wb.worksheets:
                    cells = [
                        (f"{get_column_letter(c)}{r}", str(v))
                        for r, row in enumerate(
                            ws.iter_rows(min_row=1, min_col=1, values_only=True), start=1
                        )
                        for c, v in enumerate(row, start=1)
                        if v is not None
                    ]
                    if not self.matcher.find("\n".join(t for _, t in cells)):
                        continue
                    for coord, text in cells:
                        self.check(rel, f"sheet {ws.title!r} cell {coord}", text)
            finally:
                wb.close()

    def pdf(self, rel: str, path: Path) -> None:
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(path)
        try:
            meta = doc.get_metadata_dict(skip_empty=True)
            self.check(rel, "metadata", "\n".join(str(v) for v in meta.values()))
            for index in range(len(doc)):
                page = doc[index]
                textpage = page.get_textpage()
                try:
                    words = textpage.get_text_bounded().split()
                finally:
                    textpage.close()
                    page.close()
                number = index + 1
                self.check(rel, f"page {number}", " ".join(words))
                if self.split_matcher:
                    joined = _joined_neighbours(words, self.split_matcher.maxlen)
                    hits = self.split_matcher.find(joined)
                    self.leaks.update(Leak(rel, f"page {number}", h) for h in hits)
        finally:
            doc.close()


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


class Guard:
    """The identifiers to look for, prepared once (a million take about a second).

    The pipeline prepares its guard while the figures are being drawn, then
    checks the finished folder with :meth:`check`.
    """

    def __init__(self, identifiers: Iterable[str], paths: dict[str, str] | None = None) -> None:
        self.identifiers = {i for i in _clean(identifiers) if checkable(i)}
        self.matcher = _Matcher(self.identifiers)
        # split tokens are searched only for identifiers with a letter (see docstring)
        self.split_matcher = _Matcher({i for i in self.identifiers if _has_letter(i)})
        #: path text → what it is ("your home folder /home/ana"); "/" alone is no path
        self.paths = {p: what for p, what in (paths or {}).items() if p.strip("/")}
        self.path_pattern: re.Pattern[str] | None = None
        if self.paths:
            alternation = "|".join(
                re.escape(p) for p in sorted(self.paths, key=lambda p: (-len(p), p))
            )
            self.path_pattern = re.compile(rf"(?<![A-Za-z0-9+])(?:{alternation})(?![A-Za-z0-9+])")

    def _scan(
        self,
        folder: Path,
        skip: frozenset[str] = frozenset(),
        only: Iterable[str] | None = None,
    ) -> _Scanner:
        scanner = _Scanner(Path(folder), self.identifiers, self)
        if self.identifiers or self.paths:
            if only is None:
                files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
            else:
                files = [Path(folder) / rel for rel in sorted(set(only))]
            for path in files:
                if path.relative_to(folder).as_posix() not in skip:
                    scanner.scan(path)
        return scanner

    def scan(self, folder: Path) -> list[Leak]:
        """Every place under ``folder`` where a checked identifier occurs, sorted."""
        if not self.identifiers:
            return []
        return sorted(self._scan(folder).leaks)

    def check(
        self, folder: Path, skip: Iterable[str] = (), only: Iterable[str] | None = None
    ) -> None:
        """Raise :class:`IdentifierLeakError` (identifiers masked) on any identifier, and
        :class:`MachinePathError` on any path of this machine. ``skip``: files (relative
        to ``folder``) already checked with exactly these bytes, identifiers and paths;
        ``only``: check just these files (relative to ``folder``), not every file."""
        scanner = self._scan(folder, frozenset(skip), only)
        if scanner.leaks:
            raise IdentifierLeakError.from_leaks(scanner.leaks)
        if scanner.path_hits:
            raise MachinePathError(scanner.path_hits)


def scan_folder(folder: Path, identifiers: Iterable[str]) -> list[Leak]:
    """Every place under ``folder`` where a checked identifier occurs, sorted.

    Identifiers are stripped; blank ones and those :func:`checkable` rejects are
    skipped. Raises :class:`IdentifierLeakError` for a file that cannot be read as
    its type (so it cannot be checked)."""
    return Guard(identifiers).scan(folder)


def check_no_identifiers(folder: Path, identifiers: Iterable[str]) -> None:
    """Raise :class:`IdentifierLeakError` (identifiers masked) if any checked
    identifier occurs anywhere under ``folder``."""
    Guard(identifiers).check(folder)
