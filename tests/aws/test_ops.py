"""submit / watch / status / delete, from the command line, against moto over HTTP."""

from __future__ import annotations

import io
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from clusterdrop import ops
from clusterdrop.aws import intake, registry
from clusterdrop.cli import main
from clusterdrop.errors import WatchTimedOut
from tests.conftest import FIXTURES, REPO

QUICKSTART = REPO / "examples" / "quickstart.yaml"


@pytest.fixture
def deployer(moto_env: None, monkeypatch: pytest.MonkeyPatch) -> ops.Deployer:
    suffix = uuid.uuid4().hex[:8]
    s3 = boto3.client("s3")
    bucket = f"specs-{suffix}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    table = boto3.resource("dynamodb").create_table(
        TableName=f"clusters-{suffix}",
        KeySchema=[{"AttributeName": "cluster", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "cluster", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    outputs = {
        "SpecBucketName": bucket,
        "DeployStateMachineArn": f"arn:aws:states:eu-west-1:123456789012:stateMachine:deploy-{suffix}",
        "TeardownStateMachineArn": f"arn:aws:states:eu-west-1:123456789012:stateMachine:teardown-{suffix}",
        "ClustersTableName": table.name,
        "Guardrails": json.dumps({"maxNodesPerGroup": 10}),
        "ArtifactsBucketName": f"artifacts-{suffix}",
    }
    s3.create_bucket(Bucket=f"artifacts-{suffix}", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()},
    }
    stack = f"clusterdrop-{suffix}"
    boto3.client("cloudformation").create_stack(StackName=stack, TemplateBody=json.dumps(template))
    monkeypatch.setenv("CLUSTERDROP_STACK", stack)
    return ops.Deployer.discover(boto3.client("cloudformation"))


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def test_the_deployer_is_found_through_its_stack_outputs(deployer: ops.Deployer) -> None:
    assert deployer.spec_bucket.startswith("specs-")
    assert deployer.deploy_machine.endswith(deployer.spec_bucket.removeprefix("specs-"))


def test_submit_uploads_a_valid_spec(deployer: ops.Deployer) -> None:
    code, out, _ = run("submit", str(QUICKSTART))
    assert code == 0
    assert f"s3://{deployer.spec_bucket}/clusters/quickstart.yaml" in out
    body = boto3.client("s3").get_object(Bucket=deployer.spec_bucket, Key="clusters/quickstart.yaml")["Body"].read()
    assert body == QUICKSTART.read_bytes()
    code, out, _ = run("submit", "--plan", str(QUICKSTART))
    assert code == 0
    assert "plans/quickstart.yaml" in out


def test_submit_refuses_an_invalid_spec_and_uploads_nothing(deployer: ops.Deployer, tmp_path: Any) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICKSTART.read_text().replace("eu-west-1", "mars-1"))
    code, _, err = run("submit", str(bad))
    assert code == 1
    assert "spec.region" in err
    assert boto3.client("s3").list_objects_v2(Bucket=deployer.spec_bucket).get("KeyCount", 0) == 0


def test_submit_refuses_a_spec_for_another_region_and_uploads_nothing(deployer: ops.Deployer, tmp_path: Any) -> None:
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(QUICKSTART.read_text().replace("eu-west-1", "eu-central-1"))  # valid, but not here
    code, _, err = run("submit", str(elsewhere))
    assert code == 1
    assert "spec.region: 'eu-central-1', but this clusterdrop deploys to 'eu-west-1'" in err
    assert "nothing uploaded" in err
    assert boto3.client("s3").list_objects_v2(Bucket=deployer.spec_bucket).get("KeyCount", 0) == 0


def test_submit_checks_the_deployers_guardrails_and_uploads_nothing_past_them(
    deployer: ops.Deployer, tmp_path: Any
) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(QUICKSTART.read_text().replace("maxSize: 4", "maxSize: 20"))
    outsider = tmp_path / "outsider.yaml"
    outsider.write_text(
        QUICKSTART.read_text().replace(
            "  region: eu-west-1\n",
            "  region: eu-west-1\n  controlPlane:\n    admins: [arn:aws:iam::999988887777:role/x]\n",
        )
    )
    code, _, err = run("submit", str(big))
    assert code == 1
    assert "refused by the deployer's guardrails; nothing uploaded" in err
    assert "spec.nodeGroups[0].maxSize: 20 nodes; at most 10 per group (guardrail maxNodesPerGroup)" in err
    # Admins default to the deployer's own account (the stack's).
    code, _, err = run("submit", str(outsider))
    assert code == 1
    assert "this deployer allows admins from 123456789012 only" in err
    assert boto3.client("s3").list_objects_v2(Bucket=deployer.spec_bucket).get("KeyCount", 0) == 0


