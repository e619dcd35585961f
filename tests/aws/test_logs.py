"""The control-plane log group a log retention makes, checked at Plan against moto's CloudWatch
Logs over HTTP: CloudFormation cannot make a log group that exists, so one EKS (or an earlier
cluster of the name) made is refused by field, before anything is created."""

from __future__ import annotations

from typing import Any

import pytest

from clusterdrop import steps
from clusterdrop.aws import stacks
from clusterdrop.errors import SpecInvalid
from tests.aws.test_steps import QUICKSTART, _validated, aws  # noqa: F401 - the fixture


def _state(aws: dict[str, Any], name: str) -> dict[str, Any]:  # noqa: F811
    text = QUICKSTART.replace(
        "  region: eu-west-1\n",
        "  region: eu-west-1\n  controlPlane:\n    logging: [audit]\n    logRetentionDays: 30\n",
    )
    return _validated(aws, name, text)


def test_plan_refuses_a_retention_for_a_log_group_that_exists(aws: dict[str, Any]) -> None:  # noqa: F811
    ports: steps.Ports = aws["ports"]
    name = f"logs-{aws['suffix']}"
    ports.logs.create_log_group(logGroupName=f"/aws/eks/{name}/cluster")  # left by an earlier cluster
    ports.logs.create_log_group(logGroupName=f"/aws/eks/{name}/cluster-other")  # a prefix match only
    with pytest.raises(SpecInvalid) as refused:
        steps.plan(_state(aws, name), ports)
    [problem] = refused.value.problems
    assert problem.path == "spec.controlPlane.logRetentionDays"
    assert f"the log group /aws/eks/{name}/cluster exists already" in problem.message
    assert f"--log-group-name /aws/eks/{name}/cluster --retention-in-days 30" in problem.message
    assert stacks.status(ports.cfn, f"clusterdrop-{name}") is None


def test_plan_takes_a_retention_when_the_log_group_is_free(aws: dict[str, Any]) -> None:  # noqa: F811
    ports: steps.Ports = aws["ports"]
    name = f"logs-free-{aws['suffix']}"
    ports.logs.create_log_group(logGroupName=f"/aws/eks/{name}/cluster-other")  # another group of the prefix
    state = _state(aws, name)
    state["plan"] = steps.plan(state, ports)
    state["plan"] = steps.describe_plan(state, ports)
    [cluster_stack] = [s for s in state["plan"]["stacks"] if s["role"] == "cluster"]
    added = {c["logical_id"]: c["resource_type"] for c in cluster_stack["changes"] if c["action"] == "Add"}
    assert added["ControlPlaneLogGroup"] == "AWS::Logs::LogGroup"
    steps.discard_plan(state, ports)
    assert stacks.status(ports.cfn, f"clusterdrop-{name}") is None
