"""State "Apply cluster stack": clusterdrop.steps.apply_cluster_stack."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.apply_cluster_stack)
