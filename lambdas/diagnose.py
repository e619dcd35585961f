"""State "Diagnose": clusterdrop.steps.diagnose."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.diagnose)
