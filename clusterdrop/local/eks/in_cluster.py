"""The controllers inside an emulated cluster that call AWS call the embedded AWS for real: over
HTTP, signed with the credentials their cluster gives them, so that the embedded IAM decides as
IAM would. A refusal is the controller's own failure — its pod crash-loops with what the
controller logs — and the workflow's readiness and validation steps see it as they would on AWS.

Credentials: EKS Pod Identity's. The agent on the node gives a pod the role of its service
account's association (eks-auth:AssumeRoleForPodIdentity), a role that must trust
pods.eks.amazonaws.com with sts:AssumeRole and sts:TagSession (EKS User Guide, "Create IAM role
with trust policy required by EKS Pod Identity"). Here the embedded STS assumes the role as EKS
would; a pod whose service account has no association, or a cluster without the agent add-on,
gets none (the node's instance role through IMDS is not offered to pods here: a gap).

Cilium's operator in ENI mode (IPAM eni): at start-up its ENI allocator synchronizes with EC2 —
instance types (for each type's ENI and address limits), VPCs, subnets, route tables
(route-table-aware subnet selection, 1.18+), security groups and the network interfaces — and
exits on a refusal with "Unable to start eni allocator" (Cilium's ENI IPAM documentation,
docs.cilium.io network/concepts/ipam/eni, "Required Privileges"). The emulated operator makes
those calls each time its pod starts; a running one is not asked again.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from typing import Any

from clusterdrop.local import iam_enforce
from clusterdrop.local.eks.emulation import LOG, EmulatedCluster, Obj, Settings

# The operator's initial synchronization, in the order its ENI allocator makes it: (EC2 API call,
# boto3 method).
CILIUM_ENI_STARTUP: tuple[tuple[str, str], ...] = (
    ("DescribeInstanceTypes", "describe_instance_types"),
    ("DescribeVpcs", "describe_vpcs"),
    ("DescribeSubnets", "describe_subnets"),
    ("DescribeRouteTables", "describe_route_tables"),
    ("DescribeSecurityGroups", "describe_security_groups"),
    ("DescribeNetworkInterfaces", "describe_network_interfaces"),
)
# How long a crash-looping pod waits before its program runs again (the kubelet's back-off, made
# short: the embedded clock runs faster).
RESTART_SECONDS = 2.0


def attach(cluster: EmulatedCluster, settings: Settings) -> None:
    """Give the cluster's kubelet the start-up of the controllers that call AWS."""
    if not settings.aws_endpoint:
        return  # no embedded AWS to call (the controllers stand as they did)
    cluster.reconciler.startup.append(_CiliumOperator(cluster, settings.aws_endpoint).refusal)
    cluster.reconciler.controllers.append(_EbsCsiController(cluster, settings.aws_endpoint).run)


class _CiliumOperator:
    def __init__(self, cluster: EmulatedCluster, endpoint: str):
        self.cluster = cluster
        self.endpoint = endpoint
        self.started: dict[str, tuple[float, str | None]] = {}  # pod uid → (when it ran, why it exited)
        self.lock = threading.Lock()

    def refusal(self, pod: Obj) -> str | None:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if labels.get("io.cilium/app") != "operator" or _ipam(self.cluster) != "eni":
            return None
        uid = str(pod["metadata"].get("uid", ""))
        with self.lock:
            ran = self.started.get(uid)
            if ran is not None and (ran[1] is None or time.monotonic() - ran[0] < RESTART_SECONDS):
                return ran[1]
            why = self._start(pod)
            self.started[uid] = (time.monotonic(), why)
        if why:
            LOG.info("cilium-operator %s exits: %s", pod["metadata"].get("name"), why)
        return why

    def _start(self, pod: Obj) -> str | None:
        namespace = pod["metadata"].get("namespace", "default")
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        credentials = pod_identity_credentials(self.cluster, namespace, account)
        if isinstance(credentials, str):
            return f"Unable to start eni allocator: {credentials}"
        ec2 = _client(self.endpoint, self.cluster.region, credentials)
        for action, method in CILIUM_ENI_STARTUP:
            try:
                getattr(ec2, method)()
            except Exception as exc:  # noqa: BLE001 - EC2's refusal is what the operator logs and exits on
                error = getattr(exc, "response", {}).get("Error", {})
                status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", "")
                return (
                    "Unable to start eni allocator: Initial synchronization with instances API failed: "
                    f"operation error EC2: {action}, https response error StatusCode: {status}, "
                    f"api error {error.get('Code', type(exc).__name__)}: {error.get('Message', exc)}"
                )
        return None


