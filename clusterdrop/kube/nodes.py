"""Node progress per node group: registered vs expected, Ready or why not.

Listing is paginated (limit/continue), so a 2,000-node cluster costs a handful of requests.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from clusterdrop.errors import NodesNotReady
from clusterdrop.kube.readiness import node_ready

Obj = dict[str, Any]
NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"
PAGE_SIZE = 500
# What the workflow's state carries of the NotReady nodes: Step Functions refuses a state over
# 256 KiB with States.DataLimitExceeded, which no Catch (not even States.ALL) catches — the
# execution would end with no notification and the lock held. 3,000 NotReady nodes named one by
# one are ~600 KiB; a few examples and the count per reason are enough to act on.
NOT_READY_SHOWN = 20
REASONS_SHOWN = 10
REASON_CHARS = 300


class NodeLister(Protocol):
    """One page of nodes: (items as dicts, continue token or None)."""

    def list_nodes(self, *, limit: int, cont: str | None) -> tuple[list[Obj], str | None]: ...


@dataclass
class GroupProgress:
    expected: int
    registered: int = 0
    ready: int = 0


@dataclass
class NodeProgress:
    expected: int
    registered: int
    ready: int
    groups: dict[str, GroupProgress]
    not_ready: list[dict[str, str]] = field(default_factory=list)
    requests: int = 0
    # Nodes per kubelet minor version ("1.35": 4), as the kubelets report it.
    kubelets: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return all(g.ready >= g.expected for g in self.groups.values()) and not self.not_ready

    def reasons(self) -> list[tuple[str, int]]:
        """The NotReady reasons, most common first (each cut to REASON_CHARS)."""
        counts = Counter(n["reason"][:REASON_CHARS] for n in self.not_ready)
        return counts.most_common(REASONS_SHOWN)

    def as_dict(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "registered": self.registered,
            "ready": self.ready,
            "groups": {k: vars(v) for k, v in self.groups.items()},
            "notReady": self.not_ready[:NOT_READY_SHOWN],
            "notReadyCount": len(self.not_ready),
            "notReadyReasons": dict(self.reasons()),
        }


def node_progress(lister: NodeLister, expected: dict[str, int], *, page_size: int = PAGE_SIZE) -> NodeProgress:
    """Walk every page of nodes once and count, per node group, registered and Ready nodes."""
    groups = {name: GroupProgress(expected=count) for name, count in expected.items()}
    not_ready: list[dict[str, str]] = []
    kubelets: dict[str, int] = {}
    cont: str | None = None
    requests = 0
    while True:
        items, cont = lister.list_nodes(limit=page_size, cont=cont)
        requests += 1
        for node in items:
            meta = node.get("metadata") or {}
            group = (meta.get("labels") or {}).get(NODEGROUP_LABEL, "")
            progress = groups.get(group)
            if progress is None:
                continue  # nodes of groups clusterdrop does not manage (Fargate, Karpenter, …)
            progress.registered += 1
            minor = kubelet_minor(node)
            kubelets[minor] = kubelets.get(minor, 0) + 1
            verdict = node_ready(node)
            if verdict.ready:
                progress.ready += 1
            else:
                not_ready.append({"name": meta.get("name", ""), "group": group, "reason": verdict.reason})
        if not cont:
            break
    return NodeProgress(
        expected=sum(expected.values()),
        registered=sum(g.registered for g in groups.values()),
        ready=sum(g.ready for g in groups.values()),
        groups=groups,
        not_ready=not_ready,
        requests=requests,
        kubelets=dict(sorted(kubelets.items())),
    )


def kubelet_minor(node: Obj) -> str:
    """ "1.35" from a node's `kubeletVersion` ("v1.35.2-eks-4a1b2c3"); "" when it does not say."""
    version = str(((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion") or "")
    parts = version.lstrip("v").split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else ""


def raise_if_late(progress: NodeProgress, *, minutes: float, label: str | None = None) -> None:
    """After the deadline: name every missing or NotReady node and why."""
    if progress.done:
        return
    lines = [f"after {label or f'{minutes:g} minutes'} {progress.ready}/{progress.expected} nodes are Ready"]
    for name, group in progress.groups.items():
        if group.registered < group.expected:
            lines.append(f"node group {name}: {group.registered}/{group.expected} nodes registered")
    shown = progress.not_ready[:NOT_READY_SHOWN]
    lines += [f"{n['name']} ({n['group']}): {n['reason'][:REASON_CHARS]}" for n in shown]
    if len(progress.not_ready) > len(shown):
        common = ", ".join(f"{reason} ({count})" for reason, count in progress.reasons()[:3])
        lines.append(f"… and {len(progress.not_ready) - len(shown)} more NotReady nodes; most common: {common}")
    raise NodesNotReady("; ".join(lines))
