"""EKS calls the workflow makes outside the VPC: the endpoint and CA, and managed add-ons."""

from __future__ import annotations

import json
from typing import Any

# clusterdrop addon name -> EKS add-on name
ADDONS = {"ebs-csi": "aws-ebs-csi-driver", "metrics-server": "metrics-server"}
# With BootstrapSelfManagedAddons false EKS installs neither: the workflow adds them.
CORE_ADDONS = ("kube-proxy", "coredns")

# System nodes may be tainted CriticalAddonsOnly, the taint EKS's own system workloads (CoreDNS,
# the EBS CSI controller) tolerate; metrics-server's chart tolerates nothing unless told.
CRITICAL_ADDONS_ONLY = {"key": "CriticalAddonsOnly", "operator": "Exists"}
# On EKS the control plane sits outside the pod network: under an overlay CNI it cannot reach pod
# addresses, so metrics-server (which serves the aggregated metrics.k8s.io API the control plane
# calls) runs on the node's network, as Calico's EKS guide prescribes, and on a port other than the
# chart's default 10250, which the kubelet holds on every node.
METRICS_SERVER_HOST_PORT = 4443


def addon_configuration(addon: str, *, overlay: bool) -> dict[str, Any] | None:
    """The configuration values clusterdrop gives an EKS add-on (None: the add-on's defaults)."""
    if addon != "metrics-server":
        return None
    values: dict[str, Any] = {"tolerations": [CRITICAL_ADDONS_ONLY]}
    if overlay:
        values.update(hostNetwork={"enabled": True}, containerPort=METRICS_SERVER_HOST_PORT)
    return values


def describe(eks: Any, cluster: str) -> dict[str, str]:
    described = eks.describe_cluster(name=cluster)["cluster"]
    return {
        "endpoint": described.get("endpoint", ""),
        "certificateAuthority": (described.get("certificateAuthority") or {}).get("data", ""),
        "version": described.get("version", ""),
        "status": described.get("status", ""),
    }


def ensure_addons(
    eks: Any, cluster: str, names: list[str], *, tags: dict[str, str], overlay: bool = False
) -> list[str]:
    """Create the add-ons that do not exist yet, with clusterdrop's configuration for the
    cluster's pod network; return the ones created."""
    existing = set(eks.list_addons(clusterName=cluster).get("addons", []))
    created = []
    for name in names:
        if name in existing:
            continue
        extra = {}
        values = addon_configuration(name, overlay=overlay)
        if values is not None:
            extra["configurationValues"] = json.dumps(values, sort_keys=True)
        eks.create_addon(clusterName=cluster, addonName=name, resolveConflicts="OVERWRITE", tags=tags, **extra)
        created.append(name)
    return created


def addon_statuses(eks: Any, cluster: str, names: list[str]) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = eks.describe_addon(clusterName=cluster, addonName=name)["addon"]["status"]
        except eks.exceptions.ResourceNotFoundException:
            out[name] = "MISSING"
    return out


def installed_versions(eks: Any, cluster: str) -> dict[str, str]:
    """Every add-on of the cluster with the version EKS installed (not the one expected)."""
    names = eks.list_addons(clusterName=cluster).get("addons", [])
    return {
        n: str(eks.describe_addon(clusterName=cluster, addonName=n)["addon"].get("addonVersion", "")) for n in names
    }