def test_submit_converts_an_eksctl_file(deployer: ops.Deployer) -> None:
    code, out, _ = run("submit", str(FIXTURES / "eksctl" / "09-nat-gateways.yaml"))
    assert code == 0
    assert "clusters/cluster-9.yaml" in out
    body = boto3.client("s3").get_object(Bucket=deployer.spec_bucket, Key="clusters/cluster-9.yaml")["Body"].read()
    assert b"apiVersion: clusterdrop.io/v1alpha1" in body


def test_delete_leaves_a_delete_marker(deployer: ops.Deployer) -> None:
    run("submit", str(QUICKSTART))
    code, out, _ = run("delete", "quickstart", "--yes")
    assert code == 0
    assert "the teardown starts" in out
    versions = boto3.client("s3").list_object_versions(Bucket=deployer.spec_bucket)
    assert [m["Key"] for m in versions["DeleteMarkers"]] == ["clusters/quickstart.yaml"]
    assert len(versions["Versions"]) == 1  # the spec's history stays
    code, _, err = run("delete", "nothing-here", "--yes")
    assert code == 1
    assert "no spec for cluster nothing-here" in err


def test_watch_waits_for_the_execution_of_the_latest_upload_or_delete(deployer: ops.Deployer) -> None:
    """Right after `submit` or `delete` the new execution may not have started: watch follows
    the first to start after the spec's latest change (its version or delete marker), not the
    cluster's previous execution."""
    s3 = boto3.client("s3")
    assert ops.latest_upload(s3, deployer, "watched") is None
    s3.put_object(Bucket=deployer.spec_bucket, Key="clusters/watched.yaml", Body=QUICKSTART.read_bytes())
    uploaded = ops.latest_upload(s3, deployer, "watched")
    assert uploaded is not None
    s3.delete_object(Bucket=deployer.spec_bucket, Key="clusters/watched.yaml")  # the teardown's delete marker
    deleted = ops.latest_upload(s3, deployer, "watched")
    assert deleted is not None
    assert deleted >= uploaded
    markers = s3.list_object_versions(Bucket=deployer.spec_bucket, Prefix="clusters/watched")["DeleteMarkers"]
    assert deleted == markers[0]["LastModified"]
    # Under a team's prefix too; another cluster whose name starts alike is not this one.
    s3.put_object(Bucket=deployer.spec_bucket, Key="clusters/watched-2.yaml", Body=QUICKSTART.read_bytes())
    assert ops.latest_upload(s3, deployer, "watched") == deleted
    assert ops.latest_upload(s3, deployer, "teamed") is None
    s3.put_object(Bucket=deployer.spec_bucket, Key="clusters/payments/teamed.yaml", Body=QUICKSTART.read_bytes())
    head = s3.head_object(Bucket=deployer.spec_bucket, Key="clusters/payments/teamed.yaml")
    assert ops.latest_upload(s3, deployer, "teamed") == head["LastModified"]
    for prefix in ("clusters/watched", "clusters/payments/teamed"):
        listed = s3.list_object_versions(Bucket=deployer.spec_bucket, Prefix=prefix)
        for version in [*listed.get("DeleteMarkers", []), *listed.get("Versions", [])]:
            s3.delete_object(Bucket=deployer.spec_bucket, Key=version["Key"], VersionId=version["VersionId"])


