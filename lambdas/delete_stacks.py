"""State "Delete stacks": clusterdrop.aws.steps.delete_stacks."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.delete_stacks)
