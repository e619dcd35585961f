#!/usr/bin/env python3
"""The CDK app: `cdk deploy` (or `python app.py` to synthesize into cdk.out).

Context values (cdk.json or -c):
  notificationEmail          an address subscribed to the outcomes topic (confirm the email)
  slackWebhookSecretName     an existing Secrets Manager secret holding the Slack webhook URL
  stackName                  default "clusterdrop"
  clusterAdmins              IAM principal ARNs (comma-separated) made admins of every cluster
  guardrails                 the guardrail policy (a JSON object in cdk.json; see clusterdrop/spec/policy.py)
  guardrailsFile             or a policy file (JSON or YAML) beside cdk.json
  referenceParameterPaths    SSM paths spec references may read (comma-separated; default /clusterdrop/)
  referenceExports           CloudFormation export name prefixes they may read (default: any)
  quotaPreflight             false: Plan does not check service quotas (default true)
  embedded                   true: short poll intervals (the embedded mode)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from clusterdrop.spec import policy, references
from clusterdrop.spec.models import IAM_PRINCIPAL
from clusterdrop.spec.policy import Policy
from stacks.clusterdrop_stack import ClusterdropStack
from stacks.timing import EMBEDDED, ON_AWS


def cluster_admins(value: object) -> tuple[str, ...]:
    """`-c clusterAdmins=arn1,arn2` (or a JSON list in cdk.json): IAM roles or users."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    admins = tuple(str(a).strip() for a in items if str(a).strip())
    wrong = [a for a in admins if not IAM_PRINCIPAL.match(a)]
    if wrong:
        raise SystemExit(f"clusterAdmins: not an IAM role or user ARN: {', '.join(wrong)}")
    return admins


def guardrails(value: object, file: object) -> Policy:
    """The guardrail policy from the context: an object, or a file named by guardrailsFile."""
    try:
        if file:
            return policy.load(Path(str(file)))
        return Policy.model_validate(json.loads(value) if isinstance(value, str) else (value or {}))
    except (ValueError, OSError) as exc:
        raise SystemExit(f"guardrails: {exc}") from None


def names(value: object) -> tuple[str, ...]:
    """A comma-separated context value (or a JSON list in cdk.json)."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    return tuple(str(i).strip() for i in items if str(i).strip())


def main() -> None:
    app = App(outdir=os.environ.get("CDK_OUTDIR", "cdk.out"))
    context = app.node.try_get_context
    embedded = str(context("embedded") or "false").lower() == "true"
    timing = EMBEDDED if embedded else ON_AWS
    ClusterdropStack(
        app,
        context("stackName") or "clusterdrop",
        notification_email=context("notificationEmail"),
        slack_webhook_secret_name=context("slackWebhookSecretName"),
        timing=timing,
        cluster_admins=cluster_admins(context("clusterAdmins")),
        policy=guardrails(context("guardrails"), context("guardrailsFile")),
        reference_parameter_paths=(
            names(context("referenceParameterPaths"))
            if context("referenceParameterPaths") is not None
            else references.DEFAULT_PARAMETER_PATHS
        ),
        reference_exports=names(context("referenceExports")) or None,
        quota_preflight=str(context("quotaPreflight") or "true").lower() != "false",
        env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
        description="clusterdrop: drop a cluster spec into S3, get a Kubernetes cluster",
    )
    # Every synth runs the AWS Solutions checks; an unacknowledged finding fails it.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()


if __name__ == "__main__":
    main()