def test_delete_shows_what_goes_and_asks(
    deployer: ops.Deployer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # A name of this test's own: the moto server is shared, and so are its stacks.
    name = f"del-{uuid.uuid4().hex[:8]}"
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(QUICKSTART.read_text().replace("name: quickstart", f"name: {name}"))
    run("submit", str(spec))
    table = boto3.resource("dynamodb").Table(deployer.clusters_table)
    table.put_item(Item={"cluster": name, "status": "ACTIVE", "kubernetesVersion": "1.36",
                         "nodesExpected": 2, "nodesReady": 2, "endpoint": "https://ABC.eks"})  # fmt: skip
    cfn = boto3.client("cloudformation")
    body = json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})
    stacks = {f"clusterdrop-{name}": name, f"clusterdrop-{name}-ng-workers": name, f"clusterdrop-{name}x": "other"}
    for stack, owner in stacks.items():
        cfn.create_stack(StackName=stack, TemplateBody=body, Tags=[{"Key": "clusterdrop:cluster", "Value": owner}])
    s3 = boto3.client("s3")

    def markers() -> list[str]:
        return [m["Key"] for m in s3.list_object_versions(Bucket=deployer.spec_bucket).get("DeleteMarkers", [])]

    try:
        # Not a terminal, no --yes: nothing deleted, and said how to confirm.
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
        code, out, err = run("delete", name)
        assert code == 2
        assert "confirm with --yes" in err
        assert "status ACTIVE, Kubernetes 1.36, 2/2 nodes Ready, endpoint https://ABC.eks" in out
        assert f"clusterdrop-{name}, clusterdrop-{name}-ng-workers\n" in out  # by the tag: not the other's
        assert markers() == []

        class Terminal(io.StringIO):
            def isatty(self) -> bool:
                return True

        monkeypatch.setattr(sys, "stdin", Terminal("del\n"))  # not the cluster's name: not deleted
        code, out, _ = run("delete", name)
        assert (code, out.splitlines()[-1]) == (1, f"Type the cluster's name ({name}) to delete it: Not deleted.")
        assert markers() == []
        monkeypatch.setattr(sys, "stdin", Terminal(f"{name}\n"))
        code, out, _ = run("delete", name)
        assert code == 0
        assert "the teardown starts" in out
        assert markers() == [f"clusters/{name}.yaml"]
    finally:
        for stack in stacks:
            cfn.delete_stack(StackName=stack)
        table.delete_item(Key={"cluster": name})


def test_status_lists_the_registry(deployer: ops.Deployer) -> None:
    table = boto3.resource("dynamodb").Table(deployer.clusters_table)
    code, out, err = run("status")
    assert (code, out) == (0, "No clusters yet.\n")
    # Through an endpoint (the embedded mode): that its clusters end with it, said on stderr.
    assert "keeps its account and clusters in memory, for as long as it runs: each start begins empty" in err
    registry.record(
        table,
        "demo",
        status="ACTIVE",
        execution="arn:aws:states:x:execution:deploy:deploy-demo-1",
        kubernetesVersion="1.33",
        nodesReady=3,
        nodesExpected=3,
    )
    code, out, _ = run("status")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "CLUSTER",
        "STATUS",
        "KUBERNETES",
        "NODES",
        "LAST",
        "EXECUTION",
        "UPDATED",
        "LAST",
        "FAILURE",
        "GUARDRAILS",
        "SUPPORT",
    ]
    assert lines[1].split()[:5] == ["demo", "ACTIVE", "1.33", "3/3", "deploy-demo-1"]
    assert lines[1].split()[7] == "UTC"  # a time says its zone
    # A later failure stands beside the last success, with its code, step and time.
    table.update_item(
        Key={"cluster": "demo"},
        UpdateExpression="SET lastFailure = :f",
        ExpressionAttributeValues={
            ":f": {"code": "ERR_NODES_NOT_READY", "step": "Wait for nodes Ready", "execution": "x", "at": "1796050800"}
        },
    )
    row = run("status")[1].splitlines()[1]
    assert "ERR_NODES_NOT_READY at Wait for nodes Ready, 2026-11-30 15:00:00 UTC" in row
    assert "deploy-demo-1" in row
    code, out, _ = run("status", "--json")
    assert json.loads(out)[0]["cluster"] == "demo"


