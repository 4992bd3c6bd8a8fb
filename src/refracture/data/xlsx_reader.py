"""Reading the two tables of an ``.xlsx`` workbook (or any one sheet, for an import
mapping), every cell as text.

Formula cells are read as their last computed value; a formula whose result was never
saved (e.g. written by a script, never opened in Excel) and merged cells in or below the
header row are errors, since the values they hold cannot be known: openpyxl's read-only
reader tells neither, so the sheet XML is scanned for them. Title rows above the header
are skipped: the header is the first row (of the first 20 filled rows) that holds a
column name of the contract.
"""

from __future__ import annotations

import contextlib
import re
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd

from refracture.data.raw_table import UNNAMED, check_duplicate_names, finish_table, short_error
from refracture.data.schema import TABLES
from refracture.data.text import cell_text
from refracture.errors import DataError

__all__ = ["read_sheet", "read_workbook"]

_TABLE_NAMES: tuple[str, ...] = tuple(t.name for t in TABLES)


def read_workbook(path: Path) -> dict[str, pd.DataFrame]:
    """The ``patients`` and ``levels`` sheets of the workbook at ``path``, as text."""
    contract = {t.name: frozenset(t.names) for t in TABLES}
    with _open(path, _TABLE_NAMES) as (wb, oddities):
        frames = {}
        for name in _TABLE_NAMES:
            label = f"{path.name}[{name}]"
            if name not in wb.sheetnames:
                similar = [s for s in wb.sheetnames if s.strip().lower() == name]
                hint = (
                    f"; found {similar[0]!r} (sheet names are case-sensitive)"
                    if similar
                    else f"; sheets found: {', '.join(wb.sheetnames)}"
                )
                raise DataError(f"{path.name}: sheet {name!r} is missing{hint}")
            frames[name] = _read_sheet(wb[name], label, contract[name], oddities.get(name))
    return frames


def read_sheet(
    path: Path, sheet: str | None, header_names: frozenset[str] = frozenset()
) -> tuple[pd.DataFrame, str]:
    """One sheet of any workbook as text (the first sheet when ``sheet`` is None), and
    its name. The header is the first row that holds one of ``header_names`` (the
    columns an import mapping reads), as for the contract's sheets."""
    with _open(path, None if sheet is None else (sheet,)) as (wb, oddities):
        name = sheet if sheet is not None else wb.sheetnames[0]
        if name not in wb.sheetnames:
            raise DataError(
                f"{path.name}: sheet {name!r} is missing; sheets found: {', '.join(wb.sheetnames)}"
            )
        frame = _read_sheet(wb[name], f"{path.name}[{name}]", header_names, oddities.get(name))
    return frame, name


@contextlib.contextmanager
def _open(path: Path, sheets: tuple[str, ...] | None) -> Iterator[tuple[Any, dict]]:
    """The workbook opened read-only with its saved values, and the oddities of
    ``sheets`` (every sheet when None); closed on leaving."""
    import openpyxl  # imported here: only needed for workbooks

    if path.stat().st_size == 0:
        raise DataError(f"{path.name} is empty")
    try:
        with warnings.catch_warnings():
            # openpyxl warns about workbook features it ignores (styles, validation)
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise DataError(
            f"{path.name} could not be read as an Excel .xlsx workbook: {short_error(exc)}"
        ) from None
    try:
        yield wb, _sheet_oddities(path, sheets)
    finally:
        wb.close()


_HEADER_SEARCH_ROWS = 20


@dataclass(frozen=True)
class _SheetOddities:
    """What openpyxl's read-only value reader does not tell: formula cells without a
    saved result and merged cell ranges (as ``(ref, first_row, last_row)``)."""

    unsaved_formulas: tuple[str, ...] = ()
    merged: tuple[tuple[str, int, int], ...] = ()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_ODD_RE = re.compile(rb"<(?:\w+:)?(?:f|mergeCell)[\s/>]")


def _sheet_oddities(path: Path, sheets: tuple[str, ...] | None) -> dict[str, _SheetOddities]:
    """Formula cells without a cached value and merged ranges, per sheet of ``sheets``
    (every sheet when None).

    Read from the sheet XML directly (openpyxl's read-only mode exposes neither).
    Anything unexpected in the package structure just skips these checks: openpyxl
    has already read the workbook, so it is a valid one.
    """
    out: dict[str, _SheetOddities] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            book = ET.fromstring(zf.read("xl/workbook.xml"))
            rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
            targets = {
                r.get("Id"): r.get("Target", "") for r in rels if _local(r.tag) == "Relationship"
            }
            for sheet in book.iter():
                if _local(sheet.tag) != "sheet":
                    continue
                if sheets is not None and sheet.get("name") not in sheets:
                    continue
                rid = next((v for k, v in sheet.attrib.items() if _local(k) == "id"), None)
                target = targets.get(rid, "")
                member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                if member not in names:
                    continue
                if not _ODD_RE.search(zf.read(member)):
                    continue
                with zf.open(member) as fh:
                    out[str(sheet.get("name"))] = _scan_sheet_xml(fh)
    except (KeyError, OSError, zipfile.BadZipFile, ET.ParseError):  # pragma: no cover
        return out
    return out


