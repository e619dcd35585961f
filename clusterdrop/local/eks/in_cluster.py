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
import threading
import time
from typing import Any

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
    from moto.sts.models import sts_backends

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
    assumed = sts_backends[cluster.account]["aws"].assume_role(
        region_name=cluster.region,
        role_session_name=f"eks-{cluster.name}-{service_account}"[:64],
        role_arn=role_arn,
        policy="",
        duration=6 * 3600,
        external_id="",
    )
    return {
        "aws_access_key_id": assumed.access_key_id,
        "aws_secret_access_key": assumed.secret_access_key,
        "aws_session_token": assumed.session_token,
    }


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
