"""State "Discard plan": clusterdrop.steps.discard_plan."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.discard_plan)
