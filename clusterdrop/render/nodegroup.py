"""One stack per node group: an EKS managed node group in the cluster's subnets."""

from __future__ import annotations

from collections.abc import Iterator

from clusterdrop import facts
from clusterdrop.cni import catalog
from clusterdrop.errors import Problem
from clusterdrop.render.common import TEMPLATE_VERSION, Json, get_att, ref, tag_map
from clusterdrop.spec.models import Cluster, NodeGroup

_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
# EKS's AMI types (botocore's EKS model, AMITypes) by OS, architecture and accelerator: the
# accelerated ones carry the NVIDIA or Neuron drivers (Bottlerocket has no Neuron variant, and
# Neuron instances are x86 only: validation refuses what is not here).
_AMI_TYPES = {
    ("al2023", "x86_64", None): "AL2023_x86_64_STANDARD",
    ("al2023", "arm64", None): "AL2023_ARM_64_STANDARD",
    ("al2023", "x86_64", "NVIDIA"): "AL2023_x86_64_NVIDIA",
    ("al2023", "arm64", "NVIDIA"): "AL2023_ARM_64_NVIDIA",
    ("al2023", "x86_64", "NEURON"): "AL2023_x86_64_NEURON",
    ("bottlerocket", "x86_64", None): "BOTTLEROCKET_x86_64",
    ("bottlerocket", "arm64", None): "BOTTLEROCKET_ARM_64",
    ("bottlerocket", "x86_64", "NVIDIA"): "BOTTLEROCKET_x86_64_NVIDIA",
    ("bottlerocket", "arm64", "NVIDIA"): "BOTTLEROCKET_ARM_64_NVIDIA",
}


def ami_type(group: NodeGroup) -> str | None:
    """The group's EKS AMI type (None: EKS has none for this OS and accelerator)."""
    first = group.instance_types[0]
    return _AMI_TYPES.get((group.ami_family, facts.architecture(first), facts.accelerator(first)))


# Bottlerocket reads its settings from user data as TOML, which EKS merges with its own for a
# managed node group (EKS User Guide, "Customize managed nodes with launch templates").
_BOTTLEROCKET_SETTINGS = """[settings.kubernetes]
max-pods = {max_pods}
"""
# The volume the spec's diskSizeGiB and volume describe: AL2023's root; Bottlerocket's data volume
# (its OS volume is /dev/xvda, images and pods live on /dev/xvdb).
_DATA_DEVICE = {"al2023": "/dev/xvda", "bottlerocket": "/dev/xvdb"}


# AL2023 nodes read their settings from user data as nodeadm NodeConfig documents, in a MIME
# multipart whose parts EKS merges with its own for a managed node group.
_NODECONFIG = """MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="//"

--//
Content-Type: application/node.eks.aws

---
apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  kubelet:
    config:
      maxPods: {max_pods}

--//--
"""


CILIUM_AGENT_NOT_READY = {"Key": "node.cilium.io/agent-not-ready", "Value": "true", "Effect": "NO_EXECUTE"}


def max_pods(cluster: Cluster, group: NodeGroup) -> tuple[int | None, str]:
    """The kubelet's pod limit on the group's nodes, and where it comes from."""
    release = cluster.spec.cni.release()
    limit = catalog.max_pods(release, cluster.spec.cni.install_mode())
    if limit is not None:
        return limit, f"{release.name}'s overlay, set in a launch template: pods use no VPC addresses"
    limits = [facts.vpc_cni_max_pods(t) for t in group.instance_types]
    known = [n for n in limits if n is not None]
    if not known:
        return None, "the VPC CNI's limit for the instance type (set by EKS)"
    return min(known), "the VPC CNI's limit: ENIs * (addresses per ENI - 1) + 2"


def _root_volume(group: NodeGroup) -> Json:
    """The root volume's EBS settings: the spec's volume, else an encrypted gp3 of diskSizeGiB."""
    volume = group.volume
    if volume is None:
        return {"VolumeSize": group.disk_size_gi_b, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}
    ebs: Json = {
        "VolumeSize": volume.size_gi_b or group.disk_size_gi_b,
        "VolumeType": volume.type,
        "Encrypted": volume.encrypted,
        "DeleteOnTermination": True,
    }
    if volume.iops is not None:
        ebs["Iops"] = volume.iops
    if volume.throughput is not None:
        ebs["Throughput"] = volume.throughput
    if volume.kms_key_id is not None:
        ebs["KmsKeyId"] = volume.kms_key_id
    return ebs


