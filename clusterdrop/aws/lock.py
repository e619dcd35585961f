"""A per-cluster lock in DynamoDB: a conditional write, owned by an execution, with an expiry
so that a crashed execution cannot hold a cluster forever."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from clusterdrop.errors import LockBusy

# Longer than any deploy (the slowest step, EKS creation, takes ~15 minutes).
DEFAULT_TTL_SECONDS = 3 * 60 * 60


def acquire(
    table: Any, cluster: str, owner: str, *, ttl: int = DEFAULT_TTL_SECONDS, now: Callable[[], float] = time.time
) -> dict[str, Any]:
    current = int(now())
    try:
        table.put_item(
            Item={"cluster": cluster, "owner": owner, "expiresAt": current + ttl, "takenAt": current},
            ConditionExpression="attribute_not_exists(#c) OR expiresAt < :now OR #o = :owner",
            ExpressionAttributeNames={"#c": "cluster", "#o": "owner"},
            ExpressionAttributeValues={":now": current, ":owner": owner},
        )
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        holder = table.get_item(Key={"cluster": cluster}).get("Item") or {}
        raise LockBusy(
            f"cluster {cluster} is being changed by {holder.get('owner', 'another execution')}; waiting for its lock"
        ) from None
    return {"cluster": cluster, "owner": owner, "expiresAt": current + ttl}


def release(table: Any, cluster: str, owner: str) -> dict[str, Any]:
    """Release if still ours; releasing a lock we no longer hold changes nothing."""
    try:
        table.delete_item(
            Key={"cluster": cluster},
            ConditionExpression="#o = :owner",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":owner": owner},
        )
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        return {"released": False}
    return {"released": True}


def earlier_change_waiting(sfn: Any, machines: Sequence[str], state: dict[str, Any]) -> str | None:
    """The name of a running deploy or teardown of the same spec key uploaded before this one
    (a lower S3 sequencer), if any. The lock alone is first come, first served: two uploads in
    quick succession may reach it in either order, and the later spec would then be applied
    first and the earlier skipped as superseded. Yielding to the earlier one applies both, in
    the order they were uploaded."""
    from clusterdrop.aws.intake import is_execution_of
    from clusterdrop.aws.registry import sequencer_key

    mine = state.get("sequencer", "")
    if state.get("action") not in ("deploy", "teardown") or not mine:
        return None
    for machine in machines:
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine, statusFilter="RUNNING")
        for page in pages:
            for execution in page.get("executions", []):
                if execution["executionArn"] == state.get("execution") or not is_execution_of(
                    execution["name"], state["cluster"]
                ):
                    continue
                other = json.loads(sfn.describe_execution(executionArn=execution["executionArn"]).get("input") or "{}")
                if (
                    other.get("cluster") == state["cluster"]
                    and other.get("key") == state.get("key")  # sequencers order events of one key
                    and other.get("sequencer")
                    and sequencer_key(other["sequencer"]) < sequencer_key(mine)
                ):
                    return str(execution["name"])
    return None
