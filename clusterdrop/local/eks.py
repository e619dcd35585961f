"""EKS for the embedded mode, where moto has gaps: AWS::EKS::Cluster, Nodegroup, AccessEntry and
Addon in CloudFormation, the EKS add-ons API, a Kubernetes API emulator per cluster (its URL is
the cluster's endpoint), and a node simulator — what kwok does for real clusters: the nodes a
node group asks for register with the usual labels and taints, NotReady ("cni plugin not
initialized") until a CNI's DaemonSet exists, then Ready; workloads report rolled out once
nodes exist, and their pods run.

Faults for the failure paths: `stack-failure` (the EKS cluster fails to create, with a
real-looking reason) and `nodes-not-ready` (nodes never turn Ready).
"""

from __future__ import annotations

import base64
import email
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import yaml
from moto.cloudformation import models as cfn_models
from moto.core.common_models import CloudFormationModel
from moto.core.utils import utcnow
from moto.eks import models as eks_models
from moto.eks import responses as eks_responses
from moto.eks import urls as eks_urls
from moto.eks.exceptions import ResourceNotFoundException

from clusterdrop import facts
from clusterdrop.kube.nodes import NODEGROUP_LABEL
from clusterdrop.local import eks_addons
from clusterdrop.local.kubeapi import KubeApiServer, scheduler, workloads
from clusterdrop.local.kubeapi.errors import ApiError
from clusterdrop.local.kubeapi.store import Store

Obj = dict[str, Any]
LOG = logging.getLogger(__name__)

NOT_READY_MESSAGE = (
    "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
    "message:Network plugin returns error: cni plugin not initialized"
)
CAPACITY_FAILURE = (
    "Cannot create cluster '{name}' because {zone}, the targeted availability zone, does not currently have "
    "sufficient capacity to support the cluster. Retry and choose from these availability zones: {others} "
    "(Service: Eks, Status Code: 400, Request ID: {request})"
)
# The taints a NotReady node carries: the kubelet registers with the NoSchedule one, the node
# lifecycle controller adds NoExecute; both go when the node turns Ready.
NOT_READY_TAINTS = [
    {"key": scheduler.NOT_READY_TAINT, "effect": "NoSchedule"},
    {"key": scheduler.NOT_READY_TAINT, "effect": "NoExecute"},
]


class SimulatedFailure(Exception):
    """A resource fails the way AWS would make it fail."""

    def __init__(self, logical_id: str, resource_type: str, reason: str):
        super().__init__(reason)
        self.logical_id, self.resource_type, self.reason = logical_id, resource_type, reason


@dataclass
class EmulatedCluster:
    name: str
    region: str
    api: KubeApiServer
    zones: list[str]
    version: str = "1.36"
    addons: dict[str, Obj] = field(default_factory=dict)
    access_entries: dict[str, Obj] = field(default_factory=dict)
    nodegroups: dict[str, Obj] = field(default_factory=dict)
    reconciler: workloads.Reconciler = field(init=False)

    def __post_init__(self) -> None:
        store = self.api.store
        self.reconciler = workloads.Reconciler(store)
        store.admission.append(lambda operation, rtype, obj: workloads.admission(store, operation, rtype, obj))


@dataclass
class Settings:
    faults: set[str] = field(default_factory=set)
    node_ready_delay: float = 0.0  # seconds between a group's first node registering and turning Ready
    # A new cluster's API answers 401 for this long from its first request, as EKS does while
    # the caller's access entry propagates (on AWS: seconds, sometimes a minute or two).
    access_delay: float = 1.5


