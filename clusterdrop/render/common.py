"""Pieces shared by the cluster and node-group templates."""

from __future__ import annotations

from typing import Any

from clusterdrop import facts
from clusterdrop.spec.models import Cluster

Json = dict[str, Any]

TEMPLATE_VERSION = "2010-09-09"
CLUSTER_TAG = "clusterdrop:cluster"
# Every name clusterdrop gives a cluster's stacks, roles, agent and change sets starts with it:
# the deployer's IAM policies name what is clusterdrop's by it.
NAME_PREFIX = "clusterdrop-"
ROLE_PATH = facts.ROLE_PATH


def stack_name(cluster: Cluster) -> str:
    return f"{NAME_PREFIX}{cluster.metadata.name}"


def nodegroup_stack_name(cluster: Cluster, group: str) -> str:
    return f"{stack_name(cluster)}-ng-{group}"


def agent_function_name(cluster: str) -> str:
    """clusterdrop-<cluster>-agent: the prefix lets IAM policies name every agent and nothing else."""
    return f"{NAME_PREFIX}{cluster}-agent"


def tag_map(cluster: Cluster, **extra: str) -> dict[str, str]:
    """The tags every resource carries: the cluster marker, then the user's, then extras."""
    return {CLUSTER_TAG: cluster.metadata.name, **cluster.metadata.tags, **extra}


def tag_list(cluster: Cluster, **extra: str) -> list[Json]:
    return [{"Key": k, "Value": v} for k, v in tag_map(cluster, **extra).items()]


def ref(name: str) -> Json:
    return {"Ref": name}


def get_att(resource: str, attribute: str) -> Json:
    return {"Fn::GetAtt": [resource, attribute]}


def sub(text: str) -> Json:
    return {"Fn::Sub": text}


def managed_policy(name: str) -> Json:
    return sub(f"arn:${{AWS::Partition}}:iam::aws:policy/{name}")


def assume_role(service: str) -> Json:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