def _ipam(cluster: EmulatedCluster) -> str:
    config = cluster.api.store.objects[("", "configmaps")].get(("kube-system", "cilium-config")) or {}
    return str((config.get("data") or {}).get("ipam", ""))


def pod_identity_credentials(cluster: EmulatedCluster, namespace: str, service_account: str) -> dict[str, str] | str:
    """The credentials EKS Pod Identity's agent gives a pod of this service account, or why it
    gives none (what the pod's SDK then reports)."""
    from moto.iam.models import iam_backends

    if "eks-pod-identity-agent" not in cluster.addons:
        # The SDK asks the agent on its node (169.254.170.23); without the add-on nothing answers.
        return (
            "failed to refresh cached credentials, no EC2 IMDS role found (the EKS Pod Identity Agent add-on is "
            "not installed)"
        )
    found = [
        a
        for a in cluster.pod_identities.values()
        if a.get("Namespace") == namespace and a.get("ServiceAccount") == service_account
    ]
    if not found:
        return (
            "failed to refresh cached credentials, no EC2 IMDS role found (no EKS Pod Identity association for "
            f"service account {namespace}/{service_account})"
        )
    role_arn = str(found[0]["RoleArn"])
    try:
        role = iam_backends[cluster.account]["aws"].get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - moto's NoSuchEntity
        return f"failed to refresh cached credentials: the association's role {role_arn} does not exist"
    if not _trusts_pod_identity(json.loads(role.assume_role_policy_document)):
        return (
            "failed to refresh cached credentials: AccessDeniedException: the role's trust policy does not allow "
            "pods.eks.amazonaws.com to sts:AssumeRole and sts:TagSession"
        )
    key, secret, token = iam_enforce.assume(
        cluster.account, cluster.region, role_arn, f"eks-{cluster.name}-{service_account}", 6
    )
    return {"aws_access_key_id": key, "aws_secret_access_key": secret, "aws_session_token": token}


def _trusts_pod_identity(trust: Obj) -> bool:
    def listed(value: Any) -> list[str]:
        return [value] if isinstance(value, str) else list(value or [])

    actions: set[str] = set()
    for statement in trust.get("Statement", []):
        services = listed((statement.get("Principal") or {}).get("Service"))
        if statement.get("Effect") == "Allow" and "pods.eks.amazonaws.com" in services:
            actions.update(listed(statement.get("Action")))
    return {"sts:AssumeRole", "sts:TagSession"} <= actions


def _client(endpoint: str, region: str, credentials: dict[str, str]) -> Any:
    import boto3

    return boto3.session.Session(region_name=region, **credentials).client("ec2", endpoint_url=endpoint)


# --- the EBS CSI driver's controller ------------------------------------------------------------

