"""State "Plan": clusterdrop.aws.steps.plan."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.plan)
