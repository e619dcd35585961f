"""State "Record state": clusterdrop.steps.record_state."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.record_state)
