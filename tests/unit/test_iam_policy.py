"""The embedded IAM evaluator: AWS's identity-policy evaluation for the checks moto does not make."""

from __future__ import annotations

from typing import Any

from clusterdrop.local.iam_policy import Request, denial, evaluate

ROLE = "arn:aws:iam::123456789012:role/clusterdrop-demo-NodeRole-ABC"


def doc(*statements: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"Version": "2012-10-17", "Statement": list(statements)}]


def test_actions_match_case_insensitively_with_wildcards() -> None:
    policy = doc({"Effect": "Allow", "Action": "IAM:Get*", "Resource": "*"})
    assert evaluate(policy, Request("iam:GetRole", ROLE)).allowed
    assert not evaluate(policy, Request("iam:PassRole", ROLE)).allowed


def test_resources_match_case_sensitively_and_star_requests_need_star() -> None:
    policy = doc(
        {"Effect": "Allow", "Action": "iam:GetRole", "Resource": "arn:aws:iam::123456789012:role/clusterdrop-*"}
    )
    assert evaluate(policy, Request("iam:GetRole", ROLE)).allowed
    assert not evaluate(policy, Request("iam:GetRole", ROLE.replace("clusterdrop", "Clusterdrop"))).allowed
    # An action without resource-level permissions is requested on `*`: a prefix does not cover it.
    assert not evaluate(policy, Request("iam:GetRole", "*")).allowed


def test_an_explicit_deny_wins() -> None:
    policy = doc(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "NotAction": "iam:GetRole", "Resource": "*"},
    )
    assert evaluate(policy, Request("iam:GetRole", ROLE)).allowed
    decision = evaluate(policy, Request("iam:PassRole", ROLE))
    assert not decision.allowed
    assert decision.explicit_deny
    assert "with an explicit deny" in denial("User: x", Request("iam:PassRole", ROLE), decision)


def test_conditions_need_their_key() -> None:
    policy = doc(
        {
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": "*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": ["eks.amazonaws.com"]}},
        }
    )
    assert evaluate(
        policy, Request("iam:CreateServiceLinkedRole", "x", {"iam:AWSServiceName": "eks.amazonaws.com"})
    ).allowed
    assert not evaluate(
        policy, Request("iam:CreateServiceLinkedRole", "x", {"iam:AWSServiceName": "ec2.amazonaws.com"})
    ).allowed
    assert not evaluate(policy, Request("iam:CreateServiceLinkedRole", "x")).allowed


def test_an_unknown_condition_operator_grants_nothing() -> None:
    policy = doc(
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateLessThan": {"aws:CurrentTime": "2030"}}}
    )
    assert not evaluate(policy, Request("iam:GetRole", ROLE, {"aws:CurrentTime": "2026"})).allowed


def test_the_denial_reads_as_aws_writes_it() -> None:
    message = denial(
        "User: arn:aws:sts::1:assumed-role/r/s",
        Request("logs:DescribeLogGroups", "*"),
        evaluate([], Request("logs:DescribeLogGroups", "*")),
    )
    assert message == (
        "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: logs:DescribeLogGroups on resource: * "
        "because no identity-based policy allows the logs:DescribeLogGroups action"
    )


def test_a_resource_policy_applies_to_the_principals_it_names() -> None:
    queue = "arn:aws:sqs:eu-west-1:123456789012:intake"
    policy = doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue,
            "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::specs"}},
        }
    )
    s3 = {"Service": "s3.amazonaws.com"}
    assert evaluate(policy, Request("sqs:SendMessage", queue, {"aws:SourceArn": "arn:aws:s3:::specs"}, s3)).allowed
    sns = {"Service": "sns.amazonaws.com"}
    assert not evaluate(policy, Request("sqs:SendMessage", queue, {"aws:SourceArn": "arn:aws:s3:::specs"}, sns)).allowed
