"""States "Describe cluster", "Delete stacks", "Remove subnet tags": a cluster removed."""

from __future__ import annotations

from clusterdrop.aws import eks, registry, stacks, subnets
from clusterdrop.errors import StackFailed
from clusterdrop.render.common import stack_name
from clusterdrop.steps.context import Ports, State, cluster_of, typed
from clusterdrop.steps.failure import leftovers_message, record_leftovers
from clusterdrop.steps.planning import existing_nodegroup_stacks


def delete_stacks(state: State, ports: Ports) -> State:
    """Teardown, incremental: node-group stacks, then the cluster stack; a stack that fails to
    delete is asked again a bounded number of times, then the teardown fails naming what is left."""
    cluster = cluster_of(state, ports)
    main = stack_name(cluster)
    previous = typed(state).deletion
    deletion = stacks.delete_in_order(
        ports.cfn,
        existing_nodegroup_stacks(ports, cluster),
        main if stacks.status(ports.cfn, main) is not None else None,
        ports.settings.cfn_role_arn,
        previous.attempts if previous else {},
        ports.settings.region,
    )
    if deletion.done and (deletion.leftovers or deletion.blocked):
        record_leftovers(state, ports, deletion)
        raise StackFailed(leftovers_message(deletion))
    return {"done": deletion.done, "pending": deletion.pending, "attempts": deletion.attempts}


def describe_cluster(state: State, ports: Ports) -> State:
    """Teardown: can the agent still reach the cluster (to delete its load balancers first)?"""
    cluster = cluster_of(state, ports)
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
    item = registry.get(ports.clusters, typed(state).cluster)
    return {"untagged": subnets.remove_cluster_tags(ports.ec2, item.subnet_tags if item else [])}
