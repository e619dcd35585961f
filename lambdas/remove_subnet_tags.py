"""State "Remove subnet tags": clusterdrop.aws.steps.remove_subnet_tags."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.remove_subnet_tags)
