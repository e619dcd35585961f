"""How often the state machines poll and how long each wait may last, as ASL substitutions.

Every wait loop of the state machines is bounded by a count of checks (`…PollLimit`): past it,
the execution leaves through the failure path with a notification naming what is stuck and for
how long — a loop that waits for ever would end silently at Step Functions' 25,000-event limit,
with no notification and the lock held. The limits are counts, computed from AWS's poll
intervals; the embedded mode polls every second, so the same counts make its waits shorter in
proportion (what is "180 minutes" on AWS is a few minutes there).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusterdrop.facts import MAX_NODE_GROUPS


@dataclass(frozen=True)
class Timing:
    """Poll and retry intervals (seconds). The embedded mode shortens them via context."""

    stack_poll: int = 30
    node_poll: int = 20
    change_set_poll: int = 5
    lock_retry: int = 30
    # Capped at 2 minutes between tries, 40 tries wait ~75 minutes: longer than a create (EKS
    # ~15 min, nodes up to nodeReadyTimeoutMinutes) that holds the lock.
    lock_retry_max: int = 120
    lock_retry_attempts: int = 40
    # A new cluster's API refuses the agent (401) until its access entry propagates, usually
    # seconds: 10, 20, 40, then every 60 s, 8 tries ≈ 6 minutes, then the create fails saying so.
    access_retry: int = 10
    access_retry_max: int = 60
    access_retry_attempts: int = 8
    # How long each wait may last on AWS. A change set takes seconds; an EKS control plane
    # ~10 minutes to create and up to ~40 to upgrade; node groups roll one node at a time;
    # nodes get the spec's nodeReadyTimeoutMinutes (at most 180) and the agent fails them first.
    change_set_minutes: int = 10
    cluster_stack_minutes: int = 120
    nodegroup_stack_minutes: int = 180
    nodes_minutes: int = 190
    cleanup_minutes: int = 120
    # How much faster than on AWS time runs: the spec's own deadlines (nodeReadyTimeoutMinutes)
    # are divided by it, as the poll intervals are (30 s on AWS, 1 s in the embedded mode).
    time_scale: int = 1
    # What one check of a wait loop costs beside its Wait: the Lambda that looks (seconds).
    check_seconds: int = 3

    def _waits(self) -> dict[str, tuple[int, str]]:
        """Each bounded wait of the ASL: its budget in minutes, and the interval it polls at."""
        return {
            "ChangeSet": (self.change_set_minutes, "change_set_poll"),
            "ClusterStack": (self.cluster_stack_minutes, "stack_poll"),
            "NodeGroupStack": (self.nodegroup_stack_minutes, "stack_poll"),
            "Node": (self.nodes_minutes, "node_poll"),
            "Cleanup": (self.cleanup_minutes, "stack_poll"),
        }

    def limits(self) -> dict[str, int]:
        """Checks allowed per wait, from AWS's intervals (the same counts in the embedded mode)."""
        aws = Timing()  # AWS's intervals, whatever this timing polls at
        return {
            f"{wait}PollLimit": math.ceil(minutes * 60 / getattr(aws, poll))
            for wait, (minutes, poll) in self._waits().items()
        }

    def substitutions(self) -> dict[str, str]:
        """Every numeric `${…}` of the ASL files: intervals, retry counts, wait limits, and each
        limit in minutes at this timing's intervals (for the message that names a stuck wait)."""
        limits = self.limits()
        minutes = {
            f"{wait}WaitMinutes": math.ceil(limits[f"{wait}PollLimit"] * getattr(self, poll) / 60)
            for wait, (_, poll) in self._waits().items()
        }
        values = {
            "StackPollSeconds": self.stack_poll,
            "NodePollSeconds": self.node_poll,
            "ChangeSetPollSeconds": self.change_set_poll,
            "LockRetrySeconds": self.lock_retry,
            "LockRetryAttempts": self.lock_retry_attempts,
            "LockRetryMaxSeconds": self.lock_retry_max,
            "AccessRetrySeconds": self.access_retry,
            "AccessRetryAttempts": self.access_retry_attempts,
            "AccessRetryMaxSeconds": self.access_retry_max,
            # An upgrade applies the node-group stacks one group at a time: at most one wave per group.
            "NodeGroupWaveLimit": MAX_NODE_GROUPS,
            **limits,
            **minutes,
        }
        return {k: str(v) for k, v in values.items()}

    def longest_execution_seconds(self, asl: Path) -> int:
        """An upper bound on how long an execution of the state machine in `asl` can run at this
        timing: every wait loop used up to its limit (each check a Wait and a Lambda), every
        Retry rule exhausted once. Whoever follows an execution (`local run`) waits this long;
        the state machine ends first, through its failure path, naming what was stuck."""
        text = asl.read_text()
        values = self.substitutions()
        text = re.sub(r"\$\{([A-Za-z0-9]+)\}", lambda m: values.get(m.group(1), f"arn:{m.group(1)}"), text)
        states: dict[str, Any] = json.loads(text)["States"]
        waits = [s["Seconds"] for s in states.values() if s["Type"] == "Wait" and "Seconds" in s]
        limits = self.limits()
        loops = sum(
            limits[f"{wait}PollLimit"] * (getattr(self, poll) + self.check_seconds)
            for wait, (_, poll) in self._waits().items()
        )
        retries = 0.0
        for state in states.values():
            for rule in state.get("Retry", []):
                delay = rule.get("IntervalSeconds", 1)
                for _ in range(rule.get("MaxAttempts", 3)):
                    retries += min(delay, rule.get("MaxDelaySeconds", delay)) + self.check_seconds
                    delay *= rule.get("BackoffRate", 2.0)
        # An upgrade repeats the node-group wave's states once per group; the wait loops' counts
        # are shared by all waves (never reset) and retries are transient: counted once, as above.
        wave = _between(states, WAVE_START, WAVE_END) if WAVE_START in states else set()
        steps = self.check_seconds * (len(states) + len(waits) + (MAX_NODE_GROUPS - 1) * len(wave))
        total: float = loops + retries + steps
        return math.ceil(total)


# The node-group wave of the deploy machine: from its first state to the choice that repeats it.
WAVE_START, WAVE_END = "Check disruption budgets", "More node groups?"


def _between(states: dict[str, Any], start: str, end: str) -> set[str]:
    """The states on the way from `start` to `end` (both included), failure paths left out."""
    failure_path = {c["Next"] for state in states.values() for c in state.get("Catch", [])}
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in states or name in failure_path:
            continue
        seen.add(name)
        if name == end:
            continue
        state = states[name]
        todo += [state["Next"]] if "Next" in state else []
        todo += [c["Next"] for c in state.get("Choices", [])] + ([state["Default"]] if "Default" in state else [])
    return seen


ON_AWS = Timing()
EMBEDDED = Timing(
    stack_poll=1,
    node_poll=1,
    change_set_poll=1,
    lock_retry=1,
    lock_retry_max=3,
    lock_retry_attempts=100,
    access_retry=1,
    access_retry_max=2,
    time_scale=30,
    check_seconds=1,
)
