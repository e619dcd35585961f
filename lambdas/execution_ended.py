"""Not a state: EventBridge's "Step Functions Execution Status Change" for an execution that
ended FAILED, TIMED_OUT or ABORTED → clusterdrop.steps.execution_ended (the safety net that
notifies what the workflow's failure path could not)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from clusterdrop import contract, steps
from lambdas._runtime import logger, metrics, ports, tracer


@logger.inject_lambda_context(correlation_id_path="detail.executionArn")
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    done = contract.checked("execution_ended", steps.execution_ended(event, ports()))
    if done["notified"]:
        metrics.add_metric(name="Failures", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="EndedPastFailurePath", unit=MetricUnit.Count, value=1)
    return done
