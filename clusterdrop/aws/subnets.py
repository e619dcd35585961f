"""Load-balancer tags on the subnets of an existing VPC (CloudFormation cannot tag subnets it
does not own). `kubernetes.io/cluster/<name>: shared` lets several clusters share one VPC."""

from __future__ import annotations

from typing import Any

from clusterdrop import facts
from clusterdrop.errors import Problem
from clusterdrop.spec.models import Cluster


def apply(ec2: Any, tags: list[dict[str, str]]) -> list[str]:
    by_subnet: dict[str, list[dict[str, str]]] = {}
    for tag in tags:
        by_subnet.setdefault(tag["subnet"], []).append({"Key": tag["tag"], "Value": tag["value"]})
    for subnet, subnet_tags in by_subnet.items():
        ec2.create_tags(Resources=[subnet], Tags=subnet_tags)
    return sorted(by_subnet)


def remove_cluster_tags(ec2: Any, tags: list[dict[str, str]]) -> list[str]:
    """Remove only this cluster's tag; the elb role tags may serve other clusters."""
    cluster_tags = [t for t in tags if t["tag"].startswith("kubernetes.io/cluster/")]
    for tag in cluster_tags:
        ec2.delete_tags(Resources=[tag["subnet"]], Tags=[{"Key": tag["tag"]}])
    return sorted({t["subnet"] for t in cluster_tags})


def check_existing(ec2: Any, cluster: Cluster) -> list[Problem]:
    """An existing VPC and its subnets, as the spec names them: each exists, each subnet is in
    that VPC and in the zone the spec says. Checked before anything is created or tagged, so
    that a typo in an ID fails the plan with the field's path instead of a stack half-way."""
    vpc = cluster.spec.network.vpc
    if not vpc.id:
        return []
    region = cluster.spec.region
    problems: list[Problem] = []
    # Filters, not IDs: a missing ID is then absent from the answer instead of failing the call.
    if not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc.id]}])["Vpcs"]:
        problems.append(Problem("spec.network.vpc.id", f"{vpc.id} does not exist in {region} (or is not visible here)"))
    refs = [
        (f"spec.network.vpc.subnets.{kind}[{i}]", ref)
        for kind in ("private", "public")
        for i, ref in enumerate(getattr(vpc.subnets, kind) if vpc.subnets else [])
    ]
    ids = sorted({ref.id for _, ref in refs})
    found: dict[str, dict[str, Any]] = {}
    if ids:
        pages = ec2.get_paginator("describe_subnets").paginate(Filters=[{"Name": "subnet-id", "Values": ids}])
        found = {s["SubnetId"]: s for page in pages for s in page["Subnets"]}
    for path, ref in refs:
        subnet = found.get(ref.id)
        if subnet is None:
            problems.append(Problem(f"{path}.id", f"{ref.id} does not exist in {region} (or is not visible here)"))
        elif subnet["VpcId"] != vpc.id:
            problems.append(Problem(f"{path}.id", f"{ref.id} belongs to {subnet['VpcId']}, not to {vpc.id}"))
        elif ref.zone and subnet["AvailabilityZone"] != ref.zone:
            problems.append(Problem(f"{path}.zone", f"{ref.id} is in {subnet['AvailabilityZone']}, not in {ref.zone}"))
        elif subnet.get("AvailabilityZoneId") in facts.EKS_UNSUPPORTED_ZONE_IDS.get(region, frozenset()):
            problems.append(
                Problem(
                    f"{path}.id",
                    f"{ref.id} is in {subnet['AvailabilityZone']} ({subnet['AvailabilityZoneId']}), "
                    "where EKS does not create control planes",
                )
            )
    if not problems:
        problems += _dns(ec2, vpc.id) + _reach_s3(ec2, cluster, found)
    return problems


_DNS_ATTRIBUTES = (
    ("enableDnsSupport", "EnableDnsSupport", "DNS support", "--enable-dns-support"),
    ("enableDnsHostnames", "EnableDnsHostnames", "DNS hostnames", "--enable-dns-hostnames"),
)


def _dns(ec2: Any, vpc_id: str) -> list[Problem]:
    """EKS's private endpoint resolves inside the VPC only with both DNS attributes on (EKS User
    Guide, "Cluster API server endpoint"); a new VPC's DNS hostnames are off by default."""
    off = [
        (label, flag)
        for attribute, key, label, flag in _DNS_ATTRIBUTES
        if not ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)[key]["Value"]
    ]
    if not off:
        return []
    fix = f"aws ec2 modify-vpc-attribute --vpc-id {vpc_id} " + " ".join(flag for _, flag in off)
    what = " and ".join(label for label, _ in off)
    return [
        Problem(
            "spec.network.vpc.id", f"{vpc_id} has {what} off: the cluster's private endpoint would not resolve ({fix})"
        )
    ]