def _scan_sheet_xml(fh: Any) -> _SheetOddities:
    from openpyxl.utils.cell import range_boundaries

    formulas: list[str] = []
    merged: list[tuple[str, int, int]] = []
    for _, el in ET.iterparse(fh, events=("end",)):
        tag = _local(el.tag)
        if tag == "c":
            f = v = None
            for child in el:
                ctag = _local(child.tag)
                if ctag == "f":
                    f = child
                elif ctag == "v":
                    v = child
            if f is not None:
                kind = el.get("t", "n")
                value = None if v is None else v.text
                if value is None and (v is None or kind not in ("str", "inlineStr")):
                    formulas.append(el.get("r", "?"))
        elif tag == "row":
            el.clear()
        elif tag == "mergeCell":
            ref = el.get("ref", "")
            try:
                _, lo, _, hi = range_boundaries(ref)
            except (TypeError, ValueError):
                continue
            if lo is not None and hi is not None:
                merged.append((ref, lo, hi))
    return _SheetOddities(tuple(formulas), tuple(merged))


def _listed(items: list[str] | tuple[str, ...], n: int = 5) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _check_oddities(odd: _SheetOddities | None, header_row: int, label: str) -> None:
    """Raise for formulas without a result and merged cells at or below the header
    (``header_row`` as the spreadsheet numbers it); merged title rows above it are fine."""
    if odd is None:
        return
    if odd.unsaved_formulas:
        n = len(odd.unsaved_formulas)
        raise DataError(
            f"{label}: {'cell' if n == 1 else f'{n} cells'} "
            f"{_listed(odd.unsaved_formulas)} hold{'s' if n == 1 else ''} a formula whose "
            "result was never saved; open the workbook in Excel (or LibreOffice) and save it, "
            "or replace the formulas by their values"
        )
    head = [ref for ref, lo, hi in odd.merged if lo <= header_row <= hi]
    body = [ref for ref, lo, hi in odd.merged if lo > header_row]
    if head:
        raise DataError(
            f"{label}: header cells {_listed(head)} are merged; unmerge them so that every "
            f"column has its own name in row {header_row}"
        )
    if body:
        raise DataError(
            f"{label}: cells {_listed(body)} are merged; unmerge them and fill in every cell "
            "(a merged range holds its value in its first cell only)"
        )


def _find_header(rows: list[tuple[Any, ...]], names: frozenset[str]) -> int | None:
    """Index of the header row: the first filled row that holds one of ``names`` (the
    column names expected; within the first filled rows), else the first filled row."""
    first = None
    seen = 0
    for i, r in enumerate(rows):
        texts = [cell_text(v).strip() for v in r]
        if not any(texts):
            continue
        if first is None:
            first = i
        if names.intersection(texts):
            return i
        seen += 1
        if seen >= _HEADER_SEARCH_ROWS:
            break
    return first


def _read_sheet(
    ws: Any, label: str, names: frozenset[str], odd: _SheetOddities | None = None
) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = [tuple(r) for r in ws.iter_rows(min_row=1, values_only=True)]
    except Exception as exc:  # a corrupt sheet part: openpyxl raises many types
        raise DataError(f"{label} could not be read: {short_error(exc)}") from None
    header_at = _find_header(rows, names)
    if header_at is None:
        raise DataError(f"{label} is empty")
    _check_oddities(odd, header_at + 1, label)
    header = [cell_text(v).strip() for v in rows[header_at]]
    body = rows[header_at + 1 :]
    width = max([len(header), *(len(r) for r in body)])
    header += [""] * (width - len(header))
    cells = [[cell_text(v) for v in r] + [""] * (width - len(r)) for r in body]
    check_duplicate_names([h for h in header if h != ""], label)
    names = [h if h != "" else f"{UNNAMED}{i}" for i, h in enumerate(header)]
    frame = pd.DataFrame(cells, columns=names, dtype=object)
    frame = frame.astype(str) if len(frame) else frame
    unnamed = frozenset(n for n, h in zip(names, header, strict=True) if h == "")
    # spreadsheet rows: header_at is 0-based, data starts one below the header
    rownums = np.arange(header_at + 2, header_at + 2 + len(frame))
    return finish_table(frame, rownums, label, unnamed)
