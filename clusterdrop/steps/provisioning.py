"""States "Apply cluster stack", "Connect", "Apply node-group stacks", "Check node-group stacks",
"Apply addons", "Record state": the cluster made or changed."""

from __future__ import annotations

import json
from typing import Any

from clusterdrop.aws import eks, intake, registry, stacks, subnets
from clusterdrop.contract import Connection, ExecutionState
from clusterdrop.errors import StackFailed
from clusterdrop.render.common import nodegroup_stack_name, stack_name, tag_map
from clusterdrop.render.plan import make_plan
from clusterdrop.spec.models import Cluster
from clusterdrop.steps.context import Ports, State, cluster_of, typed
from clusterdrop.steps.planning import nodegroup_parameters, plans_of
from clusterdrop.steps.staging import stage_cni


def apply_cluster_stack(state: State, ports: Ports) -> State:
    cluster = cluster_of(state, ports)
    plan = typed(state).plan
    tagged = subnets.apply(ports.ec2, plan.subnet_tags if plan else [])
    [cluster_plan] = [p for p in plans_of(state) if p.role == "cluster"]
    stacks.execute(ports.cfn, cluster_plan)
    return {"stack": stack_name(cluster), "executed": cluster_plan.status == "READY", "taggedSubnets": tagged}


def connect(state: State, ports: Ports) -> State:
    """Endpoint and CA for the agent, the EKS add-ons the CNI needs, the CNI's artifacts staged."""
    cluster = cluster_of(state, ports)
    name = cluster.metadata.name
    outputs = stacks.outputs(ports.cfn, stack_name(cluster))
    described = eks.describe(ports.eks, name)
    release = cluster.spec.cni.release()
    tags = tag_map(cluster)
    via = cni_via(cluster)
    if via == "auto-mode":
        # EKS Auto Mode runs the VPC CNI, kube-proxy and CoreDNS on its nodes: no add-on for them.
        addons: list[str] = []
    elif release.eks_addon:  # via == "eks-addon"
        addons = [release.eks_addon, *eks.CORE_ADDONS]
    else:
        # Cilium's kube-proxy replacement does kube-proxy's work; in ENI mode its operator gets
        # its EC2 permissions through Pod Identity, whose agent must run before the operator does.
        replaced = cluster.spec.cni.kube_proxy_replacement
        addons = [a for a in eks.CORE_ADDONS if not (replaced and a == "kube-proxy")]
        if release.name == "cilium" and not cluster.spec.cni.overlay():
            addons.append(eks.ADDONS["pod-identity-agent"])
        stage_cni(ports, cluster)
    pins = eks.pinned_versions(cluster)
    plan = typed(state).plan
    # Add-ons the spec no longer lists go first; EKS refuses any other change to a DELETING one.
    removed = eks.remove_addons(ports.eks, name, plan.addons_removed) if plan else []
    created = eks.ensure_addons(ports.eks, name, addons, tags=tags, pins=pins, own_tags=eks.addon_tags(cluster, tags))
    # An upgrade: the control plane has moved; the add-ons follow before any node group does.
    # Otherwise a pin added or changed moves its add-on.
    if plan and plan.upgrade:
        realigned = eks.realign_addons(ports.eks, name, described["version"], pins, skip=removed)
    else:
        realigned = eks.pin_addons(ports.eks, name, pins, skip=removed)
    return {
        **agent_target(cluster, described),
        "agentArn": outputs.get("AgentFunctionArn", ""),
        "serviceAccounts": [
            {"namespace": p.namespace, "name": p.service_account, "labels": dict(p.labels)}
            for p in cluster.spec.pod_identities
            if p.create_service_account
        ],
        "cniVia": via,
        "addonsCreated": created,
        "addonsUpdated": realigned,
        "addonsRemoved": removed,
        "addons": list(cluster.spec.addons),
        "deadlineMinutes": cluster.spec.node_ready_timeout_minutes / ports.settings.time_scale,
        "deadlineLabel": deadline_label(cluster.spec.node_ready_timeout_minutes, ports.settings.time_scale),
        "kubernetesVersion": described["version"],
        "forceUpgrade": cluster.spec.upgrade_policy.force,
    }


def cni_via(cluster: Cluster) -> str:
    """Who installs the CNI: EKS Auto Mode, an EKS add-on, or the agent from manifests."""
    if cluster.spec.compute_mode == "auto":
        return "auto-mode"
    return "eks-addon" if cluster.spec.cni.release().eks_addon else "manifest"


def agent_target(cluster: Cluster, described: dict[str, str]) -> dict[str, Any]:
    """What the agent needs to reach the cluster and judge it (the cluster, its CNI, its node
    groups' sizes): the same for Connect and for `clusterdrop validate-cluster`, so that the
    report on demand is the workflow's."""
    release = cluster.spec.cni.release()
    via = cni_via(cluster)
    return {
        "cluster": {
            "name": cluster.metadata.name,
            "region": cluster.spec.region,
            "endpoint": described["endpoint"],
            "certificateAuthority": described["certificateAuthority"],
        },
        "cni": {
            "name": release.name,
            "version": release.version,
            "mode": via if via != "manifest" else cluster.spec.cni.install_mode(),
            "podCidr": cluster.spec.network.pod_cidr,
            "nodes": sum(g.desired_size for g in cluster.spec.node_groups),
        },
        "autoMode": via == "auto-mode",
        "nodeGroups": {g.name: g.desired_size for g in cluster.spec.node_groups},
    }