def _reach_s3(ec2: Any, cluster: Cluster, found: dict[str, dict[str, Any]]) -> list[Problem]:
    """Each private subnet reaches S3 — through an S3 gateway endpoint on its route table or a
    default route to a NAT (or transit) gateway: nodes pull images from ECR's S3 layers there, and
    the agent reads the CNI's files from the artifacts bucket."""
    vpc = cluster.spec.network.vpc
    private = vpc.subnets.private if vpc.subnets else []
    if not private or not vpc.id:
        return []
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc.id]}])["RouteTables"]
    main = next((t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), None)
    by_subnet = {a["SubnetId"]: t for t in tables for a in t.get("Associations", []) if a.get("SubnetId")}
    endpoints = ec2.describe_vpc_endpoints(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc.id]},
            {"Name": "service-name", "Values": [f"com.amazonaws.{cluster.spec.region}.s3"]},
        ]
    )["VpcEndpoints"]
    s3_tables = {t for e in endpoints if e.get("VpcEndpointType") == "Gateway" for t in e.get("RouteTableIds", [])}
    problems = []
    for i, ref in enumerate(private):
        table = by_subnet.get(ref.id) or main
        if table is None or ref.id not in found:
            continue
        gateways = [
            r.get("NatGatewayId") or r.get("TransitGatewayId") or ""
            for r in table.get("Routes", [])
            if r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("State", "active") == "active"
        ]
        if table["RouteTableId"] in s3_tables or any(g.startswith(("nat-", "tgw-")) for g in gateways):
            continue
        problems.append(
            Problem(
                f"spec.network.vpc.subnets.private[{i}].id",
                f"{ref.id} reaches S3 through neither a NAT gateway nor an S3 gateway endpoint (route table "
                f"{table['RouteTableId']}): its nodes could not pull images, the agent could not read the CNI",
            )
        )
    return problems


def pick_zones(described: list[dict[str, Any]], region: str, count: int) -> list[str]:
    """The region's first `count` available zones where EKS places control planes, by name."""
    unsupported = facts.EKS_UNSUPPORTED_ZONE_IDS.get(region, frozenset())
    usable = [z for z in described if z.get("State", "available") == "available" and z["ZoneId"] not in unsupported]
    return [z["ZoneName"] for z in sorted(usable, key=lambda z: z["ZoneName"])][:count]


def with_zones(ec2: Any, cluster: Cluster) -> tuple[Cluster, list[Problem]]:
    """An existing VPC's subnets given by ID alone (a reference's list, or `- subnet-…`) get the
    zone EC2 reports, so that a node group limited to some zones gets those zones' subnets (and
    not every subnet); a group whose zones have no subnet of the topology is a problem."""
    vpc = cluster.spec.network.vpc
    if not vpc.id or vpc.subnets is None:
        return cluster, []
    missing = sorted({ref.id for kind in ("private", "public") for ref in getattr(vpc.subnets, kind) if not ref.zone})
    if missing:
        pages = ec2.get_paginator("describe_subnets").paginate(Filters=[{"Name": "subnet-id", "Values": missing}])
        zone_of = {sub["SubnetId"]: sub["AvailabilityZone"] for page in pages for sub in page["Subnets"]}
        filled = vpc.subnets.model_copy(
            update={
                kind: [
                    ref if ref.zone or ref.id not in zone_of else ref.model_copy(update={"zone": zone_of[ref.id]})
                    for ref in getattr(vpc.subnets, kind)
                ]
                for kind in ("private", "public")
            }
        )
        network = cluster.spec.network.model_copy(update={"vpc": vpc.model_copy(update={"subnets": filled})})
        cluster = cluster.model_copy(update={"spec": cluster.spec.model_copy(update={"network": network})})
    subnets = getattr(cluster.spec.network.vpc.subnets, cluster.spec.network.topology)
    have = {ref.zone for ref in subnets}
    problems = [
        Problem(
            f"spec.nodeGroups[{i}].zones",
            f"no {cluster.spec.network.topology} subnet of {vpc.id} is in {', '.join(sorted(set(group.zones) - have))}",
        )
        for i, group in enumerate(cluster.spec.node_groups)
        if group.zones and None not in have and set(group.zones) - have
    ]
    return cluster, problems


def eks_zones(ec2: Any, cluster: Cluster) -> tuple[Cluster, list[Problem]]:
    """The cluster with its zones settled against this account's zone IDs: named zones where EKS
    places no control plane are problems (with the field's path); a new VPC without named zones
    gets the first usable ones, instead of `Fn::GetAZs`, which may name an unsupported one."""
    region = cluster.spec.region
    described = ec2.describe_availability_zones(Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}])[
        "AvailabilityZones"
    ]
    unsupported = facts.EKS_UNSUPPORTED_ZONE_IDS.get(region, frozenset())
    ids = {z["ZoneName"]: z["ZoneId"] for z in described}
    net = cluster.spec.network
    problems = [
        Problem(
            f"spec.network.zones[{i}]",
            f"{zone} is {ids[zone]} in this account, where EKS does not create control planes; "
            f"choose from {', '.join(pick_zones(described, region, 6))}",
        )
        for i, zone in enumerate(net.zones or [])
        if ids.get(zone) in unsupported
    ]
    if problems or net.zones is not None or net.vpc.id is not None:
        return cluster, problems
    picked = pick_zones(described, region, min(3, facts.REGIONS[region]))
    network = net.model_copy(update={"zones": picked})
    return cluster.model_copy(update={"spec": cluster.spec.model_copy(update={"network": network})}), []
