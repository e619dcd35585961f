"""What EventBridge does with Step Functions and Lambda that moto does not:

- Step Functions sends "Step Functions Execution Status Change" events to the account's default
  event bus when an execution's status changes (Step Functions Developer Guide, "Automating Step
  Functions event delivery with EventBridge"; the detail: executionArn, stateMachineArn, name,
  status, startDate and stopDate in epoch milliseconds, input, output, error, cause). moto's
  interpreter sends none: here every end of an execution (SUCCEEDED, FAILED, TIMED_OUT, ABORTED)
  is put on the default bus, shaped as AWS's.
- A rule's Lambda target is invoked asynchronously with the event (EventBridge User Guide,
  "Targets"); moto delivers to logs, archives, SQS and buses only. Here a Lambda target runs in
  the local runtime, on a thread of its own, as an asynchronous invocation does. Whether the
  function's resource policy lets events.amazonaws.com invoke it is checked offline, with the
  rule's ARN (tests/infra/test_resource_policies.py).
- StopExecution's error and cause are kept, as Step Functions keeps them (moto drops them).
"""

from __future__ import annotations

import contextvars
import json
import threading
from datetime import datetime
from typing import Any

DETAIL_TYPE = "Step Functions Execution Status Change"


def _millis(stamp: datetime | None) -> int | None:
    return int(stamp.timestamp() * 1000) if stamp is not None else None


def status_change_detail(execution: Any) -> dict[str, Any]:
    """An execution's end as Step Functions' event describes it."""
    status = execution.exec_status.value if execution.exec_status is not None else "RUNNING"
    output = execution.output
    return {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": _millis(execution.start_date),
        "stopDate": _millis(execution.stop_date),
        "input": json.dumps(execution.input_data),
        "output": json.dumps(output) if output is not None and status == "SUCCEEDED" else None,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if status == "SUCCEEDED" else None,
        "error": execution.error,
        "cause": execution.cause,
    }


def _executions_send_status_changes() -> None:
    from moto.events.models import events_backends
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    terminated = BaseExecutionWorkerCommunication.terminated
    told: set[str] = set()

    def and_tell_eventbridge(self: Any) -> None:
        terminated(self)
        execution = self.execution
        ended = execution.exec_worker.env.program_state() if execution.exec_worker else None
        # moto reports a stopped execution's end twice (StopExecution, then its worker): one
        # status change, one event.
        if execution.exec_arn in told:
            return
        told.add(execution.exec_arn)
        detail = status_change_detail(execution)
        if isinstance(ended, ProgramStopped):
            # What StopExecution was given: the event carries it (moto keeps it only in the
            # stopped program's state).
            detail["error"], detail["cause"] = ended.error, ended.cause
        backend = events_backends[execution.account_id][execution.region_name]
        backend.put_events(
            [
                {
                    "Source": "aws.states",
                    "DetailType": DETAIL_TYPE,
                    "Detail": json.dumps(detail),
                    "Resources": [execution.exec_arn],
                    "EventBusName": "default",
                }
            ]
        )

    BaseExecutionWorkerCommunication.terminated = and_tell_eventbridge  # type: ignore[method-assign]


def _lambda_targets_invoked() -> None:
    from moto.awslambda.models import lambda_backends
    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    send_to_targets = Rule.send_to_targets
    swapping = threading.Lock()

    def with_lambda(self: Any, original_event: Any, transform_input: bool = True) -> None:
        functions = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"]
        others = [t for t in self.targets if t not in functions]
        if others:  # moto's own deliveries (it raises NotImplementedError on a Lambda target)
            with swapping:
                every, self.targets = self.targets, others
                try:
                    send_to_targets(self, original_event, transform_input)
                finally:
                    self.targets = every
        if not functions or not self.event_pattern.matches_event(original_event):
            return
        for target in functions:
            arn = parse_arn(target["Arn"])
            backend = lambda_backends[arn.account][arn.region]
            function = backend.get_function(arn.resource_id.split(":")[0])
            payload = json.dumps(original_event, default=str)
            # Asynchronous, as EventBridge invokes: the rule's delivery does not wait for it.
            threading.Thread(
                target=function._invoke_lambda, args=(payload,), name=f"eventbridge-{self.name}", daemon=True
            ).start()

    Rule.send_to_targets = with_lambda  # type: ignore[method-assign]


_STOPPING: contextvars.ContextVar[tuple[str | None, str | None]] = contextvars.ContextVar(
    "stopping", default=(None, None)
)


def _stops_keep_their_reason() -> None:
    """StopExecution takes an error and a cause that the execution keeps (its ExecutionAborted
    event and the status change carry them, Step Functions API Reference); moto's handler drops
    both. The request's thread stops the execution, so they reach its stop through a context
    variable."""
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.responses import StepFunctionResponse

    respond = StepFunctionResponse.stop_execution
    stop = Execution.stop

    def stop_execution(self: Any) -> Any:
        token = _STOPPING.set((self._get_param("error"), self._get_param("cause")))
        try:
            return respond(self)
        finally:
            _STOPPING.reset(token)

    def stop_with_reason(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        given_error, given_cause = _STOPPING.get()
        stop(self, stop_date, error or given_error, cause or given_cause)

    StepFunctionResponse.stop_execution = stop_execution  # type: ignore[method-assign]
    Execution.stop = stop_with_reason  # type: ignore[method-assign]


def install() -> None:
    _executions_send_status_changes()
    _lambda_targets_invoked()
    _stops_keep_their_reason()
