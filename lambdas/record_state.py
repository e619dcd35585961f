"""State "Record state": clusterdrop.aws.steps.record_state."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.record_state)
