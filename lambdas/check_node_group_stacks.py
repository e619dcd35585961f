"""State "Check node-group stacks": clusterdrop.aws.steps.check_stacks."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.check_stacks)