def test_status_marks_a_cluster_the_guardrails_no_longer_admit(deployer: ops.Deployer) -> None:
    """A policy tightened after a cluster was applied: the cluster keeps running, status says it."""
    from clusterdrop.spec.source import load_spec

    applied = load_spec(QUICKSTART.read_text().replace("maxSize: 4", "maxSize: 20").encode()).cluster
    boto3.client("s3").put_object(
        Bucket=deployer.artifacts_bucket,
        Key="specs/big/1.json",
        Body=json.dumps(applied.model_dump(mode="json", by_alias=True)).encode(),
    )
    table = boto3.resource("dynamodb").Table(deployer.clusters_table)
    registry.record(table, "big", status="ACTIVE", execution="arn:x:deploy-big-1", specKey="specs/big/1.json")
    registry.record(table, "small", status="ACTIVE", execution="arn:x:deploy-small-1")
    code, out, _ = run("status")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:3]}
    assert rows["big"][-3:] == ["OUT", "(1)", "-"]  # then SUPPORT: no version recorded
    assert "Outside the guardrails now in force" in out
    assert "  big: spec.nodeGroups[0].maxSize: 20 nodes; at most 10 per group (guardrail maxNodesPerGroup)" in out
    items = {i["cluster"]: i for i in json.loads(run("status", "--json")[1])}
    assert items["big"]["outOfPolicy"] == [
        "spec.nodeGroups[0].maxSize: 20 nodes; at most 10 per group (guardrail maxNodesPerGroup)"
    ]
    assert "outOfPolicy" not in items["small"]  # no applied spec recorded: nothing to say


def test_aws_unreachable_is_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, _, err = run("status")
    assert code == 2
    assert err.startswith("clusterdrop: AWS:")
    # An endpoint set and nothing answering: most likely an embedded AWS that stopped.
    assert "nothing answers at AWS_ENDPOINT_URL=http://127.0.0.1:9" in err
    assert "is `clusterdrop local up` still running?" in err


# --- watch -------------------------------------------------------------------------------------


