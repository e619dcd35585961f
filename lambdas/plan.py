"""State "Plan": clusterdrop.steps.plan."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.plan)
