"""The per-cluster agent's operations: every Kubernetes API call of the workflow runs here,
inside the cluster's VPC. The workflow invokes the agent with an operation name and gets a
typed, JSON-serializable result back; failures are raised as clusterdrop's exception classes,
whose names the state machine's Retry and Catch match."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from kubernetes.client.exceptions import ApiException

from clusterdrop.cni import catalog, install, manifests
from clusterdrop.cni.fetch import Mirror
from clusterdrop.errors import (
    ClusterAccessPending,
    ClusterValidationFailed,
    EvictionBlocked,
    KubernetesOperationFailed,
    NotReadyYet,
)
from clusterdrop.kube import addons, connect, readiness
from clusterdrop.kube.client import Kube
from clusterdrop.kube.disruptions import blocked_evictions
from clusterdrop.kube.nodes import node_progress, raise_if_late
from clusterdrop.kube.protocol import AgentEvent, ClusterRef, answered
from clusterdrop.kube.readiness import Verdict, daemonset_rolled_out
from clusterdrop.kube.validate_cluster import validate_cluster

Result = dict[str, Any]


@dataclass
class AgentContext:
    """The agent's ports: how to reach the cluster and where the artifacts are."""

    kube_for: Callable[[ClusterRef], Kube]
    mirror: Mirror | None
    extra: dict[str, Any] = field(default_factory=dict)


def _no_download(url: str) -> bytes:
    # A Lambda in a VPC without NAT cannot reach the internet: the staging step must have put
    # every artifact into the artifacts bucket first. Raised as a network failure so that the
    # error says how to seed the mirror.
    raise OSError("the agent runs inside the cluster's VPC and does not download")


def _cni_plan(event: AgentEvent, ctx: AgentContext) -> install.CniInstall:
    if event.cni is None:
        raise KubernetesOperationFailed(f"{event.operation} needs the cni field")
    release = catalog.find(event.cni.name, event.cni.version)
    if release is None:
        raise KubernetesOperationFailed(f"{event.cni.name} {event.cni.version} is not in the agent's catalog")
    mode = event.cni.mode or release.default_mode
    params = manifests.Parameters(
        pod_cidr=event.cni.pod_cidr,
        eks=True,
        cluster_name=event.cluster.name,
        api_host=urlsplit(event.cluster.endpoint).hostname,  # kube-proxy replacement reaches it directly
        api_port=urlsplit(event.cluster.endpoint).port or 443,
        nodes=event.cni.nodes,
    )
    return install.prepare(release, mode, params, ctx.mirror, fetch=_no_download)


def apply_cni(event: AgentEvent, ctx: AgentContext) -> Result:
    kube = ctx.kube_for(event.cluster)
    plan = install.install(_cni_plan(event, ctx), kube.applier)
    return {
        "cni": event.cni.model_dump(by_alias=True) if event.cni else None,
        "applied": dict(sorted(plan.applied.items())),
    }


def check_cni(event: AgentEvent, ctx: AgentContext) -> Result:
    """Ready, or NotReadyYet (the state machine retries with backoff)."""
    if event.cni is not None and event.cni.mode == "auto-mode":
        # EKS Auto Mode runs the VPC CNI on each of its nodes, outside Kubernetes: nothing to wait on.
        return {"ready": True, "workloads": {}, "managedBy": "EKS Auto Mode"}
    kube = ctx.kube_for(event.cluster)
    if event.cni is not None and event.cni.mode == "eks-addon":
        # The VPC CNI as an EKS add-on: its DaemonSet is aws-node.
        ds = kube.get("apps/v1", "DaemonSet", "aws-node", "kube-system")
        verdicts = {"DaemonSet kube-system/aws-node": daemonset_rolled_out(ds) if ds else Verdict(False, "not found")}
    else:
        verdicts = readiness.cni_verdicts(_cni_plan(event, ctx), kube)
    if not readiness.all_ready(verdicts):
        waiting = "; ".join(f"{k}: {v.reason}" for k, v in verdicts.items() if not v.ready)
        raise NotReadyYet(f"CNI not ready: {waiting}")
    return {"ready": True, "workloads": {k: vars(v) for k, v in verdicts.items()}}


def wait_for_nodes_ready(event: AgentEvent, ctx: AgentContext) -> Result:
    """One check of the state "Wait for nodes Ready": progress, or NodesNotReady past the deadline."""
    kube = ctx.kube_for(event.cluster)
    progress = node_progress(kube, event.node_groups)
    if event.past_deadline(datetime.now(UTC)):
        raise_if_late(progress, minutes=event.deadline_minutes, label=event.deadline_label)
    deadline = event.deadline_label or f"{event.deadline_minutes:g} minutes"
    return {"done": progress.done, "deadline": deadline, **progress.as_dict()}


