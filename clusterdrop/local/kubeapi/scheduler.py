"""Where a pod may run, decided as kube-scheduler's default filters and the DaemonSet controller
decide it, on plain API objects. CPU and memory requests are not modelled (nodes have room for
every pod's); everything else that makes a system pod Pending on EKS is: taints (`NoSchedule` and
`NoExecute` filter, `PreferNoSchedule` only ranks), `spec.unschedulable`, `nodeSelector`,
required node affinity, host ports, and the node's pod limit (the kubelet's maxPods).

The refusal reads as the scheduler writes it into the pod's `PodScheduled` condition, e.g.
`0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: db}. preemption: 0/3 nodes
are available: 3 Preemption is not helpful for scheduling.`
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

FILTERING = ("NoSchedule", "NoExecute")
NOT_READY_TAINT = "node.kubernetes.io/not-ready"

# What the DaemonSet controller adds to every pod it creates (util.AddOrUpdateDaemonPodTolerations):
# its pods stay through node conditions that would evict or keep out other pods.
DAEMON_TOLERATIONS: tuple[Obj, ...] = (
    {"key": NOT_READY_TAINT, "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
# ... and to those with hostNetwork, which need no pod network.
HOST_NETWORK_TOLERATION: Obj = {
    "key": "node.kubernetes.io/network-unavailable",
    "operator": "Exists",
    "effect": "NoSchedule",
}

# The reasons of the default filter plugins, in the order the scheduler runs them (the first
# that fails is the node's reason).
UNSCHEDULABLE = "node(s) were unschedulable"
AFFINITY = "node(s) didn't match Pod's node affinity/selector"
PORTS = "node(s) didn't have free ports for the requested pod ports"
# NodeResourcesFit on the node's allocatable pods (the kubelet's maxPods).
TOO_MANY_PODS = "Too many pods"


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """v1.Toleration.ToleratesTaint: an empty effect matches every effect, `Exists` with no key
    matches every taint, `Equal` (the default operator) compares the values."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if not key:  # Equal needs a key; the API server refuses the pod otherwise
        return False
    return (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated(tolerations: Iterable[Obj], taints: Iterable[Obj], effects: Iterable[str] = FILTERING) -> Obj | None:
    """The first taint with one of `effects` that no toleration matches."""
    tolerations, effects = list(tolerations), set(effects)
    for taint in taints:
        if taint.get("effect") in effects and not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def _expression(expr: Obj, values: dict[str, str]) -> bool:
    key, operator, wanted = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
    present = key in values
    if operator == "In":
        return present and values[key] in wanted
    if operator == "NotIn":
        return not present or values[key] not in wanted
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(wanted) == 1:
        try:
            have, bound = int(values[key]), int(wanted[0])
        except ValueError:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False


def _term(term: Obj, node: Obj) -> bool:
    """A NodeSelectorTerm: all its expressions and fields hold (an empty term matches nothing)."""
    expressions, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not expressions and not fields:
        return False
    labels = node["metadata"].get("labels") or {}
    node_fields = {"metadata.name": node["metadata"]["name"]}
    return all(_expression(e, labels) for e in expressions) and all(_expression(f, node_fields) for f in fields)


def matches_node(pod_spec: Obj, node: Obj) -> bool:
    """nodeSelector (every label equal) and requiredDuringSchedulingIgnoredDuringExecution (any term)."""
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    affinity = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if affinity is None:
        return True
    return any(_term(t, node) for t in affinity.get("nodeSelectorTerms") or [])


def host_ports(pod_spec: Obj) -> set[int]:
    """The node ports a pod takes: its hostPorts, and with hostNetwork every containerPort (the
    API server defaults hostPort to containerPort there)."""
    ports = set()
    for container in pod_spec.get("containers") or []:
        for port in container.get("ports") or []:
            host = port.get("hostPort") or (port.get("containerPort") if pod_spec.get("hostNetwork") else None)
            if host:
                ports.add(int(host))
    return ports


def taint_text(taint: Obj) -> str:
    return "{" + f"{taint.get('key', '')}: {taint.get('value') or ''}" + "}"


def _reason(pod_spec: Obj, node: Obj, used_ports: set[int], pods_on_node: int) -> str | None:
    spec = node.get("spec") or {}
    if spec.get("unschedulable") and not any(
        tolerates(t, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
        for t in pod_spec.get("tolerations") or []
    ):
        return UNSCHEDULABLE
    taint = untolerated(pod_spec.get("tolerations") or [], spec.get("taints") or [])
    if taint is not None:
        return f"node(s) had untolerated taint {taint_text(taint)}"
    if not matches_node(pod_spec, node):
        return AFFINITY
    if host_ports(pod_spec) & used_ports:
        return PORTS
    allocatable = ((node.get("status") or {}).get("allocatable") or {}).get("pods")
    if allocatable is not None and pods_on_node >= int(allocatable):
        return TOO_MANY_PODS
    return None


@dataclass(frozen=True)
class Decision:
    node: str | None
    message: str = ""


def schedule(pod_spec: Obj, nodes: list[Obj], pods_on: dict[str, list[Obj]], *, owner: str = "") -> Decision:
    """A node for the pod, or the scheduler's message. Among the nodes that fit: those whose
    PreferNoSchedule taints the pod tolerates first, then the fewest pods of the same owner (the
    default topology spreading), then the fewest pods, then the name."""
    if not nodes:
        return Decision(None, "no nodes available to schedule pods")
    reasons: Counter[str] = Counter()
    fitting = []
    for node in nodes:
        name = node["metadata"]["name"]
        on_node = pods_on.get(name, [])
        used = set().union(*(host_ports(p.get("spec") or {}) for p in on_node)) if on_node else set()
        reason = _reason(pod_spec, node, used, len(on_node))
        if reason is None:
            fitting.append(node)
        else:
            reasons[reason] += 1
    if not fitting:
        total = len(nodes)
        # As FitError.Error(): "<count> <reason>" strings, sorted as strings.
        listed = ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))
        return Decision(
            None,
            f"0/{total} nodes are available: {listed}. preemption: 0/{total} nodes are available: "
            f"{total} Preemption is not helpful for scheduling.",
        )

    def rank(node: Obj) -> tuple[int, int, int, str]:
        name = node["metadata"]["name"]
        on_node = pods_on.get(name, [])
        prefer_not = untolerated(
            pod_spec.get("tolerations") or [], (node.get("spec") or {}).get("taints") or [], ("PreferNoSchedule",)
        )
        same = sum(1 for p in on_node if owner and _owner(p) == owner)
        return (prefer_not is not None, same, len(on_node), name)

    return Decision(min(fitting, key=rank)["metadata"]["name"])


def _owner(pod: Obj) -> str:
    refs = pod["metadata"].get("ownerReferences") or [{}]
    return f"{refs[0].get('kind', '')}/{pod['metadata'].get('namespace', '')}/{refs[0].get('name', '')}"


def daemon_pod_spec(template_spec: Obj) -> Obj:
    """The pod spec the DaemonSet controller creates: the template plus its tolerations."""
    added = list(DAEMON_TOLERATIONS) + ([HOST_NETWORK_TOLERATION] if template_spec.get("hostNetwork") else [])
    return {**template_spec, "tolerations": [*(template_spec.get("tolerations") or []), *added]}


def daemon_should_run(template_spec: Obj, node: Obj) -> bool:
    """The DaemonSet controller's NodeShouldRunDaemonPod: the node matches the pod's selector and
    affinity and has no NoSchedule/NoExecute taint the daemon pod does not tolerate."""
    spec = daemon_pod_spec(template_spec)
    taints = (node.get("spec") or {}).get("taints") or []
    return matches_node(spec, node) and untolerated(spec["tolerations"], taints) is None
