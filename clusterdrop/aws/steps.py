"""The workflow's steps on the AWS side, one function per Lambda-backed state.

Each takes the execution's state document (what the state machine passes as the payload) and
the ports, and returns what the state machine stores at the step's ResultPath. Waiting is never
done here: a step starts something and returns; the state machine's Wait/Choice loops poll.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from clusterdrop.aws import eks, lock, notify, registry, stacks, subnets
from clusterdrop.cni import catalog
from clusterdrop.cni.fetch import DirectoryMirror, stage
from clusterdrop.cni.s3mirror import S3Mirror
from clusterdrop.errors import LockBusy, SpecInvalid, SpecMismatch, StackFailed
from clusterdrop.render.common import nodegroup_stack_name, stack_name, tag_map
from clusterdrop.render.plan import Plan, make_plan
from clusterdrop.spec.models import Cluster
from clusterdrop.spec.source import load_spec
from clusterdrop.workflow import HIDDEN, PHASES, TASK_FAILED, TASK_SCHEDULED

State = dict[str, Any]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    region: str
    spec_bucket: str
    artifacts_bucket: str
    cfn_role_arn: str
    topic_arn: str
    agent_code_key: str
    agent_code_bucket: str = ""  # default: the artifacts bucket
    cni_mirror_dir: str | None = None  # embedded mode: where the CNI files already are
    cluster_admins: tuple[str, ...] = ()  # the deployer's clusterAdmins: admins of every cluster
    # How much faster time runs than on AWS: 1 there; the embedded mode's poll intervals and the
    # spec's deadlines shrink alike (stacks/timing.py).
    time_scale: float = 1.0
    state_machines: tuple[str, ...] = ()  # deploy and teardown: where earlier uploads may wait


@dataclass
class Ports:
    """The AWS clients a step may use (botocore/boto3 clients, DynamoDB Table resources)."""

    settings: Settings
    s3: Any = None
    cfn: Any = None
    eks: Any = None
    ec2: Any = None
    sfn: Any = None
    sns: Any = None
    clusters: Any = None
    locks: Any = None


def _spec(state: State) -> dict[str, Any] | None:
    """The normalized spec the Validate spec step stored in the state, if it got that far."""
    validated: dict[str, Any] = state.get("validated") or {}
    return validated.get("spec")


def _cluster(state: State) -> Cluster:
    return Cluster.model_validate(_spec(state))


def _spec_store_key(cluster: str, version: str) -> str:
    return f"specs/{cluster}/{version}.json"


# --- Validate spec ----------------------------------------------------------------------------


def validate_spec(state: State, ports: Ports) -> State:
    """Read the exact object version, validate it, store the normalized spec. Touches nothing else."""
    name = state["cluster"]
    if state["action"] == "teardown":
        item = registry.get(ports.clusters, name)
        if not item or not item.get("specKey"):
            raise _unknown_cluster(name)
        body = ports.s3.get_object(Bucket=ports.settings.artifacts_bucket, Key=item["specKey"])["Body"].read()
        return {"spec": json.loads(body), "specKey": item["specKey"], "format": "stored"}
    obj = ports.s3.get_object(Bucket=state["bucket"], Key=state["key"], VersionId=state["versionId"])
    loaded = load_spec(obj["Body"].read())
    cluster = loaded.cluster
    if cluster.metadata.name != name:
        raise SpecMismatch(
            f"{state['key']} holds metadata.name {cluster.metadata.name!r}; "
            "a spec is stored as clusters/<metadata.name>.yaml"
        )
    if cluster.spec.region != ports.settings.region:
        raise region_mismatch(cluster.spec.region, ports.settings.region)
    normalized = cluster.model_dump(mode="json", by_alias=True, exclude_none=True)
    key = _spec_store_key(name, state["versionId"])
    ports.s3.put_object(
        Bucket=ports.settings.artifacts_bucket,
        Key=key,
        Body=json.dumps(normalized).encode(),
        ContentType="application/json",
    )
    return {"spec": normalized, "specKey": key, "format": loaded.source_format, "notes": loaded.notes}


def region_mismatch(wanted: str, deployer: str) -> SpecInvalid:
    """A deployer creates clusters in its own region (its buckets, roles and agent code are
    regional): a spec for another region goes to the clusterdrop deployed there."""
    from clusterdrop.errors import Problem

    return SpecInvalid(
        [
            Problem(
                "spec.region",
                f"{wanted!r}, but this clusterdrop deploys to {deployer!r}: upload the spec to the clusterdrop "
                f"deployed in {wanted}, or set spec.region to {deployer!r}",
            )
        ]
    )


def _unknown_cluster(name: str) -> SpecInvalid:
    from clusterdrop.errors import Problem

    return SpecInvalid([Problem("metadata.name", f"no cluster {name!r} in the registry: nothing to tear down")])


# --- Locks ------------------------------------------------------------------------------------


def take_lock(state: State, ports: Ports) -> State:
    earlier = lock.earlier_change_waiting(ports.sfn, ports.settings.state_machines, state) if ports.sfn else None
    if earlier:
        raise LockBusy(f"cluster {state['cluster']}: an earlier upload ({earlier}) goes first; waiting for it")
    return lock.acquire(ports.locks, state["cluster"], state["execution"])


def release_lock(state: State, ports: Ports) -> State:
    return lock.release(ports.locks, state["cluster"], state["execution"])


# --- Plan -------------------------------------------------------------------------------------


def _nodegroup_parameters(cluster: Cluster, group: str, outputs: dict[str, str]) -> dict[str, str]:
    """The node role and the subnets of the group's zones, from the cluster stack's outputs."""
    subnet_ids = [s for s in outputs.get("NodeSubnetIds", "").split(",") if s]
    zones = outputs.get("NodeSubnetZones", "").split(",")
    wanted = next(g for g in cluster.spec.node_groups if g.name == group).zones
    if wanted is not None and len(zones) == len(subnet_ids):
        subnet_ids = [s for s, z in zip(subnet_ids, zones, strict=True) if z in wanted or not z]
    return {
        "ClusterName": cluster.metadata.name,
        "NodeRoleArn": outputs.get("NodeRoleArn", ""),
        "SubnetIds": ",".join(subnet_ids),
    }


def _cluster_parameters(ports: Ports) -> dict[str, str]:
    s = ports.settings
    return {
        "AgentCodeBucket": s.agent_code_bucket or s.artifacts_bucket,
        "AgentCodeKey": s.agent_code_key,
        "ArtifactsBucket": s.artifacts_bucket,
    }


def _existing_nodegroup_stacks(ports: Ports, cluster: Cluster) -> list[str]:
    prefix = nodegroup_stack_name(cluster, "")
    names: list[str] = []
    for page in ports.cfn.get_paginator("list_stacks").paginate():
        for summary in page.get("StackSummaries", []):
            if summary["StackName"].startswith(prefix) and summary["StackStatus"] != "DELETE_COMPLETE":
                names.append(summary["StackName"])
    return sorted(set(names))


def plan(state: State, ports: Ports) -> State:
    """Change sets for every stack that exists, a rendered creation for those that do not."""
    cluster = _cluster(state)
    name = cluster.metadata.name
    if state["action"] != "plan" and registry.is_superseded(ports.clusters, name, state.get("sequencer", "")):
        return {"superseded": True, "stacks": [], "pending": False}
    cluster, problems = subnets.eks_zones(ports.ec2, cluster)
    problems += subnets.check_existing(ports.ec2, cluster)
    if problems:
        raise SpecInvalid(problems)
    rendered: Plan = make_plan(cluster, ports.settings.cluster_admins)
    tags = tag_map(cluster)
    cluster_status = stacks.status(ports.cfn, stack_name(cluster))
    new_cluster = cluster_status in (None, "REVIEW_IN_PROGRESS")
    plans: list[stacks.StackPlan] = []
    outputs = {} if new_cluster else stacks.outputs(ports.cfn, stack_name(cluster))
    for stack in rendered.stacks:
        if stack.role == "nodegroup" and new_cluster:
            # Parameters come from the cluster stack's outputs: there are none yet.
            changes = [stacks.Change("Add", k, v["Type"]) for k, v in stack.template["Resources"].items()]
            plans.append(stacks.StackPlan(stack.name, "nodegroup", "CREATE", None, "READY", changes=changes))
            continue
        group = stack.name.removeprefix(nodegroup_stack_name(cluster, ""))
        parameters = (
            _cluster_parameters(ports) if stack.role == "cluster" else _nodegroup_parameters(cluster, group, outputs)
        )
        plans.append(
            stacks.create_change_set(
                ports.cfn,
                ports.s3,
                stack=stack.name,
                role=stack.role,
                template=stack.template,
                parameters=parameters,
                role_arn=ports.settings.cfn_role_arn,
                tags=tags,
                execution=state["execution"],
                templates_bucket=ports.settings.artifacts_bucket,
                region=ports.settings.region,
            )
        )
    wanted = {s.name for s in rendered.stacks}
    for existing in _existing_nodegroup_stacks(ports, cluster):
        if existing not in wanted:
            plans.append(
                stacks.StackPlan(
                    existing,
                    "nodegroup",
                    "DELETE",
                    None,
                    "READY",
                    changes=[stacks.Change("Remove", "NodeGroup", "AWS::EKS::Nodegroup")],
                )
            )
    return {
        "superseded": False,
        "newCluster": new_cluster,
        "stacks": [p.as_dict() for p in plans],
        "subnetTags": rendered.subnet_tags,
        "pending": any(p.status == "PENDING" for p in plans),
    }


def _plans(state: State) -> list[stacks.StackPlan]:
    out = []
    for raw in state["plan"]["stacks"]:
        data = {k: v for k, v in raw.items() if k != "counts"}
        data["changes"] = [stacks.Change(**c) for c in data.get("changes") or []]
        out.append(stacks.StackPlan(**data))
    return out


def describe_plan(state: State, ports: Ports) -> State:
    """Poll the change sets; once all are described, refuse what must not happen."""
    plans = [stacks.describe_change_set(ports.cfn, p) if p.status == "PENDING" else p for p in _plans(state)]
    pending = any(p.status == "PENDING" for p in plans)
    if not pending:
        failed = [p for p in plans if p.status == "FAILED"]
        if failed:
            raise StackFailed("; ".join(f"change set for {p.stack} failed: {p.reason}" for p in failed))
        stacks.refuse_cluster_replacement(plans, allowed=_cluster(state).spec.control_plane.allow_replacement)
    return {**state["plan"], "stacks": [p.as_dict() for p in plans], "pending": pending}


def discard_plan(state: State, ports: Ports) -> State:
    """A plan-only run: drop the change sets (and any stack a CREATE change set left behind)."""
    for p in _plans(state):
        stacks.discard(ports.cfn, p)
    return {"discarded": True}


# --- Apply ------------------------------------------------------------------------------------


def apply_cluster_stack(state: State, ports: Ports) -> State:
    cluster = _cluster(state)
    tagged = subnets.apply(ports.ec2, state["plan"].get("subnetTags") or [])
    [cluster_plan] = [p for p in _plans(state) if p.role == "cluster"]
    stacks.execute(ports.cfn, cluster_plan)
    return {"stack": stack_name(cluster), "executed": cluster_plan.status == "READY", "taggedSubnets": tagged}


def connect(state: State, ports: Ports) -> State:
    """Endpoint and CA for the agent, the EKS add-ons the CNI needs, the CNI's artifacts staged."""
    cluster = _cluster(state)
    name = cluster.metadata.name
    outputs = stacks.outputs(ports.cfn, stack_name(cluster))
    described = eks.describe(ports.eks, name)
    release = catalog.find(cluster.spec.cni.name, cluster.spec.cni.version)
    assert release is not None  # validated
    tags = tag_map(cluster)
    if release.eks_addon:
        addons = [release.eks_addon, *eks.CORE_ADDONS]
        via = "eks-addon"
    else:
        addons = list(eks.CORE_ADDONS)
        via = "manifest"
        mirror = S3Mirror(ports.s3, ports.settings.artifacts_bucket)
        local = DirectoryMirror(Path(ports.settings.cni_mirror_dir)) if ports.settings.cni_mirror_dir else None
        for staged in stage(release, cluster.spec.cni.mode or release.default_mode, local or mirror):
            mirror.put(staged.artifact, staged.data)
    created = eks.ensure_addons(ports.eks, name, addons, tags=tags)
    return {
        "cluster": {
            "name": name,
            "region": cluster.spec.region,
            "endpoint": described["endpoint"],
            "certificateAuthority": described["certificateAuthority"],
        },
        "agentArn": outputs.get("AgentFunctionArn", ""),
        "cni": {
            "name": release.name,
            "version": release.version,
            "mode": "eks-addon" if via == "eks-addon" else (cluster.spec.cni.mode or release.default_mode),
            "podCidr": cluster.spec.network.pod_cidr,
        },
        "cniVia": via,
        "addonsCreated": created,
        "nodeGroups": {g.name: g.desired_size for g in cluster.spec.node_groups},
        "addons": list(cluster.spec.addons),
        "deadlineMinutes": cluster.spec.node_ready_timeout_minutes / ports.settings.time_scale,
        "deadlineLabel": deadline_label(cluster.spec.node_ready_timeout_minutes, ports.settings.time_scale),
    }


