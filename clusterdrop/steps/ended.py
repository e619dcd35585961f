"""The safety net for an execution that ended without notifying. Step Functions ends an execution
at once, past every Catch, on a terminal error (States.DataLimitExceeded, States.Runtime), when
it times out, or when someone stops it (StopExecution, the console's Stop): the workflow's own
failure path — Diagnose, Clean up, Notify, Release cluster lock — never runs. An EventBridge rule
on the machines' "Step Functions Execution Status Change" events (FAILED, TIMED_OUT, ABORTED)
runs this instead: the notification the failure path would have sent, the lock and the quota
reservation released. What the failed step made stays, and the notification says so.

Not a state of the machines: it reads the execution's history, as `watch` does."""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import ValidationError

from clusterdrop.aws import lock
from clusterdrop.aws import quotas as account_quotas
from clusterdrop.contract import ExecutionState
from clusterdrop.history import execution_history, failed_step
from clusterdrop.steps.context import Ports, State, logger
from clusterdrop.steps.notification import build_outcome, notify_built


def _what_ended_it(status: str, error: str | None, cause: str | None) -> tuple[str, str]:
    """The error and cause the notification names (failures.classify codes them). A stop's event
    carries what StopExecution was given, if anything: any error name a person typed, so the
    stop itself is the error and what they wrote its cause."""
    if status == "ABORTED":
        said = ": ".join(x for x in (error, cause) if x)
        return "Execution.Aborted", "the execution was stopped (StopExecution)" + (f": {said}" if said else "")
    if status == "TIMED_OUT":
        return "States.Timeout", cause or "the execution ran past its TimeoutSeconds"
    return error or status, cause or ""


def _notified(events: list[dict[str, Any]]) -> bool:
    """The workflow sent its own notification (a Notify state ran): nothing to add."""
    return any(
        e.get("type") == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"].startswith("Notify")
        for e in events
    )


def _last_state(events: list[dict[str, Any]], detail: dict[str, Any]) -> State:
    """The state document as the last state entered received it (the history keeps each state's
    input); the execution's input, with its id, when no state took a whole document."""
    for event in reversed(events):
        if not event.get("type", "").endswith("StateEntered"):
            continue
        try:
            state: State = json.loads(event["stateEnteredEventDetails"].get("input") or "")
            ExecutionState.model_validate(state)
        except (ValueError, ValidationError):
            continue
        return state
    started: State = json.loads(detail.get("input") or "{}")
    return {**started, "execution": detail["executionArn"]}


# How long the mark that an execution's end was notified is kept (the locks table's TTL removes
# it): EventBridge retries a delivery for up to 24 hours.
_MARK_SECONDS = 2 * 24 * 3600


def _first_delivery(ports: Ports, arn: str) -> bool:
    """EventBridge delivers at least once: the first delivery of an execution's end takes a mark
    (a conditional put beside the locks, keyed by the execution), any other finds it taken."""
    try:
        ports.locks.put_item(
            Item={"cluster": f"ended#{arn}", "owner": arn, "expiresAt": int(time.time()) + _MARK_SECONDS},
            ConditionExpression="attribute_not_exists(#c)",
            ExpressionAttributeNames={"#c": "cluster"},
        )
    except ports.locks.meta.client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def execution_ended(event: dict[str, Any], ports: Ports) -> State:
    """Notify an execution's end that the workflow could not notify itself (an EventBridge event)."""
    detail = event.get("detail") or {}
    arn = detail["executionArn"]
    status = detail.get("status", "")
    events = execution_history(ports.sfn, arn)
    if status not in ("FAILED", "TIMED_OUT", "ABORTED"):
        return {"notified": False, "reason": f"the execution {status}"}
    if _notified(events):
        return {"notified": False, "reason": "the workflow notified"}
    if not _first_delivery(ports, arn):
        return {"notified": False, "reason": "notified already (the event was delivered again)"}
    state = _last_state(events, detail)
    error, cause = _what_ended_it(status, detail.get("error"), detail.get("cause"))
    step = failed_step(events)
    state["error"] = {"Error": error, "Cause": cause}
    built = build_outcome(state, ports, "FAILED", events)
    if built.failure is not None:
        built.failure.cleanup_note = (
            f"Step Functions ended the execution at {step} ({error}), past the workflow's failure path: nothing "
            "was cleaned up, and what the step had made is still there. The cluster's lock was released."
        )
    # The lock first, so that what the notification says is already true when it arrives.
    s = ExecutionState.model_validate(state)
    if ports.clusters is not None:
        account_quotas.release(ports.clusters, s.cluster, s.execution)
    released = lock.release(ports.locks, s.cluster, s.execution)["released"]
    try:
        sent = notify_built(built, ports, events)
    except Exception:
        # EventBridge retries a failed invocation: let the retry notify.
        ports.locks.delete_item(Key={"cluster": f"ended#{arn}"})
        raise
    logger.warning("execution %s ended %s at %s without notifying: notified now", arn, status, step)
    return {"notified": True, "reason": f"{status} at {step}: {error}", "code": sent["code"], "released": released}
