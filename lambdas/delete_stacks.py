"""State "Delete stacks": clusterdrop.steps.delete_stacks."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.delete_stacks)
