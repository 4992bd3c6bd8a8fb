"""The data dictionary is generated from the schema and agrees with the shared contract."""

from __future__ import annotations

import re

import pytest

from refracture.data.dictionary import data_dictionary_markdown
from refracture.data.schema import TABLES, Kind
from tests.conftest import ROOT

CONTRACT = ROOT.parent / "shared" / "data-contract.md"


def test_docs_file_is_the_generated_dictionary() -> None:
    on_disk = (ROOT / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    assert on_disk == data_dictionary_markdown(), (
        "docs/data-dictionary.md is stale: run "
        "`python -m refracture.data.dictionary > docs/data-dictionary.md`"
    )


def _contract_tables(text: str) -> dict[str, list[list[str]]]:
    tables: dict[str, list[list[str]]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^## (\w+) —", line)
        if m:
            current = m.group(1)
            tables[current] = []
            continue
        if line.startswith("## "):
            current = None
        if current and line.startswith("| ") and not line.startswith("| column"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            tables[current].append(cells)
    return tables


def test_schema_agrees_with_the_shared_contract() -> None:
    if not CONTRACT.exists():
        pytest.skip("shared/data-contract.md is not beside this checkout")
    contract = _contract_tables(CONTRACT.read_text(encoding="utf-8"))
    assert set(contract) == {t.name for t in TABLES}
    kinds = {"text": Kind.TEXT, "number": Kind.NUMBER, "yes/no": Kind.YESNO}
    for tbl in TABLES:
        rows = contract[tbl.name]
        assert [r[0] for r in rows] == list(tbl.names)
        for name, typ, required, _rule in rows:
            col = tbl.column(name)
            expected_kind = kinds.get(typ.split(" ")[0], Kind.CATEGORY)
            assert col.kind is expected_kind, name
            if expected_kind is Kind.CATEGORY:
                assert set(re.findall(r"`([^`]+)`", typ)) <= set(col.allowed) | {"T1…T12", "L1…L5"}
            if required == "yes":
                assert col.cells_required, name
            elif required == "no":
                assert not col.cells_required, name
                assert col.required_if is None, name
            else:  # conditionally required: "treated levels", "when subsequent_fracture"
                assert col.required_if is not None, name
                assert col.required_if in required.replace("treated levels", "treated"), name
