"""States "Notify success|plan|skipped|failure": one message per outcome to the SNS topic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from clusterdrop.aws import steps
from lambdas._runtime import logger, metrics, ports, tracer


@logger.inject_lambda_context(correlation_id_path="state.execution")
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state, outcome = event["state"], event["outcome"]
    built = steps.build_outcome(state, ports(), outcome)
    metrics.add_dimension(name="action", value=built.action)
    metrics.add_metric(name="Deployments" if outcome != "FAILED" else "Failures", unit=MetricUnit.Count, value=1)
    for step in built.steps:
        metrics.add_metric(name=f"StepSeconds.{step.name}", unit=MetricUnit.Seconds, value=step.seconds)
    return steps.publish(built, ports())
