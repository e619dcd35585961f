"""State "Apply addons": clusterdrop.steps.apply_addons."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.apply_addons)
