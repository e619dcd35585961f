"""State "Describe cluster": clusterdrop.aws.steps.describe_cluster."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.describe_cluster)
