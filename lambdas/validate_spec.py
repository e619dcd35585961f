"""State "Validate spec": clusterdrop.aws.steps.validate_spec."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.validate_spec)
