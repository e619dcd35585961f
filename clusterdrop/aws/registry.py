"""The cluster registry in DynamoDB: one item per cluster with what the last execution did."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# The status of a cluster whose first create failed: none of it is recorded as applied, and no
# team owns it yet (a retry may come from any prefix).
NEVER_CREATED = "CREATE_FAILED"


class ClusterRecord(BaseModel):
    """A cluster's item in the registry: what the last execution did and left. camelCase in the
    table; items written by earlier versions may hold fields this one no longer writes."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    cluster: str
    status: str = ""
    last_execution: str = ""
    created_at: int = 0
    updated_at: int = 0
    spec_key: str = ""
    spec_version: str = ""
    spec_sequencer: str = ""
    kubernetes_version: str = ""
    region: str = ""
    endpoint: str = ""
    cni: str = ""
    nodes_expected: int = 0
    nodes_ready: int = 0
    subnet_tags: list[dict[str, str]] = Field(default_factory=list)
    leftovers: list[dict[str, str]] = Field(default_factory=list)
    not_deleted: list[str] = Field(default_factory=list)
    # The team whose prefix (clusters/<team>/) the cluster's spec lives under ("" for none).
    team: str = ""
    # The last failed execution's code, step and ARN (failures.CODES).
    last_failure: dict[str, str] = Field(default_factory=dict)


def _plain(value: Any) -> Any:
    """DynamoDB hands numbers back as Decimal; the workflow's JSON wants int."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def get(table: Any, cluster: str) -> ClusterRecord | None:
    item = table.get_item(Key={"cluster": cluster}).get("Item")
    return ClusterRecord.model_validate(_plain(item)) if item else None


def sequencer_key(sequencer: str) -> str:
    """S3 sequencers compare as hex strings of equal length."""
    return sequencer.upper().rjust(32, "0")


def is_superseded(table: Any, cluster: str, sequencer: str) -> bool:
    """True when a later upload of this cluster's spec has already been applied."""
    if not sequencer:
        return False
    item = get(table, cluster)
    applied = item.spec_sequencer if item else ""
    return bool(applied) and sequencer_key(applied) > sequencer_key(sequencer)


def record(
    table: Any,
    cluster: str,
    *,
    status: str,
    execution: str,
    now: Callable[[], float] = time.time,
    **fields: Any,
) -> dict[str, Any]:
    """Upsert the cluster's item; `fields` (camelCase, fields of ClusterRecord) are stored as given."""
    unknown = sorted(set(fields) - {f.alias for f in ClusterRecord.model_fields.values()})
    if unknown:
        raise ValueError(f"not fields of a cluster record: {', '.join(unknown)}")
    stamp = int(now())
    names = {"#status": "status", "#exec": "lastExecution", "#updated": "updatedAt", "#created": "createdAt"}
    values: dict[str, Any] = {":status": status, ":exec": execution, ":now": stamp}
    sets = ["#status = :status", "#exec = :exec", "#updated = :now", "#created = if_not_exists(#created, :now)"]
    for i, (key, value) in enumerate(sorted(fields.items())):
        names[f"#f{i}"] = key
        values[f":f{i}"] = value
        sets.append(f"#f{i} = :f{i}")
    table.update_item(
        Key={"cluster": cluster},
        UpdateExpression="SET " + ", ".join(sets),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )
    return {"cluster": cluster, "status": status, "updatedAt": stamp}


def list_clusters(table: Any) -> list[ClusterRecord]:
    items: list[ClusterRecord] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        # Items named with "#" are the registry's own (quota reservations), not clusters.
        items += [
            ClusterRecord.model_validate(_plain(i)) for i in page.get("Items", []) if not i["cluster"].startswith("#")
        ]
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda i: i.cluster)
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
