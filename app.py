#!/usr/bin/env python3
"""The CDK app: `cdk deploy` (or `python app.py` to synthesize into cdk.out).

Context values (cdk.json or -c):
  notificationEmail          an address subscribed to the outcomes topic (confirm the email)
  slackWebhookSecretName     an existing Secrets Manager secret holding the Slack webhook URL
  stackName                  default "clusterdrop"
  embedded                   true: short poll intervals (the embedded mode)
"""

from __future__ import annotations

import os

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.clusterdrop_stack import ClusterdropStack, Timing


def main() -> None:
    app = App(outdir=os.environ.get("CDK_OUTDIR", "cdk.out"))
    context = app.node.try_get_context
    embedded = str(context("embedded") or "false").lower() == "true"
    timing = (
        Timing(stack_poll=1, node_poll=1, change_set_poll=1, lock_retry=1, lock_retry_max=3, lock_retry_attempts=100)
        if embedded
        else Timing()
    )
    ClusterdropStack(
        app,
        context("stackName") or "clusterdrop",
        notification_email=context("notificationEmail"),
        slack_webhook_secret_name=context("slackWebhookSecretName"),
        timing=timing,
        env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
        description="clusterdrop: drop a cluster spec into S3, get a Kubernetes cluster",
    )
    # Every synth runs the AWS Solutions checks; an unacknowledged finding fails it.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()


if __name__ == "__main__":
    main()
