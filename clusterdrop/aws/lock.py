"""A per-cluster lock in DynamoDB: a conditional write, owned by an execution, with an expiry
so that a crashed execution cannot hold a cluster forever."""

from __future__ import annotations

import time
from collections.abc import Callable
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
