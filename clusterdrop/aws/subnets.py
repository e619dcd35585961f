"""Load-balancer tags on the subnets of an existing VPC (CloudFormation cannot tag subnets it
does not own). `kubernetes.io/cluster/<name>: shared` lets several clusters share one VPC."""

from __future__ import annotations

from typing import Any


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
