"""The CloudFormation service role, proven against the resource providers.

Every example and every convertible eksctl fixture is rendered; for each resource of each stack,
every permission its provider schema lists for the create, read, update and delete handlers is
turned into the request IAM authorizes (the action, on the resource's ARN or on `*`) and checked
against the role's policy as the deployer's template synthesizes it. What a handler needs only
for properties the templates never set is in the reviewed allow-list, and that list is checked
too: each entry names a real handler permission and a property no template sets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clusterdrop.local import cfn_permissions
from clusterdrop.local.iam_policy import Request, evaluate
from clusterdrop.render.common import nodegroup_stack_name, stack_name
from clusterdrop.render.plan import make_plan
from clusterdrop.spec.models import Cluster
from clusterdrop.spec.source import load_spec
from tests.conftest import EXAMPLES
from tests.infra.resolve import ACCOUNT, Stack
from tests.unit.test_render import LINTED

ROLE = "ClusterStacksRole"


def _deployer(template: dict[str, Any], region: str = "eu-west-1", account: str = ACCOUNT) -> Stack:
    """A deployer takes specs for its own region only: it is deployed in the spec's region."""
    return Stack("clusterdrop", template, region, account=account)


def role_documents(
    template: dict[str, Any], region: str = "eu-west-1", role: str = ROLE, account: str = ACCOUNT
) -> list[dict[str, Any]]:
    """Every identity policy the synthesized template gives a role (inline and attached)."""
    stack = _deployer(template, region, account)
    logical = next(
        k for k in template["Resources"] if k.startswith(role) and template["Resources"][k]["Type"] == "AWS::IAM::Role"
    )
    props = template["Resources"][logical]["Properties"]
    assert not props.get("ManagedPolicyArns"), "managed policies are not evaluated here: inline them"
    documents = [stack.resolve(p["PolicyDocument"]) for p in props.get("Policies") or []]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": logical} in resource["Properties"].get("Roles", []):
            documents.append(stack.resolve(resource["Properties"]["PolicyDocument"]))
    return documents


def _agent_code(template: dict[str, Any], region: str, account: str = ACCOUNT) -> tuple[str, str]:
    stack = _deployer(template, region, account)
    for resource in template["Resources"].values():
        variables = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        if "AGENT_CODE_BUCKET" in variables:
            return str(stack.resolve(variables["AGENT_CODE_BUCKET"])), str(stack.resolve(variables["AGENT_CODE_KEY"]))
    raise AssertionError("no function carries AGENT_CODE_BUCKET")


def account_of(cluster: Cluster) -> str:
    """The account a spec's cluster lives in, where the spec says: EKS associates pods with roles
    of the cluster's own account (Plan refuses others), so a spec's role ARNs name it."""
    accounts = {p.role_arn.split(":")[4] for p in cluster.spec.pod_identities if p.role_arn}
    assert len(accounts) <= 1, accounts
    return accounts.pop() if accounts else ACCOUNT


def rendered_stacks(path: Path, template: dict[str, Any]) -> list[Stack]:
    """The cluster stack and node-group stacks of one spec, with the parameters the workflow passes."""
    cluster = load_spec(path.read_bytes()).cluster
    bucket, key = _agent_code(template, cluster.spec.region, account_of(cluster))
    plan = make_plan(cluster)
    main = Stack(
        stack_name(cluster),
        plan.stacks[0].template,
        cluster.spec.region,
        {"AgentCodeBucket": bucket, "AgentCodeKey": key, "ArtifactsBucket": "clusterdrop-artifactsbucket-1a2b3c"},
        account=account_of(cluster),
    )
    out = [main]
    for stack in plan.stacks[1:]:
        group = stack.name.removeprefix(nodegroup_stack_name(cluster, ""))
        out.append(
            Stack(
                stack.name,
                stack.template,
                cluster.spec.region,
                {"NodeRoleArn": main.arn("NodeRole"), "SubnetIds": [f"subnet-{group}1", f"subnet-{group}2"]},
                account=main.account,
            )
        )
    return out


