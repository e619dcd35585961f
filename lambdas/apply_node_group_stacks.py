"""State "Apply node-group stacks": clusterdrop.aws.steps.apply_nodegroup_stacks."""

from clusterdrop.aws import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.apply_nodegroup_stacks)