class EksEmulation:
    """The state the CloudFormation models, the add-ons API and the node simulator share."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.clusters: dict[str, EmulatedCluster] = {}
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._simulate, name="node-simulator", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        for cluster in list(self.clusters.values()):
            cluster.api.stop()

    # --- the node simulator -------------------------------------------------------------

    def _simulate(self) -> None:
        while not self._stop.wait(0.1):
            with self.lock:
                clusters = list(self.clusters.values())
            for cluster in clusters:
                try:
                    self._tick(cluster)
                except Exception:
                    LOG.exception("node simulator tick failed for %s", cluster.name)

    def _tick(self, cluster: EmulatedCluster) -> None:
        store = cluster.api.store
        with store.lock:
            nodes_type = store.types[("", "nodes")]
            nodes = store.objects[("", "nodes")]
            wanted: dict[str, Obj] = {}
            for group in cluster.nodegroups.values():
                for i in range(group["desired"]):
                    zone = cluster.zones[i % len(cluster.zones)] if cluster.zones else f"{cluster.region}a"
                    # Named after its private address, as EC2 names instances.
                    address = f"10.0.{abs(hash(group['name'])) % 250}.{i + 10}"
                    name = f"ip-{address.replace('.', '-')}.{cluster.region}.compute.internal"
                    # Nodes of a group do not turn Ready at one instant: each a half delay later.
                    delay = self.settings.node_ready_delay * (1 + i / 2)
                    wanted[name] = {"group": group, "zone": zone, "delay": delay, "address": address}
            for key in [k for k in nodes if k[1] not in wanted]:
                del nodes[key]
            now = time.monotonic()
            networked = _networked_nodes(store)
            for name, info in wanted.items():
                group = info["group"]
                if ("", name) not in nodes:
                    store.create(nodes_type, "v1", None, _node(name, group, info["zone"], cluster.region))
                    nodes[("", name)]["_registered"] = now
                node = nodes[("", name)]
                # The kubelet reports Ready once the CNI's agent runs on the node and has written
                # its configuration; the node lifecycle controller then lifts the not-ready taints.
                ready = name in networked and "nodes-not-ready" not in self.settings.faults
                ready = ready and now - node.get("_registered", now) >= info["delay"]
                node["status"] = _node_status(ready, cluster.version, node, info["address"], group["maxPods"])
                own = [t for t in node["spec"].get("taints") or [] if t.get("key") != scheduler.NOT_READY_TAINT]
                node["spec"]["taints"] = own if ready else [*own, *NOT_READY_TAINTS]
            cluster.reconciler.run()


def _networked_nodes(store: Store) -> set[str]:
    """Nodes where a CNI agent's pod runs."""
    daemonsets = store.objects[("apps", "daemonsets")]
    out = set()
    for pod in store.objects[("", "pods")].values():
        ref = (pod["metadata"].get("ownerReferences") or [{}])[0]
        agent = (pod["metadata"].get("namespace", ""), ref.get("name", ""))
        agent_pod = ref.get("kind") == "DaemonSet" and agent in workloads.CNI_AGENTS and agent in daemonsets
        if agent_pod and workloads.pod_ready(pod):
            out.add(pod["spec"].get("nodeName", ""))
    return out


def _node(name: str, group: Obj, zone: str, region: str) -> Obj:
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "arm64" if "ARM" in group["amiType"] else "amd64",
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": zone,
        "node.kubernetes.io/instance-type": group["instanceTypes"][0],
        NODEGROUP_LABEL: group["name"],
        "eks.amazonaws.com/capacityType": group["capacityType"],
        **group["labels"],
    }
    effects = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}
    taints = [{"key": t["Key"], "value": t.get("Value", ""), "effect": effects[t["Effect"]]} for t in group["taints"]]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        # The kubelet registers the node with the not-ready taint.
        "spec": {"taints": [*taints, *NOT_READY_TAINTS], "providerID": f"aws:///{zone}/i-{uuid.uuid4().hex[:17]}"},
    }


