"""State "Take cluster lock": clusterdrop.aws.steps.take_lock."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.take_lock)
