"""cdk-nag findings accepted on purpose, each with its reason, in code; and the ARN patterns the
acknowledgments name."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

from clusterdrop.render.common import NAME_PREFIX

STACK_PREFIX = NAME_PREFIX  # every cluster's stacks, roles and agents start with it


def acknowledge(construct: IConstruct, rule: str, reason: str, *, evidence: list[str] | None = None) -> None:
    """A cdk-nag finding accepted on purpose, with its reason, in code. IAM findings name their
    evidence (the resource or action pattern), and each pattern is acknowledged by name."""
    ids = (
        [f"AwsSolutions::AwsSolutions-{rule}[{e}]" for e in evidence]
        if evidence
        else [f"AwsSolutions::AwsSolutions-{rule}"]
    )
    for finding in ids:
        Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))


ARN = "arn:<AWS::Partition>"
AT = "<AWS::Region>:<AWS::AccountId>"
LAMBDA_LOGS_POLICY = f"Policy::{ARN}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
