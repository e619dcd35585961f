"""States "Notify success|plan|skipped|failure": clusterdrop.steps.notify, one message per
outcome to the SNS topic, and the deployment metrics."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from clusterdrop import contract, steps
from lambdas._runtime import logger, metrics, ports, tracer


@logger.inject_lambda_context(correlation_id_path="state.execution")
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    sent = contract.checked("notify", steps.notify(event, ports()))
    metrics.add_dimension(name="action", value=sent["action"])
    name = "Deployments" if event["outcome"] != "FAILED" else "Failures"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    for step, seconds in sent["stepSeconds"].items():
        metrics.add_metric(name=f"StepSeconds.{step}", unit=MetricUnit.Seconds, value=seconds)
    return sent
