"""The IAM names a spec gives its pod identities' roles, checked at Plan against moto's IAM over
HTTP: a policy that cannot be attached, or a role name the account has taken, is refused by field
before anything is created (CloudFormation would fail the cluster stack half-way)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from clusterdrop import steps
from clusterdrop.aws import stacks
from clusterdrop.errors import SpecInvalid
from tests.aws.test_steps import QUICKSTART, _validated, aws  # noqa: F401 - the fixture

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def _state(aws: dict[str, Any], name: str, identity: str) -> dict[str, Any]:  # noqa: F811
    return _validated(aws, name, QUICKSTART + f"  podIdentities:\n    - {identity}\n")


def test_plan_refuses_policies_that_cannot_be_attached_and_a_taken_role_name(aws: dict[str, Any]) -> None:  # noqa: F811
    ports: steps.Ports = aws["ports"]
    name = f"iam-{aws['suffix']}"
    taken = f"Taken-{aws['suffix']}"
    ports.iam.create_role(RoleName=taken, Path="/team/", AssumeRolePolicyDocument=TRUST)
    ports = dataclasses.replace(ports, settings=dataclasses.replace(ports.settings, account="123456789012"))
    other = "{namespace: app, serviceAccount: other, roleArn: 'arn:aws:iam::444455556666:role/theirs'}"
    identity = (
        f"{other}\n    - "
        "{namespace: app, serviceAccount: api, policyArns: [arn:aws:iam::aws:policy/ReadOnlyAccess, "
        "'arn:aws:iam::123456789012:policy/missing'], permissionsBoundaryArn: 'arn:aws:iam::444455556666:policy/theirs', "
        f"roleName: {taken}}}"
    )
    with pytest.raises(SpecInvalid) as refused:
        steps.plan(_state(aws, name, identity), ports)
    problems = {p.path: p.message for p in refused.value.problems}
    # AWS's managed policy exists; the account's missing one and another account's do not attach.
    assert sorted(problems) == [
        "spec.podIdentities[0].roleArn",
        "spec.podIdentities[1].permissionsBoundaryArn",
        "spec.podIdentities[1].policyArns[1]",
        "spec.podIdentities[1].roleName",
    ]
    assert "not a role of the cluster's account (123456789012)" in problems["spec.podIdentities[0].roleArn"]
    assert (
        "the policy arn:aws:iam::123456789012:policy/missing cannot be attached"
        in problems["spec.podIdentities[1].policyArns[1]"]
    )
    # Whatever its path, the name is the account's already.
    assert (
        f"the role arn:aws:iam::123456789012:role/team/{taken} exists already"
        in problems["spec.podIdentities[1].roleName"]
    )
    assert stacks.status(ports.cfn, f"clusterdrop-{name}") is None


def test_plan_takes_a_free_role_name_and_an_existing_boundary(aws: dict[str, Any]) -> None:  # noqa: F811
    ports: steps.Ports = aws["ports"]
    name = f"iam-free-{aws['suffix']}"
    document = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}
    )
    boundary = ports.iam.create_policy(PolicyName=f"bounds-{aws['suffix']}", PolicyDocument=document)["Policy"]["Arn"]
    identity = (
        "{namespace: app, serviceAccount: api, policyArns: [arn:aws:iam::aws:policy/ReadOnlyAccess], "
        f"permissionsBoundaryArn: '{boundary}', roleName: free-{aws['suffix']}}}"
    )
    state = _state(aws, name, identity)
    state["plan"] = steps.plan(state, ports)
    state["plan"] = steps.describe_plan(state, ports)
    [cluster_stack] = [s for s in state["plan"]["stacks"] if s["role"] == "cluster"]
    added = {c["resource_type"] for c in cluster_stack["changes"] if c["action"] == "Add"}
    assert "AWS::EKS::PodIdentityAssociation" in added
    steps.discard_plan(state, ports)
    assert stacks.status(ports.cfn, f"clusterdrop-{name}") is None