def deadline_label(minutes: int, scale: float) -> str:
    """A deadline as the spec sets it, and as it runs where time is scaled (the embedded mode)."""
    label = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return label if scale == 1 else f"{label} ({minutes * 60 / scale:g} s in the embedded mode)"


def apply_nodegroup_stacks(state: State, ports: Ports) -> State:
    """Create, update or delete every node-group stack at once; the state machine waits for all."""
    cluster = _cluster(state)
    outputs = stacks.outputs(ports.cfn, stack_name(cluster))
    rendered = {s.name: s for s in make_plan(cluster).stacks if s.role == "nodegroup"}
    started: list[dict[str, str]] = []
    for p in _plans(state):
        if p.role != "nodegroup":
            continue
        if p.change_type == "DELETE":
            stacks.delete(ports.cfn, p.stack, ports.settings.cfn_role_arn)
            started.append({"stack": p.stack, "expect": "DELETE_COMPLETE"})
        elif p.change_set is None:
            group = p.stack.removeprefix(nodegroup_stack_name(cluster, ""))
            parameters = _nodegroup_parameters(cluster, group, outputs)
            ports.cfn.create_stack(
                StackName=p.stack,
                TemplateBody=json.dumps(rendered[p.stack].template),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                Capabilities=["CAPABILITY_IAM"],
                RoleARN=ports.settings.cfn_role_arn,
                Tags=[{"Key": k, "Value": v} for k, v in tag_map(cluster).items()],
            )
            started.append({"stack": p.stack, "expect": "COMPLETE"})
        else:
            stacks.execute(ports.cfn, p)
            started.append({"stack": p.stack, "expect": "COMPLETE"})
    return {"stacks": started}


