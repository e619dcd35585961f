"""What the embedded IAM asks for each kind of request: the resource IAM authorizes it on."""

from __future__ import annotations

import pytest

from clusterdrop.local.iam_enforce import requests_for, resources

A, R = "123456789012", "eu-west-1"


@pytest.mark.parametrize(
    ("service", "action", "params", "path", "expected"),
    [
        ("dynamodb", "PutItem", {"TableName": "locks"}, "/", [f"arn:aws:dynamodb:{R}:{A}:table/locks"]),
        ("states", "DescribeExecution", {"executionArn": "arn:x:execution:m:e"}, "/", ["arn:x:execution:m:e"]),
        ("sns", "Publish", {"TopicArn": "arn:aws:sns:eu-west-1:1:t"}, "/", ["arn:aws:sns:eu-west-1:1:t"]),
        ("lambda", "InvokeFunction", {}, "/2015-03-31/functions/agent/invocations", [f"arn:aws:lambda:{R}:{A}:function:agent"]),
        ("eks", "DescribeAddon", {}, "/clusters/demo/addons/coredns", [f"arn:aws:eks:{R}:{A}:addon/demo/coredns/00000000-0000-0000-0000-000000000000"]),
        ("eks", "DescribeCluster", {}, "/clusters/demo", [f"arn:aws:eks:{R}:{A}:cluster/demo"]),
        ("ec2", "CreateTags", {"ResourceId.1": "subnet-1", "ResourceId.2": "vpc-2"}, "/", [f"arn:aws:ec2:{R}:{A}:subnet/subnet-1", f"arn:aws:ec2:{R}:{A}:vpc/vpc-2"]),
        ("ec2", "DescribeSubnets", {}, "/", ["*"]),  # no resource types: authorized on * only
        ("cloudformation", "ListStacks", {}, "/", ["*"]),
    ],
)  # fmt: skip
def test_each_request_is_authorized_on_its_resource(
    service: str, action: str, params: dict[str, str], path: str, expected: list[str]
) -> None:
    assert resources(service, action, params, path, A, R) == expected


def test_passing_a_role_to_cloudformation_is_authorized_too() -> None:
    role = f"arn:aws:iam::{A}:role/clusterdrop-cfn"
    asked = requests_for(
        "cloudformation", "CreateChangeSet", {"StackName": "arn:aws:cloudformation:x", "RoleARN": role}, "/", A, R
    )
    assert [(r.action, r.resource) for r in asked] == [
        ("cloudformation:CreateChangeSet", "arn:aws:cloudformation:x"),
        ("iam:PassRole", role),
    ]
    assert asked[1].context == {"iam:PassedToService": "cloudformation.amazonaws.com"}
