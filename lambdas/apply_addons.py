"""State "Apply addons": clusterdrop.aws.steps.apply_addons."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.apply_addons)
