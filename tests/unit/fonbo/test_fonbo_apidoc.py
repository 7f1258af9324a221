"""fonbo/README.md lists exactly the operations the server has, as they are."""

from __future__ import annotations

from pathlib import Path

from fonbo.apidoc import render
from fonbo.app import full_api

README = Path(__file__).resolve().parents[3] / "fonbo" / "README.md"


def test_readme_endpoints_match_the_operation_table() -> None:
    text = README.read_text(encoding="utf-8")
    listed = text[text.index("- `GET /fonbo/contacts`"):]
    assert listed == render(full_api().operations), (
        "fonbo/README.md's endpoint list is out of date: regenerate it with "
        "`python -m fonbo.apidoc`")
