"""State "Connect": clusterdrop.steps.connect."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.connect)
