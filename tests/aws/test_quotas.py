"""Service quotas against moto over HTTP: the values (with the default as fallback), the usage,
the reservations two Plans race for, EC2 refusing past a quota, and Plan refusing before it
creates anything."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest

from clusterdrop import quotas, steps
from clusterdrop.aws import quotas as account_quotas
from clusterdrop.aws import stacks
from clusterdrop.errors import QuotaExceeded
from clusterdrop.local import quotas as embedded_quotas
from clusterdrop.render.common import CLUSTER_TAG
from tests.aws.conftest import RAISED
from tests.aws.test_steps import QUICKSTART, _upload, aws  # noqa: F401 - the fixture

REGION = "eu-west-1"


@pytest.fixture
def account() -> Iterator[embedded_quotas.AccountQuotas]:
    """The embedded account's quotas, put back as they were after the test."""
    current = embedded_quotas.current()
    yield current
    with current.lock:
        current.applied.clear()
        current.applied.update(RAISED)


def _vpcs(ec2: Any) -> int:
    return len(ec2.describe_vpcs()["Vpcs"])


def test_a_quota_never_changed_is_read_from_the_defaults(aws: dict[str, Any], account: Any) -> None:  # noqa: F811
    sq = aws["ports"].quotas
    account.reset("clusters")
    with pytest.raises(sq.exceptions.NoSuchResourceException):
        sq.get_service_quota(ServiceCode="eks", QuotaCode="L-1194D53C")
    account.set("elastic-ips", 12)
    found = account_quotas.values(sq, [quotas.QUOTAS["clusters"], quotas.QUOTAS["elastic-ips"]])
    assert found == {"L-1194D53C": 100.0, "L-0263D0A3": 12.0}


def test_ec2_refuses_a_vpc_past_the_quota(aws: dict[str, Any], account: Any) -> None:  # noqa: F811
    ec2 = aws["ports"].ec2
    account.set("vpcs", _vpcs(ec2) + 1)
    made = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        ec2.create_vpc(CidrBlock="10.91.0.0/16")
    assert refused.value.response["Error"]["Code"] == "VpcLimitExceeded"
    assert refused.value.response["Error"]["Message"] == "The maximum number of VPCs has been reached."
    ec2.delete_vpc(VpcId=made)


def test_usage_leaves_out_the_resources_of_clusters_holding_a_reservation(
    aws: dict[str, Any],  # noqa: F811
) -> None:
    ec2, eks = aws["ports"].ec2, aws["ports"].eks
    needs = [quotas.Need(quotas.QUOTAS["vpcs"], 1), quotas.Need(quotas.QUOTAS["elastic-ips"], 1)]
    before = account_quotas.usage(ec2, eks, needs)
    tags = [{"ResourceType": "vpc", "Tags": [{"Key": CLUSTER_TAG, "Value": f"held-{aws['suffix']}"}]}]
    vpc = ec2.create_vpc(CidrBlock="10.92.0.0/16", TagSpecifications=tags)["Vpc"]["VpcId"]
    address = ec2.allocate_address(Domain="vpc")["AllocationId"]
    try:
        assert account_quotas.usage(ec2, eks, needs) == {
            "vpcs": before["vpcs"] + 1,
            "elastic-ips": before["elastic-ips"] + 1,
        }
        excluded = account_quotas.usage(ec2, eks, needs, exclude={f"held-{aws['suffix']}"})
        assert excluded == {"vpcs": before["vpcs"], "elastic-ips": before["elastic-ips"] + 1}
    finally:
        ec2.delete_vpc(VpcId=vpc)
        ec2.release_address(AllocationId=address)


