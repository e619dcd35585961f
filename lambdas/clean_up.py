"""State "Clean up": clusterdrop.steps.clean_up."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.clean_up)
