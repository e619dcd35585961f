"""What every workflow handler shares: settings read once from the environment, the AWS clients
(ports), and Powertools (Logger with the execution as correlation id, Tracer, Metrics).

The endpoint comes from the standard AWS_ENDPOINT_URL variable when it is set (the embedded
mode); on AWS it is not set. Nothing else differs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from clusterdrop import contract
from clusterdrop.spec.policy import Policy
from clusterdrop.steps import Ports, Settings

SERVICE = "clusterdrop"
logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="clusterdrop", service=SERVICE)

Step = Callable[[dict[str, Any], Ports], dict[str, Any]]


@cache
def settings() -> Settings:
    env = os.environ
    return Settings(
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION", "us-east-1"),
        spec_bucket=env["SPEC_BUCKET"],
        artifacts_bucket=env["ARTIFACTS_BUCKET"],
        cfn_role_arn=env.get("CFN_ROLE_ARN", ""),
        topic_arn=env.get("TOPIC_ARN", ""),
        agent_code_key=env.get("AGENT_CODE_KEY", ""),
        agent_code_bucket=env.get("AGENT_CODE_BUCKET", ""),
        cni_mirror_dir=env.get("CLUSTERDROP_CNI_MIRROR") or None,
        state_machines=tuple(a for a in env.get("STATE_MACHINE_ARNS", "").split(",") if a),
        cluster_admins=tuple(a for a in env.get("CLUSTER_ADMINS", "").split(",") if a),
        time_scale=float(env.get("TIME_SCALE") or 1),
        policy=Policy.model_validate_json(env.get("GUARDRAILS") or "{}"),
        account=env.get("DEPLOYER_ACCOUNT", ""),
        embedded=env.get("CLUSTERDROP_EMBEDDED") == "1",
        reference_parameter_paths=tuple(
            p for p in env.get("REFERENCE_PARAMETER_PATHS", "/clusterdrop/").split(",") if p
        ),
        reference_exports=(
            tuple(p for p in env["REFERENCE_EXPORTS"].split(",") if p) if env.get("REFERENCE_EXPORTS") else None
        ),
        quota_preflight=env.get("QUOTA_PREFLIGHT", "on") != "off",
    )


@cache
def ports() -> Ports:
    session = boto3.session.Session()
    dynamodb = session.resource("dynamodb")
    env = os.environ
    return Ports(
        settings=settings(),
        s3=session.client("s3"),
        cfn=session.client("cloudformation"),
        eks=session.client("eks"),
        ec2=session.client("ec2"),
        sfn=session.client("stepfunctions"),
        sns=session.client("sns"),
        ssm=session.client("ssm"),
        quotas=session.client("service-quotas"),
        kms=session.client("kms"),
        logs=session.client("logs"),
        iam=session.client("iam"),
        clusters=dynamodb.Table(env["CLUSTERS_TABLE"]) if env.get("CLUSTERS_TABLE") else None,
        locks=dynamodb.Table(env["LOCKS_TABLE"]) if env.get("LOCKS_TABLE") else None,
    )


def step_handler(step: Step) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """A Lambda handler around one workflow step: parse → call → return."""

    @logger.inject_lambda_context(correlation_id_path="execution")
    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        logger.append_keys(cluster=event.get("cluster"), action=event.get("action"), step=step.__name__)
        # The contract: what the step returns is what its model says, or the step fails here.
        result = contract.checked(step.__name__, step(event, ports()))
        logger.info("step done", extra={"result_keys": sorted(result)})
        return result

    wrapped: Callable[[dict[str, Any], LambdaContext], dict[str, Any]] = handler
    return wrapped
