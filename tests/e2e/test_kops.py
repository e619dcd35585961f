"""A kops file end to end in the embedded mode: the classic HA setup clusterdrop descends from
(three control-plane groups, private topology in an existing VPC with its own NAT gateways,
Calico, three t2.medium nodes), uploaded as it is and converted by the workflow, created inside a
stand-in for the VPC Terraform made, and torn down leaving the VPC as it was."""

from __future__ import annotations

from pathlib import Path

from clusterdrop.local import network, session
from tests.conftest import REPO
from tests.e2e.test_embedded import _run, _spec, _torn_down

CLASSIC = (REPO / "examples" / "kops" / "classic-ha.yaml").read_text()
ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


def test_the_classic_ha_kops_file_creates_a_cluster_in_its_vpc(local: session.LocalDeployer, tmp_path: Path) -> None:
    ec2, ssm = local.aws.client("ec2"), local.aws.client("ssm")
    assert network.deploy(local.aws.client("cloudformation"), ssm, "classic", "eu-west-1", ZONES)
    vpc = ssm.get_parameter(Name="/clusterdrop/network/classic/vpc-id")["Parameter"]["Value"]
    ids = {
        kind: ssm.get_parameter(Name=f"/clusterdrop/network/classic/{kind}-subnet-ids")["Parameter"]["Value"].split(",")
        for kind in ("private", "public")
    }
    [nat] = ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NatGateways"]
    # The file as Terraform's outputs fill it: the stand-in network's IDs for the placeholders.
    text = CLASSIC.replace("vpc-0a1b2c3d4e5f60718", vpc)
    for i in range(3):
        text = text.replace(f"subnet-0{i}1a2b3c4d5e6f708", ids["private"][i])
        text = text.replace(f"subnet-0{i}2a2b3c4d5e6f708", ids["public"][i])
        text = text.replace(f"nat-0{i}9f8e7d6c5b4a3021", nat["NatGatewayId"])
    routes_before = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]

    created = _run(local, _spec(tmp_path, "classic", text))
    sns = created["notifications"]["sns"]
    assert created["status"] == "SUCCEEDED", (sns or {}).get("text")
    assert created["nodes"] == {"expected": 3, "registered": 3, "ready": 3}
    assert sns["outcome"]["action"] == "create"
    cluster = local.aws.client("eks").describe_cluster(name="classic")["cluster"]
    config = cluster["resourcesVpcConfig"]
    assert config["vpcId"] == vpc
    assert set(config["subnetIds"]) <= set(ids["private"] + ids["public"])
    assert cluster["version"] == "1.35"
    # Calico runs, and each node is in one of the private subnets, across the three zones.
    store = local.aws.eks.clusters["classic"].api.store
    assert ("kube-system", "calico-node") in store.objects[("apps", "daemonsets")]
    instances = [
        i
        for r in ec2.describe_instances(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] == "running"
    ]
    assert len(instances) == 3
    assert {i["SubnetId"] for i in instances} <= set(ids["private"])
    assert {i["Placement"]["AvailabilityZone"] for i in instances} == set(ZONES)
    # The user's NAT gateways and routes are theirs: left as they were.
    routes_after = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    assert [t["Routes"] for t in routes_after] == [t["Routes"] for t in routes_before]

    # `describe` (or `get`) shows it as clusterdrop and EKS know it.
    from clusterdrop import ops

    table = local.aws.session().resource("dynamodb", endpoint_url=local.aws.url).Table(local.deployer.clusters_table)
    found = ops.describe(local.aws.client("eks"), local.aws.client("stepfunctions"), table, local.deployer, "classic")
    assert found is not None
    [group] = found["nodeGroups"]
    assert (group["name"], group["instanceTypes"], group["sizes"]) == ("nodes", ["t2.medium"], "3/3/3")
    assert {"vpc-cni", "coredns", "kube-proxy"} - set(found["addons"]) == {"vpc-cni"}  # Calico instead
    assert found["executions"][0]["status"] == "SUCCEEDED"
    text = ops.format_describe(found)
    assert "Status:      ACTIVE" in text
    assert "Nodes:       3/3 Ready" in text
    assert f"Endpoint:    {cluster['endpoint']}" in text

    _torn_down(local, "classic")
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert ec2.describe_nat_gateways(NatGatewayIds=[nat["NatGatewayId"]])["NatGateways"][0]["State"] == "available"