def test_two_plans_racing_for_the_last_vpc_one_reserves_it(aws: dict[str, Any], account: Any) -> None:  # noqa: F811
    ports: steps.Ports = aws["ports"]
    account.set("vpcs", _vpcs(ports.ec2) + 1)
    need = [quotas.Need(quotas.QUOTAS["vpcs"], 1)]
    limits = account_quotas.values(ports.quotas, [quotas.QUOTAS["vpcs"]])
    start, first = threading.Barrier(2), threading.local()

    def check(reserved: dict[str, int], holders: set[str]) -> list[quotas.Standing]:
        used = account_quotas.usage(ports.ec2, ports.eks, need, exclude=holders)
        standings = quotas.assess(need, limits, used, reserved)
        if not getattr(first, "done", False):  # both have read the reservations before either writes
            first.done = True
            start.wait(timeout=10)
        short = account_quotas.short_of(standings, REGION)
        if short:
            raise short
        return standings

    outcomes: dict[str, object] = {}

    def plan(cluster: str) -> None:
        try:
            outcomes[cluster] = account_quotas.reserve(ports.clusters, cluster, f"exec-{cluster}", check)
        except (QuotaExceeded, threading.BrokenBarrierError) as exc:
            outcomes[cluster] = exc

    threads = [threading.Thread(target=plan, args=(name,)) for name in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    refused = [c for c, o in outcomes.items() if isinstance(o, QuotaExceeded)]
    reserved = [c for c, o in outcomes.items() if isinstance(o, list)]
    assert len(refused) == 1, outcomes
    assert len(reserved) == 1, outcomes
    assert "1 more reserved by creates under way" in str(outcomes[refused[0]])
    assert set(account_quotas.reservations(ports.clusters)) == set(reserved)
    # Released with the lock (by its own execution only), the VPC is free for the other again.
    assert account_quotas.release(ports.clusters, reserved[0], "exec-someone-else") is False
    assert account_quotas.release(ports.clusters, reserved[0], f"exec-{reserved[0]}") is True
    assert account_quotas.reservations(ports.clusters) == {}


def _validated(aws: dict[str, Any], extra_groups: str = "") -> tuple[steps.Ports, str, dict[str, Any]]:  # noqa: F811
    """A quickstart of its own name, uploaded and through Validate spec: the state Plan takes."""
    ports: steps.Ports = aws["ports"]
    name = f"q-{aws['suffix']}"
    text = QUICKSTART.replace("name: quickstart", f"name: {name}") + extra_groups
    state = _upload(aws, text, key=f"clusters/{name}.yaml")
    state["validated"] = steps.validate_spec(state, ports)
    return ports, name, state


def test_plan_short_of_a_quota_fails_naming_it_and_creates_nothing(
    aws: dict[str, Any],  # noqa: F811
    account: Any,
) -> None:
    ports, name, state = _validated(aws)
    account.set("vpcs", _vpcs(ports.ec2))  # full
    with pytest.raises(QuotaExceeded) as refused:
        steps.plan(state, ports)
    assert "VPCs per Region (vpc L-F678F1CE): the cluster needs 1" in str(refused.value)
    assert "request an increase at https://eu-west-1.console.aws.amazon.com/servicequotas/" in str(refused.value)
    assert refused.value.shortfalls[0]["code"] == "L-F678F1CE"
    assert stacks.status(ports.cfn, f"clusterdrop-{name}") is None  # nothing created
    assert account_quotas.reservations(ports.clusters) == {}


def test_a_passing_plan_lists_what_it_takes_warns_near_a_limit_and_reserves(
    aws: dict[str, Any],  # noqa: F811
    account: Any,
) -> None:
    ports, name, state = _validated(aws)
    account.set("elastic-ips", len(ports.ec2.describe_addresses()["Addresses"]) + 1)  # the NAT's address: the last
    account.set("vcpus-standard", 16)
    planned = steps.plan(state, ports)
    taken = {q["quota"]: q for q in planned["quotas"]}
    assert taken["vpcs"]["amount"] == 1
    assert taken["vcpus-standard"]["amount"] == 2 * 2  # two t3.medium (2 vCPUs each, as EC2 describes them)
    assert taken["vcpus-standard"]["limit"] == 16
    assert any(
        w.startswith("EC2-VPC Elastic IPs (ec2 L-0263D0A3): the cluster takes 1") for w in planned["quotaWarnings"]
    )
    assert set(account_quotas.reservations(ports.clusters)) == {name}
    assert account_quotas.release(ports.clusters, name, state["execution"]) is True
    for p in steps.planning.plans_of({**state, "plan": planned}):
        stacks.discard(ports.cfn, p)


def test_plan_refuses_more_vcpus_than_the_quota_naming_the_family(
    aws: dict[str, Any],  # noqa: F811
    account: Any,
) -> None:
    ports, name, state = _validated(aws, "    - name: gpu\n      instanceTypes: [g5.xlarge]\n      desiredSize: 2\n")
    account.reset("vcpus-g-vt")  # a new account: no G instances at all
    with pytest.raises(
        QuotaExceeded,
        match=r"Running On-Demand G and VT instances \(ec2 L-DB2E81BA\): the cluster needs 8 vCPUs; 0 of 0",
    ):
        steps.plan(state, ports)
    assert stacks.status(ports.cfn, f"clusterdrop-{name}") is None


def test_ec2_refuses_instances_past_the_vcpu_quota_of_their_family(aws: dict[str, Any], account: Any) -> None:  # noqa: F811
    ec2, eks = aws["ports"].ec2, aws["ports"].eks
    needs = [quotas.Need(quotas.QUOTAS["vcpus-standard"], 1), quotas.Need(quotas.QUOTAS["spot-vcpus-standard"], 1)]
    before = account_quotas.usage(ec2, eks, needs)
    account.set("vcpus-standard", before.get("vcpus-standard", 0) + 8)
    account.set("spot-vcpus-standard", before.get("spot-vcpus-standard", 0) + 4)
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "eks:cluster-name", "Value": f"nodes-{aws['suffix']}"}]}]
    launched = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=2, MaxCount=2, InstanceType="m5.xlarge", TagSpecifications=tags
    )["Instances"]
    try:
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.medium")
        assert refused.value.response["Error"]["Code"] == "VcpuLimitExceeded"
        assert "current vCPU limit of" in refused.value.response["Error"]["Message"]
        # Spot counts against its own quota.
        spot = {"MarketType": "spot"}
        ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="m5.xlarge", InstanceMarketOptions=spot
        )
        with pytest.raises(botocore.exceptions.ClientError, match="MaxSpotInstanceCountExceeded"):
            ec2.run_instances(
                ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.medium", InstanceMarketOptions=spot
            )
        # The usage counts vCPUs by the type (m5.xlarge: 4), Spot apart; a cluster holding a
        # reservation leaves its nodes out.
        after = account_quotas.usage(ec2, eks, needs)
        assert after["vcpus-standard"] == before.get("vcpus-standard", 0) + 8
        assert after["spot-vcpus-standard"] == before.get("spot-vcpus-standard", 0) + 4
        held = account_quotas.usage(ec2, eks, needs, exclude={f"nodes-{aws['suffix']}"})
        assert held.get("vcpus-standard", 0) == before.get("vcpus-standard", 0)
    finally:
        running = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
        ids = [i["InstanceId"] for r in running["Reservations"] for i in r["Instances"]]
        ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in launched] + ids)


