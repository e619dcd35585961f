"""AWS::EKS::Cluster, Nodegroup and AccessEntry for moto's CloudFormation, as strict as EKS where
clusterdrop's templates could go wrong (zones EKS refuses, a launch template beside a disk size)."""

from __future__ import annotations

import base64
import email
import time
import tomllib
import uuid
from typing import Any, ClassVar

import yaml
from moto.core.common_models import CloudFormationModel
from moto.core.utils import utcnow
from moto.eks import models as eks_models

from clusterdrop.local import aws_facts
from clusterdrop.local.eks import auth, automode, in_cluster, instances, nodes
from clusterdrop.local.eks.emulation import (
    LOG,
    EmulatedCluster,
    Obj,
    SimulatedFailure,
    current,
)
from clusterdrop.local.iam_policy import Request, evaluate
from clusterdrop.local.kubeapi import KubeApiServer, tls
from clusterdrop.local.kubeapi.store import Store

CAPACITY_FAILURE = (
    "Cannot create cluster '{name}' because {zone}, the targeted availability zone, does not currently have "
    "sufficient capacity to support the cluster. Retry and choose from these availability zones: {others} "
    "(Service: Eks, Status Code: 400, Request ID: {request})"
)


def _eks_refusal(logical_id: str, resource_type: str, message: str) -> SimulatedFailure:
    """EKS refusing a request (400, InvalidParameterException/InvalidRequestException), as the
    resource handler reports it in the stack's events."""
    return SimulatedFailure(
        logical_id,
        resource_type,
        f'Resource handler returned message: "{message} (Service: Eks, Status Code: 400, Request ID: '
        f'{uuid.uuid4()})" (HandlerErrorCode: InvalidRequest)',
    )


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
        emulation = current()
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
        _refuse_secrets_key(p, account_id, region_name, kwargs.get("LogicalId") or "Cluster")
        _refuse_auto_mode(p, account_id, kwargs.get("LogicalId") or "Cluster")
        backend = eks_models.eks_backends[account_id][region_name]
        cluster = backend.create_cluster(
            name=name,
            role_arn=p["RoleArn"],
            resources_vpc_config=vpc,
            version=p.get("Version"),
            kubernetes_network_config=p.get("KubernetesNetworkConfig"),
            tags={t["Key"]: t["Value"] for t in p.get("Tags", [])},
        )
        # moto keeps no VPC id for a cluster; EKS reports the one its subnets are in.
        cluster.clusterdrop_vpc_id = _vpc_of(account_id, region_name, vpc.get("SubnetIds") or [])  # type: ignore[attr-defined]
        _describe_as_set(cluster, p)
        _log_group(name, p, account_id, region_name)
        version = str(p.get("Version") or "1.36")
        service_cidr = (p.get("KubernetesNetworkConfig") or {}).get("ServiceIpv4Cidr", "172.20.0.0/16")
        api = KubeApiServer(
            store=Store(service_cidr=service_cidr),
            version=version,
            access_delay=emulation.settings.access_delay,
            # EKS admits a caller through the cluster's access entries only (eks/auth.py).
            authenticate=lambda header: auth.admitted(
                header, emulation.clusters[name].access_entries, account_id, region_name
            ),
            # What it may do: its entry's access policies.
            authorize=lambda principal, verb, route, namespaced: auth.authorized(
                emulation.clusters[name].access_entries[principal], principal, verb, route, namespaced
            ),
            # HTTPS, with the cluster's authority in DescribeCluster, as EKS serves it.
            tls=tls.authority().server_context(),
        ).start()
        cluster.endpoint = api.url
        cluster.certificate_authority = {"data": tls.authority().ca_data}
        zones = _subnet_zones(account_id, region_name, vpc.get("SubnetIds", []))
        with emulation.lock:
            emulated = emulation.clusters[name] = EmulatedCluster(
                name=name, region=region_name, api=api, zones=zones, version=version, account=account_id
            )
            in_cluster.attach(emulated, emulation.settings)
            _auto_mode(emulated, p, account_id)
        return cls(name, cluster.arn, api.url, f"sg-{uuid.uuid4().hex[:17]}")

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> EksClusterModel:
        # A version change upgrades the control plane: DescribeCluster and the API's /version
        # follow (the other properties the templates set do not change what the emulator shows).
        p = cloudformation_json["Properties"]
        version = str(p.get("Version") or "")
        emulation = current()
        cluster = emulation.clusters.get(original_resource.name)
        described = eks_models.eks_backends[account_id][region_name].clusters[original_resource.name]
        if version and cluster is not None and version != cluster.version:
            _refuse_cluster_version(cluster, version, account_id, region_name)
            # UpdateClusterVersion: the cluster UPDATING for minutes (CloudFormation waits it out,
            # the stack UPDATE_IN_PROGRESS), DescribeCluster and /version on the old version until done.
            described.status = "UPDATING"
            time.sleep(emulation.settings.control_plane_update_delay)
            described.version = version
            cluster.version = cluster.api.version = version
            described.status = "ACTIVE"
        # UpdateClusterConfig: logging, endpoint access and its CIDRs, Auto Mode's node pools;
        # tags by TagResource.
        _describe_as_set(described, p)
        if cluster is not None:
            _refuse_auto_mode(p, account_id, "Cluster")
            with emulation.lock:
                _auto_mode(cluster, p, account_id)
        _log_group(original_resource.name, p, account_id, region_name)
        return original_resource  # type: ignore[no-any-return]

    def delete(self, account_id: str, region_name: str) -> None:
        """moto deletes through this when a model has it (with resolved names)."""
        self.delete_from_cloudformation_json(self.name, {"Properties": {"Name": self.name}}, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        emulation = current()
        name = cloudformation_json["Properties"].get("Name", resource_name)
        with emulation.lock:
            cluster = emulation.clusters.pop(name, None)
        if cluster is not None:
            cluster.api.stop()
            instances.reconcile(cluster, set())  # its nodes' instances go with it
        backend = eks_models.eks_backends[account_id][region_name]
        if name in backend.clusters:
            backend.clusters[name].nodegroups.clear()
            backend.delete_cluster(name)


AUTO_NODE_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAutoNodePolicy"


def _refuse_auto_mode(p: Obj, account_id: str, logical_id: str) -> None:
    """EKS Auto Mode's rules at CreateCluster/UpdateClusterConfig ("Create an Amazon EKS Auto Mode
    cluster", "Amazon EKS cluster IAM role"): compute, block storage and load balancing are
    enabled together; built-in node pools need a node role; the cluster role's trust policy lets
    eks.amazonaws.com tag its sessions (sts:TagSession) as well as assume it."""
    from moto.iam.models import iam_backends

    compute = bool((p.get("ComputeConfig") or {}).get("Enabled"))
    storage = bool(((p.get("StorageConfig") or {}).get("BlockStorage") or {}).get("Enabled"))
    balancing = bool(((p.get("KubernetesNetworkConfig") or {}).get("ElasticLoadBalancing") or {}).get("Enabled"))
    problem = None
    if len({compute, storage, balancing}) > 1:
        problem = (
            "For EKS Auto Mode, computeConfig.enabled, kubernetesNetworkConfig.elasticLoadBalancing.enabled and "
            "storageConfig.blockStorage.enabled must all have the same value"
        )
    elif compute and (p["ComputeConfig"].get("NodePools") and not p["ComputeConfig"].get("NodeRoleArn")):
        problem = "computeConfig.nodeRoleArn is required when computeConfig.nodePools is set"
    elif compute:
        role_arn = str(p.get("RoleArn", ""))
        try:
            trust = iam_backends[account_id]["aws"].get_role(role_arn.rsplit("/", 1)[-1]).assume_role_policy_document
        except Exception:  # noqa: BLE001 - a role moto does not know: EKS's own check names it
            trust = "{}"
        asked = Request("sts:TagSession", role_arn, {}, {"Service": "eks.amazonaws.com"})
        if not evaluate([trust], asked).allowed:
            problem = (
                f"The cluster role {role_arn} must trust eks.amazonaws.com for sts:TagSession as well as "
                "sts:AssumeRole to use EKS Auto Mode"
            )
    if problem is not None:
        raise _eks_refusal(logical_id, "AWS::EKS::Cluster", problem)


def _auto_mode(cluster: EmulatedCluster, p: Obj, account_id: str) -> None:
    """The cluster's Auto Mode: its node pools, and the access entry EKS makes for their node
    role (type EC2, AmazonEKSAutoNodePolicy), which list-access-entries shows."""
    compute = p.get("ComputeConfig") or {}
    if not compute.get("Enabled"):
        return
    subnets = list((p.get("ResourcesVpcConfig") or {}).get("SubnetIds") or [])
    automode.enable(cluster, compute, subnets)
    role = str(compute.get("NodeRoleArn") or "")
    if role and role not in cluster.access_entries:
        region = cluster.region
        cluster.access_entries[role] = {
            "arn": f"arn:aws:eks:{region}:{account_id}:access-entry/{cluster.name}/role/{uuid.uuid4()}",
            "PrincipalArn": role,
            "Type": "EC2",
            "AccessPolicies": [{"PolicyArn": AUTO_NODE_POLICY, "AccessScope": {"Type": "cluster"}}],
        }


def _log_group(name: str, p: Obj, account_id: str, region: str) -> None:
    """EKS sends a cluster's control-plane logs to /aws/eks/<name>/cluster and makes that log
    group (without retention) when it does not exist; it never deletes it ("Send control plane
    logs to CloudWatch Logs", Amazon EKS User Guide). A group made beforehand (a template's, with a
    retention) is used as it is."""
    from moto.logs.models import logs_backends

    if not ((p.get("Logging") or {}).get("ClusterLogging") or {}).get("EnabledTypes"):
        return
    backend = logs_backends[account_id][region]
    group = f"/aws/eks/{name}/cluster"
    if group not in backend.groups:
        backend.create_log_group(group, {})


def _vpc_of(account_id: str, region: str, subnet_ids: list[str]) -> str:
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[account_id][region]
    for subnet_id in subnet_ids:
        subnet = backend.subnets.get(_subnet_az(backend, subnet_id), {}).get(subnet_id)
        if subnet is not None:
            return str(subnet.vpc_id)
    return ""


def _describe_as_set(described: Any, p: Obj) -> None:
    """What DescribeCluster reports for the template's properties, in EKS's API shape (moto keeps
    CloudFormation's property names and its own default logging)."""
    vpc = p.get("ResourcesVpcConfig") or {}
    described.resources_vpc_config = {
        # The VPC of the subnets, as EKS reports it (the subnets cannot move to another VPC).
        "vpcId": getattr(described, "clusterdrop_vpc_id", ""),
        "subnetIds": list(vpc.get("SubnetIds") or []),
        "securityGroupIds": list(vpc.get("SecurityGroupIds") or []),
        "endpointPublicAccess": bool(vpc.get("EndpointPublicAccess", True)),
        "endpointPrivateAccess": bool(vpc.get("EndpointPrivateAccess", False)),
        # EKS reports 0.0.0.0/0 for a public endpoint without CIDRs, nothing for a private one.
        "publicAccessCidrs": list(vpc.get("PublicAccessCidrs") or ["0.0.0.0/0"])
        if vpc.get("EndpointPublicAccess", True)
        else [],
    }
    enabled = [t["Type"] for t in ((p.get("Logging") or {}).get("ClusterLogging") or {}).get("EnabledTypes") or []]
    disabled = [t for t in aws_facts.eks_log_types() if t not in enabled]
    described.logging = {
        "clusterLogging": [
            *([{"types": enabled, "enabled": True}] if enabled else []),
            *([{"types": disabled, "enabled": False}] if disabled else []),
        ]
    }
    described.tags = {t["Key"]: t["Value"] for t in p.get("Tags", [])}
    # EKS Provisioned Control Plane: the tier set, else EKS's standard scaling.
    tier = (p.get("ControlPlaneScalingConfig") or {}).get("Tier", "standard")
    described.control_plane_scaling_config = {"tier": tier}
    described.encryption_config = [
        {"resources": e.get("Resources", ["secrets"]), "provider": {"keyArn": (e.get("Provider") or {}).get("KeyArn")}}
        for e in p.get("EncryptionConfig") or []
    ]
    compute = p.get("ComputeConfig") or {}
    described.compute_config = {
        "enabled": bool(compute.get("Enabled")),
        "nodePools": list(compute.get("NodePools") or []),
        **({"nodeRoleArn": compute["NodeRoleArn"]} if compute.get("NodeRoleArn") else {}),
    }
    storage = ((p.get("StorageConfig") or {}).get("BlockStorage") or {}).get("Enabled", False)
    described.storage_config = {"blockStorage": {"enabled": bool(storage)}}
    network = p.get("KubernetesNetworkConfig") or {}
    described.kubernetes_network_config = {
        "serviceIpv4Cidr": network.get("ServiceIpv4Cidr", "172.20.0.0/16"),
        "ipFamily": "ipv4",
        "elasticLoadBalancing": {"enabled": bool((network.get("ElasticLoadBalancing") or {}).get("Enabled"))},
    }
    # Zonal shift is off and the upgrade policy EXTENDED unless set (EKS's defaults for a new cluster).
    described.zonal_shift_config = {"enabled": bool((p.get("ZonalShiftConfig") or {}).get("Enabled", False))}
    described.upgrade_policy = {"supportType": (p.get("UpgradePolicy") or {}).get("SupportType", "EXTENDED")}


def _refuse_cluster_version(cluster: EmulatedCluster, version: str, account_id: str, region: str) -> None:
    """UpdateClusterVersion's rules: one minor version up at a time, never down, and every managed
    node group at the control plane's current version first (InvalidParameterException)."""
    message = None
    if _minor(version) != (_minor(cluster.version)[0], _minor(cluster.version)[1] + 1):
        message = f"Unsupported Kubernetes minor version update from {cluster.version} to {version}"
    groups = eks_models.eks_backends[account_id][region].clusters[cluster.name].nodegroups
    lagging = sorted(n for n, g in groups.items() if _minor(str(g.version)) != _minor(cluster.version))
    if message is None and lagging:
        message = (
            f"Nodegroups {', '.join(lagging)} must be updated to match cluster version {cluster.version} "
            "before updating cluster version"
        )
    if message is not None:
        raise _eks_refusal("Cluster", "AWS::EKS::Cluster", message)


def _refuse_unsupported_zones(
    name: str, account_id: str, region: str, subnet_ids: list[str], logical_id: str | None
) -> None:
    """EKS places no control plane in some zones (by zone ID) and refuses a cluster subnet there
    with UnsupportedAvailabilityZoneException, listing the zones it would take."""
    from moto.ec2.models import ec2_backends

    unsupported = aws_facts.EKS_UNSUPPORTED_ZONE_IDS.get(region, frozenset())
    backend = ec2_backends[account_id][region]
    refused = []
    for subnet_id in subnet_ids if unsupported else []:
        subnet = backend.subnets.get(_subnet_az(backend, subnet_id), {}).get(subnet_id)
        if subnet is not None and subnet.availability_zone_id in unsupported:
            refused.append(subnet.availability_zone)
    if refused:
        zones = backend.describe_availability_zones()
        valid = ", ".join(z.name for z in zones if z.zone_id not in unsupported)
        raise _eks_refusal(
            logical_id or "Cluster",
            "AWS::EKS::Cluster",
            f"Cannot create cluster '{name}' because EKS does not support creating control plane instances in "
            f"{refused[0]}, the targeted availability zone. Retry cluster creation using control plane subnets "
            f"that span at least two of these availability zones: {valid}. Note, EKS does not support creating "
            f"control plane instances in {refused[0]}.",
        )


def _refuse_secrets_key(p: Obj, account_id: str, region: str, logical_id: str) -> None:
    """EKS encrypts secrets only with a symmetric KMS key of the cluster's region that is enabled
    and that it can use (EKS User Guide, "Encrypt Kubernetes secrets with KMS"); another key fails
    the create with InvalidParameterException."""
    from moto.kms.models import kms_backends

    for entry in p.get("EncryptionConfig") or []:
        arn = str((entry.get("Provider") or {}).get("KeyArn", ""))
        parts = arn.split(":")
        problem = None
        if len(parts) < 6 or parts[3] != region:
            problem = f"KMS key {arn} is not in the cluster's region {region}"
        else:
            key = kms_backends[parts[4]][region].keys.get(parts[5].split("/", 1)[-1])
            if key is None:
                problem = f"KMS key {arn} does not exist"
            elif key.key_state != "Enabled":
                problem = f"KMS key {arn} is {key.key_state}; it must be enabled"
            elif key.key_spec != "SYMMETRIC_DEFAULT":
                problem = f"KMS key {arn} is {key.key_spec}; secrets encryption takes a symmetric key"
        if problem is not None:
            raise _eks_refusal(logical_id, "AWS::EKS::Cluster", problem)


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
        self.properties: Obj | None = None  # as last created or updated: what the next update changes

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
    def _group(p: Obj, account_id: str, region: str, version: str) -> Obj:
        scaling = p.get("ScalingConfig") or {}
        return {
            "version": version,
            "maxPods": _max_pods(p, account_id, region),
            "name": p["NodegroupName"],
            "desired": int(scaling.get("DesiredSize", 1)),
            "instanceTypes": p.get("InstanceTypes") or ["t3.medium"],
            "amiType": p.get("AmiType", "AL2023_x86_64_STANDARD"),
            "capacityType": p.get("CapacityType", "ON_DEMAND"),
            "labels": p.get("Labels") or {},
            "taints": p.get("Taints") or [],
            # How many nodes an update replaces at once: a count, or a percentage of the group
            # (rounded down, at least one), as EKS reads UpdateConfig.
            "maxUnavailable": _max_unavailable(p.get("UpdateConfig") or {}, int(scaling.get("DesiredSize", 1))),
            "account": account_id,
            "subnets": p["Subnets"] if isinstance(p["Subnets"], list) else str(p["Subnets"]).split(","),
            # The instances launch from the group's launch template (its volumes, its user data).
            "launchTemplate": p.get("LaunchTemplate") or {},
        }

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> EksNodegroupModel:
        p = cloudformation_json["Properties"]
        _refuse_launch_template_conflicts(p, kwargs.get("LogicalId") or "NodeGroup")
        _refuse_missing_key_pair(p, account_id, region_name, kwargs.get("LogicalId") or "NodeGroup")
        backend = eks_models.eks_backends[account_id][region_name]
        cluster_version = backend.clusters[p["ClusterName"]].version
        version = str(p.get("Version") or cluster_version)
        _refuse_version(p, version, cluster_version, None, kwargs.get("LogicalId") or "NodeGroup")
        subnets = p["Subnets"] if isinstance(p["Subnets"], list) else str(p["Subnets"]).split(",")
        desired = int((p.get("ScalingConfig") or {}).get("DesiredSize", 1))
        _refuse_launch(p, account_id, region_name, desired, kwargs.get("LogicalId") or "NodeGroup")
        described = _described_nodegroup(p, cluster_version)
        later = {k: described.pop(k) for k in ("update_config", "node_repair_config") if k in described}
        group = backend.create_nodegroup(
            cluster_name=p["ClusterName"],
            node_role=p["NodeRole"],
            nodegroup_name=p["NodegroupName"],
            subnets=subnets,
            **described,
        )
        for attribute, value in later.items():  # moto's create_nodegroup takes neither
            setattr(group, attribute, value)
        emulation = current()
        with emulation.lock:
            emulation.clusters[p["ClusterName"]].nodegroups[p["NodegroupName"]] = cls._group(
                p, account_id, region_name, version
            )
        made = cls(p["ClusterName"], p["NodegroupName"], group.arn)
        made.properties = dict(p)
        return made

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> EksNodegroupModel:
        p = cloudformation_json["Properties"]
        emulation = current()
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
        _refuse_combined_update(getattr(original_resource, "properties", None), p)
        backend = eks_models.eks_backends[account_id][region_name]
        described = backend.clusters[p["ClusterName"]].nodegroups[p["NodegroupName"]]
        cluster_version = backend.clusters[p["ClusterName"]].version
        version = str(p.get("Version") or cluster_version)
        _refuse_version(p, version, cluster_version, described.version, "NodeGroup")
        cluster = emulation.clusters[p["ClusterName"]]
        if p.get("LaunchTemplate") and not cluster.nodegroups[p["NodegroupName"]].get("launchTemplate"):
            # UpdateNodegroupVersion's launchTemplate (botocore's EKS model): "You can only update a
            # node group using a launch template if the node group was originally deployed with a
            # launch template."
            raise _eks_refusal(
                "NodeGroup",
                "AWS::EKS::Nodegroup",
                f"Nodegroup {p['NodegroupName']} was not created with a launch template and cannot be updated to "
                "use one.",
            )
        with emulation.lock:
            before = cluster.nodegroups[p["NodegroupName"]]
            # The version changes through the node-by-node update below, not at once.
            group = cls._group(p, account_id, region_name, before["version"])
            group.update(members=before.get("members", []), launched=before.get("launched", 0))
            cluster.nodegroups[p["NodegroupName"]] = group
        if version != before["version"]:
            try:
                nodes.update_version(
                    cluster,
                    emulation.lock,
                    p["NodegroupName"],
                    version,
                    emulation.settings,
                    force=bool(p.get("ForceUpdateEnabled")),
                )
            except nodes.NodegroupUpdateFailed as exc:
                instance = f"i-{uuid.uuid4().hex[:17]}"
                raise SimulatedFailure(
                    "NodeGroup",
                    "AWS::EKS::Nodegroup",
                    'Resource handler returned message: "[ErrorDetail('
                    f"ErrorCode={exc.code}, ErrorMessage={exc.message}, "
                    f'ResourceIds=[{instance}])] (Service: null, Status Code: 0, Request ID: null)" '
                    "(HandlerErrorCode: GeneralServiceException)",
                ) from None
        # DescribeNodegroup answers what the update set (moto keeps the values it was created with).
        for attribute, value in _described_nodegroup(p, cluster_version).items():
            setattr(described, attribute, value)
        described.modified_at = utcnow()
        original_resource.properties = dict(p)
        return original_resource  # type: ignore[no-any-return]

    def delete(self, account_id: str, region_name: str) -> None:
        properties = {"ClusterName": self.cluster, "NodegroupName": self.name}
        self.delete_from_cloudformation_json(self.name, {"Properties": properties}, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        p = cloudformation_json["Properties"]
        emulation = current()
        with emulation.lock:
            cluster = emulation.clusters.get(p["ClusterName"])
            if cluster is not None:
                cluster.nodegroups.pop(p["NodegroupName"], None)
        backend = eks_models.eks_backends[account_id][region_name]
        if p["ClusterName"] in backend.clusters and p["NodegroupName"] in backend.clusters[p["ClusterName"]].nodegroups:
            backend.delete_nodegroup(p["ClusterName"], p["NodegroupName"])


def _refuse_launch(p: Obj, account_id: str, region: str, count: int, logical_id: str) -> None:
    """A node group whose instances EC2 will not launch (a vCPU quota) fails as EKS fails it:
    CREATE_FAILED with the Auto Scaling group's launch failure as the health issue."""
    from clusterdrop.local import quotas

    instance_type = (p.get("InstanceTypes") or ["t3.medium"])[0]
    refusal = quotas.launch_refusal(account_id, region, instance_type, p.get("CapacityType") == "SPOT", count)
    refusal = refusal or _volume_key_refusal(p, account_id, region)
    if refusal is not None:
        code, message = refusal
        raise SimulatedFailure(
            logical_id,
            "AWS::EKS::Nodegroup",
            'Resource handler returned message: "[ErrorDetail(ErrorCode=AsgInstanceLaunchFailures, '
            f"ErrorMessage={code}: {message} Launching EC2 instance failed., "
            f"ResourceIds=[eks-{p['NodegroupName']}-{uuid.uuid4().hex[:8]}])] (Service: null, Status Code: 0, "
            'Request ID: null)" (HandlerErrorCode: GeneralServiceException)',
        )


def _volume_key_refusal(p: Obj, account_id: str, region: str) -> tuple[str, str] | None:
    """An instance whose volume's KMS key is missing, disabled, or not usable by the Auto Scaling
    service-linked role (which launches a managed node group's instances, with no KMS permissions
    but what the key policy or a grant gives it) does not start: EC2 terminates it with
    Client.InvalidKMSKey.InvalidState."""
    from moto.ec2.models import ec2_backends
    from moto.kms.models import kms_backends

    from clusterdrop.local.iam_policy import Request, evaluate

    template_ref = p.get("LaunchTemplate") or {}
    if not template_ref.get("Id"):
        return None
    template = ec2_backends[account_id][region].get_launch_template(template_ref["Id"])
    data = template.get_version(template_ref.get("Version") or "$Latest").data
    for mapping in data.get("BlockDeviceMappings") or []:
        arn = str((mapping.get("Ebs") or {}).get("KmsKeyId") or "")
        if not arn:
            continue
        parts = arn.split(":")
        key = kms_backends[parts[4]][parts[3]].keys.get(parts[5].split("/", 1)[-1]) if len(parts) > 5 else None
        if key is None or key.key_state != "Enabled":
            return "Client.InvalidKMSKey.InvalidState", f"The KMS key provided is in an incorrect state ({arn})"
        role = {"AWS": aws_facts.AUTOSCALING_ROLE.format(account=account_id)}
        usable = all(
            evaluate([key.policy], Request(action, arn, {"kms:GrantIsForAWSResource": "true"}, role)).allowed
            for action in aws_facts.AUTOSCALING_KEY_ACTIONS
        )
        granted = any(getattr(g, "grantee_principal", "") == role["AWS"] for g in getattr(key, "grants", {}).values())
        if not (usable or granted):
            why = f"The KMS key provided is in an incorrect state ({arn}: its key policy does not let "
            return "Client.InvalidKMSKey.InvalidState", why + "AWSServiceRoleForAutoScaling use it)"
    return None


def _max_unavailable(update: Obj, desired: int) -> int:
    if update.get("MaxUnavailablePercentage"):
        return max(1, desired * int(update["MaxUnavailablePercentage"]) // 100)
    return max(1, int(update.get("MaxUnavailable") or 1))


def _minor(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:2])


def _refuse_version(p: Obj, version: str, cluster_version: str, current: str | None, logical_id: str) -> None:
    """EKS keeps a managed node group at or below its control plane's version, and never takes one
    back to an older version (InvalidParameterException)."""
    message = None
    if _minor(version) > _minor(cluster_version):
        message = (
            f"Requested Nodegroup version {version} is newer than the cluster's Kubernetes version {cluster_version}."
        )
    elif current is not None and _minor(version) < _minor(current):
        message = f"Nodegroup {p['NodegroupName']} cannot be downgraded from {current} to {version}."
    elif current is None and p.get("Version") and _minor(version) != _minor(cluster_version):
        # CreateNodegroup's `version` (botocore's EKS model, the API reference): "By default, the
        # Kubernetes version of the cluster is used, and this is the only accepted specified value."
        message = (
            f"Requested Nodegroup version {version} is not the cluster's Kubernetes version {cluster_version}: a new "
            "node group takes the cluster's version."
        )
    if message is not None:
        raise _eks_refusal(logical_id, "AWS::EKS::Nodegroup", message)


# What the node group handler sends as one UpdateNodegroupVersion (the version, the AMI release,
# the launch template's version, and whether to force it); every other change is an
# UpdateNodegroupConfig or a TagResource. The handler refuses both kinds in one update: "Version and
# ReleaseVersion updates cannot be combined with other updates" (UPDATE_FAILED, as CloudFormation
# reports it: eksctl-io/eksctl#2565, aws/aws-cdk#16644; the AWS::EKS::Nodegroup reference notes
# that tag updates cannot be combined with a ReleaseVersion, Version or LaunchTemplate update).
_VERSION_UPDATE = ("Version", "ReleaseVersion", "LaunchTemplate", "ForceUpdateEnabled")


def _refuse_combined_update(before: Obj | None, after: Obj) -> None:
    if before is None:
        return
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    versioned = changed & {"Version", "ReleaseVersion", "LaunchTemplate"}
    if versioned and changed - set(_VERSION_UPDATE):
        message = "Version and ReleaseVersion updates cannot be combined with other updates"
        raise _eks_refusal("NodeGroup", "AWS::EKS::Nodegroup", message)


def _refuse_missing_key_pair(p: Obj, account_id: str, region: str, logical_id: str) -> None:
    """A node group's SSH key (RemoteAccess.Ec2SshKey, or its launch template's KeyName) must be an
    EC2 key pair of the region: EKS refuses the group (InvalidParameterException), and EC2 would
    refuse its instances (InvalidKeyPair.NotFound, "The key pair '…' does not exist")."""
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[account_id][region]
    name = str((p.get("RemoteAccess") or {}).get("Ec2SshKey") or "")
    template_ref = p.get("LaunchTemplate") or {}
    if not name and template_ref.get("Id"):
        template = backend.get_launch_template(template_ref["Id"])
        name = str(template.get_version(template_ref.get("Version") or "$Latest").data.get("KeyName") or "")
    if name and name not in backend.key_pairs:
        raise _eks_refusal(logical_id, "AWS::EKS::Nodegroup", f"The key pair '{name}' does not exist")


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
            raise _eks_refusal(logical_id, "AWS::EKS::Nodegroup", message)


def _max_pods(p: Obj, account_id: str, region: str) -> int:
    """The kubelet's maxPods on the group's nodes: a nodeadm NodeConfig in the launch template's
    user data when it sets one, else what EKS's AMI sets (the VPC CNI's ENI-derived limit; 110,
    the kubelet's default, for an instance type outside the table)."""
    from moto.ec2.models import ec2_backends

    template_ref = p.get("LaunchTemplate") or {}
    if template_ref.get("Id"):
        template = ec2_backends[account_id][region].get_launch_template(template_ref["Id"])
        user_data = template.get_version(template_ref.get("Version") or "$Latest").data.get("UserData")
        decoded = base64.b64decode(str(user_data)) if user_data else b""
        if str(p.get("AmiType", "")).startswith("BOTTLEROCKET") and decoded:
            # Bottlerocket's user data is TOML settings.
            settings = tomllib.loads(decoded.decode())
            pods = settings.get("settings", {}).get("kubernetes", {}).get("max-pods")
            if pods:
                return int(pods)
        message = email.message_from_bytes(decoded) if decoded else None
        for part in message.walk() if message is not None else []:
            if part.get_content_type() == "application/node.eks.aws":
                config = yaml.safe_load(str(part.get_payload())) or {}
                pods = ((config.get("spec") or {}).get("kubelet") or {}).get("config", {}).get("maxPods")
                if pods:
                    return int(pods)
    return min(aws_facts.eks_ami_max_pods(t) for t in p.get("InstanceTypes") or ["t3.medium"])


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
        # With a launch template the disk is the template's: EKS reports no diskSize.
        "disk_size": None if p.get("LaunchTemplate") else int(p.get("DiskSize") or 20),
        "tags": p.get("Tags") or {},
        "version": version,
        # AL2023 AMI releases are `<version>.<patch>-<date>`, Bottlerocket's `<release>-<commit>`.
        "release_version": (
            "1.50.0-5f6e7d8c" if str(p.get("AmiType", "")).startswith("BOTTLEROCKET") else f"{version}.0-20261115"
        ),
    }
    if p.get("RemoteAccess"):
        described["remote_access"] = {"ec2SshKey": p["RemoteAccess"].get("Ec2SshKey")}
    # Properties EKS reports back as they were given (CloudFormation's PascalCase, EKS's camelCase).
    for name, attribute in (("UpdateConfig", "update_config"), ("NodeRepairConfig", "node_repair_config"),
                            ("LaunchTemplate", "launch_template")):  # fmt: skip
        if p.get(name):
            described[attribute] = {k[0].lower() + k[1:]: v for k, v in p[name].items()}
    return described


class _Declared:
    """What moto asks of a CloudFormation model — its type, the property naming it, its
    attributes, its physical ID — read from class attributes. A mixin and not a CloudFormationModel
    subclass: moto finds models among CloudFormationModel's direct subclasses only."""

    CFN_TYPE: ClassVar[str]
    NAME_PROPERTY: ClassVar[str]
    ATTRIBUTES: ClassVar[tuple[tuple[str, str], ...]]  # (CloudFormation attribute, the instance's attribute)
    arn: str

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.CFN_TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in dict(cls.ATTRIBUTES)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return str(getattr(self, dict(self.ATTRIBUTES)[attribute_name]))

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        return None  # moto deletes through the model's delete()

    @staticmethod
    def _forget(cluster: str, held: str, key: str) -> None:
        """Drop a deleted resource from its emulated cluster's table `held` (the cluster may be gone)."""
        emulated = current().clusters.get(cluster)
        if emulated is not None:
            with current().lock:
                getattr(emulated, held).pop(key, None)


class EksPodIdentityModel(_Declared, CloudFormationModel):
    """AWS::EKS::PodIdentityAssociation: one service account's IAM role (EKS Pod Identity). EKS
    keeps one association per namespace and service account, and takes a role of the cluster's
    account (a role elsewhere goes in targetRoleArn)."""

    CFN_TYPE = "AWS::EKS::PodIdentityAssociation"
    NAME_PROPERTY = "AssociationId"
    ATTRIBUTES = (("AssociationArn", "arn"), ("AssociationId", "association_id"))

    def __init__(self, cluster: str, association_id: str, arn: str):
        self.cluster, self.association_id, self.arn = cluster, association_id, arn

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> EksPodIdentityModel:
        p = cloudformation_json["Properties"]
        logical_id = kwargs.get("LogicalId") or "PodIdentity"
        cluster = current().clusters[p["ClusterName"]]
        problem = None
        if str(p["RoleArn"]).split(":")[4:5] != [account_id]:
            problem = f"Role {p['RoleArn']} is not in the cluster's account {account_id}; use targetRoleArn"
        elif any(
            a["Namespace"] == p["Namespace"] and a["ServiceAccount"] == p["ServiceAccount"]
            for a in cluster.pod_identities.values()
        ):
            problem = f"Association already exists for {p['Namespace']}/{p['ServiceAccount']}"
        if problem is not None:
            raise _eks_refusal(logical_id, "AWS::EKS::PodIdentityAssociation", problem)
        association_id = f"a-{uuid.uuid4().hex[:17]}"
        arn = f"arn:aws:eks:{region_name}:{account_id}:podidentityassociation/{p['ClusterName']}/{association_id}"
        with current().lock:
            cluster.pod_identities[association_id] = {"associationId": association_id, "associationArn": arn, **p}
        return cls(p["ClusterName"], association_id, arn)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> EksPodIdentityModel:
        p = cloudformation_json["Properties"]
        cluster = current().clusters[original_resource.cluster]
        with current().lock:
            held = cluster.pod_identities[original_resource.association_id]
            for key in ("RoleArn", "TargetRoleArn", "DisableSessionTags", "Tags"):  # UpdatePodIdentityAssociation
                if key in p:
                    held[key] = p[key]
                else:
                    held.pop(key, None)
        return original_resource  # type: ignore[no-any-return]

    def delete(self, account_id: str, region_name: str) -> None:
        self._forget(self.cluster, "pod_identities", self.association_id)


class EksIdentityProviderModel(_Declared, CloudFormationModel):
    """AWS::EKS::IdentityProviderConfig: an OIDC provider whose ID tokens the API server accepts.
    EKS associates one per cluster ("Authenticate users for your cluster from an OIDC identity
    provider", Amazon EKS User Guide) and takes only an https:// issuer; every property is
    create-only (another value is a new configuration)."""

    CFN_TYPE = "AWS::EKS::IdentityProviderConfig"
    NAME_PROPERTY = "IdentityProviderConfigName"
    ATTRIBUTES = (("IdentityProviderConfigArn", "arn"),)

    def __init__(self, cluster: str, name: str, arn: str):
        self.cluster, self.name, self.arn = cluster, name, arn

    @property
    def physical_resource_id(self) -> str:
        return f"{self.name}|oidc|{self.cluster}"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> EksIdentityProviderModel:
        p = cloudformation_json["Properties"]
        cluster = current().clusters[p["ClusterName"]]
        name = p["IdentityProviderConfigName"]
        issuer = str((p.get("Oidc") or {}).get("IssuerUrl", ""))
        problem = None
        if cluster.identity_providers:
            problem = (
                f"Cluster {cluster.name} already has identity provider config {next(iter(cluster.identity_providers))} "
                "associated; a cluster takes one"
            )
        elif not issuer.startswith("https://"):
            problem = f"The issuer URL {issuer} must begin with https://"
        if problem is not None:
            raise _eks_refusal(
                kwargs.get("LogicalId") or "IdentityProvider", "AWS::EKS::IdentityProviderConfig", problem
            )
        arn = f"arn:aws:eks:{region_name}:{account_id}:identityproviderconfig/{cluster.name}/oidc/{name}/{uuid.uuid4()}"
        with current().lock:
            cluster.identity_providers[name] = {"arn": arn, **p}
        return cls(cluster.name, name, arn)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> EksIdentityProviderModel:
        # Only the tags change in place (every other property is create-only).
        cluster = current().clusters[original_resource.cluster]
        with current().lock:
            cluster.identity_providers[original_resource.name]["Tags"] = cloudformation_json["Properties"].get("Tags")
        return original_resource  # type: ignore[no-any-return]

    def delete(self, account_id: str, region_name: str) -> None:
        self._forget(self.cluster, "identity_providers", self.name)


# Names EKS keeps for itself (EKS User Guide, "Create access entries"): a username may not begin
# with them, and a Kubernetes group may not begin with system:.
RESERVED_USERNAME_PREFIXES = ("system:", "eks:", "aws:", "amazon:", "iam:")


def _check_access_entry(logical_id: str, p: dict[str, Any]) -> None:
    username = str(p.get("Username") or "")
    problem = None
    if username.lower().startswith(RESERVED_USERNAME_PREFIXES):
        problem = f"username {username} may not begin with {', '.join(RESERVED_USERNAME_PREFIXES)}"
    groups = [g for g in p.get("KubernetesGroups") or [] if str(g).startswith("system:")]
    if groups:
        problem = f"kubernetesGroups {', '.join(groups)}: a group may not begin with system:"
    # An entry of type EC2 (EKS Auto Mode's nodes) takes only AmazonEKSAutoNodePolicy, and no
    # username or groups (EKS User Guide, "Create access entries": access entry types).
    if p.get("Type") == "EC2":
        policies = [str(a.get("PolicyArn", "")).rsplit("/", 1)[-1] for a in p.get("AccessPolicies") or []]
        if any(name != "AmazonEKSAutoNodePolicy" for name in policies):
            problem = "The EC2 access entry type only supports the AmazonEKSAutoNodePolicy access policy"
        elif p.get("Username") or p.get("KubernetesGroups"):
            problem = "Username and kubernetesGroups cannot be specified for an access entry of type EC2"
    if problem is not None:
        raise _eks_refusal(logical_id, "AWS::EKS::AccessEntry", problem)


class EksAccessEntryModel(_Declared, CloudFormationModel):
    CFN_TYPE = "AWS::EKS::AccessEntry"
    NAME_PROPERTY = "PrincipalArn"
    ATTRIBUTES = (("AccessEntryArn", "arn"),)

    def __init__(self, arn: str):
        self.arn = arn

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> EksAccessEntryModel:
        p = cloudformation_json["Properties"]
        _check_access_entry(kwargs.get("LogicalId") or resource_name, p)
        arn = f"arn:aws:eks:{region_name}:{account_id}:access-entry/{p['ClusterName']}/{uuid.uuid4()}"
        emulation = current()
        with emulation.lock:
            emulation.clusters[p["ClusterName"]].access_entries[p["PrincipalArn"]] = {"arn": arn, **p}
        return cls(arn)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> EksAccessEntryModel:
        # Username, Kubernetes groups and access policies change in place; the principal cannot.
        p = cloudformation_json["Properties"]
        _check_access_entry(new_resource_name, p)
        emulation = current()
        with emulation.lock:
            entries = emulation.clusters[p["ClusterName"]].access_entries
            if p["PrincipalArn"] in entries:
                entries[p["PrincipalArn"]] = {"arn": entries[p["PrincipalArn"]]["arn"], **p}
        return original_resource  # type: ignore[no-any-return]

    def delete(self, account_id: str, region_name: str) -> None:
        emulation = current()
        with emulation.lock:
            for cluster in emulation.clusters.values():
                for principal in [k for k, v in cluster.access_entries.items() if v["arn"] == self.arn]:
                    del cluster.access_entries[principal]
