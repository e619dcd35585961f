"""The ASL files: valid (statelint), every substitution a known name, every state reachable,
every Lambda task with Retry and Catch, every ErrorEquals a real exception class."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clusterdrop import errors
from clusterdrop.workflow import DEPLOY_STEPS
from tests.conftest import REPO

MACHINES = sorted((REPO / "statemachine").glob("*.asl.json"))
TOKEN = re.compile(r"\$\{([A-Za-z0-9]+)\}")
NUMERIC = {
    "LockRetrySeconds",
    "LockRetryAttempts",
    "LockRetryMaxSeconds",
    "StackPollSeconds",
    "NodePollSeconds",
    "ChangeSetPollSeconds",
}
TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
ERROR_CLASSES = {n for n, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.ClusterdropError)}


def substitutions(text: str) -> set[str]:
    return set(TOKEN.findall(text))


def render(path: Path) -> dict[str, Any]:
    """The definition as Step Functions sees it once the CDK stack substitutes its values."""
    text = path.read_text()
    for name in substitutions(text):
        value = "5" if name in NUMERIC else f"arn:aws:lambda:eu-west-1:123456789012:function:{name}"
        text = text.replace("${" + name + "}", value)
    definition: dict[str, Any] = json.loads(text)
    return definition


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _next_states(state: dict[str, Any]) -> set[str]:
    out = {state["Next"]} if "Next" in state else set()
    out |= {c["Next"] for c in state.get("Catch", [])}
    out |= {c["Next"] for c in state.get("Choices", [])}
    if "Default" in state:
        out.add(state["Default"])
    return out


def test_there_are_two_machines() -> None:
    assert [p.name for p in MACHINES] == ["deploy.asl.json", "teardown.asl.json"]


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_statelint_accepts_it(path: Path, tmp_path: Path) -> None:
    rendered = tmp_path / path.name
    rendered.write_text(json.dumps(render(path)))
    statelint = Path(sys.executable).parent / "statelint"
    done = subprocess.run([str(statelint), str(rendered)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_substitutions_name_handlers_that_exist(path: Path) -> None:
    for name in substitutions(path.read_text()):
        if name in NUMERIC:
            continue
        assert name.endswith("FunctionArn"), name
        module = _snake(name.removesuffix("FunctionArn"))
        assert (REPO / "lambdas" / f"{module}.py").is_file(), f"{name} has no lambdas/{module}.py"


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_state_is_reachable_and_every_target_exists(path: Path) -> None:
    states = render(path)["States"]
    seen, todo = set(), [render(path)["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        assert name in states, f"{name} is a target but not a state"
        seen.add(name)
        todo += list(_next_states(states[name]))
    assert seen == set(states)


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_lambda_task_retries_and_catches(path: Path) -> None:
    for name, state in render(path)["States"].items():
        if state["Type"] != "Task":
            continue
        lambda_task = ":function:" in state["Resource"] or state["Resource"].endswith("lambda:invoke")
        if lambda_task:
            retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
            assert retried >= TRANSIENT, name
        assert state.get("Catch"), f"{name} has no Catch"
        assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]), name


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_error_names_are_real(path: Path) -> None:
    for state in render(path)["States"].values():
        for rule in state.get("Retry", []) + state.get("Catch", []):
            for error in rule["ErrorEquals"]:
                if error.startswith(("States.", "Lambda.", "CloudFormation.")):
                    continue
                assert error in ERROR_CLASSES, f"{error} is not an exception class of clusterdrop.errors"
    for state in render(path)["States"].values():
        if state.get("Parameters", {}).get("Error"):
            assert state["Parameters"]["Error"] in ERROR_CLASSES


def test_deploy_steps_are_states() -> None:
    states = render(REPO / "statemachine" / "deploy.asl.json")["States"]
    assert set(DEPLOY_STEPS) <= set(states)


def test_failures_end_in_a_notification_and_a_fail_state() -> None:
    states = render(REPO / "statemachine" / "deploy.asl.json")["States"]
    assert states["Notify failure"]["Parameters"]["outcome"] == "FAILED"
    path: list[str] = []
    name = "Diagnose"
    while states[name]["Type"] != "Fail" and len(path) < 20:
        path.append(name)
        state = states[name]
        # At a Choice, follow the way out of the loop (its first rule).
        name = state["Choices"][0]["Next"] if state["Type"] == "Choice" else state["Next"]
    assert path[:2] == ["Diagnose", "Clean up"]
    assert "Notify failure" in path
    assert "Release cluster lock after failure" in path


def test_waiting_is_done_by_the_state_machine() -> None:
    """Every loop passes through a Wait state: no Lambda sleeps."""
    states = render(REPO / "statemachine" / "deploy.asl.json")["States"]
    waits = [n for n, s in states.items() if s["Type"] == "Wait"]
    assert {
        "Wait for cluster stack",
        "Wait for node-group stacks",
        "Pause before next node check",
        "Wait for clean-up",
    } <= set(waits)
    check = states["Check cluster stack"]
    assert check["Resource"] == "arn:aws:states:::aws-sdk:cloudformation:describeStacks"
