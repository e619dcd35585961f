"""State "Validate spec": clusterdrop.steps.validate_spec."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.validate_spec)