def deadline_label(minutes: int, scale: float) -> str:
    """A deadline as the spec sets it, and as it runs where time is scaled (the embedded mode)."""
    label = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return label if scale == 1 else f"{label} ({minutes * 60 / scale:g} s in the embedded mode)"


def apply_node_group_stacks(state: State, ports: Ports) -> State:
    """Create, update or delete the next wave of node-group stacks; the state machine waits for
    the wave, validates the cluster, and comes back while stacks remain. A wave is every stack at
    once, except in an upgrade: one group at a time, in the spec's order, so that a group whose
    nodes do not come back stops the upgrade with the groups before it done and the rest untouched."""
    cluster = cluster_of(state, ports)
    s = typed(state)
    outputs = stacks.outputs(ports.cfn, stack_name(cluster))
    rendered = {s.name: s for s in make_plan(cluster).stacks if s.role == "nodegroup"}
    plans = {p.stack: p for p in plans_of(state) if p.role == "nodegroup"}
    previous = s.node_group_stacks
    queue = previous.remaining if previous is not None else list(plans)
    wave = queue[:1] if s.plan is not None and s.plan.upgrade is not None else queue
    started: list[dict[str, str]] = []
    for p in (plans[name] for name in wave):
        if p.change_type == "DELETE":
            stacks.delete(ports.cfn, p.stack, ports.settings.cfn_role_arn)
            started.append({"stack": p.stack, "expect": "DELETE_COMPLETE"})
        elif p.change_set is None and p.change_type == "CREATE":
            # A new cluster's node groups: their parameters come from the cluster stack's outputs.
            group = p.stack.removeprefix(nodegroup_stack_name(cluster, ""))
            parameters = nodegroup_parameters(cluster, group, outputs)
            ports.cfn.create_stack(
                StackName=p.stack,
                TemplateBody=json.dumps(rendered[p.stack].template),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                Capabilities=stacks.CAPABILITIES,
                RoleARN=ports.settings.cfn_role_arn,
                Tags=[{"Key": k, "Value": v} for k, v in tag_map(cluster).items()],
            )
            started.append({"stack": p.stack, "expect": "COMPLETE"})
        else:
            stacks.execute(ports.cfn, p)  # nothing to do for a stack without changes
            started.append({"stack": p.stack, "expect": "COMPLETE"})
    remaining = queue[len(wave) :]
    number = previous.wave + 1 if previous is not None else 1
    return {"stacks": started, "wave": number, "remaining": remaining, "more": bool(remaining)}


def check_node_group_stacks(state: State, ports: Ports) -> State:
    """One look at the stacks a step started: done, still going, or failed (raised)."""
    pending, failed = [], []
    started = typed(state).node_group_stacks
    assert started is not None  # "Check node-group stacks" follows "Apply node-group stacks"
    for entry in started.stacks:
        current = stacks.status(ports.cfn, entry.stack)
        if entry.expect == "DELETE_COMPLETE":
            if current is not None and current != "DELETE_FAILED":
                pending.append(entry.stack)
            elif current == "DELETE_FAILED":
                failed.append(f"{entry.stack}: DELETE_FAILED")
        elif current in stacks.FAILED or current is None:
            failed.append(f"{entry.stack}: {current or 'missing'}")
        elif current not in stacks.DONE:
            pending.append(entry.stack)
    if failed:
        raise StackFailed("node-group stacks failed: " + ", ".join(failed))
    return {**started.model_dump(by_alias=True), "done": not pending, "pending": pending}


def apply_addons(state: State, ports: Ports) -> State:
    cluster = cluster_of(state, ports)
    names = [eks.ADDONS[a] for a in cluster.spec.addons]
    overlay = cluster.spec.cni.overlay()
    pins = eks.pinned_versions(cluster)
    tags = tag_map(cluster)
    created = eks.ensure_addons(
        ports.eks,
        cluster.metadata.name,
        names,
        tags=tags,
        overlay=overlay,
        pins=pins,
        own_tags=eks.addon_tags(cluster, tags),
    )
    return {"created": created, "statuses": eks.addon_statuses(ports.eks, cluster.metadata.name, names)}


def running_version(state: ExecutionState) -> str | None:
    """The control plane's version as EKS reported it at Connect, when the run got that far."""
    connection = state.connection
    return connection.kubernetes_version if isinstance(connection, Connection) else None


def record_state(state: State, ports: Ports) -> State:
    typed_state = ExecutionState.model_validate(state)
    cluster = cluster_of(state, ports)
    nodes = typed_state.nodes or {}
    connection = typed_state.connection
    return registry.record(
        ports.clusters,
        cluster.metadata.name,
        status="ACTIVE" if typed_state.action != "teardown" else "DELETED",
        execution=typed_state.execution,
        specKey=typed_state.validated.spec_key if typed_state.validated else "",
        specVersion=typed_state.version_id,
        specSequencer=typed_state.sequencer,
        # What EKS reports, not what the spec asks for.
        kubernetesVersion=running_version(typed_state) or cluster.spec.kubernetes_version or "",
        region=cluster.spec.region,
        endpoint=connection.cluster.endpoint if connection is not None and connection.cluster is not None else "",
        cni=f"{cluster.spec.cni.name} {cluster.spec.cni.version}",
        nodesExpected=int(nodes.get("expected", 0)),
        nodesReady=int(nodes.get("ready", 0)),
        subnetTags=typed_state.plan.subnet_tags if typed_state.plan else [],
        team=intake.team_of(typed_state.key),
    )