def check_stacks(state: State, ports: Ports) -> State:
    """One look at the stacks a step started: done, still going, or failed (raised)."""
    pending, failed = [], []
    for entry in state["nodeGroupStacks"]["stacks"]:
        current = stacks.status(ports.cfn, entry["stack"])
        if entry["expect"] == "DELETE_COMPLETE":
            if current is not None and current != "DELETE_FAILED":
                pending.append(entry["stack"])
            elif current == "DELETE_FAILED":
                failed.append(f"{entry['stack']}: DELETE_FAILED")
        elif current in stacks.FAILED or current is None:
            failed.append(f"{entry['stack']}: {current or 'missing'}")
        elif current not in stacks.DONE:
            pending.append(entry["stack"])
    if failed:
        raise StackFailed("node-group stacks failed: " + ", ".join(failed))
    return {**state["nodeGroupStacks"], "done": not pending, "pending": pending}


def apply_addons(state: State, ports: Ports) -> State:
    cluster = _cluster(state)
    names = [eks.ADDONS[a] for a in cluster.spec.addons]
    release = catalog.find(cluster.spec.cni.name, cluster.spec.cni.version)
    overlay = release is not None and release.overlay
    created = eks.ensure_addons(ports.eks, cluster.metadata.name, names, tags=tag_map(cluster), overlay=overlay)
    return {"created": created, "statuses": eks.addon_statuses(ports.eks, cluster.metadata.name, names)}


