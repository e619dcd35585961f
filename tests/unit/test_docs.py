"""The documentation site: its reference pages are the code's (regenerated, they are the same),
every spec field is described, and every spec in the docs is a valid spec."""

from __future__ import annotations

import copy
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusterdrop.errors import SpecInvalid
from clusterdrop.spec.schema import EXAMPLES, json_schema
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
    assert [path for path, _kind, _default, description, _ in rows if not description.strip()] == []


def test_every_field_that_takes_a_value_shows_an_example() -> None:
    """Objects and lists of objects are shown by their fields; every other field has an example."""
    rows = _generator()._schema_rows(json_schema())
    parents = {path.rsplit(".", 1)[0].removesuffix("[]") for path, *_ in rows if "." in path}
    page = (DOCS / "reference" / "spec.md").read_text()
    missing = [
        path
        for path, *_ in rows
        if path not in parents and not re.search(rf"^\| `{re.escape(path)}` \|.*\| `", page, re.M)
    ]
    assert missing == []


# The smallest item of each list a schema example sits in, so that the example is judged in a
# spec that is otherwise valid.
_ITEMS: dict[str, dict[str, Any]] = {
    "spec.access[]": {"principal": "arn:aws:iam::123456789012:role/developers", "policies": [{"policy": "view"}]},
    "spec.access[].policies[]": {"policy": "view"},
    "spec.podIdentities[]": {"namespace": "apps", "serviceAccount": "reader", "policyArns": [
        "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]},
    "spec.identityProviders[]": {"name": "corp", "issuerUrl": "https://login.example.com", "clientId": "kubernetes"},
}  # fmt: skip
# Fields an example needs beside it (the rule that relates them is the spec's own).
_BESIDE: dict[str, dict[str, Any]] = {
    "spec.network.vpc.id": {"spec.network.vpc.subnets.private": EXAMPLES["spec.network.vpc.subnets.private"]},
    "spec.network.vpc.subnets.private": {"spec.network.vpc.id": EXAMPLES["spec.network.vpc.id"]},
    "spec.network.vpc.subnets.public": {"spec.network.vpc.id": EXAMPLES["spec.network.vpc.id"],
                                        "spec.network.vpc.subnets.private": EXAMPLES["spec.network.vpc.subnets.private"]},
    "spec.cni.kubeProxyReplacement": {"spec.cni.name": "cilium"},
    "spec.nodeGroups[].volume.iops": {"spec.nodeGroups[].volume.type": "gp3"},
    "spec.nodeGroups[].volume.throughput": {"spec.nodeGroups[].volume.type": "gp3"},
    "spec.podIdentities[].roleArn": {"spec.podIdentities[].policyArns": None},
    "spec.podIdentities[].labels": {"spec.podIdentities[].createServiceAccount": True},
    "spec.nodeGroups[].kubernetesVersion": {"spec.kubernetesVersion": "1.36"},
}  # fmt: skip


def _put(data: dict[str, Any], path: str, value: Any) -> None:
    """Set a reference-style path (`[]`: the list's first item, made from _ITEMS when missing)."""
    node: Any = data
    parts = path.split(".")
    for i, part in enumerate(parts):
        listed = part.endswith("[]")
        key = part.removesuffix("[]")
        last = i == len(parts) - 1
        if last and not listed:
            if value is None:
                node.pop(key, None)
            else:
                node[key] = value
            return
        if listed:
            items = node.setdefault(key, [])
            if not items:
                items.append(copy.deepcopy(_ITEMS[".".join([*parts[:i], part])]))
            node = items[0]
        else:
            node = node.setdefault(key, {})


@pytest.mark.parametrize("path", sorted(EXAMPLES))
def test_every_schema_example_is_accepted_where_it_goes(path: str) -> None:
    data = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    for beside, value in _BESIDE.get(path, {}).items():
        _put(data, beside, value)
    _put(data, path, copy.deepcopy(EXAMPLES[path]))
    try:
        load_spec(yaml.safe_dump(data).encode())
    except SpecInvalid as exc:
        pytest.fail(f"{path}: {EXAMPLES[path]!r} is refused: {exc}")


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
