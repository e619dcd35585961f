"""The deploy workflow's steps, in order: one list that the plan prints and that the state
machine's state names must match (one name end to end)."""

from __future__ import annotations

DEPLOY_STEPS: tuple[str, ...] = (
    "Validate spec",
    "Take cluster lock",
    "Plan",
    "Apply cluster stack",
    "Wait for cluster stack",
    "Connect",
    "Apply CNI",
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
