"""Resource-based policies and the state machines' roles, as the synthesized template has them.

The embedded mode evaluates identity policies at run time; these are the permissions it cannot
see there (a service calling another on the project's behalf), checked with the same evaluator
on the resolved template: S3 delivering to the intake queue, SNS invoking the Slack formatter,
EventBridge invoking the safety net, and each state machine invoking its functions, the agents and CloudFormation's DescribeStacks.
"""

from __future__ import annotations

import json
import re
from typing import Any

from clusterdrop.local.iam_policy import Request, evaluate
from tests.conftest import REPO
from tests.infra.resolve import Stack

TLS = {"aws:SecureTransport": "true"}


def _deployer(template: dict[str, Any]) -> Stack:
    return Stack("clusterdrop", template, "eu-west-1")


def _of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == kind}


def test_s3_may_deliver_every_bucket_notification_to_its_queue(template: dict[str, Any]) -> None:
    stack = _deployer(template)
    policies = _of(template, "AWS::SQS::QueuePolicy")
    checked = 0
    for notifications in _of(template, "Custom::S3BucketNotifications").values():
        bucket_arn = f"arn:aws:s3:::{stack.resolve(notifications['BucketName'])}"
        for target in notifications["NotificationConfiguration"].get("QueueConfigurations", []):
            queue = target["QueueArn"]["Fn::GetAtt"][0]
            queue_arn = stack.resolve(target["QueueArn"])
            documents = [stack.resolve(p["PolicyDocument"]) for p in policies.values() if {"Ref": queue} in p["Queues"]]
            request = Request(
                "sqs:SendMessage",
                queue_arn,
                {**TLS, "aws:SourceArn": bucket_arn},
                principal={"Service": "s3.amazonaws.com"},
            )
            assert evaluate(documents, request).allowed, (queue, bucket_arn)
            other_bucket = Request(
                "sqs:SendMessage",
                queue_arn,
                {**TLS, "aws:SourceArn": "arn:aws:s3:::someone-else"},
                {"Service": "s3.amazonaws.com"},
            )
            assert not evaluate(documents, other_bucket).allowed  # only the spec bucket may
            # A customer-managed key would need S3 in its key policy; SSE-SQS needs nothing.
            assert "KmsMasterKeyId" not in template["Resources"][queue]["Properties"]
            checked += 1
    assert checked >= 3  # clusters/, plans/, delete markers


def test_sns_may_invoke_every_function_subscribed_to_it(template: dict[str, Any]) -> None:
    stack = _deployer(template)
    permissions = _of(template, "AWS::Lambda::Permission")
    subscriptions = [s for s in _of(template, "AWS::SNS::Subscription").values() if s["Protocol"] == "lambda"]
    assert subscriptions
    for subscription in subscriptions:
        function, topic = stack.resolve(subscription["Endpoint"]), stack.resolve(subscription["TopicArn"])
        granted = [
            p
            for p in permissions.values()
            if stack.resolve(p["FunctionName"]) == function
            and p["Action"] == "lambda:InvokeFunction"
            and p["Principal"] == "sns.amazonaws.com"
            and stack.resolve(p.get("SourceArn")) == topic
        ]
        assert granted, f"SNS may not invoke {function}"


def test_eventbridge_may_invoke_every_function_a_rule_targets(template: dict[str, Any]) -> None:
    """The safety net (ExecutionEnded) runs on Step Functions' status-change events: its rule may
    invoke it, and nothing else may through that grant."""
    stack = _deployer(template)
    permissions = _of(template, "AWS::Lambda::Permission")
    rules = _of(template, "AWS::Events::Rule")
    assert rules
    for logical_id, rule in rules.items():
        rule_arn = stack.resolve({"Fn::GetAtt": [logical_id, "Arn"]})
        pattern = rule["EventPattern"]
        assert pattern["source"] == ["aws.states"]
        for target in rule["Targets"]:
            function = stack.resolve(target["Arn"])
            granted = [
                p
                for p in permissions.values()
                if stack.resolve(p["FunctionName"]) == function
                and p["Action"] == "lambda:InvokeFunction"
                and p["Principal"] == "events.amazonaws.com"
                and stack.resolve(p.get("SourceArn")) == rule_arn
            ]
            assert granted, f"EventBridge may not invoke {function} for {logical_id}"
        # Only the two machines' executions: another state machine's failures are not ours.
        machines = sorted(m["Ref"] for m in pattern["detail"]["stateMachineArn"])  # Ref: a machine's ARN
        assert machines == sorted(_of(template, "AWS::StepFunctions::StateMachine")), machines
        assert len(machines) == 2


def _asl_requests(path: str, substitutions: dict[str, str]) -> list[Request]:
    """What a state machine's tasks ask IAM for, on a cluster's resources."""
    definition = (
        json.loads((REPO / "statemachine" / path).read_text().replace("${", "{{"), strict=False) if False else None
    )
    text = (REPO / "statemachine" / path).read_text()
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", value)
    definition = json.loads(text)
    cluster_stack = (
        "arn:aws:cloudformation:eu-west-1:123456789012:stack/clusterdrop-demo/0a1b2c3d-0000-0000-0000-000000000000"
    )
    agent = "arn:aws:lambda:eu-west-1:123456789012:function:clusterdrop-demo-agent"
    requests = []
    for state in definition["States"].values():
        resource = state.get("Resource", "")
        if state["Type"] != "Task":
            continue
        if resource.startswith("arn:aws:lambda:"):
            requests.append(Request("lambda:InvokeFunction", resource))
        elif resource == "arn:aws:states:::lambda:invoke":
            requests.append(Request("lambda:InvokeFunction", agent))
        elif sdk := re.fullmatch(r"arn:aws:states:::aws-sdk:(\w+):(\w+)", resource):
            service, action = sdk.groups()
            assert service == "cloudformation", resource  # the only SDK integration so far
            requests.append(Request(f"{service}:{action[0].upper()}{action[1:]}", cluster_stack))
        else:
            raise AssertionError(f"a task integration this test does not know: {resource}")
    return requests


def test_each_state_machines_role_allows_what_its_tasks_call(template: dict[str, Any]) -> None:
    stack = _deployer(template)
    for logical, machine in _of(template, "AWS::StepFunctions::StateMachine").items():
        role = machine["RoleArn"]["Fn::GetAtt"][0]
        documents = [
            stack.resolve(p["PolicyDocument"])
            for p in _of(template, "AWS::IAM::Policy").values()
            if {"Ref": role} in p.get("Roles", [])
        ]
        substitutions = {k: str(stack.resolve(v)) for k, v in machine["DefinitionSubstitutions"].items()}
        path = "deploy.asl.json" if "DeployStateMachine" in logical else "teardown.asl.json"
        requests = _asl_requests(path, substitutions)
        assert len(requests) > 5
        refused = [f"{r.action} on {r.resource}" for r in requests if not evaluate(documents, r).allowed]
        assert refused == [], logical
