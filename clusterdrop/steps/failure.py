"""States "Diagnose", "Clean up": the failure path."""

from __future__ import annotations

import json

from clusterdrop.aws import eks, registry, stacks
from clusterdrop.contract import Cleanup
from clusterdrop.history import (
    execution_history,
    failed_step,
)
from clusterdrop.render.common import nodegroup_stack_name, stack_name
from clusterdrop.steps.context import Ports, State, cluster_of, spec_of, typed


def diagnose(state: State, ports: Ports) -> State:
    error = typed(state).error or {}
    name = error.get("Error", "States.Runtime")
    cause_raw = error.get("Cause", "")
    try:
        cause = json.loads(cause_raw).get("errorMessage", cause_raw)
    except ValueError:
        cause = cause_raw
    step = failed_step(execution_history(ports.sfn, typed(state).execution))
    real_cause = None
    if spec_of(state, ports):
        cluster = cluster_of(state, ports)
        for stack in [stack_name(cluster), *[nodegroup_stack_name(cluster, g.name) for g in cluster.spec.node_groups]]:
            real_cause = stacks.first_cause(stacks.stack_events(ports.cfn, stack))
            if real_cause:
                break
    if real_cause:
        where = f"{real_cause['stack']} {real_cause['logicalId']} ({real_cause['type']})"
        cause = f"{where} {real_cause['status']}: {real_cause['reason']}"
    elif name == "NodesNotReady" and spec_of(state, ports):
        # Nodes that never came: EKS says why in the node group's health (an Auto Scaling group
        # that cannot launch — a vCPU quota, a key, capacity), the first place to look on AWS.
        cause += "".join(f"\n{line}" for line in eks.health_issues(ports.eks, cluster_of(state, ports)))
    return {"step": step, "error": name, "cause": cause}


def clean_up(state: State, ports: Ports) -> State:
    """Per deletionPolicy, for a failed first creation only: an update never destroys a working
    cluster. Incremental: node-group stacks first, then the cluster stack; called until done."""
    if not spec_of(state, ports):
        return {"done": True, "cleanedUp": [], "kept": [], "reason": "nothing was created"}
    cluster = cluster_of(state, ports)
    item = registry.get(ports.clusters, cluster.metadata.name)
    first_creation = not item or item.status != "ACTIVE"
    names = [nodegroup_stack_name(cluster, g.name) for g in cluster.spec.node_groups] + [stack_name(cluster)]
    existing = [n for n in names if stacks.status(ports.cfn, n) is not None]
    if not first_creation or cluster.spec.deletion_policy == "retain":
        why = "an update never deletes a working cluster" if not first_creation else "deletionPolicy: retain"
        return {"done": True, "cleanedUp": [], "kept": existing, "reason": why}
    main = stack_name(cluster)
    previous = typed(state).cleanup or Cleanup(done=False)
    deletion = stacks.delete_in_order(
        ports.cfn,
        [n for n in existing if n != main],
        main if main in existing else None,
        ports.settings.cfn_role_arn,
        previous.attempts,
        ports.settings.region,
    )
    remaining = [n for n in names if stacks.status(ports.cfn, n) is not None]
    # Clean-up is called until done: remember what existed, so that only real deletions count.
    existed = set(previous.existed) | set(existing)
    if deletion.done and (deletion.leftovers or deletion.blocked):
        record_leftovers(state, ports, deletion)
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


def record_leftovers(state: State, ports: Ports, deletion: stacks.Deletion) -> None:
    """What could not be deleted goes into the registry too: the next person finds it there."""
    registry.record(
        ports.clusters,
        typed(state).cluster,
        status="DELETE_FAILED",
        execution=typed(state).execution,
        leftovers=deletion.leftovers,
        notDeleted=deletion.blocked,
    )


def leftovers_message(deletion: stacks.Deletion) -> str:
    lines = [f"{x['stack']} {x['resource']} ({x['type']}): {x['reason']}" for x in deletion.leftovers]
    lines += [f"{name}: not deleted while its node-group stacks remain" for name in deletion.blocked]
    return f"could not delete after {stacks.DELETE_ATTEMPTS} attempts: " + "; ".join(lines)
