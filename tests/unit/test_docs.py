"""The documentation site: its reference pages are the code's (regenerated, they are the same),
every spec field is described, and every spec in the docs is a valid spec."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusterdrop.spec.schema import json_schema
from clusterdrop.spec.source import load_spec
from tests.conftest import REPO

DOCS = REPO / "docs"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reference_pages_are_generated_from_the_code(tmp_path: Path) -> None:
    for page in _generator().generate(tmp_path):
        checked_in = DOCS / "reference" / page.name
        assert checked_in.read_text() == page.read_text(), f"{checked_in} is stale: run `make docs`"


def test_every_spec_field_has_a_description() -> None:
    rows = _generator()._schema_rows(json_schema())
    assert len(rows) > 100
    assert [path for path, _kind, _default, description in rows if not description.strip()] == []


def _spec_blocks() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(), flags=re.S):
            if "apiVersion: clusterdrop.io/" in block:
                found.append((str(page.relative_to(REPO)), block))
    return found


@pytest.mark.parametrize(("page", "block"), _spec_blocks(), ids=lambda v: v if v.endswith(".md") else "")
def test_every_spec_in_the_docs_is_valid(page: str, block: str) -> None:
    assert load_spec(block.encode()).cluster.metadata.name, page


def test_every_page_is_in_the_sites_navigation() -> None:
    def pages(nav: Any) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, list):
            return [p for item in nav for p in pages(item)]
        return [p for value in nav.values() for p in pages(value)]

    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    listed = set(pages(config["nav"]))
    assert {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")} == listed