class FakeExecutions:
    """An execution that advances one page of history per poll (our port, not boto3)."""

    def __init__(self, pages: list[list[dict[str, Any]]], final: str):
        self.pages = pages
        self.final = final
        self.polls = 0
        self.start = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

    def list_executions(self, **kwargs: Any) -> dict[str, Any]:
        if "deploy" not in kwargs["stateMachineArn"]:
            return {"executions": []}
        return {"executions": [
            # Newest first, as ListExecutions answers.
            {"name": "deploy-other-1111111111111111", "executionArn": "arn:other", "startDate": self.start + timedelta(hours=2)},
            {"name": "deploy-demo-2-2222222222222222", "executionArn": "arn:demo-2", "startDate": self.start + timedelta(hours=1)},
            {"name": "deploy-demo-0123456789abcdef", "executionArn": "arn:new", "startDate": self.start},
            {"name": "deploy-demo-fedcba9876543210", "executionArn": "arn:old", "startDate": self.start - timedelta(days=1)},
        ]}  # fmt: skip

    def get_execution_history(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["executionArn"] == "arn:new"
        return {"events": [e for page in self.pages[: self.polls] for e in page]}

    def describe_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.polls += 1
        done = self.polls >= len(self.pages)
        return {
            "name": "deploy-demo-0123456789abcdef",
            "status": self.final if done else "RUNNING",
            "startDate": self.start,
            "stopDate": self.start + timedelta(seconds=100) if done else None,
        }


def _entered(name: str, s: int, kind: str = "TaskStateEntered") -> dict[str, Any]:
    return {
        "type": kind,
        "timestamp": datetime(2026, 11, 26, 10, 0, s, tzinfo=UTC),
        "stateEnteredEventDetails": {"name": name},
    }


def _exited(name: str, s: int, output: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "TaskStateExited", "timestamp": datetime(2026, 11, 26, 10, 0, s, tzinfo=UTC),
            "stateExitedEventDetails": {"name": name, "output": json.dumps(output or {})}}  # fmt: skip


def _nodes(ready: int) -> dict[str, Any]:
    """The execution state as "Wait for nodes Ready" leaves it (contract.ExecutionState)."""
    result = {
        "done": ready == 3,
        "deadline": "20 minutes",
        "expected": 3,
        "registered": 3,
        "ready": ready,
        "groups": {"workers": {"expected": 3, "registered": 3, "ready": ready}},
    }
    return {"action": "deploy", "cluster": "demo", "execution": "arn:exec", "nodesPoll": {"result": result}}


DEPLOYER = ops.Deployer("specs", "arn:deploy", "arn:teardown", "clusters")


def test_watch_shows_steps_progress_and_outcome() -> None:
    pages = [
        [_entered("Configure", 0, "PassStateEntered"), _entered("Validate spec", 0), _exited("Validate spec", 1)],
        [_entered("Wait for cluster stack", 2, "WaitStateEntered"), _entered("Check cluster stack", 5), _entered("Wait for cluster stack", 6, "WaitStateEntered")],
        [_entered("Wait for nodes Ready", 20), _exited("Wait for nodes Ready", 21, _nodes(1)), _entered("Pause before next node check", 21, "WaitStateEntered"),
         _entered("Wait for nodes Ready", 25), _exited("Wait for nodes Ready", 26, _nodes(3))],
        [_entered("Record state", 30), _exited("Record state", 31)],
    ]  # fmt: skip
    out = io.StringIO()
    final = ops.watch(FakeExecutions(pages, "SUCCEEDED"), DEPLOYER, "demo", out, sleep=lambda _: None)
    assert final == "SUCCEEDED"
    assert out.getvalue().splitlines() == [
        "Watching deploy-demo-0123456789abcdef",
        "▶ Validate spec",
        "✔ Validate spec (2 s)",
        "▶ Wait for cluster stack",
        "✔ Wait for cluster stack (18 s)",
        "▶ Wait for nodes Ready",
        "  [#######.............] 1/3 nodes Ready; deadline 20 minutes",
        "  [####################] 3/3 nodes Ready; deadline 20 minutes",
        "✔ Wait for nodes Ready (10 s)",
        "▶ Record state",
        "✔ Record state (70 s)",
        "SUCCEEDED: deploy-demo-0123456789abcdef",
    ]


def test_watch_reports_the_failing_step() -> None:
    failed = {"type": "LambdaFunctionFailed", "timestamp": datetime(2026, 11, 26, 10, 0, 3, tzinfo=UTC),
              "lambdaFunctionFailedEventDetails": {"error": "SpecInvalid", "cause": json.dumps({"errorMessage": "spec.region: bad"})}}  # fmt: skip
    pages = [[_entered("Validate spec", 0), failed], [_entered("Notify failure", 4)]]
    out = io.StringIO()
    assert ops.watch(FakeExecutions(pages, "FAILED"), DEPLOYER, "demo", out, sleep=lambda _: None) == "FAILED"
    text = out.getvalue()
    assert "✖ Validate spec (3 s)" in text
    assert "  SpecInvalid: spec.region: bad" in text
    assert "✔ Notify failure (96 s)" in text  # the failure path doing its job is not a failure
    assert text.rstrip().endswith("FAILED: deploy-demo-0123456789abcdef")


def _task(kind: str, s: int, error: str = "", message: str = "") -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, "timestamp": datetime(2026, 11, 26, 10, 0, s, tzinfo=UTC)}
    if kind == "TaskFailed":
        event["taskFailedEventDetails"] = {"error": error, "cause": json.dumps({"errorMessage": message})}
    return event


def test_watch_shows_a_retried_failure_as_a_retry_not_as_the_step_failing() -> None:
    not_yet = ("NotReadyYet", "addons not ready: Deployment kube-system/ebs-csi-controller")
    pages = [
        [_entered("Configure addons", 0), _task("TaskScheduled", 0), _task("TaskFailed", 1, *not_yet),
         _task("TaskScheduled", 3), _task("TaskFailed", 4, *not_yet), _task("TaskScheduled", 6)],
        [_task("TaskSucceeded", 7), _exited("Configure addons", 7), _entered("Validate cluster", 7)],
        [_exited("Validate cluster", 8)],
    ]  # fmt: skip
    out = io.StringIO()
    assert ops.watch(FakeExecutions(pages, "SUCCEEDED"), DEPLOYER, "demo", out, sleep=lambda _: None) == "SUCCEEDED"
    assert out.getvalue().splitlines()[1:5] == [
        "▶ Configure addons",
        "  NotReadyYet: addons not ready: Deployment kube-system/ebs-csi-controller (retrying)",  # once, not per retry
        "✔ Configure addons (7 s)",
        "▶ Validate cluster",
    ]


