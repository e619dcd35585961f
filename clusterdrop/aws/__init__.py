"""The AWS side of the workflow: intake, locks, the registry, stacks and change sets, diagnosis,
notifications. boto3 clients come in as arguments (ports); nothing here reads the environment."""
