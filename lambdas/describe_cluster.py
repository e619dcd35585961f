"""State "Describe cluster": clusterdrop.steps.describe_cluster."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.describe_cluster)
