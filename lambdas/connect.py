"""State "Connect": clusterdrop.aws.steps.connect."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.connect)
