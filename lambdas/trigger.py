"""The intake: S3 events (through SQS) → one workflow execution per spec version."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from clusterdrop.aws import intake
from lambdas._runtime import logger, tracer


@cache
def _sfn() -> Any:
    return boto3.client("stepfunctions")


@cache
def _machines() -> dict[intake.Action, str]:
    deploy = os.environ["DEPLOY_STATE_MACHINE_ARN"]
    return {"deploy": deploy, "plan": deploy, "teardown": os.environ["TEARDOWN_STATE_MACHINE_ARN"]}


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Partial batch response: a message whose start failed returns to the queue (then the DLQ)."""
    failures = []
    for message in event.get("Records") or []:
        try:
            for record in intake.records({"Records": [message]}):
                found = intake.classify(record)
                if isinstance(found, intake.Ignored):
                    logger.info("ignored", extra={"key": found.key, "reason": found.reason})
                    continue
                started = intake.start(_sfn(), _machines(), found)
                logger.info("execution", extra=started)
        except Exception:  # noqa: BLE001 - any failure returns the message to the queue, never drops it
            logger.exception("could not start an execution")
            failures.append({"itemIdentifier": message.get("messageId", "")})
    return {"batchItemFailures": failures}
