"""An execution's history read as the workflow's steps (`workflow.py`): what `watch`, `local run`
and the notification show. The one reader of Step Functions histories (all pages)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from clusterdrop.aws import notify
from clusterdrop.errors import EXPECTED_WAITS
from clusterdrop.render.status_page import Poll, Span
from clusterdrop.workflow import FAILURE_PATH, HIDDEN, PHASES, TASK_FAILED, TASK_SCHEDULED


def execution_history(sfn: Any, execution: str) -> list[dict[str, Any]]:
    """Every event of an execution, oldest first, all pages."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
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
    # A step a Choice routed to the failure path exited normally; it failed all the same.
    if not any(s.status == "FAILED" for s in steps.values()) and _entered(events, FAILURE_PATH):
        routed = failed_step(events)
        if routed in steps:
            steps[routed].status = "FAILED"
    return list(steps.values())


def _entered(events: list[dict[str, Any]], state: str) -> bool:
    return any(
        e.get("type", "").endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == state for e in events
    )


def failed_step(events: list[dict[str, Any]]) -> str:
    """The step that failed: the step whose task failed and was not retried, or the last step
    entered before the failure path began (a stack that ended badly is routed there by a
    Choice, with no failure event)."""
    entered, failed = "", ""
    for event in events:
        kind = event.get("type", "")
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            if name == FAILURE_PATH:
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


def step_spans(events: list[dict[str, Any]]) -> list[Span]:
    """Each step as the status page's timeline draws it: from its first state's entry to its last
    state's exit (a polling loop's waits included), with its status and its retried attempts."""
    if not events:
        return []
    origin = events[0]["timestamp"]
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    retries: dict[str, int] = {}
    waits: dict[str, int] = {}  # attempts that failed with an expected wait (EXPECTED_WAITS)
    current, failed_attempt, waiting = "", False, False
    for event in events:
        kind = event.get("type", "")
        if kind.endswith(("StateEntered", "StateExited")):
            details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
            name = details.get("name", "")
            if name in HIDDEN:
                continue
            phase = PHASES.get(name, name)
            first.setdefault(phase, event["timestamp"])
            last[phase] = event["timestamp"]
            if kind.endswith("StateEntered"):
                current, failed_attempt = phase, False
        elif kind in TASK_FAILED:
            failed_attempt = True
            failure: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            waiting = failure.get("error") in EXPECTED_WAITS
        elif kind in TASK_SCHEDULED and failed_attempt and current:
            counted = waits if waiting else retries
            counted[current] = counted.get(current, 0) + 1
            failed_attempt = False
    status = {s.name: s.status for s in step_timings(events)}
    return [
        Span(
            name=phase,
            start=(started - origin).total_seconds(),
            seconds=(last[phase] - started).total_seconds(),
            status=status.get(phase, "RUNNING"),
            retries=retries.get(phase, 0),
            waits=waits.get(phase, 0),
        )
        for phase, started in first.items()
    ]


def node_polls(events: list[dict[str, Any]]) -> list[Poll]:
    """Every readiness poll of the execution, per node group (the nodes chart's points)."""
    if not events:
        return []
    origin = events[0]["timestamp"]
    polls: list[Poll] = []
    for event in events:
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") != "Wait for nodes Ready":
            continue
        try:
            result = (json.loads(details.get("output") or "{}").get("nodesPoll") or {}).get("result") or {}
        except ValueError:
            continue
        at = (event["timestamp"] - origin).total_seconds()
        for group, counts in sorted((result.get("groups") or {}).items()):
            polls.append(Poll(at, group, int(counts.get("ready", 0)), int(counts.get("expected", 0))))
    return polls
