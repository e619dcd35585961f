"""An execution that Step Functions ends past the workflow's failure path — stopped by hand here;
a terminal error or a timeout likewise — still ends in a notification and frees its cluster: Step
Functions' status-change event reaches the ExecutionEnded function through EventBridge."""

from __future__ import annotations

import functools
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clusterdrop import ops
from clusterdrop.local import session
from tests.conftest import REPO, until

NAME = "stopped"


_until = functools.partial(until, seconds=60)  # an execution's steps, under load


def test_a_stopped_execution_is_notified_and_its_lock_released(local: session.LocalDeployer, tmp_path: Path) -> None:
    text = (REPO / "examples" / "quickstart.yaml").read_text().replace("name: quickstart", f"name: {NAME}")
    local.notifications(timeout=0.5)  # what earlier tests left in the queue
    started = datetime.now(UTC) - timedelta(seconds=1)
    ops.submit(local.aws.client("s3"), local.deployer, NAME, text.encode(), plan=False, suffix=".yaml")
    sfn = local.aws.client("stepfunctions")
    execution = _until(lambda: ops.newest_execution(sfn, local.deployer, NAME, started_after=started))
    arn = execution["executionArn"]

    def entered(name: str) -> bool:
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return any(e.get("stateEnteredEventDetails", {}).get("name") == name for e in events)

    _until(lambda: entered("Apply cluster stack"))  # the lock is held, the cluster stack under way
    lam = local.aws.client("lambda")
    locks = lam.get_function_configuration(FunctionName=_function(local, "ReleaseClusterLock"))["Environment"][
        "Variables"
    ]["LOCKS_TABLE"]
    table = local.aws.session().resource("dynamodb", endpoint_url=local.aws.url).Table(locks)
    assert table.get_item(Key={"cluster": NAME}).get("Item"), "the execution holds the cluster's lock"

    sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped from the console")
    _until(lambda: sfn.describe_execution(executionArn=arn)["status"] == "ABORTED", seconds=20)
    # No Notify state ran: the safety net's notification is the one that arrives.
    delivered = _until(lambda: local.notifications(timeout=1))
    [message] = [json.loads(d["Message"]) for d in delivered]
    outcome = message["outcome"]
    assert (outcome["cluster"], outcome["outcome"]) == (NAME, "FAILED")
    failure = outcome["failure"]
    assert failure["code"] == "ERR_STOPPED"
    assert "stopped (StopExecution): Operator: stopped from the console" in failure["cause"]
    # Where it was when the stop arrived (the cluster stack may have finished by then).
    assert failure["step"] in ("Apply cluster stack", "Wait for cluster stack", "Connect", "Check disruption budgets")
    assert "past the workflow's failure path" in failure["cleanup_note"]
    assert "lock was released" in failure["cleanup_note"]
    assert "Code: ERR_STOPPED" in message["text"]
    # Freed: the next upload of the cluster is not refused by a lock nobody holds.
    assert table.get_item(Key={"cluster": NAME}).get("Item") is None
    record = (
        local.aws.session()
        .resource("dynamodb", endpoint_url=local.aws.url)
        .Table(local.deployer.clusters_table)
        .get_item(Key={"cluster": NAME})["Item"]
    )
    assert record["lastFailure"]["code"] == "ERR_STOPPED"


def test_an_execution_the_workflow_notified_is_not_notified_twice(local: session.LocalDeployer, tmp_path: Path) -> None:
    """A failure the workflow caught ends at its Fail state after Notify: FAILED too, and its
    event reaches ExecutionEnded, which finds Notify in the history and sends nothing more."""
    spec = tmp_path / "refused.yaml"
    spec.write_text(
        (REPO / "examples" / "quickstart.yaml")
        .read_text()
        .replace("name: quickstart", "name: refused-once")
        .replace("region: eu-west-1", "region: eu-central-1")  # not the deployer's: Validate spec refuses it
    )
    result = session.run(local, spec, io.StringIO())
    assert result["status"] == "FAILED"
    assert result["notifications"]["sns"]["outcome"]["failure"]["code"] == "ERR_INVALID_SPEC"
    # ExecutionEnded gets this execution's FAILED event too (the test above shows it runs): it
    # finds Notify in the history, and no second message comes.
    assert local.notifications(timeout=10) == []


def _function(local: session.LocalDeployer, step: str) -> str:
    """The deployer stack's function for a step, by its logical ID (as CloudFormation names it)."""
    pages = local.aws.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName="clusterdrop")
    names: list[str] = [
        r["PhysicalResourceId"]
        for page in pages
        for r in page["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::Lambda::Function" and r["LogicalResourceId"].startswith(f"Workflow{step}Function")
    ]
    assert len(names) == 1, names
    return names[0]
