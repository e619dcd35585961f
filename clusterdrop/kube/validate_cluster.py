"""Cluster validation as `kops validate cluster` does it: every node Ready, system pods Running
and Ready, CoreDNS Available. The result is a table the notification carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from clusterdrop.kube.nodes import NOT_READY_SHOWN, REASON_CHARS, NodeLister, node_progress
from clusterdrop.kube.readiness import Verdict, apiservice_available, cilium_verdicts, deployment_available, pod_ready

Obj = dict[str, Any]

# Namespaces whose pods are the cluster's plumbing: CNIs, DNS, kube-proxy, addons.
SYSTEM_NAMESPACES = ("kube-system", "calico-system", "tigera-operator", "kube-flannel")


class ClusterReader(NodeLister, Protocol):
    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj | None: ...

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]: ...


@dataclass(frozen=True)
class Row:
    kind: str
    name: str
    ok: bool
    message: str


# The kubelet may lag the API server by up to three minor versions (Kubernetes' version skew
# policy since 1.28) and never lead it.
KUBELET_SKEW = 3


def skew_problem(kubelet: str, control_plane: str) -> str | None:
    """Why kubelets of minor version `kubelet` may not serve a control plane at `control_plane`."""
    try:
        k_major, k_minor = (int(p) for p in kubelet.split(".")[:2])
        c_major, c_minor = (int(p) for p in control_plane.split(".")[:2])
    except ValueError:
        return None  # a version that does not say: nothing to compare
    if (k_major, k_minor) > (c_major, c_minor):
        return f"kubelet {kubelet} is newer than the control plane's {control_plane}"
    if k_major == c_major and c_minor - k_minor > KUBELET_SKEW:
        return (
            f"kubelet {kubelet} is more than {KUBELET_SKEW} minor versions behind the control plane's {control_plane}"
        )
    return None


@dataclass
class ClusterReport:
    rows: list[Row] = field(default_factory=list)
    kubelets: dict[str, int] = field(default_factory=dict)
    control_plane: str = ""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if not r.ok]

    def table(self) -> str:
        width_kind = max([len("KIND"), *(len(r.kind) for r in self.rows)])
        width_name = max([len("NAME"), *(len(r.name) for r in self.rows)])
        lines = [f"{'KIND'.ljust(width_kind)}  {'NAME'.ljust(width_name)}  STATUS  MESSAGE"]
        for r in self.rows:
            status = "ok" if r.ok else "FAIL"
            lines.append(f"{r.kind.ljust(width_kind)}  {r.name.ljust(width_name)}  {status.ljust(6)}  {r.message}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": [vars(r) for r in self.rows],
            "kubelets": self.kubelets,
            "controlPlane": self.control_plane,
        }


# EKS Auto Mode's objects in the cluster: the node class its built-in pools use, and the pools.
NODE_CLASS = ("eks.amazonaws.com/v1", "NodeClass", "default")
NODE_POOL_API = "karpenter.sh/v1"


def validate_cluster(
    kube: ClusterReader,
    expected_nodes: dict[str, int],
    control_plane: str = "",
    *,
    auto_mode: bool = False,
    cni: str | None = None,
) -> ClusterReport:
    """`control_plane`: the API server's minor version ("1.35"), to hold the kubelets to the skew
    Kubernetes allows ("" to skip). `auto_mode`: EKS Auto Mode runs DNS, kube-proxy and the CNI on
    its nodes, outside Kubernetes — its node class and node pools are checked instead of CoreDNS,
    and a cluster without workloads has no nodes and no system pods. A cluster asked to have no
    nodes (no node groups, or none with nodes: a control plane alone, as eksctl creates one) is
    validated as that: its system pods wait for nodes, unscheduled, and that is not a failure."""
    nodeless = not auto_mode and not any(expected_nodes.values())
    progress = node_progress(kube, expected_nodes)
    report = ClusterReport(kubelets=progress.kubelets, control_plane=control_plane)
    for minor, count in progress.kubelets.items():
        problem = skew_problem(minor, control_plane) if control_plane and minor else None
        report.rows.append(Row("Kubelets", minor or "unknown", problem is None, problem or f"{count} node(s)"))
    for name, group in progress.groups.items():
        ok = group.ready >= group.expected and group.registered >= group.expected
        report.rows.append(
            Row("NodeGroup", name, ok, f"{group.ready}/{group.expected} Ready, {group.registered} registered")
        )
    for node in progress.not_ready[:NOT_READY_SHOWN]:
        report.rows.append(Row("Node", node["name"], False, node["reason"][:REASON_CHARS]))
    more = len(progress.not_ready) - NOT_READY_SHOWN
    if more > 0:  # the report travels in the workflow's state: bounded, whatever the cluster's size
        common = ", ".join(f"{reason} ({count})" for reason, count in progress.reasons()[:3])
        report.rows.append(Row("Nodes", f"{more} more NotReady", False, f"most common: {common}"))
    if cni == "cilium":  # its guide's checks: operator, CRDs, agents, CiliumNodes, the taint lifted
        for what, verdict in cilium_verdicts(kube).items():
            kind, _, name = what.partition(" ")
            report.rows.append(Row(kind, name or what, verdict.ready, verdict.reason))
    if auto_mode:
        report.rows += _auto_mode_rows(kube)
    else:
        coredns = kube.get("apps/v1", "Deployment", "coredns", "kube-system")
        verdict = deployment_available(coredns) if coredns else Verdict(False, "not found")
        if nodeless and coredns and not verdict.ready:
            verdict = Verdict(True, f"waits for nodes, the cluster has none yet ({verdict.reason})")
        report.rows.append(Row("Deployment", "kube-system/coredns", verdict.ready, verdict.reason))
    # Every aggregated API must answer: an unavailable one (a metrics-server the control plane
    # cannot reach under an overlay CNI) breaks `kubectl top`, HPAs and namespace deletion.
    for apiservice in kube.list("apiregistration.k8s.io/v1", "APIService"):
        verdict = apiservice_available(apiservice)
        if not verdict.ready:
            report.rows.append(Row("APIService", apiservice["metadata"]["name"], False, verdict.reason))
    pods = waiting = 0
    for namespace in SYSTEM_NAMESPACES:
        for pod in kube.list("v1", "Pod", namespace):
            pods += 1
            verdict = pod_ready(pod)
            if not verdict.ready and nodeless and not (pod.get("spec") or {}).get("nodeName"):
                waiting += 1  # no node to run on, as asked
            elif not verdict.ready:
                name = f"{namespace}/{pod['metadata']['name']}"
                report.rows.append(Row("Pod", name, False, verdict.reason))
    if not any(r.kind == "Pod" for r in report.rows):
        none = "none: EKS Auto Mode runs the cluster's plumbing on its nodes" if auto_mode else "no system pods found"
        if waiting:
            reason = f"{pods - waiting} system pods Running and Ready, {waiting} waiting for nodes"
        else:
            reason = f"{pods} system pods Running and Ready" if pods else none
        report.rows.append(Row("Pods", "system", pods > 0 or auto_mode, reason))
    return report


def _ready_condition(obj: Obj | None) -> Verdict:
    if obj is None:
        return Verdict(False, "not found")
    conditions = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
    ready = conditions.get("Ready") or {}
    if ready.get("status") == "True":
        return Verdict(True, "Ready")
    return Verdict(False, ready.get("message") or ready.get("reason") or "no Ready condition yet")


def _auto_mode_rows(kube: ClusterReader) -> list[Row]:
    """EKS Auto Mode's node class and node pools, each Ready (their status conditions)."""
    api_version, kind, name = NODE_CLASS
    verdict = _ready_condition(kube.get(api_version, kind, name))
    rows = [Row(kind, name, verdict.ready, verdict.reason)]
    pools = kube.list(NODE_POOL_API, "NodePool")
    for pool in pools:
        verdict = _ready_condition(pool)
        rows.append(Row("NodePool", pool["metadata"]["name"], verdict.ready, verdict.reason))
    if not pools:
        # spec.nodePools: [] — the cluster's own NodePools come later; until then no node starts.
        rows.append(Row("NodePool", "none", True, "no node pool yet: no node starts until one is applied"))
    return rows
