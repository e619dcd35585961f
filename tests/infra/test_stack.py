"""The synthesized deployer: what a platform team gets from `cdk deploy`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cfnlint.api import lint

from stacks.clusterdrop_stack import ASL_FILES, step_functions
from stacks.timing import ON_AWS
from tests.conftest import REPO


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


# The deployer's constructs: a resource's logical ID starts with its construct's name.
CONSTRUCTS = r"^(Storage|Notifications|Workflow|Intake|Code)?"


def props(template: dict[str, Any], logical_prefix: str, kind: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        v["Properties"] for k, v in resources(template, kind).items() if re.match(CONSTRUCTS + logical_prefix, k)
    ]
    assert len(found) == 1, (logical_prefix, kind)
    return found[0]


def test_cdk_nag_found_nothing_unacknowledged(cdk_out: Path) -> None:
    report = json.loads((cdk_out / "validation-report.json").read_text())
    plugins = {p["pluginName"]: p for p in report["pluginReports"]}
    assert plugins["AwsSolutions"]["conclusion"] == "success"
    assert plugins["AwsSolutions"]["violations"] == []
    acknowledged = plugins["AwsSolutions"]["suppressedViolations"]
    assert acknowledged
    for finding in acknowledged:  # each acknowledged in code, with its reason
        assert len(finding["reason"]) > 20, finding["acknowledgedId"]


def test_cfn_lint_has_no_errors(cdk_out: Path) -> None:
    matches = lint((cdk_out / "clusterdrop.template.json").read_text(), regions=["eu-west-1"])
    assert [str(m) for m in matches if m.rule.id.startswith("E")] == []


def test_spec_bucket(template: dict[str, Any]) -> None:
    bucket = props(template, "SpecBucket", "AWS::S3::Bucket")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["LifecycleConfiguration"]["Rules"][0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 180
    assert "LoggingConfiguration" in bucket
    policy = props(template, "SpecBucketPolicy", "AWS::S3::BucketPolicy")
    deny = policy["PolicyDocument"]["Statement"][0]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_events_reach_the_trigger_through_a_queue_with_a_dead_letter_queue(template: dict[str, Any]) -> None:
    [notifications] = resources(template, "Custom::S3BucketNotifications").values()
    config = notifications["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    rules = {(c["Events"][0], c["Filter"]["Key"]["FilterRules"][0]["Value"]) for c in config}
    assert rules == {
        ("s3:ObjectCreated:*", "clusters/"),
        ("s3:ObjectCreated:*", "plans/"),
        ("s3:ObjectRemoved:DeleteMarkerCreated", "clusters/"),
    }
    queue = props(template, "IntakeQueue", "AWS::SQS::Queue")
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    [mapping] = [v["Properties"] for v in resources(template, "AWS::Lambda::EventSourceMapping").values()]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_state_machines(template: dict[str, Any]) -> None:
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    assert len(machines) == 2
    for logical_id, machine in machines.items():
        p = machine["Properties"]
        assert p["StateMachineType"] == "STANDARD"
        assert p["TracingConfiguration"] == {"Enabled": True}
        assert p["LoggingConfiguration"]["Level"] == "ALL"
        file = "deploy.asl.json" if "DeployStateMachine" in logical_id else "teardown.asl.json"
        used = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", (REPO / "statemachine" / file).read_text()))
        assert set(p["DefinitionSubstitutions"]) == used
    # Who follows an execution knows how long it can last at most.
    longest = int(template["Outputs"]["LongestExecutionSeconds"]["Value"])
    assert longest == max(ON_AWS.longest_execution_seconds(REPO / "statemachine" / f) for f in ASL_FILES)


def test_functions_are_python_313_on_arm64_with_the_layer(template: dict[str, Any]) -> None:
    functions = {
        k: v["Properties"]
        for k, v in resources(template, "AWS::Lambda::Function").items()
        if "Handler" in v["Properties"] and v["Properties"]["Handler"].startswith("lambdas.")
    }
    # One per step the state machines name, the trigger, the Slack formatter and the safety net
    # for executions that end past their failure path (ExecutionEnded).
    assert len(functions) == len(step_functions()) + 3
    for logical_id, p in functions.items():
        assert p["Runtime"] == "python3.13", logical_id
        assert p["Architectures"] == ["arm64"], logical_id
        assert len(p["Layers"]) == 1, logical_id
        assert p["TracingConfig"] == {"Mode": "Active"}
        module = p["Handler"].removesuffix(".handler").replace(".", "/") + ".py"
        assert (REPO / module).is_file(), module
        # One name end to end: ValidateSpecFunction runs lambdas.validate_spec.
        name = re.sub(CONSTRUCTS + r"|Function[0-9A-F]{8}$", "", logical_id)
        assert re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() == p["Handler"].split(".")[1]


def test_tables(template: dict[str, Any]) -> None:
    tables = resources(template, "AWS::DynamoDB::Table")
    assert len(tables) == 2
    for table in tables.values():
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    locks = props(template, "LocksTable", "AWS::DynamoDB::Table")
    assert locks["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


def test_notifications(template: dict[str, Any]) -> None:
    topic = props(template, "OutcomesTopic", "AWS::SNS::Topic")
    assert "KmsMasterKeyId" in topic
    protocols = {v["Properties"]["Protocol"] for v in resources(template, "AWS::SNS::Subscription").values()}
    assert protocols == {"email", "lambda"}
    [email] = [
        v["Properties"]
        for v in resources(template, "AWS::SNS::Subscription").values()
        if v["Properties"]["Protocol"] == "email"
    ]
    assert email["Endpoint"] == "ops@example.com"


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for kind in ("AWS::IAM::Policy", "AWS::IAM::Role"):
        for resource in resources(template, kind).values():
            p = resource["Properties"]
            documents = (
                [p["PolicyDocument"]] if "PolicyDocument" in p else [x["PolicyDocument"] for x in p.get("Policies", [])]
            )
            for document in documents:
                out += document["Statement"]
    return out


def test_no_wildcard_actions(template: dict[str, Any]) -> None:
    for statement in _statements(template):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert action != "*"
            assert not action.endswith(":*"), action


def test_workflow_lambdas_cannot_create_infrastructure(template: dict[str, Any]) -> None:
    """Only the CloudFormation service role holds EC2/EKS/IAM creation rights."""
    role_policies = resources(template, "AWS::IAM::Policy")
    for logical_id, policy in role_policies.items():
        if logical_id.startswith("ClusterStacksRole"):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                assert (
                    not action.startswith(
                        ("ec2:Create", "ec2:Run", "eks:CreateCluster", "eks:CreateNodegroup", "iam:CreateRole")
                    )
                    or action == "ec2:CreateTags"
                ), (logical_id, action)


def test_state_machine_logs_are_vended_log_groups(template: dict[str, Any]) -> None:
    """Step Functions' logging extends CloudWatch Logs' resource policy for log groups outside
    /aws/vendedlogs/, and that policy's size limit breaks CreateStateMachine in busy accounts."""
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    assert len(machines) == 2
    groups = resources(template, "AWS::Logs::LogGroup")
    for machine in machines.values():
        destination = machine["Properties"]["LoggingConfiguration"]["Destinations"][0]
        logical = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
        name = json.dumps(groups[logical]["Properties"]["LogGroupName"])
        assert "/aws/vendedlogs/states/" in name, name