def record_state(state: State, ports: Ports) -> State:
    cluster = _cluster(state)
    nodes = state.get("nodes") or {}
    status = "ACTIVE" if state["action"] != "teardown" else "DELETED"
    return registry.record(
        ports.clusters,
        cluster.metadata.name,
        status=status,
        execution=state["execution"],
        specKey=(state.get("validated") or {}).get("specKey", ""),
        specVersion=state.get("versionId", ""),
        specSequencer=state.get("sequencer", ""),
        kubernetesVersion=cluster.spec.kubernetes_version or "",
        region=cluster.spec.region,
        endpoint=((state.get("connection") or {}).get("cluster") or {}).get("endpoint", ""),
        cni=f"{cluster.spec.cni.name} {cluster.spec.cni.version}",
        nodesExpected=int(nodes.get("expected", 0)),
        nodesReady=int(nodes.get("ready", 0)),
        subnetTags=(state.get("plan") or {}).get("subnetTags") or [],
    )


# --- Failure path -----------------------------------------------------------------------------


def _history(ports: Ports, execution: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution, "maxResults": 1000}
    while True:
        page = ports.sfn.get_execution_history(**kwargs)
        events += page.get("events", [])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def step_timings(events: list[dict[str, Any]]) -> list[notify.Step]:
    """Each step's status and total duration, from the history: a polling loop counts as one
    step (workflow.PHASES), plumbing states are left out (workflow.HIDDEN), and a state still
    running (the Notify step reading this history) is not reported."""
    steps: dict[str, notify.Step] = {}
    open_states: dict[str, datetime] = {}
    failing: set[str] = set()  # open states whose task failed and was not scheduled again
    for event in events:
        kind = event.get("type", "")
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            open_states[name] = event["timestamp"]
        elif kind in TASK_FAILED:
            failing |= set(open_states)
        elif kind in TASK_SCHEDULED:
            failing.clear()  # a retry
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            if name in open_states:
                seconds = (event["timestamp"] - open_states.pop(name)).total_seconds()
                if name in HIDDEN:
                    continue
                phase = PHASES.get(name, name)
                step = steps.setdefault(phase, notify.Step(phase, "SUCCEEDED", 0.0))
                step.seconds = round(step.seconds + seconds, 1)
                if name in failing:  # caught: the state exits into the failure path
                    step.status = "FAILED"
                    failing.discard(name)
    for name in open_states:
        if name in failing and name not in HIDDEN:
            phase = PHASES.get(name, name)
            steps.setdefault(phase, notify.Step(phase, "FAILED", 0.0)).status = "FAILED"
    return list(steps.values())