def _node_status(ready: bool, version: str, node: Obj, address: str, max_pods: int) -> Obj:
    condition = (
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}
        if ready
        else {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": NOT_READY_MESSAGE}
    )
    arch = node["metadata"]["labels"]["kubernetes.io/arch"]
    uid = node["metadata"].get("uid", "")
    info = {  # every field: typed clients refuse a partial nodeInfo
        "kubeletVersion": f"v{version}.0-eks-local",
        "kubeProxyVersion": f"v{version}.0-eks-local",
        "osImage": "Amazon Linux 2023 (simulated)",
        "kernelVersion": "6.1.0-simulated",
        "architecture": arch,
        "operatingSystem": "linux",
        "containerRuntimeVersion": "containerd://2.0.0",
        "bootID": uid,
        "machineID": uid.replace("-", ""),
        "systemUUID": uid,
    }
    addresses = [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": node["metadata"]["name"]}]
    capacity = {"pods": str(max_pods)}  # what the kubelet reports from its maxPods
    return {
        "conditions": [condition],
        "nodeInfo": info,
        "addresses": addresses,
        "capacity": capacity,
        "allocatable": dict(capacity),
    }


def _install_addon(cluster: EmulatedCluster, addon: str, config: Obj) -> None:
    """Apply what the add-on ships (create, or replace with the new configuration)."""
    store = cluster.api.store
    with store.lock:
        for obj in eks_addons.objects(addon, config):
            group, _, version = obj["apiVersion"].rpartition("/")
            rtype = next(t for t in store.types.values() if t.group == group and t.kind == obj["kind"])
            namespace = obj["metadata"].get("namespace")
            current = store.objects[(rtype.group, rtype.plural)].get((namespace or "", obj["metadata"]["name"]))
            if current is None:
                store.create(rtype, version, namespace, obj, manager="eks")
            else:
                body = {
                    **obj,
                    "metadata": {**obj["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]},
                }
                store.replace(rtype, version, namespace, obj["metadata"]["name"], body)


# --- CloudFormation models --------------------------------------------------------------------

_EMULATION: EksEmulation | None = None


def _emulation() -> EksEmulation:
    assert _EMULATION is not None, "the EKS emulation is not installed"
    return _EMULATION


class EksClusterModel(CloudFormationModel):
    def __init__(self, name: str, arn: str, endpoint: str, security_group: str):
        self.name, self.arn, self.endpoint, self.security_group = name, arn, endpoint, security_group

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EKS::Cluster"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in (
            "Arn",
            "Endpoint",
            "ClusterSecurityGroupId",
            "CertificateAuthorityData",
            "OpenIdConnectIssuerUrl",
        )

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return {
            "Arn": self.arn,
            "Endpoint": self.endpoint,
            "ClusterSecurityGroupId": self.security_group,
            "CertificateAuthorityData": "",
            "OpenIdConnectIssuerUrl": "",
        }[attribute_name]

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> EksClusterModel:
        emulation = _emulation()
        p = cloudformation_json["Properties"]
        name = p.get("Name", resource_name)
        vpc = p["ResourcesVpcConfig"]
        if emulation.settings.faults & {"stack-failure", "rollback-failed"}:
            zone = f"{region_name}e"
            raise SimulatedFailure(
                kwargs.get("LogicalId", "Cluster"),
                "AWS::EKS::Cluster",
                CAPACITY_FAILURE.format(
                    name=name, zone=zone, others=f"{region_name}a, {region_name}b, {region_name}c", request=uuid.uuid4()
                ),
            )
        _refuse_unsupported_zones(name, account_id, region_name, vpc.get("SubnetIds", []), kwargs.get("LogicalId"))
        backend = eks_models.eks_backends[account_id][region_name]
        cluster = backend.create_cluster(
            name=name,
            role_arn=p["RoleArn"],
            resources_vpc_config=vpc,
            version=p.get("Version"),
            kubernetes_network_config=p.get("KubernetesNetworkConfig"),
            tags={t["Key"]: t["Value"] for t in p.get("Tags", [])},
        )
        version = str(p.get("Version") or "1.36")
        api = KubeApiServer(version=version, access_delay=emulation.settings.access_delay).start()
        cluster.endpoint = api.url
        cluster.certificate_authority = {"data": ""}
        zones = _subnet_zones(account_id, region_name, vpc.get("SubnetIds", []))
        with emulation.lock:
            emulation.clusters[name] = EmulatedCluster(
                name=name, region=region_name, api=api, zones=zones, version=version
            )
        return cls(name, cluster.arn, api.url, f"sg-{uuid.uuid4().hex[:17]}")

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> EksClusterModel:
        # A version change upgrades the control plane: DescribeCluster and the API's /version
        # follow (the other properties the templates set do not change what the emulator shows).
        version = str(cloudformation_json["Properties"].get("Version") or "")
        emulation = _emulation()
        cluster = emulation.clusters.get(original_resource.name)
        if version and cluster is not None:
            eks_models.eks_backends[account_id][region_name].clusters[cluster.name].version = version
            cluster.version = cluster.api.version = version
        return original_resource  # type: ignore[no-any-return]

    def delete(self, account_id: str, region_name: str) -> None:
        """moto deletes through this when a model has it (with resolved names)."""
        self.delete_from_cloudformation_json(self.name, {"Properties": {"Name": self.name}}, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        emulation = _emulation()
        name = cloudformation_json["Properties"].get("Name", resource_name)
        with emulation.lock:
            cluster = emulation.clusters.pop(name, None)
        if cluster is not None:
            cluster.api.stop()
        backend = eks_models.eks_backends[account_id][region_name]
        if name in backend.clusters:
            backend.clusters[name].nodegroups.clear()
            backend.delete_cluster(name)


DEPENDENCY_VIOLATION = (
    'Resource handler returned message: "resource {id} has a dependent object (Service: Ec2, Status Code: 400, '
    'Request ID: {request})" (RequestToken: {token}, HandlerErrorCode: GeneralServiceException)'
)


def delete_refusal(resource_type: str, logical_id: str, physical_id: str) -> SimulatedFailure | None:
    """The `delete-failed` fault: the cluster's control-plane security group refuses to go, as a
    security group still used by a network interface does (an ENI a load balancer or the VPC
    CNI left behind), with the reason CloudFormation records."""
    if _EMULATION is None or not _EMULATION.settings.faults & {"delete-failed", "rollback-failed"}:
        return None
    if resource_type != "AWS::EC2::SecurityGroup" or logical_id != "ControlPlaneSecurityGroup":
        return None
    reason = DEPENDENCY_VIOLATION.format(id=physical_id, request=uuid.uuid4(), token=uuid.uuid4())
    return SimulatedFailure(logical_id, resource_type, reason)


def _refuse_unsupported_zones(
    name: str, account_id: str, region: str, subnet_ids: list[str], logical_id: str | None
) -> None:
    """EKS places no control plane in some zones (by zone ID) and refuses a cluster subnet there
    with UnsupportedAvailabilityZoneException, listing the zones it would take."""
    from moto.ec2.models import ec2_backends

    unsupported = facts.EKS_UNSUPPORTED_ZONE_IDS.get(region, frozenset())
    backend = ec2_backends[account_id][region]
    refused = []
    for subnet_id in subnet_ids if unsupported else []:
        subnet = backend.subnets.get(_subnet_az(backend, subnet_id), {}).get(subnet_id)
        if subnet is not None and subnet.availability_zone_id in unsupported:
            refused.append(subnet.availability_zone)
    if refused:
        zones = backend.describe_availability_zones()
        valid = ", ".join(z.name for z in zones if z.zone_id not in unsupported)
        raise SimulatedFailure(
            logical_id or "Cluster",
            "AWS::EKS::Cluster",
            f"Resource handler returned message: \"Cannot create cluster '{name}' because EKS does not support "
            f"creating control plane instances in {refused[0]}, the targeted availability zone. Retry cluster "
            f"creation using control plane subnets that span at least two of these availability zones: {valid}. "
            f"Note, EKS does not support creating control plane instances in {refused[0]}. (Service: Eks, Status "
            f'Code: 400, Request ID: {uuid.uuid4()})" (HandlerErrorCode: InvalidRequest)',
        )


def _subnet_az(backend: Any, subnet_id: str) -> str:
    """The zone moto files a subnet under ("" for an id it does not know)."""
    return next((az for az, subnets in backend.subnets.items() if subnet_id in subnets), "")


def _subnet_zones(account_id: str, region: str, subnet_ids: list[str]) -> list[str]:
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[account_id][region]
    zones = []
    for subnet_id in subnet_ids:
        try:
            zones.append(backend.get_subnet(subnet_id).availability_zone)
        except Exception:  # noqa: BLE001 - an id moto does not know: keep going
            LOG.debug("subnet %s unknown to the emulator", subnet_id)
    return sorted(set(zones))


class EksNodegroupModel(CloudFormationModel):
    def __init__(self, cluster: str, name: str, arn: str):
        self.cluster, self.name, self.arn = cluster, name, arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return "NodegroupName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EKS::Nodegroup"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn", "NodegroupName", "ClusterName")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return {"Arn": self.arn, "NodegroupName": self.name, "ClusterName": self.cluster}[attribute_name]

    @property
    def physical_resource_id(self) -> str:
        return f"{self.cluster}/{self.name}"

    @staticmethod
    def _group(p: Obj, account_id: str, region: str) -> Obj:
        scaling = p.get("ScalingConfig") or {}
        return {
            "maxPods": _max_pods(p, account_id, region),
            "name": p["NodegroupName"],
            "desired": int(scaling.get("DesiredSize", 1)),
            "instanceTypes": p.get("InstanceTypes") or ["t3.medium"],
            "amiType": p.get("AmiType", "AL2023_x86_64_STANDARD"),
            "capacityType": p.get("CapacityType", "ON_DEMAND"),
            "labels": p.get("Labels") or {},
            "taints": p.get("Taints") or [],
        }

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> EksNodegroupModel:
        p = cloudformation_json["Properties"]
        _refuse_launch_template_conflicts(p, kwargs.get("LogicalId") or "NodeGroup")
        backend = eks_models.eks_backends[account_id][region_name]
        subnets = p["Subnets"] if isinstance(p["Subnets"], list) else str(p["Subnets"]).split(",")
        group = backend.create_nodegroup(
            cluster_name=p["ClusterName"],
            node_role=p["NodeRole"],
            nodegroup_name=p["NodegroupName"],
            subnets=subnets,
            **_described_nodegroup(p, backend.clusters[p["ClusterName"]].version),
        )
        emulation = _emulation()
        with emulation.lock:
            emulation.clusters[p["ClusterName"]].nodegroups[p["NodegroupName"]] = cls._group(p, account_id, region_name)
        return cls(p["ClusterName"], p["NodegroupName"], group.arn)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> EksNodegroupModel:
        p = cloudformation_json["Properties"]
        emulation = _emulation()
        if "update-rollback" in emulation.settings.faults:
            # EKS refuses the node group's update (here: its instances cannot launch); the stack
            # rolls back and the node group keeps its previous configuration.
            raise SimulatedFailure(
                "NodeGroup",
                "AWS::EKS::Nodegroup",
                f'Resource handler returned message: "Nodegroup {p["NodegroupName"]} failed to update: '
                "AsgInstanceLaunchFailures: Could not launch On-Demand Instances. InsufficientInstanceCapacity - "
                "We currently do not have sufficient capacity in the Availability Zone you requested. "
                f'(Service: Eks, Status Code: 400, Request ID: {uuid.uuid4()})" '
                "(HandlerErrorCode: GeneralServiceException)",
            )
        with emulation.lock:
            emulation.clusters[p["ClusterName"]].nodegroups[p["NodegroupName"]] = cls._group(p, account_id, region_name)
        # DescribeNodegroup answers what the update set (moto keeps the values it was created with).
        backend = eks_models.eks_backends[account_id][region_name]
        described = backend.clusters[p["ClusterName"]].nodegroups[p["NodegroupName"]]
        for attribute, value in _described_nodegroup(p, backend.clusters[p["ClusterName"]].version).items():
            setattr(described, attribute, value)
        described.modified_at = utcnow()
        return original_resource  # type: ignore[no-any-return]

    def delete(self, account_id: str, region_name: str) -> None:
        properties = {"ClusterName": self.cluster, "NodegroupName": self.name}
        self.delete_from_cloudformation_json(self.name, {"Properties": properties}, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        p = cloudformation_json["Properties"]
        emulation = _emulation()
        with emulation.lock:
            cluster = emulation.clusters.get(p["ClusterName"])
            if cluster is not None:
                cluster.nodegroups.pop(p["NodegroupName"], None)
        backend = eks_models.eks_backends[account_id][region_name]
        if p["ClusterName"] in backend.clusters and p["NodegroupName"] in backend.clusters[p["ClusterName"]].nodegroups:
            backend.delete_nodegroup(p["ClusterName"], p["NodegroupName"])


def _refuse_launch_template_conflicts(p: Obj, logical_id: str) -> None:
    """EKS's CreateNodegroup refuses a disk size or remote access beside a launch template: they
    belong in the template (InvalidParameterException)."""
    if not p.get("LaunchTemplate"):
        return
    for field_name, message in (
        ("DiskSize", "Disk size must be specified within the launch template."),
        ("RemoteAccess", "Remote access configuration cannot be specified with a launch template."),
    ):
        if p.get(field_name) is not None:
            raise SimulatedFailure(
                logical_id,
                "AWS::EKS::Nodegroup",
                f'Resource handler returned message: "{message} (Service: Eks, Status Code: 400, Request ID: '
                f'{uuid.uuid4()})" (HandlerErrorCode: InvalidRequest)',
            )


def _max_pods(p: Obj, account_id: str, region: str) -> int:
    """The kubelet's maxPods on the group's nodes: a nodeadm NodeConfig in the launch template's
    user data when it sets one, else what EKS's AMI sets (the VPC CNI's ENI-derived limit; 110,
    the kubelet's default, for an instance type outside the table)."""
    from moto.ec2.models import ec2_backends

    template_ref = p.get("LaunchTemplate") or {}
    if template_ref.get("Id"):
        template = ec2_backends[account_id][region].get_launch_template(template_ref["Id"])
        user_data = template.get_version(template_ref.get("Version") or "$Latest").data.get("UserData")
        message = email.message_from_bytes(base64.b64decode(str(user_data))) if user_data else None
        for part in message.walk() if message is not None else []:
            if part.get_content_type() == "application/node.eks.aws":
                config = yaml.safe_load(str(part.get_payload())) or {}
                pods = ((config.get("spec") or {}).get("kubelet") or {}).get("config", {}).get("maxPods")
                if pods:
                    return int(pods)
    limits = [facts.vpc_cni_max_pods(t) for t in p.get("InstanceTypes") or ["t3.medium"]]
    return min([n for n in limits if n is not None] or [110])


def _described_nodegroup(p: Obj, cluster_version: str) -> Obj:
    """What DescribeNodegroup reports for the node group's properties, in moto's attribute names:
    the version defaults to the cluster's, as EKS does; the release version is a stand-in in
    EKS's format (AL2023 AMI releases are `<version>.<patch>-<date>`)."""
    version = str(p.get("Version") or cluster_version)
    taints = [{"key": t["Key"], "value": t.get("Value", ""), "effect": t["Effect"]} for t in p.get("Taints") or []]
    described: Obj = {
        "scaling_config": {k[0].lower() + k[1:]: int(v) for k, v in (p.get("ScalingConfig") or {}).items()},
        "instance_types": p.get("InstanceTypes"),
        "labels": p.get("Labels") or {},
        "taints": taints,
        "capacity_type": p.get("CapacityType"),
        "ami_type": p.get("AmiType"),
        "disk_size": int(p.get("DiskSize") or 20),
        "tags": p.get("Tags") or {},
        "version": version,
        "release_version": f"{version}.0-20261115",
    }
    if p.get("RemoteAccess"):
        described["remote_access"] = {"ec2SshKey": p["RemoteAccess"].get("Ec2SshKey")}
    return described


class EksAccessEntryModel(CloudFormationModel):
    def __init__(self, arn: str):
        self.arn = arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return "PrincipalArn"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EKS::AccessEntry"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "AccessEntryArn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> EksAccessEntryModel:
        p = cloudformation_json["Properties"]
        arn = f"arn:aws:eks:{region_name}:{account_id}:access-entry/{p['ClusterName']}/{uuid.uuid4()}"
        emulation = _emulation()
        with emulation.lock:
            emulation.clusters[p["ClusterName"]].access_entries[p["PrincipalArn"]] = {"arn": arn, **p}
        return cls(arn)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> EksAccessEntryModel:
        return original_resource  # type: ignore[no-any-return]

    def delete(self, account_id: str, region_name: str) -> None:
        emulation = _emulation()
        with emulation.lock:
            for cluster in emulation.clusters.values():
                for principal in [k for k, v in cluster.access_entries.items() if v["arn"] == self.arn]:
                    del cluster.access_entries[principal]

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        return None


# --- EKS add-ons and access entries APIs (moto has neither) --------------------------------------


def addon_version(name: str, kubernetes: str) -> str:
    """The version the emulated EKS installs when none is asked for (EKS installs the add-on's
    default for the cluster's Kubernetes version): stand-ins in EKS's version format, not EKS's
    actual defaults, and for the VPC CNI deliberately not the catalog's pin — the workflow must
    report what EKS installed, not what it expected."""
    from clusterdrop.cni import catalog

    vpc_cni = catalog.find("aws-vpc-cni", None)
    defaults = {
        "vpc-cni": f"{vpc_cni.version if vpc_cni else 'v1.0.0'}-eksbuild.2",
        "kube-proxy": f"v{kubernetes}.0-eksbuild.1",
        "coredns": "v1.12.2-eksbuild.1",
    }
    return defaults.get(name, "v1.0.0-eksbuild.1")


def _addon_view(cluster: str, name: str, region: str, kubernetes: str = "1.36") -> Obj:
    return {
        "addonName": name,
        "clusterName": cluster,
        "status": "ACTIVE",
        "addonVersion": addon_version(name, kubernetes),
        "addonArn": f"arn:aws:eks:{region}:123456789012:addon/{cluster}/{name}/local",
        "health": {"issues": []},
        "tags": {},
    }


def _not_found(cluster: str, message: str, *, addon: str | None = None) -> ResourceNotFoundException:
    """EKS's ResourceNotFoundException, as moto shapes it (404 with the resource's names)."""
    return ResourceNotFoundException(
        clusterName=cluster, nodegroupName=None, fargateProfileName=None, addonName=addon, message=message
    )


def _addons_api() -> None:
    def _cluster(self: Any) -> EmulatedCluster:
        name = self.path.split("/clusters/")[1].split("/")[0]
        cluster = _emulation().clusters.get(name)
        if cluster is None:
            raise _not_found(name, f"No cluster found for name: {name}.")
        return cluster

    def create_addon(self: Any) -> Any:
        cluster = _cluster(self)
        body = json.loads(self.body or "{}")
        name = body["addonName"]
        try:
            config = eks_addons.check_configuration(name, body.get("configurationValues"))
        except ValueError as exc:
            return (
                400,
                {"x-amzn-ErrorType": "InvalidParameterException"},
                json.dumps({"message": str(exc), "clusterName": cluster.name, "addonName": name}),
            )
        cluster.addons[name] = _addon_view(cluster.name, name, cluster.region, cluster.version)
        if body.get("configurationValues"):
            cluster.addons[name]["configurationValues"] = body["configurationValues"]
        try:
            _install_addon(cluster, name, config)
        except ApiError as exc:
            LOG.warning("add-on %s could not apply its objects: %s", name, exc)
        return 200, {}, json.dumps({"addon": cluster.addons[name]})

    def list_addons(self: Any) -> Any:
        return 200, {}, json.dumps({"addons": sorted(_cluster(self).addons)})

    def describe_addon(self: Any) -> Any:
        cluster = _cluster(self)
        name = self.path.rstrip("/").split("/")[-1]
        if name not in cluster.addons:
            raise _not_found(cluster.name, f"No addon: {name} found in cluster: {cluster.name}", addon=name)
        return 200, {}, json.dumps({"addon": cluster.addons[name]})

    def _entry(self: Any) -> tuple[EmulatedCluster, Obj]:
        cluster = _cluster(self)
        # The principal is an ARN (with a '/'), URL-encoded in the raw path.
        tail = self.raw_path.split("/access-entries/", 1)[1].split("?", 1)[0]
        principal = unquote(tail.removesuffix("/access-policies"))
        entry = cluster.access_entries.get(principal)
        if entry is None:
            raise _not_found(cluster.name, f"The specified principalArn could not be found: {principal}")
        return cluster, entry

    def list_access_entries(self: Any) -> Any:
        return 200, {}, json.dumps({"accessEntries": sorted(_cluster(self).access_entries)})

    def describe_access_entry(self: Any) -> Any:
        cluster, entry = _entry(self)
        view = {
            "clusterName": cluster.name,
            "principalArn": entry["PrincipalArn"],
            "accessEntryArn": entry["arn"],
            "type": entry.get("Type", "STANDARD"),
            "kubernetesGroups": entry.get("KubernetesGroups", []),
            "username": entry.get("Username", entry["PrincipalArn"]),
            "tags": {t["Key"]: t["Value"] for t in entry.get("Tags", [])},
        }
        return 200, {}, json.dumps({"accessEntry": view})

    def list_associated_access_policies(self: Any) -> Any:
        cluster, entry = _entry(self)
        policies = [
            {"policyArn": a["PolicyArn"], "accessScope": {"type": a["AccessScope"]["Type"], **(
                {"namespaces": a["AccessScope"]["Namespaces"]} if "Namespaces" in a["AccessScope"] else {}
            )}}
            for a in entry.get("AccessPolicies", [])
        ]  # fmt: skip
        body = {"clusterName": cluster.name, "principalArn": entry["PrincipalArn"]}
        return 200, {}, json.dumps({**body, "associatedAccessPolicies": policies})

    eks_responses.EKSResponse.list_access_entries = list_access_entries  # type: ignore[attr-defined]
    eks_responses.EKSResponse.describe_access_entry = describe_access_entry  # type: ignore[attr-defined]
    eks_responses.EKSResponse.list_associated_access_policies = list_associated_access_policies  # type: ignore[attr-defined]
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/access-entries$"] = eks_urls.response.dispatch
    # Routed on the decoded path, where the ARN's '/' is a separator: one rule for both reads
    # (the action is then chosen on the raw path).
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>.+)$"] = eks_urls.response.dispatch
    eks_responses.EKSResponse.create_addon = create_addon  # type: ignore[attr-defined]
    eks_responses.EKSResponse.list_addons = list_addons  # type: ignore[attr-defined]
    eks_responses.EKSResponse.describe_addon = describe_addon  # type: ignore[attr-defined]
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/addons$"] = eks_urls.response.dispatch
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)$"] = eks_urls.response.dispatch


# --- failures as CloudFormation reports them ------------------------------------------------------


def resource_event(stack: Any, failure: SimulatedFailure, status: str) -> None:
    """A resource's event in a stack's history, with the reason AWS records."""
    stack.events.append(
        cfn_models.Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=failure.logical_id,
            physical_resource_id="",
            resource_type=failure.resource_type,
            resource_status=status,
            resource_status_reason=failure.reason,
            resource_properties=None,
        )
    )


def _rollback_refusal(template: Any) -> SimulatedFailure | None:
    """The `rollback-failed` fault: the rollback of a failed create cannot delete the cluster's
    control-plane security group (the same dependency `delete-failed` simulates)."""
    if _EMULATION is None or "rollback-failed" not in _EMULATION.settings.faults:
        return None
    if isinstance(template, str):
        template = json.loads(template)
    for logical_id, resource in (template.get("Resources") or {}).items():
        refusal = delete_refusal(resource.get("Type", ""), logical_id, f"sg-{uuid.uuid4().hex[:17]}")
        if refusal is not None:
            return refusal
    return None


def _failing_stacks() -> None:
    """A SimulatedFailure while a stack is created ends as AWS ends it: the resource
    CREATE_FAILED with its reason, the stack rolled back (ROLLBACK_COMPLETE). Executed change
    sets get their stack's outputs, as on AWS."""
    backend_cls = cfn_models.CloudFormationBackend
    original_execute = backend_cls.execute_change_set
    original_create = cfn_models.Stack.create_resources

    def _fail(stack: Any, failure: SimulatedFailure, *, update: bool = False, template: Any = None) -> None:
        """Create: the resource CREATE_FAILED, the stack ROLLBACK_COMPLETE. Update: the resource
        UPDATE_FAILED, the stack UPDATE_ROLLBACK_COMPLETE (back on its previous template)."""
        resource_event(stack, failure, "UPDATE_FAILED" if update else "CREATE_FAILED")
        verb, prefix = ("update", "UPDATE_") if update else ("create", "")
        stack._add_stack_event(
            f"{prefix}ROLLBACK_IN_PROGRESS",
            resource_status_reason=(
                f"The following resource(s) failed to {verb}: [{failure.logical_id}]. Rollback requested by user."
            ),
        )
        # The template being created: a change set's (moto does not parse it into the stack).
        stuck = _rollback_refusal(template or stack.template) if not update else None
        if stuck is not None:
            # The rollback deletes what the create made; a resource that refuses leaves the stack
            # ROLLBACK_FAILED, which only a delete (retaining that resource) gets out of.
            resource_event(stack, stuck, "DELETE_FAILED")
            stack._add_stack_event(
                "ROLLBACK_FAILED",
                resource_status_reason=f"The following resource(s) failed to delete: [{stuck.logical_id}]. ",
            )
            stack.status = "ROLLBACK_FAILED"
            return
        stack._add_stack_event(f"{prefix}ROLLBACK_COMPLETE")
        stack.status = f"{prefix}ROLLBACK_COMPLETE"

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name
        )
        try:
            original_execute(self, change_set_name, stack_name)
        except SimulatedFailure as failure:
            update = change_set.change_set_type == "UPDATE"
            _fail(self.stacks[change_set.stack_id], failure, update=update, template=change_set.template)
            return
        # moto computes a stack's outputs on create_stack and update, not on a change set.
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()  # moto sets the change set's template but does not parse it
        stack.output_map = stack._create_output_map()

    def create_resources(self: Any) -> None:
        try:
            original_create(self)
        except SimulatedFailure as failure:
            _fail(self, failure)

    backend_cls.execute_change_set = execute_change_set  # type: ignore[method-assign]
    cfn_models.Stack.create_resources = create_resources  # type: ignore[method-assign]


def install(aws: Any, settings: Settings | None = None) -> EksEmulation:
    """Add EKS to moto (before its server starts: routes are read at start)."""
    global _EMULATION
    from moto.cloudformation import parsing

    _EMULATION = EksEmulation(settings or Settings(faults=set(getattr(aws, "faults", set()))))
    for cache in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cache.cache_clear()
    _addons_api()
    _failing_stacks()
    return _EMULATION