def test_the_deployers_cluster_admins_reach_every_step(template: dict[str, Any]) -> None:
    """`-c clusterAdmins=…`: the Plan step renders their access entries, Notify names them."""
    from tests.infra.conftest import ADMINS

    functions = resources(template, "AWS::Lambda::Function")
    plan = next(f for k, f in functions.items() if re.match(CONSTRUCTS + "PlanFunction", k))
    assert plan["Properties"]["Environment"]["Variables"]["CLUSTER_ADMINS"] == ",".join(ADMINS)


def test_cluster_admins_that_are_not_iam_principals_stop_the_synth() -> None:
    import pytest

    from app import cluster_admins

    assert cluster_admins("arn:aws:iam::123456789012:role/a, arn:aws:iam::123456789012:user/b") == (
        "arn:aws:iam::123456789012:role/a",
        "arn:aws:iam::123456789012:user/b",
    )
    assert cluster_admins(None) == ()
    with pytest.raises(SystemExit, match="not an IAM role or user ARN: admin"):
        cluster_admins("admin")


def test_validate_spec_reads_references_only_under_the_allowed_paths(template: dict[str, Any]) -> None:
    """fromSsm references: GetParameter on the default path /clusterdrop/, nothing else of SSM,
    no kms:Decrypt (a SecureString is refused); ListExports is not scopable."""
    from clusterdrop.spec import references

    functions = resources(template, "AWS::Lambda::Function")
    validate = next(f for k, f in functions.items() if re.match(CONSTRUCTS + "ValidateSpecFunction", k))
    env = validate["Properties"]["Environment"]["Variables"]
    assert env["REFERENCE_PARAMETER_PATHS"] == ",".join(references.DEFAULT_PARAMETER_PATHS) == "/clusterdrop/"
    ssm = [s for s in _statements(template) if any(str(a).startswith("ssm:") for a in _actions(s))]
    assert [s["Action"] for s in ssm] == ["ssm:GetParameter"]
    assert json.dumps(ssm[0]["Resource"]).endswith(':parameter/clusterdrop/*"]]}')
    policies = resources(template, "AWS::IAM::Policy")
    own = [p for k, p in policies.items() if k.startswith("WorkflowValidateSpecFunctionServiceRole")]
    assert own
    assert not any(
        a.startswith("kms:") for p in own for s in p["Properties"]["PolicyDocument"]["Statement"] for a in _actions(s)
    )
    assert any("cloudformation:ListExports" in _actions(s) and s["Resource"] == "*" for s in _statements(template))


