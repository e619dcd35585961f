"""The workflow's steps on the AWS side: one function per Lambda-backed state, named as the state
is ("Take cluster lock" → `take_cluster_lock` → `lambdas/take_cluster_lock.py` →
`TakeClusterLockFunction` → `${TakeClusterLockFunctionArn}`), in one module per phase.

Each takes the execution's state document (what the state machine passes as the payload) and
the ports, and returns what the state machine stores at the step's ResultPath. Waiting is never
done here: a step starts something and returns; the state machine's Wait/Choice loops poll.
"""

from __future__ import annotations

from clusterdrop.steps.admission import (
    read_last_applied_spec,
    region_mismatch,
    release_cluster_lock,
    take_cluster_lock,
    validate_spec,
)
from clusterdrop.steps.context import Ports, Settings, State
from clusterdrop.steps.ended import execution_ended
from clusterdrop.steps.failure import clean_up, diagnose
from clusterdrop.steps.notification import build_outcome, notify, publish
from clusterdrop.steps.planning import describe_plan, discard_plan, plan
from clusterdrop.steps.provisioning import (
    apply_addons,
    apply_cluster_stack,
    apply_node_group_stacks,
    check_node_group_stacks,
    connect,
    deadline_label,
    record_state,
)
from clusterdrop.steps.teardown import delete_stacks, describe_cluster, remove_subnet_tags

__all__ = [
    "Ports",
    "Settings",
    "State",
    "apply_addons",
    "apply_cluster_stack",
    "apply_node_group_stacks",
    "build_outcome",
    "check_node_group_stacks",
    "clean_up",
    "connect",
    "deadline_label",
    "delete_stacks",
    "describe_cluster",
    "describe_plan",
    "diagnose",
    "discard_plan",
    "execution_ended",
    "notify",
    "plan",
    "publish",
    "read_last_applied_spec",
    "record_state",
    "region_mismatch",
    "release_cluster_lock",
    "remove_subnet_tags",
    "take_cluster_lock",
    "validate_spec",
]
