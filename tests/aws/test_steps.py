"""The workflow's AWS-side steps against moto in server mode (real HTTP, real boto3 clients)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import boto3
import pytest

from clusterdrop import steps
from clusterdrop.aws import intake, lock, notify, registry, stacks
from clusterdrop.errors import LockBusy, SpecInvalid, SpecMismatch
from clusterdrop.history import failed_step, step_timings
from tests.conftest import FIXTURES, REPO

REGION = "eu-west-1"


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Fresh, uniquely named resources for each test in the shared moto server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    session = boto3.session.Session(region_name=REGION)
    suffix = uuid.uuid4().hex[:8]
    s3 = session.client("s3")
    location = {"LocationConstraint": REGION}
    spec_bucket, artifacts = f"specs-{suffix}", f"artifacts-{suffix}"
    for bucket in (spec_bucket, artifacts):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration=location)
    s3.put_bucket_versioning(Bucket=spec_bucket, VersioningConfiguration={"Status": "Enabled"})
    dynamodb = session.resource("dynamodb")
    tables = {}
    for name in ("clusters", "locks"):
        tables[name] = dynamodb.create_table(
            TableName=f"{name}-{suffix}",
            KeySchema=[{"AttributeName": "cluster", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "cluster", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    sns, sqs = session.client("sns"), session.client("sqs")
    topic = sns.create_topic(Name=f"outcomes-{suffix}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"outcomes-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    settings = steps.Settings(
        region=REGION,
        spec_bucket=spec_bucket,
        artifacts_bucket=artifacts,
        cfn_role_arn="arn:aws:iam::123456789012:role/clusterdrop-cfn",
        topic_arn=topic,
        agent_code_key="agent.zip",
    )
    ports = steps.Ports(
        settings=settings,
        s3=s3,
        cfn=session.client("cloudformation"),
        eks=session.client("eks"),
        ec2=session.client("ec2"),
        sfn=session.client("stepfunctions"),
        sns=sns,
        ssm=session.client("ssm"),
        quotas=session.client("service-quotas"),
        kms=session.client("kms"),
        logs=session.client("logs"),
        iam=session.client("iam"),
        clusters=tables["clusters"],
        locks=tables["locks"],
    )
    return {"ports": ports, "session": session, "queue": queue, "suffix": suffix}


def _upload(aws: dict[str, Any], text: str, key: str = "clusters/quickstart.yaml") -> dict[str, Any]:
    ports: steps.Ports = aws["ports"]
    put = ports.s3.put_object(Bucket=ports.settings.spec_bucket, Key=key, Body=text.encode())
    return {
        "action": "deploy",
        "cluster": key.rsplit("/", 1)[1].rsplit(".", 1)[0],
        "bucket": ports.settings.spec_bucket,
        "key": key,
        "versionId": put["VersionId"],
        "sequencer": "",
        "execution": f"arn:aws:states:{REGION}:123456789012:execution:deploy:{aws['suffix']}",
    }


QUICKSTART = (REPO / "examples" / "quickstart.yaml").read_text()


def _stored(aws: dict[str, Any], validated: dict[str, Any]) -> dict[str, Any]:
    """The normalized spec Validate spec stored (the state carries only its key)."""
    ports: steps.Ports = aws["ports"]
    body = ports.s3.get_object(Bucket=ports.settings.artifacts_bucket, Key=validated["specKey"])["Body"].read()
    found: dict[str, Any] = json.loads(body)
    return found


def _validated(aws: dict[str, Any], name: str, text: str) -> dict[str, Any]:
    """A spec uploaded as cluster `name` (the quickstart's name replaced) and through Validate spec."""
    state = _upload(aws, text.replace("name: quickstart", f"name: {name}"), key=f"clusters/{name}.yaml")
    state["validated"] = steps.validate_spec(state, aws["ports"])
    return state


# --- intake --------------------------------------------------------------------------------------


def _s3_record(key: str, version: str, event: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {
        "eventName": event,
        "eventTime": "2026-11-26T10:00:00Z",
        "s3": {
            "bucket": {"name": "specs"},
            "object": {"key": key, "versionId": version, "sequencer": "0055AED6DCD90281E5"},
        },
    }


def test_intake_routes_keys() -> None:
    deploy = intake.classify(_s3_record("clusters/demo.yaml", "v1"))
    assert isinstance(deploy, intake.Intent)
    assert (deploy.action, deploy.cluster) == ("deploy", "demo")
    plan = intake.classify(_s3_record("plans/demo.json", "v1"))
    assert isinstance(plan, intake.Intent)
    assert plan.action == "plan"
    teardown = intake.classify(_s3_record("clusters/demo.yml", "v2", "ObjectRemoved:DeleteMarkerCreated"))
    assert isinstance(teardown, intake.Intent)
    assert teardown.action == "teardown"
    assert isinstance(intake.classify(_s3_record("clusters/notes.txt", "v1")), intake.Ignored)
    assert isinstance(intake.classify(_s3_record("README.md", "v1")), intake.Ignored)
    assert isinstance(intake.classify(_s3_record("clusters/demo.yaml", "v1", "ObjectRemoved:Delete")), intake.Ignored)
    encoded = intake.classify(_s3_record("clusters/my%2Dcluster.yaml", "v1"))
    assert isinstance(encoded, intake.Intent)
    assert encoded.cluster == "my-cluster"
    # A team's prefix: the cluster is named by the file, the team by the folder.
    teamed = intake.classify(_s3_record("clusters/payments/demo.yaml", "v1"))
    assert isinstance(teamed, intake.Intent)
    assert (teamed.action, teamed.cluster, intake.team_of(teamed.key)) == ("deploy", "demo", "payments")
    assert intake.team_of("clusters/demo.yaml") == ""
    assert isinstance(intake.classify(_s3_record("clusters/a/b/demo.yaml", "v1")), intake.Ignored)


def test_execution_name_is_deterministic_and_valid() -> None:
    a = intake.classify(_s3_record("clusters/demo.yaml", "v1"))
    b = intake.classify(_s3_record("clusters/demo.yaml", "v1"))
    c = intake.classify(_s3_record("clusters/demo.yaml", "v2"))
    assert isinstance(a, intake.Intent)
    assert isinstance(b, intake.Intent)
    assert isinstance(c, intake.Intent)
    assert a.execution_name == b.execution_name != c.execution_name
    long = intake.classify(_s3_record("clusters/" + "a" * 40 + ".yaml", "v" * 900))
    assert isinstance(long, intake.Intent)
    assert len(long.execution_name) <= 80


def test_duplicate_delivery_starts_one_execution(aws: dict[str, Any]) -> None:
    sfn = aws["session"].client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"deploy-{aws['suffix']}",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    found = intake.classify(_s3_record("clusters/demo.yaml", "v1"))
    assert isinstance(found, intake.Intent)
    machines: dict[intake.Action, str] = {"deploy": machine, "plan": machine, "teardown": machine}
    first = intake.start(sfn, machines, found)
    second = intake.start(sfn, machines, found)
    assert first["started"] is True
    # Step Functions answers a repeated name either with the running execution (same input)
    # or ExecutionAlreadyExists (closed): both mean no second execution.
    assert second.get("executionArn") == first["executionArn"] or second["duplicate"] is True
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert len(executions) == 1
    assert json.loads(sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"])["versionId"] == "v1"


def test_sqs_wrapped_records_are_unwrapped() -> None:
    body = json.dumps({"Records": [_s3_record("clusters/demo.yaml", "v1")]})
    event = {"Records": [{"eventSource": "aws:sqs", "body": body, "messageId": "m1"}]}
    assert [r["s3"]["object"]["key"] for r in intake.records(event)] == ["clusters/demo.yaml"]
    test_event = {"Records": [{"eventSource": "aws:sqs", "body": json.dumps({"Event": "s3:TestEvent"})}]}
    assert intake.records(test_event) == []


# --- locks -----------------------------------------------------------------------------------------


def test_lock_contention(aws: dict[str, Any]) -> None:
    table = aws["ports"].locks
    lock.acquire(table, "demo", "exec-a", now=lambda: 1000)
    lock.acquire(table, "demo", "exec-a", now=lambda: 1001)  # the owner may take it again
    with pytest.raises(LockBusy, match="being changed by exec-a"):
        lock.acquire(table, "demo", "exec-b", now=lambda: 1002)
    assert lock.release(table, "demo", "exec-b") == {"released": False}
    assert lock.release(table, "demo", "exec-a") == {"released": True}
    lock.acquire(table, "demo", "exec-b", now=lambda: 1003)
    # An expired lock (its owner crashed) is taken over.
    lock.acquire(table, "demo", "exec-c", now=lambda: 1003 + lock.DEFAULT_TTL_SECONDS + 1)


def test_the_lock_lets_an_earlier_upload_of_the_same_spec_go_first(aws: dict[str, Any]) -> None:
    import dataclasses

    sfn = aws["session"].client("stepfunctions")
    # Executions that stay RUNNING while the test looks at them.
    waiting = {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    machines = tuple(
        sfn.create_state_machine(
            name=f"{kind}-{aws['suffix']}", definition=json.dumps(waiting), roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]
        for kind in ("deploy", "teardown")
    )
    ports = dataclasses.replace(
        aws["ports"], settings=dataclasses.replace(aws["ports"].settings, state_machines=machines)
    )

    def start(machine: str, action: str, key: str, sequencer: str) -> dict[str, Any]:
        state = {"action": action, "cluster": "demo", "key": key, "sequencer": sequencer}
        name = f"{action}-demo-{uuid.uuid4().hex[:16]}"  # as the intake names them
        arn = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(state))["executionArn"]
        return {**state, "execution": arn}

    first = start(machines[0], "deploy", "clusters/demo.yaml", "0062E1A0B1C2D3E4F5")
    second = start(machines[0], "deploy", "clusters/demo.yaml", "0062E1A0B1C2D3E4F6")
    start(machines[0], "deploy", "clusters/demo.yml", "0062E1A0B1C2D3E4F0")  # another key: not ordered with these
    start(machines[0], "plan", "plans/demo.yaml", "0062E1A0B1C2D3E4F0")  # plans change nothing: never waited for
    removal = start(machines[1], "teardown", "clusters/demo.yaml", "0062E1A0B1C2D3E4F7")

    with pytest.raises(LockBusy, match=r"an earlier upload \(deploy-demo-.*\) goes first"):
        steps.take_cluster_lock(second, ports)
    with pytest.raises(LockBusy, match="goes first"):
        steps.take_cluster_lock(removal, ports)  # a delete right after an upload: the upload is applied first
    assert steps.take_cluster_lock(first, ports)["owner"] == first["execution"]
    steps.release_cluster_lock(first, ports)
    sfn.stop_execution(executionArn=first["execution"])
    assert steps.take_cluster_lock(second, ports)["owner"] == second["execution"]  # now it is the earliest
    steps.release_cluster_lock(second, ports)


# --- validate and plan --------------------------------------------------------------------------


def test_validate_reads_the_exact_version_and_stores_the_normalized_spec(aws: dict[str, Any]) -> None:
    ports: steps.Ports = aws["ports"]
    state = _upload(aws, QUICKSTART)
    _upload(aws, QUICKSTART.replace("desiredSize: 2", "desiredSize: 3"))  # a newer version
    validated = steps.validate_spec(state, ports)
    # The state carries the key, not the spec: a spec may be 1 MiB, a state 256 KiB.
    assert "spec" not in validated
    stored = _stored(aws, validated)
    assert stored["spec"]["nodeGroups"][0]["desiredSize"] == 2
    assert stored["spec"]["kubernetesVersion"]  # defaults made explicit


CILIUM = (REPO / "examples" / "cilium.yaml").read_text()


def test_a_running_cluster_keeps_its_unpinned_cni_release_until_its_kubernetes_version_needs_another(
    aws: dict[str, Any],
) -> None:
    """No spec.cni.version: a running cluster keeps the release it runs (a newer clusterdrop does
    not move it), unless the release's makers do not test it on the cluster's Kubernetes version
    and another catalogued release is tested there. A pin is checked on the version the cluster
    will run, also when that is the running one (no kubernetesVersion in the spec)."""
    ports: steps.Ports = aws["ports"]
    unpinned = CILIUM.replace("    version: 1.19.6\n", "")
    unversioned = "".join(line for line in unpinned.splitlines(True) if "kubernetesVersion" not in line)
    registry.record(
        ports.clusters, "cilium", status="ACTIVE", execution="e1", kubernetesVersion="1.33", cni="cilium 1.18.12"
    )
    kept = _validated(aws, "cilium", unversioned)["validated"]
    assert _stored(aws, kept)["spec"]["cni"]["version"] == "1.18.12"
    assert "spec.cni.version is not set: the cluster keeps cilium 1.18.12, the release it runs" in kept["notes"]
    moved = _validated(aws, "cilium", unpinned.replace('"1.35"', '"1.34"'))["validated"]
    assert _stored(aws, moved)["spec"]["cni"]["version"] == "1.19.6"
    assert (
        "spec.cni.version is not set: cilium 1.18.12 is not tested on Kubernetes 1.34; the cluster moves to 1.19.6"
        in moved["notes"]
    )
    registry.record(
        ports.clusters, "cilium", status="ACTIVE", execution="e2", kubernetesVersion="1.34", cni="cilium 1.18.12"
    )
    pinned = unversioned.replace("    mode: eni\n", "    version: 1.18.12\n    mode: eni\n")
    with pytest.raises(
        SpecInvalid, match=r"spec\.cni\.version: cilium 1\.18\.12 is tested by its makers on Kubernetes 1\.30 to 1\.33"
    ):
        _validated(aws, "cilium", pinned)


REFERENCING = """apiVersion: clusterdrop.io/v1alpha1
kind: Cluster
metadata:
  name: refs
spec:
  region: eu-west-1
  network:
    vpc:
      id: {fromSsm: /clusterdrop/network-SUFFIX/vpc-id}
      subnets:
        private: {fromSsm: /clusterdrop/network-SUFFIX/private-subnet-ids}
        public: {fromExport: network-SUFFIX-PublicSubnetIds}
  nodeGroups:
    - name: workers
      instanceTypes: [t3.medium]
      desiredSize: 2
"""


def _network_outputs(aws: dict[str, Any], suffix: str, *, export: bool = True) -> dict[str, Any]:
    """What a Terraform (SSM parameters) and a CloudFormation (an export) network publish."""
    session = aws["session"]
    ssm, cfn = session.client("ssm"), session.client("cloudformation")
    ids = {"vpc": "vpc-0a1b2c3d4e5f60718", "private": ["subnet-0aa11bb22cc33dd44", "subnet-0bb22cc33dd44ee55"]}
    ssm.put_parameter(Name=f"/clusterdrop/network-{suffix}/vpc-id", Value=ids["vpc"], Type="String")
    ssm.put_parameter(
        Name=f"/clusterdrop/network-{suffix}/private-subnet-ids", Value=",".join(ids["private"]), Type="StringList"
    )
    if export:
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {
                "Public": {
                    "Value": "subnet-0cc33dd44ee55ff66,subnet-0dd44ee55ff660077",
                    "Export": {"Name": f"network-{suffix}-PublicSubnetIds"},
                }
            },
        }
        cfn.create_stack(StackName=f"network-{suffix}", TemplateBody=json.dumps(template))
    return ids


def test_references_are_resolved_at_validate_spec_and_stored_resolved(aws: dict[str, Any]) -> None:
    ports: steps.Ports = aws["ports"]
    suffix = aws["suffix"]
    ids = _network_outputs(aws, suffix)
    validated = steps.validate_spec(_upload(aws, REFERENCING.replace("SUFFIX", suffix), "clusters/refs.yaml"), ports)
    vpc = _stored(aws, validated)["spec"]["network"]["vpc"]
    assert vpc["id"] == ids["vpc"]
    assert [s["id"] for s in vpc["subnets"]["private"]] == ids["private"]
    assert [s["id"] for s in vpc["subnets"]["public"]] == ["subnet-0cc33dd44ee55ff66", "subnet-0dd44ee55ff660077"]
    stored = ports.s3.get_object(Bucket=ports.settings.artifacts_bucket, Key=validated["specKey"])["Body"].read()
    assert json.loads(stored)["spec"]["network"]["vpc"]["id"] == ids["vpc"]  # what the registry points at
    assert validated["references"][0] == {
        "path": "spec.network.vpc.id",
        "from": "fromSsm",
        "name": f"/clusterdrop/network-{suffix}/vpc-id",
        "value": ids["vpc"],
    }
    lines = notify.reference_lines(validated["references"])
    assert f"spec.network.vpc.id = {ids['vpc']} (SSM parameter /clusterdrop/network-{suffix}/vpc-id)" in lines


def test_an_unresolvable_reference_fails_validate_spec_naming_the_field_and_touches_nothing(
    aws: dict[str, Any],
) -> None:
    import dataclasses

    ports: steps.Ports = aws["ports"]
    suffix = aws["suffix"]
    _network_outputs(aws, suffix, export=False)
    aws["session"].client("ssm").put_parameter(
        Name=f"/clusterdrop/network-{suffix}/secret-vpc", Value="vpc-0a1b2c3d4e5f60718", Type="SecureString"
    )
    text = (
        REFERENCING.replace("SUFFIX", suffix)
        .replace(f"/clusterdrop/network-{suffix}/vpc-id", f"/clusterdrop/network-{suffix}/secret-vpc")
        .replace(f"/clusterdrop/network-{suffix}/private-subnet-ids", f"/other/network-{suffix}/private")
    )
    with pytest.raises(SpecInvalid) as info:
        steps.validate_spec(_upload(aws, text, "clusters/refs.yaml"), ports)
    problems = {p.path: p.message for p in info.value.problems}
    assert problems == {
        "spec.network.vpc.id": f"SSM parameter /clusterdrop/network-{suffix}/secret-vpc is a SecureString; store IDs as String",
        "spec.network.vpc.subnets.private": (
            f"SSM parameter /other/network-{suffix}/private is outside the paths this deployer may read "
            "(/clusterdrop/; CDK context referenceParameterPaths)"
        ),
        "spec.network.vpc.subnets.public": (
            f"CloudFormation export network-{suffix}-PublicSubnetIds does not exist in this account and region"
        ),
    }
    assert ports.s3.list_objects_v2(Bucket=ports.settings.artifacts_bucket).get("KeyCount", 0) == 0
    # A missing parameter, and an export outside the names the deployer may read.
    narrow = dataclasses.replace(ports, settings=dataclasses.replace(ports.settings, reference_exports=("shared-",)))
    missing = REFERENCING.replace("SUFFIX", suffix).replace("vpc-id}", "nope}")
    with pytest.raises(SpecInvalid) as info:
        steps.validate_spec(_upload(aws, missing, "clusters/refs.yaml"), narrow)
    problems = {p.path: p.message for p in info.value.problems}
    assert problems["spec.network.vpc.id"] == f"SSM parameter /clusterdrop/network-{suffix}/nope does not exist"
    assert "outside the exports this deployer may read (shared-;" in problems["spec.network.vpc.subnets.public"]


def test_plan_refuses_a_new_node_group_held_behind_the_control_plane(aws: dict[str, Any]) -> None:
    """CreateNodegroup takes the cluster's version only (botocore's EKS model: "the only accepted
    specified value"): the spec's one-minor hold is for a group that already runs."""
    from clusterdrop import facts

    name = f"held-{aws['suffix']}"
    version = facts.DEFAULT_KUBERNETES_VERSION
    major, minor = version.split(".")
    text = QUICKSTART.replace("  region: eu-west-1\n", f'  region: eu-west-1\n  kubernetesVersion: "{version}"\n')
    held = text.replace(
        "      maxSize: 4\n", f'      maxSize: 4\n      kubernetesVersion: "{major}.{int(minor) - 1}"\n'
    )
    state = _validated(aws, name, held)
    with pytest.raises(SpecInvalid, match=r"spec\.nodeGroups\[0\]\.kubernetesVersion: node group workers is new"):
        steps.plan(state, aws["ports"])
    assert stacks.status(aws["ports"].cfn, f"clusterdrop-{name}") is None


@pytest.mark.parametrize(
    ("wrong", "right", "named"),
    [
        ("t3.medium", "t3medium", r"spec\.nodeGroups\[0\]\.instanceTypes\[0\]"),
        # Valid on its own, but a deployer creates clusters in its own region only.
        ("eu-west-1", "us-east-2", r"spec\.region: 'us-east-2', but this clusterdrop deploys to 'eu-west-1'"),
    ],
)
def test_invalid_spec_fails_and_touches_nothing(aws: dict[str, Any], wrong: str, right: str, named: str) -> None:
    ports: steps.Ports = aws["ports"]
    state = _upload(aws, QUICKSTART.replace(wrong, right))
    with pytest.raises(SpecInvalid, match=named):
        steps.validate_spec(state, ports)
    assert ports.s3.list_objects_v2(Bucket=ports.settings.artifacts_bucket).get("KeyCount", 0) == 0
    mismatch = _upload(aws, QUICKSTART, key="clusters/other.yaml")
    with pytest.raises(SpecMismatch):
        steps.validate_spec(mismatch, ports)


def test_a_teams_prefix_brings_its_own_guardrails_and_its_clusters_stay_its_own(aws: dict[str, Any]) -> None:
    import dataclasses

    from clusterdrop.errors import PolicyRefused
    from clusterdrop.spec.policy import Policy

    rules = Policy.model_validate({"maxNodesPerGroup": 10, "teams": {"payments": {"allowedInstanceTypes": ["m7g.*"]}}})
    ports: steps.Ports = dataclasses.replace(
        aws["ports"], settings=dataclasses.replace(aws["ports"].settings, policy=rules)
    )
    # The shared prefix: the base rules (t3.medium allowed).
    assert _stored(aws, steps.validate_spec(_upload(aws, QUICKSTART), ports))["metadata"]["name"] == "quickstart"
    # The payments prefix: the team's rules replace the base's.
    with pytest.raises(PolicyRefused, match=r"t3\.medium matches none of m7g\.\* \(guardrail allowedInstanceTypes\)"):
        steps.validate_spec(_upload(aws, QUICKSTART, key="clusters/payments/quickstart.yaml"), ports)
    # A cluster recorded for one prefix is not another's to change or delete.
    registry.record(ports.clusters, "quickstart", status="ACTIVE", execution="x", team="payments", specKey="k")
    with pytest.raises(
        SpecInvalid, match=r"belongs to team payments \(clusters/payments/quickstart\.yaml\); a spec under clusters/"
    ):
        steps.validate_spec(_upload(aws, QUICKSTART), ports)
    teardown = {**_upload(aws, QUICKSTART, key="clusters/web/quickstart.yaml"), "action": "teardown"}
    with pytest.raises(SpecInvalid, match="a spec under clusters/web/ cannot change or delete it"):
        steps.read_last_applied_spec(teardown, ports)
    # A cluster whose first create failed is nobody's yet: any prefix may try again.
    ports.clusters.delete_item(Key={"cluster": "quickstart"})
    ports.clusters.put_item(Item={"cluster": "quickstart", "status": registry.NEVER_CREATED})
    assert _stored(aws, steps.validate_spec(_upload(aws, QUICKSTART), ports))["metadata"]["name"] == "quickstart"
    # Its teardown has nothing to delete: said, not failed, and the record goes.
    ports.clusters.update_item(
        Key={"cluster": "quickstart"},
        UpdateExpression="SET lastFailure = :f",
        ExpressionAttributeValues={":f": {"code": "ERR_QUOTA_EXCEEDED", "step": "Plan"}},
    )
    found = steps.read_last_applied_spec({**_upload(aws, QUICKSTART), "action": "teardown"}, ports)
    assert (found["format"], found["specKey"]) == ("never-created", "")
    assert found["notes"] == [
        (
            "Cluster 'quickstart' was never created (its first create failed at Plan): nothing to tear down; "
            "its record is removed from the registry."
        )
    ]
    assert "Item" not in ports.clusters.get_item(Key={"cluster": "quickstart"})


def test_plan_creates_change_sets_and_a_plan_run_leaves_nothing(aws: dict[str, Any]) -> None:
    ports: steps.Ports = aws["ports"]
    state = _upload(aws, QUICKSTART)
    state["action"] = "plan"
    state["validated"] = steps.validate_spec(state, ports)
    state["plan"] = steps.plan(state, ports)
    assert state["plan"]["newCluster"] is True
    by_role = {s["role"]: s for s in state["plan"]["stacks"]}
    assert by_role["cluster"]["change_type"] == "CREATE"
    assert by_role["cluster"]["change_set"].startswith("clusterdrop-")
    assert by_role["nodegroup"]["counts"]["add"] == 1
    state["plan"] = steps.describe_plan(state, ports)
    assert state["plan"]["pending"] is False
    cluster_plan = next(s for s in state["plan"]["stacks"] if s["role"] == "cluster")
    assert cluster_plan["status"] == "READY"
    assert cluster_plan["counts"]["add"] >= 30
    assert {
        "action": "Add",
        "logical_id": "Cluster",
        "resource_type": "AWS::EKS::Cluster",
        "replacement": "False",
        "properties": [],  # a new stack: no property changes against a current template
    } in cluster_plan["changes"]
    assert stacks.status(ports.cfn, "clusterdrop-quickstart") == "REVIEW_IN_PROGRESS"
    steps.discard_plan(state, ports)
    assert stacks.status(ports.cfn, "clusterdrop-quickstart") is None


def test_cluster_replacement_is_refused_even_when_allowed() -> None:
    """The cluster is named: CloudFormation cannot replace it, so allowReplacement cannot help."""
    plan = stacks.StackPlan("clusterdrop-demo", "cluster", "UPDATE", "cs", "READY")
    plan.changes = [stacks.Change("Modify", "Cluster", "AWS::EKS::Cluster", "True", ["EncryptionConfig"])]
    with pytest.raises(Exception, match=r"would replace the EKS cluster .*EncryptionConfig.*name of its own"):
        stacks.refuse_cluster_replacement([plan])
    plan.changes = [stacks.Change("Modify", "Cluster", "AWS::EKS::Cluster", "False", ["Version: 1.34 → 1.35"])]
    stacks.refuse_cluster_replacement([plan])
    assert plan.counts() == {"add": 0, "modify": 1, "replace": 0, "remove": 0}


def test_superseded_upload_is_skipped(aws: dict[str, Any]) -> None:
    ports: steps.Ports = aws["ports"]
    registry.record(ports.clusters, "quickstart", status="ACTIVE", execution="e1", specSequencer="0055AED6DCD90281E9")
    state = _upload(aws, QUICKSTART)
    state["sequencer"] = "0055AED6DCD90281E5"
    state["validated"] = steps.validate_spec(state, ports)
    assert steps.plan(state, ports)["superseded"] is True
    state["sequencer"] = "0055AED6DCD90281FF"
    assert steps.plan(state, ports)["superseded"] is False


# --- diagnosis -----------------------------------------------------------------------------------


def test_first_real_cause_is_found() -> None:
    events = [
        {"Timestamp": "2026-11-26T10:00:03Z", "StackName": "s", "LogicalResourceId": "NodeRole", "ResourceType": "AWS::IAM::Role",
         "ResourceStatus": "CREATE_FAILED", "ResourceStatusReason": "Resource creation cancelled"},
        {"Timestamp": "2026-11-26T10:00:02Z", "StackName": "s", "LogicalResourceId": "Cluster", "ResourceType": "AWS::EKS::Cluster",
         "ResourceStatus": "CREATE_FAILED", "ResourceStatusReason": "Cannot create cluster 'demo' because us-east-1e does not have sufficient capacity"},
        {"Timestamp": "2026-11-26T10:00:04Z", "StackName": "s", "LogicalResourceId": "s", "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "ROLLBACK_IN_PROGRESS", "ResourceStatusReason": "The following resource(s) failed to create: [Cluster]"},
    ]  # fmt: skip
    cause = stacks.first_cause(events)
    assert cause is not None
    assert cause["logicalId"] == "Cluster"
    assert "sufficient capacity" in cause["reason"]
    only_generic = stacks.first_cause([events[0]])  # no better reason: the generic one is still named
    assert only_generic is not None
    assert only_generic["reason"] == "Resource creation cancelled"
    assert stacks.first_cause([]) is None


def test_step_timings_and_failed_step_from_history() -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

    def at(s: int) -> datetime:
        return t0 + timedelta(seconds=s)

    history = [
        {"id": 1, "type": "TaskStateEntered", "timestamp": at(0), "stateEnteredEventDetails": {"name": "Validate spec"}},
        {"id": 2, "type": "TaskStateExited", "timestamp": at(2), "stateExitedEventDetails": {"name": "Validate spec"}},
        {"id": 3, "type": "WaitStateEntered", "timestamp": at(2), "stateEnteredEventDetails": {"name": "Wait for cluster stack"}},
        {"id": 4, "type": "WaitStateExited", "timestamp": at(7), "stateExitedEventDetails": {"name": "Wait for cluster stack"}},
        {"id": 5, "type": "WaitStateEntered", "timestamp": at(7), "stateEnteredEventDetails": {"name": "Wait for cluster stack"}},
        {"id": 6, "type": "WaitStateExited", "timestamp": at(12), "stateExitedEventDetails": {"name": "Wait for cluster stack"}},
        {"id": 7, "type": "TaskStateEntered", "timestamp": at(12), "stateEnteredEventDetails": {"name": "Connect"}},
        {"id": 8, "type": "LambdaFunctionFailed", "timestamp": at(13)},
    ]  # fmt: skip
    timings = {s.name: (s.status, s.seconds) for s in step_timings(history)}
    assert timings == {
        "Validate spec": ("SUCCEEDED", 2.0),
        "Wait for cluster stack": ("SUCCEEDED", 10.0),
        "Connect": ("FAILED", 0.0),
    }
    assert failed_step(history) == "Connect"

    # A retried failure is not a failed step; a caught one is, though its state exits normally.
    caught = [
        *history[:7],
        {"id": 8, "type": "LambdaFunctionScheduled", "timestamp": at(12)},
        {"id": 9, "type": "LambdaFunctionFailed", "timestamp": at(13)},
        {"id": 10, "type": "LambdaFunctionScheduled", "timestamp": at(15)},
        {"id": 11, "type": "LambdaFunctionSucceeded", "timestamp": at(16)},
        {"id": 12, "type": "TaskStateExited", "timestamp": at(16), "stateExitedEventDetails": {"name": "Connect"}},
        {"id": 13, "type": "TaskStateEntered", "timestamp": at(16), "stateEnteredEventDetails": {"name": "Apply CNI"}},
        {"id": 14, "type": "TaskScheduled", "timestamp": at(16)},
        {"id": 15, "type": "TaskFailed", "timestamp": at(17)},
        {"id": 16, "type": "TaskStateExited", "timestamp": at(17), "stateExitedEventDetails": {"name": "Apply CNI"}},
        {"id": 17, "type": "TaskStateEntered", "timestamp": at(17), "stateEnteredEventDetails": {"name": "Diagnose"}},
        {"id": 18, "type": "TaskScheduled", "timestamp": at(17)},
    ]  # fmt: skip
    statuses = {s.name: s.status for s in step_timings(caught)}
    assert (statuses["Connect"], statuses["Apply CNI"]) == ("SUCCEEDED", "FAILED")
    assert "Diagnose" not in statuses  # still running: not reported
    assert failed_step(caught) == "Apply CNI"

    # A stack that ended badly is routed to the failure path by a Choice: no task failed, and
    # the step before the failure path is the one that failed.
    routed = [
        *history[:6],
        {"id": 7, "type": "PassStateEntered", "timestamp": at(12), "stateEnteredEventDetails": {"name": "Cluster stack failed"}},
        {"id": 8, "type": "PassStateExited", "timestamp": at(12), "stateExitedEventDetails": {"name": "Cluster stack failed"}},
        {"id": 9, "type": "TaskStateEntered", "timestamp": at(12), "stateEnteredEventDetails": {"name": "Diagnose"}},
        {"id": 10, "type": "TaskStateExited", "timestamp": at(13), "stateExitedEventDetails": {"name": "Diagnose"}},
    ]  # fmt: skip
    statuses = {s.name: s.status for s in step_timings(routed)}
    assert statuses["Wait for cluster stack"] == "FAILED"
    assert statuses["Validate spec"] == statuses["Diagnose"] == "SUCCEEDED"
    assert failed_step(routed) == "Wait for cluster stack"


# --- notifications -------------------------------------------------------------------------------


def _outcome(kind: str) -> notify.Outcome:
    base = notify.Outcome(
        cluster="demo",
        action="create",
        outcome=kind,
        region=REGION,
        execution_arn=f"arn:aws:states:{REGION}:123456789012:execution:deploy:x",
        spec_key="clusters/demo.yaml",
        bucket="specs",
        steps=[notify.Step("Validate spec", "SUCCEEDED", 1.5), notify.Step("Apply cluster stack", "SUCCEEDED", 600)],
        kubernetes_version="1.33",
        cni={"name": "calico", "version": "v3.32.1"},
    )
    if kind == "SUCCEEDED":
        base.endpoint = "https://ABC.gr7.eu-west-1.eks.amazonaws.com"
        base.nodes = {"workers": {"ready": 3, "desired": 3}}
        base.validation = "KIND       NAME     STATUS  MESSAGE\nNodeGroup  workers  ok      3/3 Ready"
    elif kind == "FAILED":
        base.failure = notify.Failure(
            step="Apply cluster stack",
            error="StackFailed",
            cause="clusterdrop-demo Cluster (AWS::EKS::Cluster) CREATE_FAILED: insufficient capacity",
            cleaned_up=["clusterdrop-demo"],
            code="ERR_INSUFFICIENT_CAPACITY",
            todo="retry later, or give the node group more instance types or zones",
        )
    else:
        base.action = "plan"
        base.changes = [
            {"stack": "clusterdrop-demo-ng-workers", "changeType": "UPDATE", "counts": {"add": 0, "modify": 1, "replace": 0, "remove": 0},
             "changes": [{"action": "Modify", "logical_id": "NodeGroup", "resource_type": "AWS::EKS::Nodegroup", "replacement": "False"}]},
        ]  # fmt: skip
    return base


def test_success_message() -> None:
    o = _outcome("SUCCEEDED")
    o.admins = ["arn:aws:iam::123456789012:role/platform"]
    o.addons = {"kube-proxy": "v1.33.0-eksbuild.1", "coredns": "v1.12.2-eksbuild.1"}
    o.changes = [
        {"stack": "clusterdrop-demo", "changeType": "CREATE", "counts": {"add": 33, "modify": 0},
         "changes": [{"action": "Add", "logical_id": "Vpc", "resource_type": "AWS::EC2::VPC", "replacement": "False"}]},
        {"stack": "clusterdrop-demo-ng-workers", "changeType": "UPDATE", "counts": {"add": 0, "modify": 1},
         "changes": [{"action": "Modify", "logical_id": "NodeGroup", "resource_type": "AWS::EKS::Nodegroup", "replacement": "False"}]},
    ]  # fmt: skip
    text = notify.email_text(o)
    # A created stack is a count (its every resource was added); a changed one lists what changed.
    assert "  clusterdrop-demo (CREATE): 33 add\n  clusterdrop-demo-ng-workers (UPDATE): 1 modify\n" in text
    assert "Add Vpc" not in text
    assert "    Modify NodeGroup AWS::EKS::Nodegroup" in text
    assert notify.subject(o) == "[clusterdrop] demo: create succeeded"
    for expected in ("Endpoint: https://ABC", "Kubernetes: 1.33", "CNI: calico v3.32.1", "workers: 3/3",
                     "Apply cluster stack: SUCCEEDED (600 s)",
                     "clusterdrop kubeconfig demo --region eu-west-1 --role-arn arn:aws:iam::123456789012:role/platform",
                     "Not one of them? Ask the platform team to add your role to spec.controlPlane.admins",
                     "  arn:aws:iam::123456789012:role/platform",
                     "EKS add-ons (as installed): coredns v1.12.2-eksbuild.1, kube-proxy v1.33.0-eksbuild.1",
                     "NodeGroup  workers  ok", "console.aws.amazon.com/states"):  # fmt: skip
        assert expected in text
    blocks = notify.slack_blocks(o)["blocks"]
    assert blocks[0]["text"]["text"] == "demo: create succeeded"
    assert any("Nodes Ready" in f["text"] for b in blocks for f in b.get("fields", []))
    assert blocks[-1]["elements"][0]["url"] == o.console_url


def test_a_cluster_nobody_was_made_admin_of_says_so_and_how_to_fix_it() -> None:
    text = notify.email_text(_outcome("SUCCEEDED"))
    assert "No cluster admin was named: only the clusterdrop agent can reach this cluster." in text
    assert "spec.controlPlane.admins" in text
    assert "-c clusterAdmins=ARN" in text
    assert "update-kubeconfig" not in text  # it would not work for anyone
    assert "clusterdrop kubeconfig" not in text


def test_what_a_clean_up_could_not_delete_is_named_with_its_reason_and_link() -> None:
    o = _outcome("FAILED")
    assert o.failure is not None
    o.failure.left_behind = [
        {"stack": "clusterdrop-demo", "resource": "ControlPlaneSecurityGroup", "type": "AWS::EC2::SecurityGroup",
         "reason": "resource sg-1 has a dependent object", "link": "https://eu-west-1.console.aws.amazon.com/cf"},
    ]  # fmt: skip
    o.failure.cleanup_note = "stacks still deleting after 120 minutes"
    text = notify.email_text(o)
    assert "Left behind (could not be deleted; delete them, then the stack):" in text
    assert (
        "  clusterdrop-demo ControlPlaneSecurityGroup (AWS::EC2::SecurityGroup): resource sg-1 has a dependent object"
        in text
    )
    assert "    https://eu-west-1.console.aws.amazon.com/cf" in text
    assert "Clean-up stopped: stacks still deleting after 120 minutes" in text
    assert "*Left behind:*" in json.dumps(notify.slack_blocks(o))


def test_failure_message_names_step_cause_and_cleanup() -> None:
    o = _outcome("FAILED")
    text = notify.email_text(o)
    assert notify.subject(o) == "[clusterdrop] demo: create FAILED ERR_INSUFFICIENT_CAPACITY at Apply cluster stack"
    assert "Code: ERR_INSUFFICIENT_CAPACITY — retry later, or give the node group more instance types" in text
    assert notify.attributes(o)["code"] == {"DataType": "String", "StringValue": "ERR_INSUFFICIENT_CAPACITY"}
    assert "code" not in notify.attributes(_outcome("SUCCEEDED"))
    assert "Failed step: Apply cluster stack" in text
    assert "Cause: clusterdrop-demo Cluster (AWS::EKS::Cluster) CREATE_FAILED: insufficient capacity" in text
    assert "Cleaned up: clusterdrop-demo" in text
    assert (
        "upload the spec again: clusterdrop submit demo.yaml (or: aws s3 cp demo.yaml s3://specs/clusters/demo.yaml)"
        in text
    )
    slack = json.dumps(notify.slack_blocks(o))
    assert "*Failed step:* Apply cluster stack" in slack
    assert "*Cleaned up:* clusterdrop-demo" in slack


def test_subjects_read_as_sentences_and_the_embedded_mode_links_to_watch() -> None:
    planned = _outcome("PLANNED")
    planned.changes = []
    assert notify.subject(planned) == "[clusterdrop] demo: plan ready, no changes"
    planned.changes = [{"name": "clusterdrop-demo", "counts": {"add": 0, "modify": 2, "replace": 0, "remove": 1}}]
    assert notify.subject(planned) == "[clusterdrop] demo: plan ready, 3 changes, none applied"  # not "nothing changed"
    skipped = _outcome("SUCCEEDED")
    skipped.outcome = "SKIPPED"
    assert notify.subject(skipped) == "[clusterdrop] demo: create skipped (a newer upload was applied)"
    o = _outcome("FAILED")
    assert o.failure is not None
    o.failure.cause = "spec.region: bad\nspec.nodeGroups[0].maxSize: too small"
    o.embedded = True
    text = notify.email_text(o)
    assert "Cause: spec.region: bad\n  spec.nodeGroups[0].maxSize: too small\n" in text  # one problem per line
    assert "Execution: x (embedded mode: follow it with clusterdrop watch demo)" in text
    assert "console.aws.amazon.com" not in text + json.dumps(notify.slack_blocks(o))
    assert "`clusterdrop watch demo`" in json.dumps(notify.slack_blocks(o))


def test_plan_checks_an_existing_vpc_before_creating_anything(aws: dict[str, Any]) -> None:
    ports: steps.Ports = aws["ports"]
    ec2 = ports.ec2
    vpc = ec2.create_vpc(CidrBlock="10.80.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.81.0.0/16")["Vpc"]["VpcId"]

    def subnet(in_vpc: str, cidr: str, zone: str) -> str:
        return str(ec2.create_subnet(VpcId=in_vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"])

    good_a, good_b = subnet(vpc, "10.80.1.0/24", "eu-west-1a"), subnet(vpc, "10.80.2.0/24", "eu-west-1b")
    stranger = subnet(other, "10.81.1.0/24", "eu-west-1c")
    name = f"byo-{aws['suffix']}"

    def spec(vpc_id: str, private: list[tuple[str, str]]) -> str:
        listed = "\n".join(f"          - {{id: {i}, zone: {z}}}" for i, z in private)
        return f"""apiVersion: clusterdrop.io/v1alpha1
kind: Cluster
metadata: {{name: {name}}}
spec:
  region: eu-west-1
  network:
    zones: [eu-west-1a, eu-west-1b, eu-west-1c]
    vpc:
      id: {vpc_id}
      subnets:
        private:
{listed}
  nodeGroups: [{{name: workers, instanceTypes: [t3.medium], desiredSize: 2}}]
"""

    wrong = [
        (good_a, "eu-west-1a"),
        (good_b, "eu-west-1c"),
        (stranger, "eu-west-1c"),
        ("subnet-0123456789abcdef0", "eu-west-1c"),
    ]
    state = _upload(aws, spec(vpc, wrong), key=f"clusters/{name}.yaml")
    state["validated"] = steps.validate_spec(state, ports)
    with pytest.raises(SpecInvalid) as raised:
        steps.plan(state, ports)
    assert [(p.path, p.message) for p in raised.value.problems] == [
        ("spec.network.vpc.subnets.private[1].zone", f"{good_b} is in eu-west-1b, not in eu-west-1c"),
        ("spec.network.vpc.subnets.private[2].id", f"{stranger} belongs to {other}, not to {vpc}"),
        ("spec.network.vpc.subnets.private[3].id", "subnet-0123456789abcdef0 does not exist in eu-west-1 (or is not visible here)"),
    ]  # fmt: skip
    right = [(good_a, "eu-west-1a"), (good_b, "eu-west-1b")]
    state = _upload(aws, spec("vpc-0123456789abcdef0", right), key=f"clusters/{name}.yaml")
    state["validated"] = steps.validate_spec(state, ports)
    with pytest.raises(SpecInvalid, match=r"spec\.network\.vpc\.id: vpc-0123456789abcdef0 does not exist"):
        steps.plan(state, ports)
    assert stacks.status(ports.cfn, f"clusterdrop-{name}") is None  # nothing created
    # The right subnets, in a VPC as a new one comes: DNS hostnames off, no way to S3.
    state = _upload(aws, spec(vpc, right), key=f"clusters/{name}.yaml")
    state["validated"] = steps.validate_spec(state, ports)
    with pytest.raises(SpecInvalid) as raised:
        steps.plan(state, ports)
    problems = {p.path: p.message for p in raised.value.problems}
    assert list(problems) == [
        "spec.network.vpc.id",
        "spec.network.vpc.subnets.private[0].id",
        "spec.network.vpc.subnets.private[1].id",
    ]
    assert problems["spec.network.vpc.id"] == (
        f"{vpc} has DNS hostnames off: the cluster's private endpoint would not resolve "
        f"(aws ec2 modify-vpc-attribute --vpc-id {vpc} --enable-dns-hostnames)"
    )
    assert (
        "reaches S3 through neither a NAT gateway nor an S3 gateway endpoint"
        in problems["spec.network.vpc.subnets.private[0].id"]
    )
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    main_table = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"][0]
    ec2.create_vpc_endpoint(
        VpcId=vpc,
        ServiceName="com.amazonaws.eu-west-1.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[main_table["RouteTableId"]],
    )
    assert steps.plan(state, ports)["newCluster"] is True
    # Subnets by ID alone (as a reference's list gives them) take the zones EC2 reports: a group
    # limited to a zone gets that zone's subnet, and one with no subnet in its zone is refused.
    by_id = (
        spec(vpc, right)
        .replace(f"{{id: {good_a}, zone: eu-west-1a}}", good_a)
        .replace(f"{{id: {good_b}, zone: eu-west-1b}}", good_b)
    )
    limited = by_id.replace("desiredSize: 2}]", "desiredSize: 2, zones: [eu-west-1b]}]")
    state = _upload(aws, limited, key=f"clusters/{name}.yaml")
    state["validated"] = steps.validate_spec(state, ports)
    planned = steps.plan(state, ports)
    assert planned["newCluster"] is True
    from clusterdrop.aws import subnets
    from clusterdrop.steps.context import cluster_of

    zoned, found = subnets.with_zones(ec2, cluster_of(state, ports))
    assert found == []
    assert [(r.id, r.zone) for r in zoned.spec.network.vpc.subnets.private] == right  # type: ignore[union-attr]
    outputs = {"NodeSubnetIds": f"{good_a},{good_b}", "NodeSubnetZones": "eu-west-1a,eu-west-1b"}
    assert steps.planning.nodegroup_parameters(zoned, "workers", outputs)["SubnetIds"] == good_b
    outside = by_id.replace("desiredSize: 2}]", "desiredSize: 2, zones: [eu-west-1c]}]")
    state = _upload(aws, outside, key=f"clusters/{name}.yaml")
    state["validated"] = steps.validate_spec(state, ports)
    with pytest.raises(
        SpecInvalid, match=rf"spec\.nodeGroups\[0\]\.zones: no private subnet of {vpc} is in eu-west-1c"
    ):
        steps.plan(state, ports)


def test_plan_message_lists_the_changes() -> None:
    o = _outcome("PLANNED")
    text = notify.email_text(o)
    assert "Would change (nothing was changed):" in text
    assert "clusterdrop-demo-ng-workers (UPDATE): 1 modify" in text
    assert "Modify NodeGroup AWS::EKS::Nodegroup" in text


def test_plan_message_lists_what_the_cluster_takes_of_each_quota() -> None:
    o = _outcome("PLANNED")
    o.quotas = [
        {"quota": "vpcs", "name": "VPCs per Region", "code": "L-F678F1CE", "service": "vpc", "amount": 1,
         "used": 3, "reserved": 1, "limit": 5.0},
        {"quota": "nat-gateways", "name": "NAT gateways per Availability Zone", "code": "L-FE5A380F",
         "service": "vpc", "amount": 1, "where": "eu-west-1a", "used": 0, "reserved": 0, "limit": 5.0},
    ]  # fmt: skip
    o.warnings = ["VPCs per Region (vpc L-F678F1CE): the cluster takes 1; 3 of 5 in use, 1 more reserved"]
    text = notify.email_text(o)
    assert "  VPCs per Region (vpc L-F678F1CE): 1; 3 + 1 of 5" in text
    assert "  NAT gateways per Availability Zone in eu-west-1a (vpc L-FE5A380F): 1; 0 + 0 of 5" in text
    assert "Warning: VPCs per Region (vpc L-F678F1CE): the cluster takes 1" in text
    slack = json.dumps(notify.slack_blocks(o))
    assert "VPCs per Region (vpc L-F678F1CE): 1; 3 + 1 of 5" in slack


def test_published_message_reaches_subscribers_with_attributes(aws: dict[str, Any]) -> None:
    ports: steps.Ports = aws["ports"]
    o = _outcome("FAILED")
    steps.publish(o, ports)
    sqs = aws["session"].client("sqs")
    messages = sqs.receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=1, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(messages[0]["Body"])
    delivered = json.loads(envelope["Message"])
    assert delivered["subject"] == notify.subject(o)
    assert delivered["outcome"]["failure"]["step"] == "Apply cluster stack"
    assert envelope["MessageAttributes"]["outcome"]["Value"] == "FAILED"
    assert envelope["MessageAttributes"]["cluster"]["Value"] == "demo"
    back = notify.outcome_from_dict(delivered["outcome"])
    assert back.failure is not None
    assert notify.email_text(back) == notify.email_text(o)


def test_registry_records_and_lists(aws: dict[str, Any]) -> None:
    table = aws["ports"].clusters
    registry.record(table, "b", status="ACTIVE", execution="e1", nodesReady=3, now=lambda: 100)
    registry.record(table, "a", status="FAILED", execution="e2", now=lambda: 200)
    registry.record(table, "b", status="ACTIVE", execution="e3", now=lambda: 300)
    listed = registry.list_clusters(table)
    assert [i.cluster for i in listed] == ["a", "b"]
    b = registry.get(table, "b")
    assert b is not None
    assert (b.created_at, b.updated_at, b.last_execution, b.nodes_ready) == (100, 300, "e3", 3)
    with pytest.raises(ValueError, match="not fields of a cluster record: nodesRedy"):
        registry.record(table, "b", status="ACTIVE", execution="e4", nodesRedy=3)


def _us_east_1(moto_url: str) -> Any:
    return boto3.client(
        "ec2", region_name="us-east-1", endpoint_url=moto_url, aws_access_key_id="t", aws_secret_access_key="t"
    )


def test_zones_where_eks_places_no_control_plane_are_refused_by_the_accounts_zone_ids(moto_url: str) -> None:
    """us-east-1e is use1-az3 in moto's account: EKS creates no control plane there, and only the
    account's zone IDs tell which name that is."""
    from clusterdrop.aws import subnets
    from clusterdrop.spec.source import load_spec

    text = QUICKSTART.replace("region: eu-west-1", "region: us-east-1")
    named = load_spec(text.replace("spec:\n", "spec:\n  network:\n    zones: [us-east-1a, us-east-1e]\n").encode())
    _, problems = subnets.eks_zones(_us_east_1(moto_url), named.cluster)
    assert [p.path for p in problems] == ["spec.network.zones[1]"]
    assert "us-east-1e is use1-az3 in this account, where EKS does not create control planes" in problems[0].message
    assert "us-east-1e" not in problems[0].message.split("choose from")[1]
    picked, problems = subnets.eks_zones(_us_east_1(moto_url), load_spec(text.encode()).cluster)
    assert problems == []
    assert picked.spec.network.zones == ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_picking_zones_skips_the_unsupported_zone_id_wherever_its_name_falls() -> None:
    from clusterdrop.aws.subnets import pick_zones

    described = [
        {"ZoneName": "us-east-1a", "ZoneId": "use1-az3", "State": "available"},
        {"ZoneName": "us-east-1b", "ZoneId": "use1-az1", "State": "available"},
        {"ZoneName": "us-east-1c", "ZoneId": "use1-az2", "State": "impaired"},
        {"ZoneName": "us-east-1d", "ZoneId": "use1-az4", "State": "available"},
        {"ZoneName": "us-east-1f", "ZoneId": "use1-az5", "State": "available"},
    ]
    assert pick_zones(described, "us-east-1", 3) == ["us-east-1b", "us-east-1d", "us-east-1f"]
    assert pick_zones(described, "eu-west-1", 2) == ["us-east-1a", "us-east-1b"]  # no refused IDs there


def test_an_upgrade_applies_node_group_stacks_one_wave_at_a_time(aws: dict[str, Any]) -> None:
    """In an upgrade each node group is its own wave, in the spec's order; a stack whose change
    set holds no changes is left alone (never created again)."""
    ports: steps.Ports = aws["ports"]
    name = f"waves-{aws['suffix']}"  # stack names are the account's: one of this test's own
    two_groups = QUICKSTART.replace("name: quickstart", f"name: {name}").replace(
        "      maxSize: 4\n",
        "      maxSize: 4\n    - name: batch\n      instanceTypes: [t3.medium]\n      desiredSize: 1\n",
    )
    state = _upload(aws, two_groups, key=f"clusters/{name}.yaml")
    state["validated"] = steps.validate_spec(state, ports)
    topic = {
        "Resources": {"T": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"NodeRoleArn": {"Value": "arn:aws:iam::123456789012:role/n"}},
    }
    names = [f"clusterdrop-{name}", f"clusterdrop-{name}-ng-workers", f"clusterdrop-{name}-ng-batch"]
    for name in names:
        ports.cfn.create_stack(StackName=name, TemplateBody=json.dumps(topic))
    unchanged: list[dict[str, Any]] = [
        {"stack": n, "role": "nodegroup", "change_type": "UPDATE", "change_set": None, "status": "NO_CHANGES", "changes": []}
        for n in names[1:]
    ]  # fmt: skip
    state["plan"] = {"stacks": unchanged, "upgrade": {"from": "1.35", "to": "1.36", "nodeGroups": ["workers", "batch"]}}
    first = steps.apply_node_group_stacks(state, ports)
    assert (first["stacks"], first["wave"], first["remaining"], first["more"]) == (
        [{"stack": names[1], "expect": "COMPLETE"}],
        1,
        [names[2]],
        True,
    )
    state["nodeGroupStacks"] = steps.check_node_group_stacks({**state, "nodeGroupStacks": first}, ports)
    assert state["nodeGroupStacks"]["done"] is True
    second = steps.apply_node_group_stacks(state, ports)
    assert (second["stacks"][0]["stack"], second["wave"], second["remaining"], second["more"]) == (
        names[2],
        2,
        [],
        False,
    )
    # Not an upgrade: every stack in one wave.
    del state["plan"]["upgrade"], state["nodeGroupStacks"]
    assert [s["stack"] for s in steps.apply_node_group_stacks(state, ports)["stacks"]] == names[1:]


def test_notify_writes_the_page_first_and_still_notifies_when_it_cannot(aws: dict[str, Any]) -> None:
    import dataclasses

    ports: steps.Ports = aws["ports"]
    sfn = ports.sfn
    machine = sfn.create_state_machine(
        name=f"notify-{aws['suffix']}",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="deploy-demo-1")["executionArn"]
    event = {"state": {"action": "deploy", "cluster": "demo", "execution": execution}, "outcome": "SUCCEEDED"}
    sent = steps.notify(event, ports)
    assert "Status page (timeline, nodes, history): clusterdrop status demo --page" in sent["text"]
    page = ports.s3.get_object(Bucket=ports.settings.artifacts_bucket, Key="status/demo/deploy-demo-1.html")
    assert b"<title>demo: create succeeded</title>" in page["Body"].read()
    # Beside it, the fleet page: every cluster of the registry, each linked to its page.
    fleet = ports.s3.get_object(Bucket=ports.settings.artifacts_bucket, Key="status/index.html")["Body"].read().decode()
    listed = re.findall(r'<tr class="cluster"><td><a href="([^"]+)/index.html">', fleet)
    assert listed == [r.cluster for r in registry.list_clusters(ports.clusters)]
    # A cluster the registry gains shows on the next notification's fleet page.
    registry.record(ports.clusters, f"fleet-{aws['suffix']}", status="ACTIVE", execution=execution)
    steps.notify(event, ports)
    fleet = ports.s3.get_object(Bucket=ports.settings.artifacts_bucket, Key="status/index.html")["Body"].read().decode()
    assert f'<a href="fleet-{aws["suffix"]}/index.html">' in fleet
    # The artifacts bucket refuses (here: it does not exist): the notification goes out without the link.
    broken = dataclasses.replace(ports, settings=dataclasses.replace(ports.settings, artifacts_bucket="no-such-bucket"))
    sent = steps.notify(event, broken)
    assert sent["outcome"] == "SUCCEEDED"
    assert "Status page" not in sent["text"]


def test_a_refused_update_of_a_running_cluster_is_not_a_failed_create(aws: dict[str, Any]) -> None:
    """Issue 28: a CNI switch refused at Plan on a running cluster read "create FAILED", and the page
    showed the refused spec's CNI with no endpoint. The outcome is about the cluster that runs."""
    from clusterdrop.steps.notification import build_outcome

    ports: steps.Ports = aws["ports"]
    name = f"refused-{aws['suffix']}"
    registry.record(
        ports.clusters, name, status="ACTIVE", execution="e1", specVersion="v7", cni="calico v3.32.1",
        endpoint="https://ABC.gr7.eu-west-1.eks.amazonaws.com", kubernetesVersion="1.35",
    )  # fmt: skip
    state = {
        **_upload(aws, QUICKSTART.replace("name: quickstart", f"name: {name}"), key=f"clusters/{name}.yaml"),
        "error": {"Error": "SpecInvalid", "Cause": "spec.cni.name: cannot change on a running cluster"},
        "diagnosis": {"step": "Plan", "error": "SpecInvalid", "cause": "spec.cni.name: cannot change"},
    }
    built = build_outcome(state, ports, "FAILED", events=[])
    assert built.action == "update"
    assert notify.headline(built) == f"{name}: update refused, nothing changed"
    assert "keeps running on its applied spec (version v7)" in str(built.note)
    assert (built.cni, built.endpoint, built.kubernetes_version) == (
        {"name": "calico", "version": "v3.32.1"},
        "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
        "1.35",
    )
    # A first create refused at Plan is still a create that failed.
    state["cluster"] = f"new-{aws['suffix']}"
    assert build_outcome(state, ports, "FAILED", events=[]).action == "create"


def test_plan_refuses_a_node_groups_missing_key_pair_with_nothing_created(aws: dict[str, Any]) -> None:
    """EKS refuses a node group whose SSH key does not exist, after the cluster stack was built:
    Plan asks EC2 first, and names the field and the import that fixes it."""
    from clusterdrop.local.session import import_key_pair

    ports: steps.Ports = aws["ports"]
    name = f"keys-{aws['suffix']}"
    text = QUICKSTART.replace("      maxSize: 4\n", f"      maxSize: 4\n      sshKeyName: ops-{aws['suffix']}\n")
    state = _validated(aws, name, text)
    with pytest.raises(SpecInvalid, match=r"spec\.nodeGroups\[0\]\.sshKeyName: EC2 key pair 'ops-.*' does not exist"):
        steps.plan(state, ports)
    assert stacks.status(ports.cfn, f"clusterdrop-{name}") is None
    assert import_key_pair(aws["session"].client("ec2"), f"ops-{aws['suffix']}")
    planned = _validated(aws, name, text)
    planned["plan"] = steps.plan(planned, ports)  # with the key imported, Plan goes on
    assert planned["plan"]["stacks"]
    steps.discard_plan(planned, ports)


def test_a_cni_neither_mirrored_nor_downloadable_is_refused_at_plan(aws: dict[str, Any]) -> None:
    """Found at Connect, it cost a cluster stack built and deleted; at Plan nothing is created,
    and the fix printed is the command that seeds the deployer's bucket. (The machines here reach
    no GitHub: the official URL cannot be downloaded, as in an account without internet egress.)"""
    from clusterdrop.cni import catalog
    from clusterdrop.cni.s3mirror import S3Mirror
    from clusterdrop.errors import ArtifactUnavailable

    ports: steps.Ports = aws["ports"]
    name = f"m-{aws['suffix']}"
    import yaml

    from clusterdrop.cni.fetch import DirectoryMirror

    data = yaml.safe_load(QUICKSTART)
    data["metadata"]["name"], data["spec"]["cni"] = name, {"name": "calico"}
    state = _upload(aws, yaml.safe_dump(data), key=f"clusters/{name}.yaml")
    state["validated"] = steps.validate_spec(state, ports)
    release = catalog.find("calico", None)
    assert release is not None
    with pytest.raises(ArtifactUnavailable) as info:
        steps.plan(state, ports)
    bucket = ports.settings.artifacts_bucket
    assert f"`clusterdrop cni mirror calico --version {release.version} --bucket {bucket}`" in str(info.value)
    assert stacks.status(ports.cfn, f"clusterdrop-{name}") is None
    # Seeded (as `cni mirror` does, from the shared copies of the official files), Plan stages it.
    mirror = S3Mirror(ports.s3, bucket)
    for artifact in release.modes[release.default_mode]:
        found = DirectoryMirror(FIXTURES / "cni").find(artifact)
        assert found is not None
        mirror.put(artifact, found[0])
    planned = steps.plan(state, ports)
    assert planned["stacks"]
