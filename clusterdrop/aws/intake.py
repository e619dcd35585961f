"""From an S3 event to a workflow execution.

`clusters/[<team>/]<name>.yaml|yml|json` created → deploy; `plans/<name>.…` → plan only; a delete marker
on `clusters/…` → teardown; anything else is ignored (with a log line). The execution name is
derived from the key and the object version, so a duplicate delivery of the same event starts
nothing new: StartExecution answers ExecutionAlreadyExists, which counts as success.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal
from urllib.parse import unquote_plus

Action = Literal["deploy", "plan", "teardown"]

# `clusters/NAME.yaml`, or `clusters/TEAM/NAME.yaml`: a team's prefix (its own bucket-policy
# statement, its own guardrails), recorded on the cluster.
_KEY = re.compile(
    r"^(?P<prefix>clusters|plans)/(?:(?P<team>[a-z0-9]([-a-z0-9]*[a-z0-9])?)/)?"
    r"(?P<name>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\.(yaml|yml|json)$"
)
MAX_EXECUTION_NAME = 80


@dataclass(frozen=True)
class Intent:
    action: Action
    cluster: str
    bucket: str
    key: str
    version_id: str
    event_time: str
    # S3's per-key event order (hex, compared after left-padding): later uploads sort higher.
    sequencer: str = ""

    @property
    def execution_name(self) -> str:
        """Deterministic per (key, version): `deploy-demo-3f1c…`."""
        digest = hashlib.sha256(f"{self.key}\n{self.version_id}\n{self.action}".encode()).hexdigest()[:16]
        head = f"{self.action}-{self.cluster}"[: MAX_EXECUTION_NAME - 17]
        return f"{head}-{digest}"

    def execution_input(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "cluster": self.cluster,
            "bucket": self.bucket,
            "key": self.key,
            "versionId": self.version_id,
            "eventTime": self.event_time,
            "sequencer": self.sequencer,
        }


def team_of(key: str) -> str:
    """The team a spec key names (`clusters/payments/demo.yaml` → payments; "" without one)."""
    match = _KEY.match(key)
    return (match.group("team") or "") if match else ""


def is_execution_of(name: str, cluster: str | None) -> bool:
    """Whether an execution name (Intent.execution_name) is one of this cluster's: the
    digest's length tells `demo` from `demo-2`, and long names are cut as the intake cuts them."""
    for action in ("deploy", "plan", "teardown"):
        if cluster is None:
            if name.startswith(f"{action}-"):
                return True
            continue
        head = f"{action}-{cluster}"[: MAX_EXECUTION_NAME - 17]
        if name.startswith(f"{head}-") and len(name) == len(head) + 17:
            return True
    return False


@dataclass(frozen=True)
class Ignored:
    key: str
    reason: str


def classify(record: dict[str, Any]) -> Intent | Ignored:
    """One S3 event record (from S3 directly, or from SQS around it)."""
    s3 = record.get("s3") or {}
    key = unquote_plus((s3.get("object") or {}).get("key", ""))  # keys arrive URL-encoded
    bucket = (s3.get("bucket") or {}).get("name", "")
    event = record.get("eventName", "")
    version = (s3.get("object") or {}).get("versionId") or "null"
    match = _KEY.match(key)
    if not match:
        return Ignored(key, "not a cluster spec key (clusters/[TEAM/]NAME.yaml|yml|json or plans/[TEAM/]NAME.…)")
    prefix, name = match.group("prefix"), match.group("name")
    if event.startswith("ObjectCreated:"):
        action: Action = "deploy" if prefix == "clusters" else "plan"
    elif event == "ObjectRemoved:DeleteMarkerCreated" and prefix == "clusters":
        action = "teardown"
    elif event.startswith("ObjectRemoved:"):
        return Ignored(key, f"{event} on {prefix}/ starts nothing (only a delete marker on clusters/ tears down)")
    else:
        return Ignored(key, f"event {event!r} starts nothing")
    sequencer = (s3.get("object") or {}).get("sequencer", "")
    return Intent(action, name, bucket, key, version, record.get("eventTime", ""), sequencer)


def records(event: dict[str, Any]) -> list[dict[str, Any]]:
    """S3 records from an S3 notification, or from SQS messages that carry them."""
    out: list[dict[str, Any]] = []
    for record in event.get("Records") or []:
        if record.get("eventSource") == "aws:sqs":
            body = json.loads(record.get("body") or "{}")
            out += body.get("Records") or []  # s3:TestEvent has none
        else:
            out.append(record)
    return out


def start(sfn: Any, state_machines: dict[Action, str], intent: Intent) -> dict[str, Any]:
    """Start the execution; a duplicate (same key and version) is a no-op success: Step Functions
    returns the running execution for a repeated name and input, or ExecutionAlreadyExists."""
    try:
        response = sfn.start_execution(
            stateMachineArn=state_machines[intent.action],
            name=intent.execution_name,
            input=json.dumps(intent.execution_input()),
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        return {"started": False, "duplicate": True, "execution": intent.execution_name, **asdict(intent)}
    return {"started": True, "duplicate": False, "executionArn": response["executionArn"], **asdict(intent)}