def test_an_access_entry_propagating_is_shown_as_waiting_not_as_an_error() -> None:
    from clusterdrop.history import step_spans
    from clusterdrop.render.status_page import timeline

    pending = ("ClusterAccessPending", "the API of cluster demo answered 401 Unauthorized to the agent: ...")
    events = [_entered("Connect", 0), _task("TaskScheduled", 0), _task("TaskFailed", 1, *pending),
              _task("TaskScheduled", 3), _task("TaskFailed", 4, *pending), _task("TaskScheduled", 6),
              _task("TaskSucceeded", 7), _exited("Connect", 7), _entered("Validate cluster", 7),
              _exited("Validate cluster", 8)]  # fmt: skip
    out = io.StringIO()
    pages = [events[:6], events[6:]]
    assert ops.watch(FakeExecutions(pages, "SUCCEEDED"), DEPLOYER, "demo", out, sleep=lambda _: None) == "SUCCEEDED"
    text = out.getvalue()
    assert "  … waiting for the agent's access entry to reach the cluster's API" in text
    assert "401" not in text
    assert "ClusterAccessPending" not in text
    [connect, _] = step_spans(events)
    assert (connect.name, connect.retries, connect.waits, connect.status) == ("Connect", 0, 2, "SUCCEEDED")
    svg = timeline([connect])
    assert "(waited for access)" in svg
    assert "retried" not in svg
    assert 'class="step succeeded"' in svg


def test_watch_shows_a_caught_failure_when_the_failure_path_starts() -> None:
    pages = [
        [_entered("Apply CNI", 0), _task("TaskScheduled", 0), _task("TaskFailed", 2, "ArtifactDigestMismatch", "calico-v3.32.1.yaml: sha256 differs")],
        [_exited("Apply CNI", 2), _entered("Diagnose", 3)],
    ]  # fmt: skip
    out = io.StringIO()
    assert ops.watch(FakeExecutions(pages, "FAILED"), DEPLOYER, "demo", out, sleep=lambda _: None) == "FAILED"
    lines = out.getvalue().splitlines()
    assert lines[1:5] == [
        "▶ Apply CNI",
        "✖ Apply CNI (2 s)",
        "  ArtifactDigestMismatch: calico-v3.32.1.yaml: sha256 differs",
        "▶ Diagnose",
    ]
    assert not any("retrying" in line for line in lines)


def test_watch_marks_a_step_a_choice_routed_to_failure_with_the_diagnosed_cause_whole() -> None:
    # The stack ended badly: no task failed, a Choice sent the execution to Diagnose.
    fix = "aws cloudformation delete-stack --stack-name clusterdrop-demo --retain-resources " + "X" * 600
    diagnosis = {"diagnosis": {"step": "Wait for cluster stack", "error": "StackFailed", "cause": f"first\n{fix}"}}
    pages = [
        [_entered("Wait for cluster stack", 0, "WaitStateEntered"), _entered("Check cluster stack", 5),
         _exited("Check cluster stack", 6), _entered("Cluster stack done?", 6, "ChoiceStateEntered"),
         _entered("Cluster stack failed", 6, "PassStateEntered")],
        [_entered("Diagnose", 7), _exited("Diagnose", 8, diagnosis), _entered("Clean up", 8)],
        [_exited("Clean up", 9), _entered("Release cluster lock after failure", 9)],
    ]  # fmt: skip
    out = io.StringIO()
    assert ops.watch(FakeExecutions(pages, "FAILED"), DEPLOYER, "demo", out, sleep=lambda _: None) == "FAILED"
    assert out.getvalue().splitlines()[1:8] == [
        "▶ Wait for cluster stack",
        "✖ Wait for cluster stack (7 s)",
        "  StackFailed: first",
        f"    {fix}",
        "▶ Clean up",
        "✔ Clean up (1 s)",
        "▶ Release cluster lock after failure",
    ]
    assert "✔ Release cluster lock after failure" in out.getvalue()  # the failure path did its job