def _missing(documents: list[dict[str, Any]], stacks: list[Stack]) -> list[str]:
    missing = []
    for stack in stacks:
        for logical, kind, properties in stack.resources():
            resource = cfn_permissions.Resource(
                kind, properties, stack.physical_name(logical), stack.account, stack.region
            )
            for handler in cfn_permissions.HANDLERS:
                for refusal in cfn_permissions.refusals(list(documents), resource, handler):
                    r = refusal.request
                    missing.append(f"{kind} {handler}: {r.action} on {r.resource} {dict(r.context) or ''}".rstrip())
    return sorted(set(missing))


@pytest.mark.parametrize("path", LINTED, ids=lambda p: p.name)
def test_the_role_allows_every_handler_permission(path: Path, template: dict[str, Any]) -> None:
    stacks = rendered_stacks(path, template)
    assert _missing(role_documents(template, stacks[0].region, account=stacks[0].account), stacks) == []


def test_the_specs_cover_every_flavour_that_changes_resource_types() -> None:
    """New and existing VPC, each NAT mode, each CNI on EKS, addons, SSH keys."""
    clusters = [load_spec(p.read_bytes()).cluster for p in LINTED]
    assert {c.spec.network.vpc.id is None for c in clusters} == {True, False}
    assert {c.spec.network.nat_gateways for c in clusters if c.spec.network.vpc.id is None} >= {
        "per-zone",
        "single",
        "none",
    }
    assert {c.spec.cni.name for c in clusters} >= {"aws-vpc-cni", "calico"}
    assert any(c.spec.addons for c in clusters)
    assert any(g.ssh_key_name for c in clusters for g in c.spec.node_groups)


def test_a_removed_permission_is_found(template: dict[str, Any]) -> None:
    """The check can fail: without iam:ListAttachedRolePolicies (EKS CreateCluster and
    CreateNodegroup check the roles with it; deleting a role lists them) it names each use."""
    documents = role_documents(template)
    stripped = json.loads(json.dumps(documents).replace('"iam:ListAttachedRolePolicies", ', ""))
    stripped = json.loads(json.dumps(stripped).replace('"iam:ListAttachedRolePolicies"', '"iam:GetRole"'))
    missing = _missing(stripped, rendered_stacks(EXAMPLES[0].parent / "calico-ha.yaml", template))
    kinds = {line.split(" ")[0] for line in missing if "iam:ListAttachedRolePolicies" in line}
    assert kinds == {"AWS::EKS::Cluster", "AWS::EKS::Nodegroup", "AWS::IAM::Role"}, missing


def test_actions_iam_authorizes_only_on_star_are_checked_on_star(template: dict[str, Any]) -> None:
    """logs:DescribeLogGroups has no resource-level permissions: a grant on a log-group prefix
    does not allow it (Service Authorization Reference, CloudWatch Logs)."""
    scoped = [
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "logs:DescribeLogGroups",
                    "Resource": "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/clusterdrop*",
                }
            ]
        }
    ]
    assert cfn_permissions.targets(
        cfn_permissions.Resource("AWS::Logs::LogGroup", {"LogGroupName": "/aws/lambda/x"}, "x", "1", "eu-west-1"),
        "logs:DescribeLogGroups",
    ) == [Request("logs:DescribeLogGroups", "*")]
    assert not evaluate(scoped, Request("logs:DescribeLogGroups", "*")).allowed
    assert evaluate(role_documents(template), Request("logs:DescribeLogGroups", "*")).allowed


def test_every_allow_list_entry_is_a_real_permission_no_template_sets(template: dict[str, Any]) -> None:
    entries = cfn_permissions.allow_list()
    assert entries
    for entry in entries:
        listed = {
            p for h in cfn_permissions.HANDLERS for p in cfn_permissions.handler_permissions(entry.resource_type, h)
        }
        assert set(entry.actions) <= listed, (entry.resource_type, set(entry.actions) - listed)
        assert len(entry.why) > 20, entry
    for path in LINTED:
        for stack in rendered_stacks(path, template):
            for logical, kind, properties in stack.resources():
                for entry in entries:
                    if entry.resource_type == kind:
                        assert not entry.applies(properties), f"{path.name} {logical} sets {entry.property}"
