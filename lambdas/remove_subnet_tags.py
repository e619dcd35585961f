"""State "Remove subnet tags": clusterdrop.steps.remove_subnet_tags."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.remove_subnet_tags)
