"""Shared test fixtures: where the repository and the shared fixtures are, and sample specs."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# The shared fixtures (real eksctl and kops specs, official CNI manifests) stand beside the
# repository; they are test data read from there, never copied in.
SHARED = Path(os.environ.get("CLUSTERDROP_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
EKSCTL_FIXTURES = sorted((FIXTURES / "eksctl").glob("*.yaml"))


def pytest_configure(config: pytest.Config) -> None:
    if not EKSCTL_FIXTURES:
        raise pytest.UsageError(f"shared fixtures not found under {FIXTURES} (set CLUSTERDROP_SHARED)")


@pytest.fixture
def full_spec() -> dict[str, Any]:
    """The full example from the spec issue, as data: every field set."""
    data: dict[str, Any] = yaml.safe_load((REPO / "examples" / "calico-ha.yaml").read_text())
    return copy.deepcopy(data)


def set_path(data: Any, path: str, value: Any) -> Any:
    """Set (or with value=DELETE remove) the value at a dotted path such as `spec.nodeGroups[0].maxSize`."""
    parts: list[str | int] = []
    for chunk in path.split("."):
        name, _, rest = chunk.partition("[")
        if name:
            parts.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            parts.append(int(index))
            rest = rest.removeprefix("[")
    target = data
    for part in parts[:-1]:
        target = target[part]
    if value is DELETE:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return data


DELETE = object()

Mutation = Callable[[dict[str, Any]], object]


# What examples/existing-vpc.yaml's references resolve to in tests that render it offline (as
# its network's SSM parameters and export would say).
EXAMPLE_NETWORK: dict[str, Any] = {
    "/clusterdrop/network/payments/vpc-id": "vpc-0a1b2c3d4e5f60718",
    "/clusterdrop/network/payments/private-subnet-ids": [
        "subnet-0aa11bb22cc33dd44",
        "subnet-0bb22cc33dd44ee55",
        "subnet-0cc33dd44ee55ff66",
    ],
    "payments-network-PublicSubnetIds": [
        "subnet-0dd44ee55ff660077",
        "subnet-0ee55ff6600771188",
        "subnet-0ff6600771188a299",
    ],
}


def example_network(refs: Any) -> dict[Any, Any]:
    """A resolver (`load_spec(resolve=…)`) answering from EXAMPLE_NETWORK."""
    return {ref.path: EXAMPLE_NETWORK[ref.name] for ref in refs}


def until(condition: Callable[[], Any], seconds: float = 30, *, said: Callable[[], Any] | None = None) -> Any:
    """The condition's first truthy value within `seconds` (the emulators run on their own clocks);
    else an AssertionError with what `said` reports of where things stand."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds:g} s" + (f": {said()}" if said else ""))


def pod_identities(count: int, statements: int) -> list[dict[str, Any]]:
    """`count` Pod Identity roles with inline policies of `statements` statements each: a spec of
    some hundreds of KiB, past what a Step Functions state may hold."""
    return [
        {
            "namespace": "apps",
            "serviceAccount": f"reader-{i}",
            "policy": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::team-{i}-{j}/*"]}
                    for j in range(statements)
                ],
            },
        }
        for i in range(count)
    ]
