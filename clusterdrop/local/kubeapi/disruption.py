"""PodDisruptionBudgets as the disruption controller keeps them and the Eviction API enforces them.

A drain (`kubectl drain`, EKS's managed node-group update) evicts pods through the Eviction API,
which refuses with 429 TooManyRequests while the pod's budget allows no disruption:
"Cannot evict pod as it would violate the pod's disruption budget.", with a cause naming the
budget ("The disruption budget web needs 2 healthy pods and has 2 currently"). A pod that is not
healthy may be evicted as long as the budget is met (the default `unhealthyPodEvictionPolicy`,
IfHealthyBudget). A pod under two budgets cannot be evicted at all (500).
"""

from __future__ import annotations

import math
from typing import Any

from clusterdrop.local.kubeapi.errors import ApiError
from clusterdrop.local.kubeapi.selectors import selector_matches as selects
from clusterdrop.local.kubeapi.store import Store

Obj = dict[str, Any]


def _healthy(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _scaled(value: int | str, total: int) -> int:
    """An IntOrString against a total: percentages round up, as the disruption controller does."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(total * int(value[:-1]) / 100)
    return int(value)


def _expected(store: Store, namespace: str, pods: list[Obj]) -> int:
    """Pods the budget's controllers want (a Deployment's replicas), else the pods there are."""
    owners = {
        ref.get("name")
        for p in pods
        for ref in p["metadata"].get("ownerReferences") or []
        if ref.get("kind") == "Deployment"
    }
    deployments = store.objects[("apps", "deployments")]
    if owners and all((namespace, o) in deployments for o in owners):
        return sum(int((deployments[(namespace, o)].get("spec") or {}).get("replicas", 1)) for o in owners)
    return len(pods)


def budget_status(store: Store, budget: Obj) -> Obj:
    """The status the disruption controller writes on a budget."""
    namespace = budget["metadata"].get("namespace", "")
    spec = budget.get("spec") or {}
    pods = [
        p
        for (ns, _), p in store.objects[("", "pods")].items()
        if ns == namespace and selects(spec.get("selector"), p["metadata"].get("labels") or {})
    ]
    expected = _expected(store, namespace, pods)
    healthy = sum(1 for p in pods if _healthy(p))
    if spec.get("maxUnavailable") is not None:
        desired = max(expected - _scaled(spec["maxUnavailable"], expected), 0)
    else:
        desired = _scaled(spec.get("minAvailable", 0), expected)
    return {
        "observedGeneration": budget["metadata"].get("generation", 1),
        "expectedPods": expected,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "disruptionsAllowed": max(healthy - desired, 0),
    }


def refresh(store: Store) -> None:
    """The disruption controller's pass: every budget's status from the pods it selects."""
    for budget in store.objects[("policy", "poddisruptionbudgets")].values():
        budget["status"] = budget_status(store, budget)


def blocking_budget(store: Store, namespace: str, name: str) -> tuple[str, str] | None:
    """Why the Eviction API would refuse this pod now: (budget name, cause), or None."""
    pod = store.objects[("", "pods")].get((namespace, name))
    if pod is None:
        return None
    labels = pod["metadata"].get("labels") or {}
    budgets = [
        b
        for (ns, _), b in store.objects[("policy", "poddisruptionbudgets")].items()
        if ns == namespace and selects((b.get("spec") or {}).get("selector"), labels)
    ]
    if len(budgets) > 1:
        names = ", ".join(sorted(b["metadata"]["name"] for b in budgets))
        return names, "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    if not budgets:
        return None
    status = budget_status(store, budgets[0])
    allowed = status["disruptionsAllowed"] > 0 or (
        not _healthy(pod) and status["currentHealthy"] >= status["desiredHealthy"]
    )
    if allowed:
        return None
    budget = budgets[0]["metadata"]["name"]
    return budget, (
        f"The disruption budget {budget} needs {status['desiredHealthy']} healthy pods "
        f"and has {status['currentHealthy']} currently"
    )


def evict(store: Store, namespace: str, name: str) -> None:
    """The Eviction API: delete the pod unless its budget forbids it (ApiError 429, or 500 for a
    pod under several budgets)."""
    with store.lock:
        blocked = blocking_budget(store, namespace, name)
        if blocked is not None:
            _, cause = blocked
            if cause.startswith("This pod has more than one"):
                raise ApiError(500, "InternalError", cause)
            raise ApiError(
                429,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.",
                {"causes": [{"reason": "DisruptionBudget", "message": cause}]},
            )
        store.objects[("", "pods")].pop((namespace, name), None)
