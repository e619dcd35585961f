"""SNS → Slack: the outcome rendered as Block Kit, posted to an incoming webhook whose URL is
kept in Secrets Manager."""

from __future__ import annotations

import json
import os
import urllib.request
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from clusterdrop.aws import notify
from lambdas._runtime import logger, tracer


@cache
def _webhook_url() -> str:
    """The URL, kept as the secret's string or as {"url": …}; "unset" (the default) posts nothing."""
    secret = str(
        boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["SLACK_WEBHOOK_SECRET_ARN"])["SecretString"]
    )
    value = secret.strip()
    if value.startswith("{"):
        value = str(json.loads(value).get("url", "")).strip()
    return "" if value == "unset" else value


def post(url: str, payload: dict[str, Any]) -> int:
    if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ValueError("the Slack webhook URL must be https")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - scheme checked above
        status: int = response.status
    return status


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    posted = 0
    url = _webhook_url()
    if not url:
        logger.info("no Slack webhook configured: set the secret to post")
        return {"posted": 0}
    for record in event.get("Records") or []:
        message = json.loads(record["Sns"]["Message"])
        if "AlarmName" in message:  # the deployer's CloudWatch alarms publish to the same topic
            post(url, notify.alarm_blocks(message))
        else:
            post(url, notify.slack_blocks(notify.outcome_from_dict(message["outcome"])))
        posted += 1
    return {"posted": posted}
