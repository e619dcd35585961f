"""CloudFormation templates rendered from a validated spec: one cluster stack, one stack per
node group. Pure functions: the plan command and the workflow call the same code."""
