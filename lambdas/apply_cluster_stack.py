"""State "Apply cluster stack": clusterdrop.aws.steps.apply_cluster_stack."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.apply_cluster_stack)
