"""State "Release cluster lock": clusterdrop.aws.steps.release_lock."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.release_lock)
