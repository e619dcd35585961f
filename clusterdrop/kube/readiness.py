"""Readiness as pure predicates on API objects (plain dicts), the way kubectl rollout status
and `kops validate cluster` judge them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from clusterdrop.cni.install import CniInstall

Obj = dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    ready: bool
    reason: str = ""


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def daemonset_rolled_out(ds: Obj) -> Verdict:
    """Every scheduled pod ready and updated, at the current generation."""
    status = _status(ds)
    generation = (ds.get("metadata") or {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return Verdict(False, "the DaemonSet controller has not observed the latest generation")
    desired = status.get("desiredNumberScheduled", 0)
    ready = status.get("numberReady", 0)
    updated = status.get("updatedNumberScheduled", 0)
    if desired == ready == updated:
        return Verdict(True, f"{ready}/{desired} pods ready")
    return Verdict(False, f"{ready}/{desired} pods ready, {updated}/{desired} updated")


def deployment_available(deployment: Obj) -> Verdict:
    status = _status(deployment)
    generation = (deployment.get("metadata") or {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return Verdict(False, "the Deployment controller has not observed the latest generation")
    wanted = (deployment.get("spec") or {}).get("replicas", 1)
    for condition in status.get("conditions") or []:
        available = condition.get("type") == "Available" and condition.get("status") == "True"
        if available and status.get("updatedReplicas", 0) >= wanted:
            return Verdict(True, f"{status.get('availableReplicas', 0)}/{wanted} available")
    return Verdict(False, f"{status.get('availableReplicas', 0)}/{wanted} available")


def tigerastatus_available(ts: Obj) -> Verdict:
    """The Calico operator reports each component in a TigeraStatus: Available, not Degraded."""
    conditions = {c.get("type"): c for c in _status(ts).get("conditions") or []}
    degraded = conditions.get("Degraded")
    if degraded and degraded.get("status") == "True":
        return Verdict(False, f"degraded: {degraded.get('message') or degraded.get('reason', '')}")
    available = conditions.get("Available")
    if available and available.get("status") == "True":
        return Verdict(True, "available")
    progressing = conditions.get("Progressing")
    return Verdict(False, (progressing or {}).get("message") or "not available yet")


def node_ready(node: Obj) -> Verdict:
    """The node's Ready condition; for a NotReady node, the kubelet's reason and message."""
    for condition in _status(node).get("conditions") or []:
        if condition.get("type") == "Ready":
            if condition.get("status") == "True":
                return Verdict(True)
            reason = condition.get("reason") or "NotReady"
            message = condition.get("message") or ""
            return Verdict(False, f"{reason}: {message}" if message else reason)
    return Verdict(False, "no Ready condition reported yet")


def pod_problem(pod: Obj) -> str | None:
    """Why a pod cannot become ready by waiting: the scheduler found no node for it, or a
    container keeps crashing. None for a pod that is merely on its way."""
    status = _status(pod)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
            return f"Unschedulable: {condition.get('message', '')}"
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerError"):
            last = ((container.get("lastState") or {}).get("terminated") or {}).get("message")
            detail = waiting.get("message") or last or ""
            return f"{waiting['reason']}" + (f": {detail}" if detail else "")
    return None


def pod_ready(pod: Obj) -> Verdict:
    status = _status(pod)
    phase = status.get("phase", "Unknown")
    if phase == "Succeeded":
        return Verdict(True, "completed")
    problem = pod_problem(pod)
    if problem is not None:
        return Verdict(False, f"{phase} ({problem})")
    if phase != "Running":
        waiting = [
            (c.get("state") or {}).get("waiting", {}).get("reason")
            for c in status.get("containerStatuses") or []
            if (c.get("state") or {}).get("waiting")
        ]
        return Verdict(False, f"{phase}" + (f" ({', '.join(r for r in waiting if r)})" if any(waiting) else ""))
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            return Verdict(
                condition.get("status") == "True",
                "Running" if condition.get("status") == "True" else "Running, not Ready",
            )
    return Verdict(False, "Running, no Ready condition")


def apiservice_available(apiservice: Obj) -> Verdict:
    """kube-aggregator's Available condition (FailedDiscoveryCheck when the control plane cannot
    reach the pods behind it)."""
    for condition in _status(apiservice).get("conditions") or []:
        if condition.get("type") == "Available":
            if condition.get("status") == "True":
                return Verdict(True, "available")
            return Verdict(False, f"{condition.get('reason', 'Unavailable')}: {condition.get('message', '')}")
    return Verdict(False, "no Available condition reported yet")


class Getter(Protocol):
    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj | None: ...

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]: ...


def _pod_problems(kube: Getter, workload: Obj) -> str:
    """The first problem among a workload's pods (found by its selector), with how many share it."""
    labels = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not labels:
        return ""
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    namespace = workload["metadata"].get("namespace")
    problems = [p for p in (pod_problem(pod) for pod in kube.list("v1", "Pod", namespace, selector)) if p]
    if not problems:
        return ""
    return f"; {len(problems)} pod(s) {problems[0]}"