def failed_step(events: list[dict[str, Any]]) -> str:
    """The step that failed: the step whose task failed and was not retried, or the last step
    entered before the failure path began (a stack that ended badly is routed there by a
    Choice, with no failure event)."""
    entered, failed = "", ""
    for event in events:
        kind = event.get("type", "")
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            if name == "Diagnose":
                break
            if name not in HIDDEN:
                entered = PHASES.get(name, name)
        elif kind in TASK_FAILED:
            failed = entered
        elif kind in TASK_SCHEDULED:
            failed = ""  # a retry
        elif kind == "ExecutionFailed":
            break
    return failed or entered or "unknown"


def diagnose(state: State, ports: Ports) -> State:
    error = state.get("error") or {}
    name = error.get("Error", "States.Runtime")
    cause_raw = error.get("Cause", "")
    try:
        cause = json.loads(cause_raw).get("errorMessage", cause_raw)
    except ValueError:
        cause = cause_raw
    step = failed_step(_history(ports, state["execution"]))
    real_cause = None
    if _spec(state):
        cluster = _cluster(state)
        for stack in [stack_name(cluster), *[nodegroup_stack_name(cluster, g.name) for g in cluster.spec.node_groups]]:
            real_cause = stacks.first_cause(stacks.stack_events(ports.cfn, stack))
            if real_cause:
                break
    if real_cause:
        where = f"{real_cause['stack']} {real_cause['logicalId']} ({real_cause['type']})"
        cause = f"{where} {real_cause['status']}: {real_cause['reason']}"
    return {"step": step, "error": name, "cause": cause}


