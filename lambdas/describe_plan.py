"""State "Describe plan": clusterdrop.aws.steps.describe_plan."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.describe_plan)