def workload_verdicts(kube: Getter, workloads: Iterable[tuple[str, str, str]]) -> dict[str, Verdict]:
    """Each (kind, namespace, name) DaemonSet or Deployment, read and judged; a workload that is
    not ready says why its pods are not (the scheduler's message, a crash) when they say."""
    out: dict[str, Verdict] = {}
    for kind, namespace, name in workloads:
        obj = kube.get("apps/v1", kind, name, namespace)
        key = f"{kind} {namespace}/{name}"
        if obj is None:
            out[key] = Verdict(False, "not found")
            continue
        verdict = daemonset_rolled_out(obj) if kind == "DaemonSet" else deployment_available(obj)
        if not verdict.ready:
            verdict = Verdict(False, verdict.reason + _pod_problems(kube, obj))
        out[key] = verdict
    return out


# --- a CNI's readiness -----------------------------------------------------------------------


def workloads(objects: list[Obj]) -> list[tuple[str, str, str]]:
    """The DaemonSets and Deployments a manifest creates: (kind, namespace, name)."""
    return [
        (o["kind"], o["metadata"].get("namespace") or "default", o["metadata"]["name"])
        for o in objects
        if o.get("kind") in ("DaemonSet", "Deployment")
    ]


# The CRDs Cilium's operator creates at start-up (the chart ships none), which the agents wait for.
CILIUM_CRDS = (
    "ciliumnodes.cilium.io",
    "ciliumendpoints.cilium.io",
    "ciliumidentities.cilium.io",
    "ciliumnetworkpolicies.cilium.io",
    "ciliumclusterwidenetworkpolicies.cilium.io",
)
CILIUM_AGENT_NOT_READY_TAINT = "node.cilium.io/agent-not-ready"


def crd_established(crd: Obj | None) -> Verdict:
    if crd is None:
        return Verdict(False, "not created yet")
    for condition in _status(crd).get("conditions") or []:
        if condition.get("type") == "Established" and condition.get("status") == "True":
            return Verdict(True, "established")
    return Verdict(False, "not established yet")


# Cilium's workloads on EKS, as its chart names them.
CILIUM_WORKLOADS = (
    ("Deployment", "kube-system", "cilium-operator"),
    ("DaemonSet", "kube-system", "cilium"),
    ("DaemonSet", "kube-system", "cilium-envoy"),
)


def cilium_verdicts(kube: Getter, objects: list[Obj] | None = None) -> dict[str, Verdict]:
    """Cilium as its EKS guide waits on it, in its order: the operator available, the CRDs it
    creates established, the agents and Envoy rolled out, a CiliumNode for every node, and the
    agent-not-ready taint gone from every node (the agent lifts it once it runs there).
    `objects`: the applied manifest (default: the chart's workloads by name)."""
    found = workloads(objects) if objects is not None else list(CILIUM_WORKLOADS)
    ordered = sorted(found, key=lambda w: w[0] != "Deployment")  # the operator first
    out = workload_verdicts(kube, ordered[:1])
    for name in CILIUM_CRDS:
        out[f"CustomResourceDefinition {name}"] = crd_established(
            kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        )
    out.update(workload_verdicts(kube, ordered[1:]))
    nodes = kube.list("v1", "Node")
    served = out[f"CustomResourceDefinition {CILIUM_CRDS[0]}"].ready
    known = {n["metadata"]["name"] for n in (kube.list("cilium.io/v2", "CiliumNode") if served else [])}
    missing = [n["metadata"]["name"] for n in nodes if n["metadata"]["name"] not in known]
    out["CiliumNode per-node"] = Verdict(
        not missing, f"missing for {', '.join(missing)}" if missing else f"{len(nodes)} node(s)"
    )
    tainted = [
        n["metadata"]["name"]
        for n in nodes
        if any(t.get("key") == CILIUM_AGENT_NOT_READY_TAINT for t in (n.get("spec") or {}).get("taints") or [])
    ]
    out[f"Taint {CILIUM_AGENT_NOT_READY_TAINT}"] = Verdict(
        not tainted, f"still on {', '.join(tainted)}" if tainted else "on no node"
    )
    return out


def cni_verdicts(plan: CniInstall, kube: Getter) -> dict[str, Verdict]:
    """Each workload of the CNI with its verdict; for the Calico operator, its TigeraStatus too;
    for Cilium, its guide's checks in its order."""
    if plan.release.name == "cilium":
        return cilium_verdicts(kube, plan.objects)
    out = workload_verdicts(kube, workloads(plan.objects))
    if plan.release.name == "calico" and plan.mode == "operator":
        statuses = kube.list("operator.tigera.io/v1", "TigeraStatus")
        if not any(s["metadata"]["name"] == "calico" for s in statuses):
            out["TigeraStatus calico"] = Verdict(False, "the operator has not reported yet")
        for status in statuses:
            out[f"TigeraStatus {status['metadata']['name']}"] = tigerastatus_available(status)
    return out


def all_ready(verdicts: dict[str, Verdict]) -> bool:
    return bool(verdicts) and all(v.ready for v in verdicts.values())
