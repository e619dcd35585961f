"""The cluster templates each example renders, checked in under tests/golden/ (as eksctl's
cfn/builder tests keep theirs): every template change shows in review as a diff of these files.
After an intended change: `make golden`, then read the diff."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from clusterdrop.render.plan import make_plan
from clusterdrop.spec.source import load_spec
from tests.conftest import EXAMPLES, REPO, example_network

GOLDEN = REPO / "tests" / "golden"


def rendered(example: Path) -> dict[str, str]:
    """Each stack's template as the workflow would deploy it (offline: zones as Fn::GetAZs)."""
    plan = make_plan(load_spec(example.read_bytes(), resolve=example_network).cluster)
    return {f"{example.stem}/{s.file_name}": json.dumps(s.template, indent=2) + "\n" for s in plan.stacks}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_templates_match_the_golden_files(example: Path) -> None:
    files = rendered(example)
    on_disk = {str(p.relative_to(GOLDEN)) for p in (GOLDEN / example.stem).glob("*.json")}
    assert on_disk == set(files), "stacks added or removed: run `make golden` and review the diff"
    for name, text in files.items():
        assert (GOLDEN / name).read_text() == text, f"{name} changed: run `make golden` and review the diff"


def write() -> None:
    for example in EXAMPLES:
        folder = GOLDEN / example.stem
        for old in folder.glob("*.json"):
            old.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in rendered(example).items():
            (GOLDEN / name).write_text(text)
    sys.stdout.write(f"golden templates written under {GOLDEN.relative_to(REPO)}/\n")


if __name__ == "__main__":
    write()