def _actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_a_dashboard_and_alarms_that_can_reach_the_topic(template: dict[str, Any]) -> None:
    """The deployer's dashboard, and two alarms on the outcomes topic. CloudWatch publishes to an
    encrypted topic only with a key whose policy admits cloudwatch.amazonaws.com: not the AWS
    managed alias/aws/sns (SNS Developer Guide, "Enable compatibility between event sources from
    AWS services and encrypted topics")."""
    dashboards = resources(template, "AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    body = json.dumps(next(iter(dashboards.values()))["Properties"]["DashboardBody"])
    for shown in ("ExecutionsStarted", "ExecutionsFailed", "StepSeconds.Wait for nodes Ready",
                  "ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible", "Throttles", "Errors"):  # fmt: skip
        assert shown in body, shown
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    topic_id, topic = next(iter(resources(template, "AWS::SNS::Topic").items()))
    assert sorted(a["Properties"]["MetricName"] for a in alarms.values()) == [
        "ApproximateNumberOfMessagesVisible", "ExecutionsFailed", "ExecutionsFailed"
    ]  # fmt: skip
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["Properties"]["AlarmName"].startswith("clusterdrop-")  # the stack's name
    key_ref = topic["Properties"]["KmsMasterKeyId"]
    assert "alias/aws/sns" not in json.dumps(key_ref)
    key = template["Resources"][key_ref["Fn::GetAtt"][0]]
    admitted = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"
    ]  # fmt: skip
    assert len(admitted) == 1
    assert set(admitted[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    # Only this account's alarms named with the stack's prefix (the confused-deputy guard).
    assert json.dumps(admitted[0]["Condition"]["ArnLike"]["aws:SourceArn"]).endswith(':alarm:clusterdrop-*"]]}')
