"""State "Check node-group stacks": clusterdrop.steps.check_node_group_stacks."""

from clusterdrop import steps
from lambdas._runtime import step_handler

handler = step_handler(steps.check_node_group_stacks)
