"""What clusterdrop configures the EKS add-ons with: rendered like the templates, from the
spec, before anything is created (the plan shows it; the workflow passes it to CreateAddon)."""

from __future__ import annotations

from typing import Any

# System nodes may be tainted CriticalAddonsOnly, the taint EKS's own system workloads (CoreDNS,
# the EBS CSI controller) tolerate; metrics-server's chart tolerates nothing unless told.
CRITICAL_ADDONS_ONLY = {"key": "CriticalAddonsOnly", "operator": "Exists"}
# On EKS the control plane sits outside the pod network: under an overlay CNI it cannot reach pod
# addresses, so metrics-server (which serves the aggregated metrics.k8s.io API the control plane
# calls) runs on the node's network, as Calico's EKS guide prescribes, on a port of its own (EKS's
# add-on defaults to 10251, the upstream chart to the kubelet's 10250: set explicitly, the port
# does not depend on which default the installed version has).
METRICS_SERVER_HOST_PORT = 4443


def addon_configuration(addon: str, *, overlay: bool) -> dict[str, Any] | None:
    """The configuration values clusterdrop gives an EKS add-on (None: the add-on's defaults)."""
    if addon != "metrics-server":
        return None
    values: dict[str, Any] = {"tolerations": [CRITICAL_ADDONS_ONLY]}
    if overlay:
        values.update(hostNetwork={"enabled": True}, containerPort=METRICS_SERVER_HOST_PORT)
    return values
