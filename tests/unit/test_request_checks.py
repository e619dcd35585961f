"""The embedded AWS's request constraints, read from botocore's models: what each shape says."""

from __future__ import annotations

import botocore.session

from clusterdrop.local import request_checks

_SESSION = botocore.session.get_session()


def _violations(service: str, operation: str, params: dict[str, object]) -> list[str]:
    shape = _SESSION.get_service_model(service).operation_model(operation).input_shape
    return list(request_checks.violations(shape, params, ""))


def test_nested_required_members_lengths_patterns_and_enums() -> None:
    # EKS CreateNodegroup: scalingConfig.minSize has a minimum; an enum for capacityType.
    found = _violations(
        "eks",
        "CreateNodegroup",
        {"clusterName": "c", "nodegroupName": "n", "subnets": ["s"], "nodeRole": "r",
         "scalingConfig": {"minSize": -1}, "capacityType": "CHEAP"},
    )  # fmt: skip
    assert any("at 'scalingConfig.minSize'" in v and "greater than or equal to 0" in v for v in found), found
    assert any("at 'capacityType'" in v and "enum value set" in v for v in found), found
    # IAM CreateRole: the name's length and pattern.
    found = _violations("iam", "CreateRole", {"RoleName": "bad name!", "AssumeRolePolicyDocument": "{}"})
    assert any("at 'roleName' failed to satisfy constraint: Member must satisfy regular expression" in v for v in found)
    # A nested structure's required member (an IAM tag needs its value)...
    found = _violations(
        "iam", "CreateRole", {"RoleName": "ok", "AssumeRolePolicyDocument": "{}", "Tags": [{"Key": "a"}]}
    )
    assert "Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not be null" in found
    # ... and a valid request has none.
    assert _violations("iam", "CreateRole", {"RoleName": "ok", "AssumeRolePolicyDocument": "{}"}) == []


def test_the_message_counts_as_aws_does() -> None:
    assert request_checks.message(["a"]) == "1 validation error detected: a"
    assert request_checks.message(["a", "b"]) == "2 validation errors detected: a; b"
