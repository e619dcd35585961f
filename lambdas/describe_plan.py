"""State "Describe plan": clusterdrop.steps.describe_plan."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.describe_plan)
