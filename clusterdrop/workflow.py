"""The deploy workflow's steps, in order: one list that the plan prints and that the state
machine's state names must match (one name end to end). `history.py` reads an execution's
history into these steps."""

from __future__ import annotations

DEPLOY_STEPS: tuple[str, ...] = (
    "Validate spec",
    "Take cluster lock",
    "Plan",
    "Apply cluster stack",
    "Wait for cluster stack",
    "Connect",
    "Apply CNI",
    "Check disruption budgets",
    "Apply node-group stacks",
    "Wait for node-group stacks",
    "Wait for nodes Ready",
    "Check CNI",
    "Apply addons",
    "Configure addons",
    "Validate cluster",
    "Record state",
    "Notify success",
    "Release cluster lock",
)


def _steps(first: str, last: str) -> tuple[str, ...]:
    return DEPLOY_STEPS[DEPLOY_STEPS.index(first) : DEPLOY_STEPS.index(last) + 1]


# An upgrade's phases as the steps each runs (their durations add up to the phase's): the control
# plane, the CNI and the add-ons, the node groups (every wave's steps).
UPGRADE_PHASES: tuple[tuple[str, ...], ...] = (
    _steps("Apply cluster stack", "Wait for cluster stack"),
    _steps("Connect", "Apply CNI"),
    _steps("Check disruption budgets", "Validate cluster"),
)

# The first state of the failure path (both workflows): a failure a Choice detected (a stack that
# ended badly) has no failure event, so the step before it is the one that failed.
FAILURE_PATH = "Diagnose"

# How `clusterdrop watch` shows an execution: the states of one polling loop read as one step,
# and the plumbing (Choice and Pass states) is not shown.
PHASES: dict[str, str] = {
    "Wait for change sets": "Plan",
    "Describe plan": "Plan",
    "Check cluster stack": "Wait for cluster stack",
    "Check node-group stacks": "Wait for node-group stacks",
    "Pause before next node check": "Wait for nodes Ready",
    "Wait for clean-up": "Clean up",
    "Wait for stack deletion": "Delete stacks",
}
HIDDEN: frozenset[str] = frozenset(
    {
        "Configure",
        "Superseded?",
        "Change sets ready?",
        "Plan only?",
        "Cluster stack done?",
        "Cluster stack failed",
        "CNI by add-on?",
        "Node-group stacks done?",
        "Start waiting for nodes",
        "Nodes Ready?",
        "Keep node progress",
        "Clean-up done?",
        "Cluster reachable?",
        "Anything to tear down?",
        "Stacks deleted?",
        "Done",
        "Failed",
        # The bounds of the wait loops (statemachine/*.asl.json, stacks/timing.py).
        "Count change sets checks",
        "Change sets waited too long?",
        "Change sets stuck",
        "Count cluster stack checks",
        "Cluster stack waited too long?",
        "Cluster stack stuck",
        "Count node-group stacks checks",
        "Node-group stacks waited too long?",
        "Node-group stacks stuck",
        "Count nodes checks",
        "Nodes waited too long?",
        "Nodes stuck",
        "Count clean-up checks",
        "Clean-up waited too long?",
        "Clean-up stuck",
        "Count stack deletion checks",
        "Stack deletion waited too long?",
        "Stack deletion stuck",
        # An upgrade's node-group waves.
        "More node groups?",
        "Count node-group waves",
        "Too many node-group waves?",
        "Node-group waves stuck",
    }
)

# History events that end a task attempt in failure, and that start one: a failure followed by
# another attempt is a Retry, not the step failing.
TASK_FAILED: frozenset[str] = frozenset(
    {"LambdaFunctionFailed", "TaskFailed", "LambdaFunctionTimedOut", "TaskTimedOut"}
)
TASK_SCHEDULED: frozenset[str] = frozenset({"LambdaFunctionScheduled", "TaskScheduled"})
