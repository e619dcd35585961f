"""State "Release cluster lock": clusterdrop.steps.release_cluster_lock."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.release_cluster_lock)
