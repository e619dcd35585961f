"""State "Read last applied spec" (teardown): clusterdrop.steps.read_last_applied_spec."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.read_last_applied_spec)