def clean_up(state: State, ports: Ports) -> State:
    """Per deletionPolicy, for a failed first creation only: an update never destroys a working
    cluster. Incremental: node-group stacks first, then the cluster stack; called until done."""
    if not _spec(state):
        return {"done": True, "cleanedUp": [], "kept": [], "reason": "nothing was created"}
    cluster = _cluster(state)
    item = registry.get(ports.clusters, cluster.metadata.name)
    first_creation = not item or item.get("status") != "ACTIVE"
    names = [nodegroup_stack_name(cluster, g.name) for g in cluster.spec.node_groups] + [stack_name(cluster)]
    existing = [n for n in names if stacks.status(ports.cfn, n) is not None]
    if not first_creation or cluster.spec.deletion_policy == "retain":
        why = "an update never deletes a working cluster" if not first_creation else "deletionPolicy: retain"
        return {"done": True, "cleanedUp": [], "kept": existing, "reason": why}
    main = stack_name(cluster)
    previous = state.get("cleanup") or {}
    deletion = stacks.delete_in_order(
        ports.cfn,
        [n for n in existing if n != main],
        main if main in existing else None,
        ports.settings.cfn_role_arn,
        previous.get("attempts") or {},
        ports.settings.region,
    )
    remaining = [n for n in names if stacks.status(ports.cfn, n) is not None]
    # Clean-up is called until done: remember what existed, so that only real deletions count.
    existed = set(previous.get("existed") or []) | set(existing)
    if deletion.done and (deletion.leftovers or deletion.blocked):
        _record_leftovers(state, ports, deletion)
    return {
        "done": deletion.done,
        "cleanedUp": sorted(existed - set(remaining)),
        "kept": [],
        "pending": deletion.pending,
        "existed": sorted(existed),
        "attempts": deletion.attempts,
        "leftovers": deletion.leftovers,
        "blocked": deletion.blocked,
        "reason": "deletionPolicy: delete",
    }


def _record_leftovers(state: State, ports: Ports, deletion: stacks.Deletion) -> None:
    """What could not be deleted goes into the registry too: the next person finds it there."""
    registry.record(
        ports.clusters,
        state["cluster"],
        status="DELETE_FAILED",
        execution=state["execution"],
        leftovers=deletion.leftovers,
        notDeleted=deletion.blocked,
    )


def leftovers_message(deletion: stacks.Deletion) -> str:
    lines = [f"{x['stack']} {x['resource']} ({x['type']}): {x['reason']}" for x in deletion.leftovers]
    lines += [f"{name}: not deleted while its node-group stacks remain" for name in deletion.blocked]
    return f"could not delete after {stacks.DELETE_ATTEMPTS} attempts: " + "; ".join(lines)


# --- Teardown ---------------------------------------------------------------------------------


def delete_stacks(state: State, ports: Ports) -> State:
    """Teardown, incremental: node-group stacks, then the cluster stack; a stack that fails to
    delete is asked again a bounded number of times, then the teardown fails naming what is left."""
    cluster = _cluster(state)
    main = stack_name(cluster)
    previous = state.get("deletion") or {}
    deletion = stacks.delete_in_order(
        ports.cfn,
        _existing_nodegroup_stacks(ports, cluster),
        main if stacks.status(ports.cfn, main) is not None else None,
        ports.settings.cfn_role_arn,
        previous.get("attempts") or {},
        ports.settings.region,
    )
    if deletion.done and (deletion.leftovers or deletion.blocked):
        _record_leftovers(state, ports, deletion)
        raise StackFailed(leftovers_message(deletion))
    return {"done": deletion.done, "pending": deletion.pending, "attempts": deletion.attempts}


def describe_cluster(state: State, ports: Ports) -> State:
    """Teardown: can the agent still reach the cluster (to delete its load balancers first)?"""
    cluster = _cluster(state)
    if stacks.status(ports.cfn, stack_name(cluster)) is None:
        return {"reachable": False, "reason": "no cluster stack"}
    outputs = stacks.outputs(ports.cfn, stack_name(cluster))
    try:
        described = eks.describe(ports.eks, cluster.metadata.name)
    except ports.eks.exceptions.ResourceNotFoundException:
        return {"reachable": False, "reason": "no EKS cluster"}
    return {
        "reachable": bool(outputs.get("AgentFunctionArn")) and described["status"] == "ACTIVE",
        "cluster": {
            "name": cluster.metadata.name,
            "region": cluster.spec.region,
            "endpoint": described["endpoint"],
            "certificateAuthority": described["certificateAuthority"],
        },
        "agentArn": outputs.get("AgentFunctionArn", ""),
    }


def remove_subnet_tags(state: State, ports: Ports) -> State:
    item = registry.get(ports.clusters, state["cluster"]) or {}
    return {"untagged": subnets.remove_cluster_tags(ports.ec2, item.get("subnetTags") or [])}


# --- Notify -----------------------------------------------------------------------------------


def _action(state: State) -> str:
    if state["action"] == "plan":
        return "plan"
    if state["action"] == "teardown":
        return "delete"
    return "create" if (state.get("plan") or {}).get("newCluster", True) else "update"