EBS_PROVISIONER = "ebs.csi.aws.com"
# The add-on's controller runs as this service account (the add-on's manifest; EKS's guide gives
# it a role with AmazonEBSCSIDriverPolicy, through Pod Identity here).
EBS_CSI_SERVICE_ACCOUNT = ("kube-system", "ebs-csi-controller-sa")
_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def gib(quantity: str) -> int:
    """A storage request in whole GiB, rounded up, as the driver asks EC2 for it (at least 1)."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?)?", quantity.strip())
    if not found:
        return 1
    size = float(found.group(1)) * _UNITS.get(found.group(2) or "", 1)
    return max(1, math.ceil(size / 2**30))


class _EbsCsiController:
    """The driver's controller as its external-provisioner runs it (aws-ebs-csi-driver, docs and
    pkg/driver/controller.go): a claim of a class it provisions gets an EBS volume from
    CreateVolume — in the zone of the node its first consumer is scheduled on, for
    WaitForFirstConsumer — tagged CSIVolumeName, ebs.csi.aws.com/cluster=true and
    kubernetes.io/created-for/pvc|pv/…, then a PersistentVolume bound to it; a refusal is a
    Warning event ProvisioningFailed on the claim, retried. A released volume of reclaim policy
    Delete is deleted with DeleteVolume. (Attaching to the node is not emulated.)"""

    def __init__(self, cluster: EmulatedCluster, endpoint: str):
        self.cluster = cluster
        self.endpoint = endpoint
        self.retry_at: dict[str, float] = {}  # claim uid → when the provisioner tries again

    def run(self) -> None:
        store = self.cluster.api.store
        running = [
            p
            for p in store.objects[("", "pods")].values()
            if (p["metadata"].get("labels") or {}).get("app") == "ebs-csi-controller"
            and p["status"].get("phase") == "Running"
        ]
        if "aws-ebs-csi-driver" not in self.cluster.addons or not running:
            return
        classes = store.objects[("storage.k8s.io", "storageclasses")]
        default = next(
            (c for c in classes.values() if (c["metadata"].get("annotations") or {}).get(_DEFAULT_CLASS) == "true"),
            None,
        )
        for claim in list(store.objects[("", "persistentvolumeclaims")].values()):
            if (claim.get("status") or {}).get("phase") == "Bound":
                continue
            claim.setdefault("status", {})["phase"] = "Pending"
            named = claim["spec"].get("storageClassName")
            if named is None and default is not None:
                named = claim["spec"]["storageClassName"] = default["metadata"]["name"]
            found = classes.get(("", str(named)))
            if found is None or found.get("provisioner") != EBS_PROVISIONER:
                continue
            self._provision(claim, found)
        self._release()

    def _provision(self, claim: Obj, storage_class: Obj) -> None:
        store = self.cluster.api.store
        meta = claim["metadata"]
        uid, namespace, name = str(meta.get("uid", "")), meta.get("namespace", "default"), meta["name"]
        zone = None
        if storage_class.get("volumeBindingMode") == "WaitForFirstConsumer":
            zone = self._consumer_zone(namespace, name)
            if zone is None:
                return  # waiting for its first consumer to be scheduled
        if time.monotonic() < self.retry_at.get(uid, 0.0):
            return
        volume_name = f"pvc-{uid}"
        parameters = storage_class.get("parameters") or {}
        size = gib(str(((claim["spec"].get("resources") or {}).get("requests") or {}).get("storage", "1Gi")))
        credentials = pod_identity_credentials(self.cluster, *EBS_CSI_SERVICE_ACCOUNT)
        try:
            if isinstance(credentials, str):
                raise RuntimeError(credentials)
            ec2 = _client(self.endpoint, self.cluster.region, credentials)
            tags = {
                "CSIVolumeName": volume_name,
                "ebs.csi.aws.com/cluster": "true",
                "kubernetes.io/created-for/pvc/name": name,
                "kubernetes.io/created-for/pvc/namespace": namespace,
                "kubernetes.io/created-for/pv/name": volume_name,
            }
            made = ec2.create_volume(
                AvailabilityZone=zone or f"{self.cluster.region}a",
                Size=size,
                VolumeType=str(parameters.get("type", "gp3")),
                Encrypted=str(parameters.get("encrypted", "false")).lower() == "true",
                **({"KmsKeyId": parameters["kmsKeyId"]} if parameters.get("kmsKeyId") else {}),
                TagSpecifications=[
                    {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
                ],
            )
        except Exception as exc:  # noqa: BLE001 - EC2's refusal is the claim's event, as the provisioner reports it
            self.retry_at[uid] = time.monotonic() + RESTART_SECONDS
            _event(
                store,
                claim,
                "ProvisioningFailed",
                f'failed to provision volume with StorageClass "{storage_class["metadata"]["name"]}": rpc error: '
                f'code = Internal desc = Could not create volume "{volume_name}": could not create volume in EC2: '
                f"{_api_error('CreateVolume', exc)}",
            )
            return
        modes = claim["spec"].get("accessModes") or ["ReadWriteOnce"]
        volume: Obj = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume_name, "annotations": {"pv.kubernetes.io/provisioned-by": EBS_PROVISIONER}},
            "spec": {
                "capacity": {"storage": f"{size}Gi"},
                "accessModes": modes,
                "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
                "storageClassName": storage_class["metadata"]["name"],
                "claimRef": {"kind": "PersistentVolumeClaim", "namespace": namespace, "name": name, "uid": uid},
                "csi": {"driver": EBS_PROVISIONER, "volumeHandle": made["VolumeId"], "fsType": "ext4"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [made["AvailabilityZone"]]}
                ]}]}},
            },
        }  # fmt: skip
        store.create(store.types[("", "persistentvolumes")], "v1", None, volume, manager="csi-provisioner")
        store.objects[("", "persistentvolumes")][("", volume_name)]["status"] = {"phase": "Bound"}
        claim["spec"]["volumeName"] = volume_name
        claim["status"] = {
            "phase": "Bound",
            "accessModes": modes,
            "capacity": {"storage": f"{size}Gi"},
        }
        _event(store, claim, "ProvisioningSucceeded", f"Successfully provisioned volume {volume_name}", kind="Normal")

    def _consumer_zone(self, namespace: str, claim: str) -> str | None:
        store = self.cluster.api.store
        for pod in store.objects[("", "pods")].values():
            if pod["metadata"].get("namespace") != namespace or not pod["spec"].get("nodeName"):
                continue
            claims = {
                ((v.get("persistentVolumeClaim") or {}).get("claimName")) for v in pod["spec"].get("volumes") or []
            }
            if claim in claims:
                node = store.objects[("", "nodes")].get(("", pod["spec"]["nodeName"]))
                return ((node or {}).get("metadata", {}).get("labels") or {}).get("topology.kubernetes.io/zone")
        return None

    def _release(self) -> None:
        """Volumes whose claim is gone, of reclaim policy Delete: deleted in EC2, then the volume object."""
        store = self.cluster.api.store
        claims = {
            (c["metadata"].get("namespace"), c["metadata"]["name"])
            for c in store.objects[("", "persistentvolumeclaims")].values()
        }
        for key, volume in list(store.objects[("", "persistentvolumes")].items()):
            spec = volume["spec"]
            ref = spec.get("claimRef") or {}
            if (spec.get("csi") or {}).get("driver") != EBS_PROVISIONER or (
                ref.get("namespace"),
                ref.get("name"),
            ) in claims:
                continue
            if spec.get("persistentVolumeReclaimPolicy", "Delete") != "Delete":
                volume["status"] = {"phase": "Released"}
                continue
            credentials = pod_identity_credentials(self.cluster, *EBS_CSI_SERVICE_ACCOUNT)
            try:
                if isinstance(credentials, str):
                    raise RuntimeError(credentials)
                _client(self.endpoint, self.cluster.region, credentials).delete_volume(
                    VolumeId=spec["csi"]["volumeHandle"]
                )
            except Exception as exc:  # noqa: BLE001 - the volume stays Failed, with why
                volume["status"] = {"phase": "Failed", "message": _api_error("DeleteVolume", exc)}
                continue
            del store.objects[("", "persistentvolumes")][key]


def _api_error(operation: str, exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    if not error:
        return str(exc)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    return (
        f"operation error EC2: {operation}, https response error StatusCode: {status}, "
        f"api error {error.get('Code', '')}: {error.get('Message', '')}"
    )


def _event(store: Any, about: Obj, reason: str, message: str, *, kind: str = "Warning") -> None:
    """An Event on the object, counted when it repeats (as the event recorder aggregates them)."""
    meta = about["metadata"]
    namespace = meta.get("namespace", "default")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for event in store.objects[("", "events")].values():
        involved = event.get("involvedObject") or {}
        if involved.get("uid") == meta.get("uid") and event.get("reason") == reason and event.get("message") == message:
            event["count"] = int(event.get("count", 1)) + 1
            event["lastTimestamp"] = now
            return
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
        "involvedObject": {"kind": about.get("kind", ""), "namespace": namespace, "name": meta["name"],
                           "uid": meta.get("uid", "")},
        "reason": reason,
        "message": message,
        "type": kind,
        "source": {"component": "ebs.csi.aws.com_ebs-csi-controller"},
        "count": 1,
        "firstTimestamp": now,
        "lastTimestamp": now,
    }  # fmt: skip
    store.create(store.types[("", "events")], "v1", namespace, body, manager="csi-provisioner")
