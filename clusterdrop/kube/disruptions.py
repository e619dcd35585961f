"""Before a node group's nodes are replaced: the PodDisruptionBudgets that would stop the drain.

EKS drains each old node through the Eviction API and gives up after 15 minutes of refusals with
`PodEvictionFailure`, naming neither the pod nor the budget. A budget whose status allows no
disruption (`disruptionsAllowed: 0`) over a pod on a node still to be replaced is that failure
foretold: found here, it is reported by pod and budget before the group is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from clusterdrop.kube.nodes import NODEGROUP_LABEL, kubelet_minor

Obj = dict[str, Any]


class Lister(Protocol):
    def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]: ...


def selects(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A LabelSelector; in policy/v1 an empty selector selects every pod of the namespace, a
    missing one none."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
        held = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }
        if not held.get(str(op), False):
            return False
    return True


@dataclass(frozen=True)
class Blocked:
    pod: str  # namespace/name
    budget: str  # namespace/name
    node_group: str
    cause: str

    def sentence(self) -> str:
        return f"PodEvictionFailure: {self.pod} blocked by PodDisruptionBudget {self.budget} ({self.cause})"


def _is_daemon_pod(pod: Obj) -> bool:
    return any(r.get("kind") == "DaemonSet" for r in pod["metadata"].get("ownerReferences") or [])


def blocked_evictions(kube: Lister, control_plane: str, node_groups: dict[str, int]) -> list[Blocked]:
    """The pods on nodes still to be replaced (their kubelet behind `control_plane`, in one of
    clusterdrop's node groups) that no eviction may remove now, with the budget that forbids it.
    DaemonSet pods are not drained (EKS's drain ignores them)."""
    to_replace = {
        node["metadata"]["name"]: labels[NODEGROUP_LABEL]
        for node in kube.list("v1", "Node")
        if (labels := node["metadata"].get("labels") or {}).get(NODEGROUP_LABEL) in node_groups
        and kubelet_minor(node) not in ("", control_plane)
    }
    if not to_replace:
        return []
    stuck = [
        b
        for b in kube.list("policy/v1", "PodDisruptionBudget")
        if int((b.get("status") or {}).get("disruptionsAllowed", 0)) <= 0
    ]
    if not stuck:
        return []
    found = []
    for pod in kube.list("v1", "Pod"):
        node = (pod.get("spec") or {}).get("nodeName")
        if node not in to_replace or _is_daemon_pod(pod):
            continue
        meta = pod["metadata"]
        for budget in stuck:
            same_namespace = budget["metadata"].get("namespace") == meta.get("namespace")
            if same_namespace and selects((budget.get("spec") or {}).get("selector"), meta.get("labels") or {}):
                status = budget.get("status") or {}
                found.append(
                    Blocked(
                        pod=f"{meta['namespace']}/{meta['name']}",
                        budget=f"{budget['metadata']['namespace']}/{budget['metadata']['name']}",
                        node_group=to_replace[node],
                        cause=f"needs {status.get('desiredHealthy', '?')} healthy pods, "
                        f"has {status.get('currentHealthy', '?')}",
                    )
                )
    return sorted(found, key=lambda b: (b.node_group, b.pod))
