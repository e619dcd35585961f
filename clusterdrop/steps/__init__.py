"""The workflow's steps on the AWS side: one function per Lambda-backed state, named as the state
is ("Take cluster lock" → `take_cluster_lock` → `lambdas/take_cluster_lock.py` →
`TakeClusterLockFunction` → `${TakeClusterLockFunctionArn}`), in one module per phase.

Each takes the execution's state document (what the state machine passes as the payload) and
the ports, and returns what the state machine stores at the step's ResultPath. Waiting is never
done here: a step starts something and returns; the state machine's Wait/Choice loops poll.

Each Lambda imports only its own phase: a name is imported from its module when first used
(PEP 562), so that `lambdas/plan.py` does not pay for the teardown's imports on a cold start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, typed, for mypy and editors (each as itself: re-exported)
    from clusterdrop.steps.admission import (
        read_last_applied_spec as read_last_applied_spec,
    )
    from clusterdrop.steps.admission import (
        region_mismatch as region_mismatch,
    )
    from clusterdrop.steps.admission import (
        release_cluster_lock as release_cluster_lock,
    )
    from clusterdrop.steps.admission import (
        take_cluster_lock as take_cluster_lock,
    )
    from clusterdrop.steps.admission import (
        validate_spec as validate_spec,
    )
    from clusterdrop.steps.context import (
        Ports as Ports,
    )
    from clusterdrop.steps.context import (
        Settings as Settings,
    )
    from clusterdrop.steps.context import (
        State as State,
    )
    from clusterdrop.steps.ended import (
        execution_ended as execution_ended,
    )
    from clusterdrop.steps.failure import (
        clean_up as clean_up,
    )
    from clusterdrop.steps.failure import (
        diagnose as diagnose,
    )
    from clusterdrop.steps.notification import (
        build_outcome as build_outcome,
    )
    from clusterdrop.steps.notification import (
        notify as notify,
    )
    from clusterdrop.steps.notification import (
        publish as publish,
    )
    from clusterdrop.steps.planning import (
        describe_plan as describe_plan,
    )
    from clusterdrop.steps.planning import (
        discard_plan as discard_plan,
    )
    from clusterdrop.steps.planning import (
        plan as plan,
    )
    from clusterdrop.steps.provisioning import (
        apply_addons as apply_addons,
    )
    from clusterdrop.steps.provisioning import (
        apply_cluster_stack as apply_cluster_stack,
    )
    from clusterdrop.steps.provisioning import (
        apply_node_group_stacks as apply_node_group_stacks,
    )
    from clusterdrop.steps.provisioning import (
        check_node_group_stacks as check_node_group_stacks,
    )
    from clusterdrop.steps.provisioning import (
        connect as connect,
    )
    from clusterdrop.steps.provisioning import (
        deadline_label as deadline_label,
    )
    from clusterdrop.steps.provisioning import (
        record_state as record_state,
    )
    from clusterdrop.steps.teardown import (
        delete_stacks as delete_stacks,
    )
    from clusterdrop.steps.teardown import (
        describe_cluster as describe_cluster,
    )
    from clusterdrop.steps.teardown import (
        remove_subnet_tags as remove_subnet_tags,
    )

_MODULES = {
    "admission": (
        "read_last_applied_spec",
        "region_mismatch",
        "release_cluster_lock",
        "take_cluster_lock",
        "validate_spec",
    ),
    "context": ("Ports", "Settings", "State"),
    "ended": ("execution_ended",),
    "failure": ("clean_up", "diagnose"),
    "notification": ("build_outcome", "notify", "publish"),
    "planning": ("describe_plan", "discard_plan", "plan"),
    "provisioning": (
        "apply_addons",
        "apply_cluster_stack",
        "apply_node_group_stacks",
        "check_node_group_stacks",
        "connect",
        "deadline_label",
        "record_state",
    ),
    "teardown": ("delete_stacks", "describe_cluster", "remove_subnet_tags"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