def test_watch_ends_with_what_the_notification_said() -> None:
    said = {"notified": {"subject": "s", "outcome": "SUCCEEDED", "action": "create", "text": "Endpoint: https://x\n"}}
    events = [_entered("Notify success", 1), _exited("Notify success", 2, said), _entered("Release cluster lock", 2),
              _exited("Release cluster lock", 3, said)]  # fmt: skip
    assert ops.notification_text(events) == "Endpoint: https://x\n"
    assert ops.notification_text(events[:1]) is None  # not notified (yet)


def test_the_newest_execution_of_a_cluster_is_found_by_its_exact_name() -> None:
    executions = FakeExecutions([], "SUCCEEDED")
    assert ops.newest_execution(executions, DEPLOYER, "demo")["executionArn"] == "arn:new"  # type: ignore[index]
    assert ops.newest_execution(executions, DEPLOYER, "demo-2")["executionArn"] == "arn:demo-2"  # type: ignore[index]
    assert ops.newest_execution(executions, DEPLOYER, None)["executionArn"] == "arn:other"  # type: ignore[index]
    assert ops.newest_execution(executions, DEPLOYER, "nope") is None
    long = "a" * 70  # execution names are cut to 80 characters, as the intake cuts them
    assert intake.is_execution_of(f"deploy-{long}"[:63] + "-0123456789abcdef", long)
    assert not intake.is_execution_of("teardown-demo-0123456789abcdef", "dem")


def test_watch_waits_for_an_execution_then_gives_up() -> None:
    class Empty(FakeExecutions):
        def list_executions(self, **kwargs: Any) -> dict[str, Any]:
            return {"executions": []}

    clock = iter(range(1000))
    with pytest.raises(WatchTimedOut, match="no execution for cluster demo"):
        ops.watch(
            Empty([], "SUCCEEDED"),
            DEPLOYER,
            "demo",
            io.StringIO(),
            wait_for_start=5,
            sleep=lambda _: None,
            clock=lambda: next(clock),
        )


def test_validate_and_plan_resolve_references_with_the_callers_credentials(moto_env: None, tmp_path: Any) -> None:
    suffix = uuid.uuid4().hex[:8]
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name=f"/network/{suffix}/vpc-id", Value="vpc-0a1b2c3d4e5f60718", Type="String")
    ssm.put_parameter(
        Name=f"/network/{suffix}/private", Value="subnet-0aa11bb22cc33dd44,subnet-0bb22cc33dd44ee55", Type="StringList"
    )
    spec = tmp_path / "refs.yaml"
    spec.write_text(
        QUICKSTART.read_text().replace(
            "  nodeGroups:",
            f"""  network:
    vpc:
      id: {{fromSsm: /network/{suffix}/vpc-id}}
      subnets:
        private: {{fromSsm: /network/{suffix}/private}}
  nodeGroups:""",
        )
    )
    # Offline: shown as references, nothing read.
    code, out, _ = run("validate", str(spec))
    assert code == 0
    assert f"spec.network.vpc.id ← SSM parameter /network/{suffix}/vpc-id (resolved at Validate spec" in out
    # --resolve: read with the caller's credentials (no deployer path limits), both ways shown.
    code, out, _ = run("validate", "--resolve", str(spec))
    assert code == 0, out
    assert f"spec.network.vpc.id ← SSM parameter /network/{suffix}/vpc-id = vpc-0a1b2c3d4e5f60718" in out
    assert "= subnet-0aa11bb22cc33dd44, subnet-0bb22cc33dd44ee55" in out
    code, out, _ = run("plan", "--resolve", "--out", str(tmp_path / "plan"), str(spec))
    assert code == 0, out
    assert "existing VPC vpc-0a1b2c3d4e5f60718" in out
    # A reference that cannot be resolved fails by its field, as Validate spec would.
    spec.write_text(spec.read_text().replace("/private}", "/gone}"))
    code, out, _ = run("validate", "--resolve", str(spec))
    assert code == 1
    assert f"spec.network.vpc.subnets.private: SSM parameter /network/{suffix}/gone does not exist" in out


