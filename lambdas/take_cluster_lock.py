"""State "Take cluster lock": clusterdrop.steps.take_cluster_lock."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.take_cluster_lock)
