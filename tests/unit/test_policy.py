"""Guardrails: each rule allows what it should and refuses the rest, by field path and rule."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterdrop.spec.policy import Policy, check, load
from clusterdrop.spec.source import load_spec
from tests.conftest import REPO, set_path
from tests.unit.test_cli import run

ACCOUNT = "123456789012"
HA = yaml.safe_load((REPO / "examples" / "calico-ha.yaml").read_text())


def _cluster(changes: dict[str, Any] | None = None) -> Any:
    data = copy.deepcopy(HA)
    for path, value in (changes or {}).items():
        set_path(data, path, value)
    return load_spec(yaml.safe_dump(data).encode()).cluster


def _refusals(rules: dict[str, Any], changes: dict[str, Any] | None = None) -> dict[str, str]:
    return {p.path: p.message for p in check(_cluster(changes), Policy.model_validate(rules), account=ACCOUNT)}


def test_the_example_fits_the_default_policy() -> None:
    assert _refusals({}) == {}


def test_admins_default_to_the_deployers_own_account() -> None:
    outside = "arn:aws:iam::999988887777:role/x"
    refused = _refusals({}, {"spec.controlPlane.admins": [f"arn:aws:iam::{ACCOUNT}:role/ok", outside]})
    assert refused == {
        "spec.controlPlane.admins[1]": f"{outside} is in account 999988887777; this deployer allows admins from "
        f"{ACCOUNT} only (guardrail allowedAdminAccounts)"
    }
    assert _refusals({"allowedAdminAccounts": [ACCOUNT, "999988887777"]}, {"spec.controlPlane.admins": [outside]}) == {}
    # Offline, without the deployer's account, only an explicit list is checked.
    cluster = _cluster({"spec.controlPlane.admins": [outside]})
    assert check(cluster, Policy(), account=None) == []


def test_admin_principals_must_match_a_pattern() -> None:
    rules = {"allowedAdminPrincipals": [f"arn:aws:iam::{ACCOUNT}:role/platform-*"]}
    assert _refusals(rules) == {}  # the example's admin is role/platform-admin
    refused = _refusals(rules, {"spec.controlPlane.admins": [f"arn:aws:iam::{ACCOUNT}:role/dev"]})
    assert "matches none of arn:aws:iam::123456789012:role/platform-*" in refused["spec.controlPlane.admins[0]"]


@pytest.mark.parametrize(
    ("rules", "changes", "path", "message"),
    [
        (
            {"endpoint": "private-only"},
            {},
            "spec.controlPlane.endpointAccess",
            "a public endpoint is not allowed: set private (guardrail endpoint)",
        ),
        (
            {"endpoint": "public-with-cidrs-only"},
            {"spec.controlPlane.adminCidrs": None},
            "spec.controlPlane.adminCidrs",
            "a public endpoint open to 0.0.0.0/0 is not allowed: name the CIDRs that may reach it (guardrail endpoint)",
        ),
        (
            {"maxPublicCidrs": 1},
            {"spec.controlPlane.adminCidrs": ["203.0.113.0/24", "198.51.100.0/24"]},
            "spec.controlPlane.adminCidrs",
            "at most 1 CIDRs (guardrail maxPublicCidrs)",
        ),
        (
            {"allowedRegions": ["us-east-1"]},
            {},
            "spec.region",
            "eu-west-1 is not one of us-east-1 (guardrail allowedRegions)",
        ),
        (
            {"allowedInstanceTypes": ["m7g.*"]},
            {"spec.nodeGroups[1].instanceTypes": ["m7g.large"]},
            "spec.nodeGroups[0].instanceTypes[0]",
            "t3.medium matches none of m7g.* (guardrail allowedInstanceTypes)",
        ),
        (
            {"maxNodesPerGroup": 5},
            {},
            "spec.nodeGroups[0].maxSize",
            "6 nodes; at most 5 per group (guardrail maxNodesPerGroup)",
        ),
        (
            {"maxNodesPerCluster": 8},
            {},
            "spec.nodeGroups",
            "up to 9 nodes (the groups' maxSize); at most 8 per cluster (guardrail maxNodesPerCluster)",
        ),
        (
            {"allowedKubernetesVersions": ["1.34", "1.36"]},
            {},
            "spec.kubernetesVersion",
            "1.35 is not one of 1.34, 1.36 (guardrail allowedKubernetesVersions)",
        ),
        (
            {"requiredTags": {"cost-center": None}},
            {},
            "metadata.tags",
            "the tag 'cost-center' is required (guardrail requiredTags)",
        ),
        (
            {"requiredTags": {"team": ["payments"]}},
            {},
            "metadata.tags.team",
            "'platform' is not one of payments (guardrail requiredTags)",
        ),
        (
            {"allowSpot": False},
            {"spec.nodeGroups[1].capacityType": "spot"},
            "spec.nodeGroups[1].capacityType",
            "spot capacity is not allowed (guardrail allowSpot)",
        ),
        (
            {"allowedCnis": ["aws-vpc-cni"]},
            {},
            "spec.cni.name",
            "calico is not one of aws-vpc-cni (guardrail allowedCnis)",
        ),
    ],
)
def test_each_rule_refuses_by_path(rules: dict[str, Any], changes: dict[str, Any], path: str, message: str) -> None:
    assert _refusals(rules, changes) == {path: message}


def test_every_violation_is_reported_at_once() -> None:
    refused = _refusals({"allowedRegions": ["us-east-1"], "allowSpot": False, "maxNodesPerGroup": 2})
    assert set(refused) == {"spec.region", "spec.nodeGroups[0].maxSize", "spec.nodeGroups[1].maxSize"}


def test_an_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="maxNodes"):
        Policy.model_validate({"maxNodes": 3})


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    limit=st.integers(min_value=1, max_value=12),
    sizes=st.lists(st.integers(min_value=1, max_value=8), min_size=1, max_size=4),
    spot=st.booleans(),
)
def test_no_spec_outside_the_policy_is_admitted(limit: int, sizes: list[int], spot: bool) -> None:
    groups = [
        {"name": f"g{i}", "instanceTypes": ["t3.medium"], "desiredSize": n, "maxSize": n,
         "capacityType": "spot" if spot else "on-demand"}
        for i, n in enumerate(sizes)
    ]  # fmt: skip
    cluster = _cluster({"spec.nodeGroups": groups})
    rules = Policy(max_nodes_per_cluster=limit, allow_spot=False)
    refused = {p.path for p in check(cluster, rules, account=ACCOUNT)}
    assert ("spec.nodeGroups" in refused) == (sum(sizes) > limit)
    assert any(path.endswith(".capacityType") for path in refused) == spot
    assert (not refused) == (sum(sizes) <= limit and not spot)


def test_validate_and_plan_check_a_policy_file(tmp_path: Path) -> None:
    policy_file = tmp_path / "guardrails.yaml"
    policy_file.write_text("allowedInstanceTypes: ['m7g.*']\nmaxNodesPerCluster: 4\n")
    example = str(REPO / "examples" / "calico-ha.yaml")
    code, out, _ = run("validate", "--policy", str(policy_file), example)
    assert code == 1
    assert (
        "spec.nodeGroups[0].instanceTypes[0]: t3.medium matches none of m7g.* (guardrail allowedInstanceTypes)" in out
    )
    assert "(guardrail maxNodesPerCluster)" in out
    code, _, err = run("plan", "--policy", str(policy_file), "--out", str(tmp_path / "plan"), example)
    assert code == 1
    assert "refused by the guardrails, nothing planned" in err
    assert not (tmp_path / "plan").exists()
    assert run("validate", "--policy", str(tmp_path / "missing.yaml"), example)[0] == 2
    assert load(policy_file).max_nodes_per_cluster == 4


def test_the_policy_has_a_schema_for_a_file_beside_cdk_json() -> None:
    import json

    code, out, _ = run("schema", "--policy")
    assert code == 0
    schema = json.loads(out)
    assert {"allowedAdminAccounts", "maxNodesPerCluster", "requiredTags", "endpoint"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_a_team_s_rules_replace_the_base_rules_for_its_clusters() -> None:
    rules = Policy.model_validate(
        {"maxNodesPerGroup": 10, "allowSpot": False, "teams": {"batch": {"allowSpot": True, "maxNodesPerGroup": 50}}}
    )
    assert rules.for_team("batch").allow_spot is True
    assert rules.for_team("batch").max_nodes_per_group == 50
    assert rules.for_team("web") == rules  # a team without its own rules: the base
    assert rules.for_team("") == rules
    with pytest.raises(ValueError, match="maxNodes"):
        Policy.model_validate({"teams": {"batch": {"maxNodes": 3}}})
