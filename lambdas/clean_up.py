"""State "Clean up": clusterdrop.aws.steps.clean_up."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.clean_up)
