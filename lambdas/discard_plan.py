"""State "Discard plan": clusterdrop.aws.steps.discard_plan."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.discard_plan)
