"""The CDK app's constructs and the Lambda bundles it deploys."""
