"""State "Diagnose": clusterdrop.aws.steps.diagnose."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.diagnose)
