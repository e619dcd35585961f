"""One stack per node group: an EKS managed node group in the cluster's subnets."""

from __future__ import annotations

from clusterdrop import facts
from clusterdrop.render.common import TEMPLATE_VERSION, Json, ref, tag_map
from clusterdrop.spec.models import Cluster, NodeGroup

_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
_AMI_TYPES = {"x86_64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}


def render_nodegroup(cluster: Cluster, group: NodeGroup) -> Json:
    """The template of one node group's stack. The workflow passes the cluster stack's outputs
    (node role, the subnets of the group's zones) as parameters."""
    properties: Json = {
        "ClusterName": ref("ClusterName"),
        "NodegroupName": group.name,
        "NodeRole": ref("NodeRoleArn"),
        "Subnets": ref("SubnetIds"),
        "ScalingConfig": {
            "MinSize": group.min_size,
            "DesiredSize": group.desired_size,
            "MaxSize": group.max_size,
        },
        "InstanceTypes": list(group.instance_types),
        "CapacityType": "SPOT" if group.capacity_type == "spot" else "ON_DEMAND",
        "AmiType": _AMI_TYPES[facts.architecture(group.instance_types[0])],
        "DiskSize": group.disk_size_gi_b,
        # Nodes follow the control plane's version; an upgrade changes both in order.
        "Version": cluster.spec.kubernetes_version,
        "UpdateConfig": {"MaxUnavailable": 1},
        "Tags": tag_map(cluster, **{"clusterdrop:nodegroup": group.name}),
    }
    if group.labels:
        properties["Labels"] = dict(group.labels)
    if group.taints:
        properties["Taints"] = [
            {"Key": t.key, "Effect": _EFFECTS[t.effect], **({"Value": t.value} if t.value else {})}
            for t in group.taints
        ]
    if group.ssh_key_name:
        properties["RemoteAccess"] = {"Ec2SshKey": group.ssh_key_name}
    return {
        "AWSTemplateFormatVersion": TEMPLATE_VERSION,
        "Description": f"clusterdrop cluster {cluster.metadata.name}: node group {group.name}",
        "Parameters": {
            "ClusterName": {"Type": "String", "Default": cluster.metadata.name, "Description": "EKS cluster name"},
            "NodeRoleArn": {"Type": "String", "Description": "The cluster stack's NodeRoleArn output"},
            "SubnetIds": {
                "Type": "List<AWS::EC2::Subnet::Id>",
                "Description": "The cluster's node subnets in this group's zones",
            },
        },
        "Resources": {"NodeGroup": {"Type": "AWS::EKS::Nodegroup", "Properties": properties}},
        "Outputs": {
            "NodegroupName": {"Description": "Node group name", "Value": group.name},
            "NodegroupArn": {"Description": "Node group ARN", "Value": {"Fn::GetAtt": ["NodeGroup", "Arn"]}},
        },
    }