def test_status_pages_are_published_with_their_history_and_fetched_with_the_readers_credentials(
    deployer: ops.Deployer, tmp_path: Any
) -> None:
    import urllib.request

    from clusterdrop.aws import notify, status_pages
    from clusterdrop.render.status_page import Span

    s3 = boto3.client("s3")
    code, _, err = run("status", "demo", "--page", "--out", str(tmp_path / "none.html"))
    assert (code, err) == (1, "clusterdrop: no status page for demo yet (one is written after each execution)\n")
    start = datetime(2026, 11, 30, 9, tzinfo=UTC)
    spans = [Span("Validate spec", 0, 2, "SUCCEEDED"), Span("Wait for cluster stack", 2, 600, "FAILED")]
    for i, outcome in enumerate(("SUCCEEDED", "FAILED", "SUCCEEDED")):
        o = notify.Outcome(
            cluster="demo",
            action="update",
            outcome=outcome,
            region="eu-west-1",
            execution_arn=f"arn:aws:states:eu-west-1:123456789012:execution:deploy:deploy-demo-{i}",
        )
        where = status_pages.publish(s3, deployer.artifacts_bucket, o, start + timedelta(hours=i), spans, [])
    assert where["key"] == "status/demo/deploy-demo-2.html"
    assert where["console"].startswith(f"https://s3.console.aws.amazon.com/s3/object/{deployer.artifacts_bucket}?")
    runs = json.loads(s3.get_object(Bucket=deployer.artifacts_bucket, Key="status/demo/runs.json")["Body"].read())
    assert [(r["name"], r["outcome"], r["seconds"]) for r in runs] == [
        ("deploy-demo-2", "SUCCEEDED", 602.0),
        ("deploy-demo-1", "FAILED", 602.0),
        ("deploy-demo-0", "SUCCEEDED", 602.0),
    ]  # newest first: the history chart's order
    # The presigned link opens the page without credentials, while it lasts.
    with urllib.request.urlopen(where["presigned"]) as response:
        assert b"deploy-demo-2" in response.read()
    code, out, _ = run("status", "demo", "--page", "--no-open", "--out", str(tmp_path / "page.html"))
    assert code == 0
    assert out == f"{tmp_path / 'page.html'}\n"
    assert "<title>demo: update succeeded</title>" in (tmp_path / "page.html").read_text()


def test_quotas_shows_use_reservations_and_what_is_free(deployer: ops.Deployer) -> None:
    from clusterdrop.local import quotas as embedded_quotas
    from tests.aws.conftest import RAISED

    ec2 = boto3.client("ec2")
    vpcs = len(ec2.describe_vpcs()["Vpcs"])
    account = embedded_quotas.current()
    account.set("vpcs", vpcs + 1)
    account.reset("vcpus-g-vt")  # a new account's: none, and none in use — not listed
    account.reset("spot-vcpus-g-vt")
    table = boto3.resource("dynamodb").Table(deployer.clusters_table)
    table.put_item(
        Item={
            "cluster": "#quota-reservations",
            "version": 1,
            "holds": {"other": {"execution": "e", "expiresAt": 4102444800, "needs": {"vpcs": 1}}},
        }
    )
    try:
        code, out, _ = run("quotas")
        assert code == 0
        lines = out.splitlines()
        assert lines[0].split() == ["QUOTA", "CODE", "IN", "USE", "RESERVED", "QUOTA", "FREE"]
        vpc_row = next(line for line in lines if line.startswith("VPCs per Region"))
        assert vpc_row.split()[-6:] == ["vpc", "L-F678F1CE", str(vpcs), "1", str(vpcs + 1), "0"]
        assert not any("G and VT" in line for line in lines)
        assert any(line.startswith("near its quota: VPCs per Region:") and "servicequotas" in line for line in lines)
        code, out, _ = run("quotas", "--json")
        rows = {r["quota"]: r for r in json.loads(out)}
        assert (rows["vpcs"]["used"], rows["vpcs"]["reserved"], rows["vpcs"]["free"]) == (vpcs, 1, 0)
    finally:
        with account.lock:
            account.applied.clear()
            account.applied.update(RAISED)


def test_describe_names_a_cluster_nobody_knows(deployer: ops.Deployer) -> None:
    code, out, err = run("describe", "nobody")
    assert (code, out) == (1, "")
    assert "no cluster nobody in the registry or in EKS" in err
    code, _, err = run("get", "nobody")  # kops's and eksctl's word for it
    assert code == 1
