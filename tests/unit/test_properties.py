"""Property-based: random mutations of valid specs never crash the validator or stall it."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import timedelta
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterdrop.errors import LoadError, SpecInvalid
from clusterdrop.spec.loader import Document, load
from clusterdrop.spec.models import Cluster
from clusterdrop.spec.validate import validate
from tests.conftest import EXAMPLES

BASES = [yaml.safe_load(p.read_text()) for p in EXAMPLES]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
# Values that are close to valid ones, so mutations reach the semantic rules too.
plausible = st.sampled_from(
    ["10.0.0.0/16", "10.0.0.0/8", "192.168.0.0/16", "eu-west-1a", "us-east-1b", "calico", "flannel", "v3.32.1",
     "1.33", "private", "public", "none", "t3.medium", "m7g.large", 0, 1, 3, 1000, -1, "", [], {}]
)  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def mutated_specs(draw: st.DrawFn) -> Any:
    spec = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(spec) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = spec
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "plausible", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
        else:
            parent[path[-1]] = draw(json_values if action == "replace" else plausible)
    return spec


@settings(max_examples=300, deadline=timedelta(seconds=1), suppress_health_check=[HealthCheck.too_slow])
@given(mutated_specs())
def test_mutated_specs_validate_or_fail_cleanly(data: Any) -> None:
    outcome = _validate(data)
    if isinstance(outcome, SpecInvalid):
        assert outcome.problems
        assert all(problem.message for problem in outcome.problems)
    else:
        assert isinstance(outcome, Cluster)


def _validate(data: Any) -> Cluster | SpecInvalid:
    # Anything but SpecInvalid escapes and fails the test.
    try:
        return validate(Document(data=data, is_yaml=False))
    except SpecInvalid as exc:
        return exc


@settings(max_examples=200, deadline=timedelta(seconds=1))
@given(mutated_specs())
def test_mutated_specs_through_yaml_text(data: Any) -> None:
    raw = yaml.safe_dump(data).encode()
    # Anything but these two escapes and fails the test.
    with contextlib.suppress(SpecInvalid, LoadError):
        validate(load(raw))


@settings(max_examples=300, deadline=timedelta(seconds=1))
@given(st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_arbitrary_bytes_never_crash_the_loader(raw: bytes) -> None:
    try:
        doc = load(raw)
    except LoadError as exc:
        error: LoadError | None = exc
    else:
        error = None
        json.dumps(doc.data, default=str)
    assert error is None or error.message