def launch_template(cluster: Cluster, group: NodeGroup, pods: int | None) -> Json:
    """A launch template carrying what the node group cannot say itself: the root volume's type,
    IOPS and key, and (an overlay CNI) the kubelet's maxPods. With one, EKS refuses DiskSize and
    RemoteAccess on the node group: the disk and the SSH key move here."""
    data: Json = {
        "BlockDeviceMappings": [{"DeviceName": _DATA_DEVICE[group.ami_family], "Ebs": _root_volume(group)}],
        # IMDSv2 only; two hops so that pods on the node's network reach it, as EKS's own template.
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
    }
    if pods is not None:
        settings = _BOTTLEROCKET_SETTINGS if group.ami_family == "bottlerocket" else _NODECONFIG
        data["UserData"] = {"Fn::Base64": settings.replace("{max_pods}", str(pods))}
    if group.ssh_key_name:
        data["KeyName"] = group.ssh_key_name
    if group.instance_name:  # the instances' own tags, as EC2 Auto Scaling launches them
        data["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": group.instance_name}]}
        ]
    return {
        "Type": "AWS::EC2::LaunchTemplate",
        "Properties": {
            "LaunchTemplateData": data,
            "TagSpecifications": [
                {
                    "ResourceType": "launch-template",
                    "Tags": [
                        {"Key": k, "Value": v}
                        for k, v in {**tag_map(cluster), **group.tags, "clusterdrop:nodegroup": group.name}.items()
                    ],
                }
            ],
        },
    }


def _update_config(group: NodeGroup) -> Json:
    """EKS's default, one node at a time, unless the spec says otherwise."""
    update = group.update_config
    if update is not None and update.max_unavailable_percentage is not None:
        return {"MaxUnavailablePercentage": update.max_unavailable_percentage}
    return {"MaxUnavailable": update.max_unavailable if update and update.max_unavailable else 1}


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
        "AmiType": ami_type(group),
        "DiskSize": group.disk_size_gi_b,
        # Nodes follow the control plane's version (an upgrade changes both in order) unless the
        # group holds them one minor behind for now.
        "Version": group.kubernetes_version or cluster.spec.kubernetes_version,
        "UpdateConfig": _update_config(group),
        # A version update drains each old node; forced, EKS deletes the pods a budget keeps.
        "ForceUpdateEnabled": cluster.spec.upgrade_policy.force,
        "Tags": {**tag_map(cluster), **group.tags, "clusterdrop:nodegroup": group.name},
    }
    if group.node_repair is not None:
        properties["NodeRepairConfig"] = {"Enabled": group.node_repair.enabled}
    if group.labels:
        properties["Labels"] = dict(group.labels)
    taints = [
        {"Key": t.key, "Effect": _EFFECTS[t.effect], **({"Value": t.value} if t.value else {})} for t in group.taints
    ]
    if cluster.spec.cni.name == "cilium":
        # Cilium's EKS guide: nodes register with this taint, so that no pod starts before the
        # agent runs there (it would get no Cilium networking); the agent lifts it.
        taints.append(CILIUM_AGENT_NOT_READY)
    if taints:
        properties["Taints"] = taints
    resources: Json = {"NodeGroup": {"Type": "AWS::EKS::Nodegroup", "Properties": properties}}
    pods, _ = max_pods(cluster, group)
    overlay_pods = pods if catalog.max_pods(cluster.spec.cni.release(), cluster.spec.cni.install_mode()) else None
    if overlay_pods is not None or group.volume is not None or group.instance_name:
        resources["LaunchTemplate"] = launch_template(cluster, group, overlay_pods)
        del properties["DiskSize"]
        properties["LaunchTemplate"] = {
            "Id": ref("LaunchTemplate"),
            "Version": get_att("LaunchTemplate", "LatestVersionNumber"),
        }
    elif group.ssh_key_name:
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
        "Resources": resources,
        "Outputs": {
            "NodegroupName": {"Description": "Node group name", "Value": group.name},
            "NodegroupArn": {"Description": "Node group ARN", "Value": {"Fn::GetAtt": ["NodeGroup", "Arn"]}},
        },
    }


# AWS::EKS::Nodegroup's create-only properties (its CloudFormation resource reference, "Update
# requires: Replacement"; tests/unit/test_replacement.py compares this list with the provider
# schema). The group's name is its NodegroupName, so a change to any of these would have
# CloudFormation create a second node group under the same name — which it refuses ("cannot
# update a stack when a custom-named resource requires replacing") — and EKS would answer 409.
NODEGROUP_CREATE_ONLY = (
    "AmiType",
    "CapacityType",
    "ClusterName",
    "DiskSize",
    "InstanceTypes",
    "NodeRole",
    "NodegroupName",
    "RemoteAccess",
    "Subnets",
)
# The spec fields each property comes from, for the refusal's path.
_FROM_FIELD = {
    "AmiType": "amiFamily",
    "CapacityType": "capacityType",
    "DiskSize": "diskSizeGiB",
    "InstanceTypes": "instanceTypes",
    "RemoteAccess": "sshKeyName",
}


