"""State "Apply node-group stacks": clusterdrop.steps.apply_node_group_stacks."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.apply_node_group_stacks)