def test_nodes_that_never_came_are_diagnosed_with_the_node_groups_health(aws: dict[str, Any]) -> None:  # noqa: F811
    """EKS's node-group health issue (an Auto Scaling group that cannot launch past a vCPU quota)
    joins the missing nodes' cause, and the failure is coded by it."""
    import json

    from moto.eks.models import eks_backends

    from clusterdrop.failures import classify

    ports, name, state = _validated(aws)
    eks = ports.eks
    eks.create_cluster(
        name=name, roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={"subnetIds": ["subnet-1"]}
    )
    eks.create_nodegroup(
        clusterName=name, nodegroupName="workers", nodeRole="arn:aws:iam::123456789012:role/n", subnets=["subnet-1"]
    )
    issue = {
        "code": "AsgInstanceLaunchFailures",
        "message": "VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit of 32 "
        "allows for the instance bucket that the specified instance type belongs to. Launching EC2 instance failed.",
        "resourceIds": ["eks-workers-asg"],
    }
    eks_backends["123456789012"][REGION].clusters[name].nodegroups["workers"].health = {
        "issues": [issue]
    }  # as EKS reports it
    sfn = aws["session"].client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"diagnose-{aws['suffix']}",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    state["execution"] = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    state["error"] = {"Error": "NodesNotReady", "Cause": json.dumps({"errorMessage": "1 of 2 nodes missing: workers"})}
    diagnosed = steps.diagnose(state, ports)
    assert diagnosed["cause"].startswith("1 of 2 nodes missing: workers\n")
    assert "EKS reports for node group workers: AsgInstanceLaunchFailures: VcpuLimitExceeded" in diagnosed["cause"]
    assert classify("Wait for nodes Ready", "NodesNotReady", diagnosed["cause"]).code == "ERR_QUOTA_EXCEEDED"
    assert classify("Wait for nodes Ready", "NodesNotReady", "1 of 2 nodes missing").code == "ERR_NODES_NOT_READY"


def test_a_quota_increase_request_is_approved_at_once_in_the_embedded_account(
    aws: dict[str, Any],  # noqa: F811
    account: Any,
) -> None:
    sq = aws["ports"].quotas
    account.reset("elastic-ips")
    with pytest.raises(sq.exceptions.ClientError, match="IllegalArgumentException"):
        sq.request_service_quota_increase(ServiceCode="ec2", QuotaCode="L-0263D0A3", DesiredValue=5)
    requested = sq.request_service_quota_increase(ServiceCode="ec2", QuotaCode="L-0263D0A3", DesiredValue=12)
    assert requested["RequestedQuota"]["Status"] == "APPROVED"
    assert sq.get_service_quota(ServiceCode="ec2", QuotaCode="L-0263D0A3")["Quota"]["Value"] == 12