def build_outcome(state: State, ports: Ports, outcome: str) -> notify.Outcome:
    events = _history(ports, state["execution"])
    spec = _spec(state) or {}
    cluster_spec = spec.get("spec") or {}
    connection = state.get("connection") or {}
    nodes = state.get("nodes") or {}
    groups = {
        g: {"ready": v.get("ready", 0), "desired": v.get("expected", 0)} for g, v in (nodes.get("groups") or {}).items()
    }
    diagnosis = state.get("diagnosis")
    cleanup = state.get("cleanup") or {}
    failure = None
    if outcome == "FAILED":
        diagnosis = diagnosis or {
            "step": failed_step(events),
            "error": (state.get("error") or {}).get("Error", ""),
            "cause": (state.get("error") or {}).get("Cause", ""),
        }
        failure = notify.Failure(
            step=diagnosis["step"],
            error=diagnosis["error"],
            cause=diagnosis["cause"],
            cleaned_up=cleanup.get("cleanedUp") or [],
            kept=cleanup.get("kept") or [],
            left_behind=cleanup.get("leftovers") or [],
            not_deleted=cleanup.get("blocked") or [],
            cleanup_note=(state.get("cleanupStuck") or {}).get("Cause", ""),
        )
    plan_state = state.get("plan") or {}
    note = None
    if plan_state.get("superseded"):
        note = "A later upload of this spec was already applied; this older version was skipped."
    elif outcome == "FAILED" and _rolled_back(state):
        applied = (registry.get(ports.clusters, state["cluster"]) or {}).get("specVersion", "")
        note = (
            "The update rolled back: the cluster keeps running on its previously applied spec"
            + (f" (version {applied})" if applied else "")
            + ", which the registry still records as applied."
        )
    validation = ((state.get("validation") or {}).get("result") or {}).get("table")
    installed = _installed_addons(ports, state) if outcome == "SUCCEEDED" and state["action"] != "teardown" else {}
    cni = connection.get("cni") or (
        {"name": cluster_spec.get("cni", {}).get("name", ""), "version": cluster_spec.get("cni", {}).get("version", "")}
        if cluster_spec
        else {}
    )
    if cni.get("name") == "aws-vpc-cni" and installed.get("vpc-cni"):
        cni = {**cni, "version": installed["vpc-cni"]}  # what EKS installed, not the catalog's pin
    return notify.Outcome(
        cluster=state["cluster"],
        action=_action(state),
        outcome=outcome,
        region=ports.settings.region,
        execution_arn=state["execution"],
        spec_key=state.get("key", ""),
        bucket=state.get("bucket", ""),
        steps=step_timings(events),
        endpoint=(connection.get("cluster") or {}).get("endpoint") or None,
        kubernetes_version=cluster_spec.get("kubernetesVersion"),
        nodes=groups,
        cni={"name": cni.get("name", ""), "version": cni.get("version", "")} if cni else {},
        changes=[
            {"stack": s["stack"], "changeType": s["change_type"], "counts": s["counts"], "changes": s["changes"]}
            for s in plan_state.get("stacks") or []
        ],
        validation=validation,
        failure=failure,
        note=note,
        admins=list(
            dict.fromkeys([*(cluster_spec.get("controlPlane") or {}).get("admins", []), *ports.settings.cluster_admins])
        ),
        addons=installed,
    )


def _rolled_back(state: State) -> bool:
    """A stack update failed: CloudFormation rolled it back to the previous template."""
    said = str((state.get("error") or {}).get("Cause", "")) + str((state.get("diagnosis") or {}).get("cause", ""))
    return _action(state) == "update" and ("UPDATE_ROLLBACK" in said or "UPDATE_FAILED" in said)


def _installed_addons(ports: Ports, state: State) -> dict[str, str]:
    """The add-ons' versions as EKS reports them; a notification goes out even if EKS cannot say."""
    try:
        return eks.installed_versions(ports.eks, state["cluster"])
    except ports.eks.exceptions.ClientError as exc:
        logger.warning("add-on versions of %s unknown: %s", state["cluster"], exc)
        return {}


def publish(built: notify.Outcome, ports: Ports) -> State:
    response = ports.sns.publish(TopicArn=ports.settings.topic_arn, **notify.sns_message(built))
    return {"messageId": response.get("MessageId"), "subject": notify.subject(built), "outcome": built.outcome}