def _kept_groups(before: Cluster, after: Cluster) -> Iterator[tuple[int, NodeGroup, NodeGroup, Json, Json]]:
    """Each group of the new spec that the applied one has too (by name): its index, both
    versions, and both rendered stacks' resources."""
    old_groups = {g.name: g for g in before.spec.node_groups}
    for i, group in enumerate(after.spec.node_groups):
        old = old_groups.get(group.name)
        if old is not None:
            yield i, old, group, render_nodegroup(before, old)["Resources"], render_nodegroup(after, group)["Resources"]


def replaced_groups(before: Cluster, after: Cluster) -> list[Problem]:
    """The node groups, kept by name, that a new spec would have CloudFormation replace: refused by
    the field that causes it, with the way that works (a group under a new name replaces it: the
    new one is created, then the old one removed). Also a launch template added to or removed from
    a group: EKS updates a group created without one only by creating another ("Customizing
    managed nodes with launch templates")."""
    problems = []
    for i, old, group, was, now in _kept_groups(before, after):
        was_props, now_props = was["NodeGroup"]["Properties"], now["NodeGroup"]["Properties"]
        templated = ("LaunchTemplate" in was) != ("LaunchTemplate" in now)
        moved = ("DiskSize", "RemoteAccess") if templated else ()  # into or out of the launch template
        causes = [
            (f"spec.nodeGroups[{i}].{_FROM_FIELD[p]}", repr(was_props.get(p)), repr(now_props.get(p)))
            for p in NODEGROUP_CREATE_ONLY
            if p in _FROM_FIELD and p not in moved and was_props.get(p) != now_props.get(p)
        ]
        for field in ("zones", "topology"):  # the Subnets parameter: the subnets of these
            if getattr(old, field) != getattr(group, field):
                causes.append((f"spec.nodeGroups[{i}].{field}", repr(getattr(old, field)), repr(getattr(group, field))))
        if templated:
            field = "instanceName" if old.instance_name != group.instance_name else "volume"
            with_one = ("a group without a launch template", "one with a launch template")
            causes.append((f"spec.nodeGroups[{i}].{field}", *(with_one if "LaunchTemplate" in now else with_one[::-1])))
        for path, old_value, new_value in causes:
            problems.append(
                Problem(
                    path,
                    f"{old_value} → {new_value} would replace node group {group.name}, and a node group cannot be "
                    "replaced under its own name (CloudFormation refuses to replace a custom-named resource; EKS sets "
                    "this at creation). Give the group a new name in the same upload: the new group is created with "
                    f"these values, then {group.name} is removed",
                )
            )
    return problems


# What EKS's node group handler applies as one UpdateNodegroupVersion, and the spec fields behind
# each other property, for a refusal's path. The handler refuses both kinds in one stack update
# ("Version and ReleaseVersion updates cannot be combined with other updates").
_VERSION_UPDATE = ("Version", "ReleaseVersion", "LaunchTemplate", "ForceUpdateEnabled")
_CONFIG_FIELDS = {
    "Labels": "labels",
    "Taints": "taints",
    "ScalingConfig": "desiredSize",
    "UpdateConfig": "updateConfig",
    "NodeRepairConfig": "nodeRepair",
    "Tags": "tags",
}


def combined_updates(before: Cluster, after: Cluster) -> list[Problem]:
    """Node groups whose new version (the Kubernetes version, or a new launch template version)
    would reach EKS in the same stack update as another change to the group: refused by the other
    field, with the order that works."""
    problems = []
    for i, old, group, was, now in _kept_groups(before, after):
        was_props, now_props = was["NodeGroup"]["Properties"], now["NodeGroup"]["Properties"]
        if ("LaunchTemplate" in was) != ("LaunchTemplate" in now):
            continue  # a template gained or lost replaces the group: replaced_groups refuses it
        changed = {k for k in set(was_props) | set(now_props) if was_props.get(k) != now_props.get(k)}
        template_changed = was.get("LaunchTemplate") != now.get("LaunchTemplate")
        versioned = [
            f"{k} ({was_props.get(k)} → {now_props.get(k)})" for k in ("Version", "ReleaseVersion") if k in changed
        ] + (["launch template"] if template_changed else [])
        # Create-only properties replace the group; replaced_groups refuses those by their field.
        others = sorted(changed - set(_VERSION_UPDATE) - set(NODEGROUP_CREATE_ONLY))
        if not versioned or not others:
            continue
        for prop in others:
            path = f"spec.nodeGroups[{i}].{_CONFIG_FIELDS.get(prop, prop)}"
            if prop == "Tags" and old.tags == group.tags:
                path = "metadata.tags"  # the cluster's tags, which every group carries
            problems.append(
                Problem(
                    path,
                    f"changes node group {group.name}'s {prop} in the same upload as its {' and '.join(versioned)}: "
                    "EKS takes a node group's version update alone (\"Version and ReleaseVersion updates cannot be "
                    'combined with other updates"). Upload the spec with only the version change first, then with '
                    "this one",
                )
            )
    return problems
