"""The EC2 instances behind the emulated nodes: a managed node group's Auto Scaling group launches
one instance per node, in the node's zone and one of the group's subnets, tagged as EKS tags them
(`eks:cluster-name`, `eks:nodegroup-name`), Spot when the group's capacity type is; it is
terminated when its node goes. DescribeInstances shows them, and they are what the account's
running-instance vCPU quotas count (`local/quotas.py` refuses a launch past them)."""

from __future__ import annotations

import uuid
from typing import Any

from clusterdrop.local import aws_facts
from clusterdrop.local.eks.emulation import LOG, EmulatedCluster, Obj

# Any AMI ID: moto validates none unless asked to (MOTO_ENABLE_AMI_VALIDATION).
NODE_IMAGE = "ami-0e0e0e0e0e0e0e0e0"
_LIVE = ("pending", "running")


def _backend(account: str, region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account][region]


def vcpus(instance_type: str) -> int:
    return aws_facts.instance_vcpus(instance_type) or 2


def in_use(account: str, region: str) -> dict[str, int]:
    """Running and pending instances' vCPUs by quota key (`vcpus-standard`, `spot-vcpus-g-vt`, …)."""
    out: dict[str, int] = {}
    for instance in _backend(account, region).all_instances():
        group = aws_facts.vcpu_bucket(instance.instance_type)
        if instance.state not in _LIVE or group is None:
            continue
        key = f"{'spot-vcpus' if instance.lifecycle == 'spot' else 'vcpus'}-{group}"
        out[key] = out.get(key, 0) + vcpus(instance.instance_type)
    return out


def quota_key(instance_type: str, spot: bool) -> str | None:
    group = aws_facts.vcpu_bucket(instance_type)
    return None if group is None else f"{'spot-vcpus' if spot else 'vcpus'}-{group}"


def launch(cluster: EmulatedCluster, group: Obj, zone: str) -> tuple[str, str] | None:
    """The instance of a new node and its private address, which names the node as EC2's private
    DNS names the instance (None when EC2 refuses it: the node never joins)."""
    backend = _backend(group["account"], cluster.region)
    subnets = group.get("subnets") or []
    in_zone = [s for s in subnets if _zone_of(backend, s) == zone]
    subnet = (in_zone or subnets or [None])[0]
    try:
        reservation = backend.run_instances(
            NODE_IMAGE,
            1,
            None,
            [],
            instance_type=group["instanceTypes"][0],
            is_instance_type_default=False,
            region_name=cluster.region,
            **({"subnet_id": subnet} if subnet else {"placement": zone}),
            **_template({**group, "region": cluster.region}),
            lifecycle="spot" if group.get("capacityType") == "SPOT" else None,
            tags={
                "instance": {
                    "eks:cluster-name": cluster.name,
                    **(group.get("instanceTags") or {"eks:nodegroup-name": group["name"]}),
                    **_template_tags(backend, group),
                }
            },
        )
    except Exception as exc:  # noqa: BLE001 - EC2's refusal is the group's health issue, as on EKS
        group["launchFailure"] = f"{getattr(exc, 'error_type', type(exc).__name__)}: {getattr(exc, 'message', exc)}"
        LOG.info("node group %s could not launch an instance: %s", group["name"], group["launchFailure"])
        _health(cluster, group, [_launch_issue(group["launchFailure"])])
        return None
    if group.pop("launchFailure", None):
        _health(cluster, group, [])
    instance = reservation.instances[0]
    _provisioned_performance(backend, instance, group)
    cluster.instances.add(str(instance.id))
    if "Name" not in {t["key"] for t in instance.get_tags()}:  # unless its launch template names it
        backend.create_tags([instance.id], {"Name": node_name(str(instance.private_ip), cluster.region)})
    return str(instance.id), str(instance.private_ip)


def node_name(address: str, region: str) -> str:
    """The node's name: its instance's private DNS name, as the kubelet registers it on EKS."""
    return f"ip-{address.replace('.', '-')}.{region}.compute.internal"


def _provisioned_performance(backend: Any, instance: Any, group: Obj) -> None:
    """moto creates a launch template's volumes without their Iops and Throughput; EC2 gives a
    volume what its block device mapping asks for."""
    ref = group.get("launchTemplate") or {}
    if not ref.get("Id"):
        return
    data = backend.get_launch_template(ref["Id"]).get_version(str(ref.get("Version") or "$Latest")).data
    wanted = {m["DeviceName"]: m.get("Ebs") or {} for m in data.get("BlockDeviceMappings") or []}
    for device, mapping in instance.get_block_device_mapping:
        ebs = wanted.get(device, {})
        volume = backend.get_volume(mapping.volume_id)
        volume.iops = int(ebs["Iops"]) if ebs.get("Iops") else volume.iops
        volume.throughput = int(ebs["Throughput"]) if ebs.get("Throughput") else volume.throughput


def _launch_issue(failure: str) -> Obj:
    """EKS's health issue for an Auto Scaling group that cannot launch (DescribeNodegroup)."""
    return {
        "code": "AsgInstanceLaunchFailures",
        "message": f"{failure} Launching EC2 instance failed.",
        "resourceIds": [f"eks-{uuid.uuid4().hex[:12]}"],
    }


def _health(cluster: EmulatedCluster, group: Obj, issues: list[Obj]) -> None:
    from moto.eks.models import eks_backends

    described = eks_backends[cluster.account][cluster.region].clusters.get(cluster.name)
    if described is not None and group["name"] in described.nodegroups:
        described.nodegroups[group["name"]].health = {"issues": issues}


def _template_tags(backend: Any, group: Obj) -> dict[str, str]:
    """The instance tags of the group's launch template (its TagSpecifications), which EC2 Auto
    Scaling gives the instances it launches from it (a Name there names them)."""
    ref = group.get("launchTemplate") or {}
    if not ref.get("Id"):
        return {}
    data = backend.get_launch_template(ref["Id"]).get_version(str(ref.get("Version") or "$Latest")).data
    specs = [t for t in data.get("TagSpecifications") or [] if t.get("ResourceType") == "instance"]
    return {tag["Key"]: tag["Value"] for spec in specs for tag in spec.get("Tags") or []}


def _template(group: Obj) -> dict[str, Any]:
    """Launched from the group's launch template, as its Auto Scaling group launches. The
    template's /dev/xvda is the AMI's root device (AL2023): it replaces the root volume moto would
    otherwise add at /dev/sda1, so the mappings are passed as the instance's own."""
    ref = group.get("launchTemplate") or {}
    if not ref.get("Id"):
        return {}
    template = {"LaunchTemplateId": ref["Id"], "Version": str(ref.get("Version") or "$Latest")}
    backend = _backend(group["account"], group.get("region") or "")
    mappings = backend.get_launch_template(ref["Id"]).get_version(template["Version"]).data.get("BlockDeviceMappings")
    return {"launch_template": template, **({"block_device_mappings": mappings} if mappings else {})}


def _zone_of(backend: Any, subnet_id: str) -> str:
    try:
        return str(backend.get_subnet(subnet_id).availability_zone)
    except Exception:  # noqa: BLE001 - a subnet moto does not know
        return ""


def reconcile(cluster: EmulatedCluster, wanted: set[str]) -> None:
    """Terminate the cluster's instances whose nodes are gone (all of them, for a deleted cluster)."""
    gone = sorted(cluster.instances - wanted)
    if gone:
        _backend(cluster.account, cluster.region).terminate_instances(gone)
        cluster.instances.difference_update(gone)