def configure_addons(event: AgentEvent, ctx: AgentContext) -> Result:
    kube = ctx.kube_for(event.cluster)
    done = addons.service_accounts([a.model_dump() for a in event.service_accounts], kube.applier)
    done += addons.configure(event.addons, kube, kube.applier)
    verdicts = addons.readiness(event.addons, kube)
    waiting = "; ".join(f"{k}: {v.reason}" for k, v in verdicts.items() if not v.ready)
    if waiting:
        raise NotReadyYet(f"addons not ready: {waiting}")
    return {"done": done, "ready": True, "workloads": {k: vars(v) for k, v in verdicts.items()}}


def validate(event: AgentEvent, ctx: AgentContext) -> Result:
    kube = ctx.kube_for(event.cluster)
    cni = event.cni.name if event.cni is not None else None
    report = validate_cluster(kube, event.node_groups, kube.server_version(), auto_mode=event.auto_mode, cni=cni)
    if not report.ok:
        problems = "; ".join(f"{r.kind} {r.name}: {r.message}" for r in report.failures)
        raise ClusterValidationFailed(f"cluster validation failed: {problems}\n{report.table()}")
    return {"ok": True, "table": report.table(), **report.as_dict()}


def check_disruption_budgets(event: AgentEvent, ctx: AgentContext) -> Result:
    """Before node groups roll: the pods on nodes still to be replaced that a budget keeps.
    EvictionBlocked names them, unless the update is forced (then only reported)."""
    kube = ctx.kube_for(event.cluster)
    blocked = blocked_evictions(kube, kube.server_version(), event.node_groups)
    if blocked and not event.force:
        groups = sorted({b.node_group for b in blocked})
        raise EvictionBlocked(
            "; ".join(b.sentence() for b in blocked[:10])
            + (f"; and {len(blocked) - 10} more" if len(blocked) > 10 else "")
            + f". Node group{'s' if len(groups) > 1 else ''} {', '.join(groups)} not changed: scale the workload "
            "up or relax the budget, or set spec.upgradePolicy.force: true to have EKS delete what it cannot evict."
        )
    return {"blocked": [vars(b) for b in blocked[:50]], "forced": event.force}


def delete_load_balancers(event: AgentEvent, ctx: AgentContext) -> Result:
    """Before teardown: Services of type LoadBalancer own ELBs and ENIs that keep the VPC alive."""
    kube = ctx.kube_for(event.cluster)
    deleted = []
    for service in kube.list("v1", "Service"):
        if (service.get("spec") or {}).get("type") == "LoadBalancer":
            meta = service["metadata"]
            kube.delete("v1", "Service", meta["name"], meta["namespace"])
            deleted.append(f"{meta['namespace']}/{meta['name']}")
    return {"deleted": deleted}


OPERATIONS: dict[str, Callable[[AgentEvent, AgentContext], Result]] = {
    "apply_cni": apply_cni,
    "check_cni": check_cni,
    "wait_for_nodes_ready": wait_for_nodes_ready,
    "configure_addons": configure_addons,
    "validate_cluster": validate,
    "check_disruption_budgets": check_disruption_budgets,
    "delete_load_balancers": delete_load_balancers,
}


def run(raw_event: dict[str, Any], ctx: AgentContext) -> Result:
    event = AgentEvent.model_validate(raw_event)
    operation = OPERATIONS.get(event.operation)
    if operation is None:
        raise KubernetesOperationFailed(f"unknown agent operation {event.operation!r}; known: {', '.join(OPERATIONS)}")
    try:
        return answered(event.operation, operation(event, ctx))
    except ApiException as exc:
        if exc.status not in (401, 403):
            raise
        raise ClusterAccessPending(
            f"the API of cluster {event.cluster.name} answered {exc.status} {exc.reason} to the agent: its "
            "access entry (the agent role, AmazonEKSClusterAdminPolicy) may not have propagated yet — EKS "
            "takes a moment after a cluster is created — or it was removed or changed; check it with "
            f"`aws eks list-access-entries --cluster-name {event.cluster.name}`"
        ) from exc


def kube_from_lambda_role(cluster: ClusterRef) -> Kube:
    """Reach the cluster with the Lambda role's credentials (the role holds the admin access entry)."""
    import botocore.session

    credentials = botocore.session.get_session().get_credentials()
    return Kube(
        connect.for_eks(cluster.endpoint, cluster.certificate_authority, cluster.name, cluster.region, credentials)
    )
