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
from stacks.timing import ON_AWS
from tests.conftest import REPO

MACHINES = sorted((REPO / "statemachine").glob("*.asl.json"))
TOKEN = re.compile(r"\$\{([A-Za-z0-9]+)\}")
# The numeric substitutions, with the values the stack gives them on AWS.
NUMERIC = ON_AWS.substitutions()
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
        value = NUMERIC.get(name) or f"arn:aws:lambda:eu-west-1:123456789012:function:{name}"
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
def test_one_name_end_to_end(path: Path) -> None:
    """State "Take cluster lock" → ${TakeClusterLockFunctionArn} → lambdas/take_cluster_lock.py →
    clusterdrop.steps.take_cluster_lock; an agent state's operation is the state's name too."""
    from clusterdrop import steps
    from clusterdrop.kube import agent

    for state_name, state in render(path)["States"].items():
        if state["Type"] != "Task":
            continue
        state_snake = re.sub(r"[^a-z0-9]+", "_", state_name.lower()).strip("_")
        operation = state.get("Parameters", {}).get("Payload", {}).get("operation")
        if operation is not None:
            assert operation == state_snake, f"state {state_name!r} calls the agent's {operation!r}"
            assert operation in agent.OPERATIONS
            continue
        match = re.search(r":function:([A-Za-z0-9]+)FunctionArn$", state["Resource"])
        if match is None:
            continue  # a service integration (aws-sdk:…)
        function = _snake(match.group(1))
        # "Notify success" and "Release cluster lock after failure" share their function.
        assert state_snake.startswith(function), f"state {state_name!r} runs {match.group(1)}Function"
        assert callable(getattr(steps, function, None)), f"clusterdrop.steps has no {function}"
        handler = (REPO / "lambdas" / f"{function}.py").read_text()
        assert f"steps.{function})" in handler or f"steps.{function}(" in handler, f"lambdas/{function}.py"


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
def test_every_agent_call_outlasts_a_new_clusters_access_window_and_no_more(path: Path) -> None:
    """A new cluster refuses the agent (401) while its access entry propagates: each agent task
    retries ClusterAccessPending, a bounded number of times, a few minutes in all."""
    agent_tasks = {
        n: s for n, s in render(path)["States"].items() if "operation" in s.get("Parameters", {}).get("Payload", {})
    }
    assert agent_tasks
    for name, state in agent_tasks.items():
        [rule] = [r for r in state["Retry"] if r["ErrorEquals"] == ["ClusterAccessPending"]]
        waits, delay = [], rule["IntervalSeconds"]
        for _ in range(rule["MaxAttempts"]):
            waits.append(min(delay, rule["MaxDelaySeconds"]))
            delay *= rule["BackoffRate"]
        assert 3 * 60 <= sum(waits) <= 10 * 60, f"{name} retries for {sum(waits)} s"


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_only_temporary_errors_are_retried(path: Path) -> None:
    """A Retry rule names AWS's transient errors or clusterdrop's temporary ones; a permanent
    error goes to the failure path at once."""
    retried = {
        error
        for state in render(path)["States"].values()
        for rule in state.get("Retry", [])
        for error in rule["ErrorEquals"]
        if not error.startswith(("States.", "Lambda.", "CloudFormation."))
    }
    assert retried
    for name in retried:
        assert issubclass(getattr(errors, name), errors.TemporaryError), f"{name} is retried but not temporary"


def test_every_error_has_a_retry_axis() -> None:
    bases = {errors.ClusterdropError, errors.TemporaryError, errors.PermanentError}
    for name in ERROR_CLASSES:
        cls = getattr(errors, name)
        if cls in bases:
            continue
        assert issubclass(cls, errors.TemporaryError) != issubclass(cls, errors.PermanentError), name


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


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_plumbing_is_not_shown_as_a_step(path: Path) -> None:
    """Choice and Pass states are how the machine is wired, not steps a person follows: `watch`,
    the notification and the history hide each (or read it as part of its polling loop's step)."""
    from clusterdrop.workflow import HIDDEN, PHASES

    shown = {n for n, s in render(path)["States"].items() if s["Type"] in ("Choice", "Pass", "Succeed", "Fail")}
    assert shown - HIDDEN - set(PHASES) == set()


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


def _cycles(states: dict[str, Any], within: set[str] | None = None) -> list[set[str]]:
    """The strongly connected parts of the graph (or of its states `within`) that loop (Tarjan's
    algorithm)."""
    if within is not None:
        states = {
            n: {**s, "_next": _next_states(s) & within} for n, s in states.items() if n in within
        }  # fmt: skip
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for nxt in states[name].get("_next", _next_states(states[name])):
            if nxt not in index:
                visit(nxt)
                low[name] = min(low[name], low[nxt])
            elif nxt in stack:
                low[name] = min(low[name], index[nxt])
        if low[name] == index[name]:
            part: set[str] = set()
            while True:
                member = stack.pop()
                part.add(member)
                if member == name:
                    break
            if len(part) > 1 or name in states[name].get("_next", _next_states(states[name])):
                found.append(part)

    for name in states:
        if name not in index:
            visit(name)
    return found


def _counters(states: dict[str, Any], loop: set[str]) -> dict[str, str]:
    """The counters a loop counts and leaves on, each with the Pass that counts it: a Pass inside
    adds one to `$.polls.<k>.n` and a Choice inside leaves the loop once it reaches a limit."""
    counted = {
        s["ResultPath"]: n
        for n, s in states.items()
        if n in loop and s["Type"] == "Pass" and "States.MathAdd($.polls." in json.dumps(s.get("Parameters", {}))
    }
    found = {}
    for name in loop:
        state = states[name]
        for rule in state.get("Choices", []) if state["Type"] == "Choice" else []:
            variable = rule.get("Variable", "")
            limit = rule.get("NumericGreaterThanEquals")
            leaves = variable.startswith("$.polls.") and limit and rule["Next"] not in loop
            if leaves and variable.removesuffix(".n") in counted:
                found[str(variable)] = counted[variable.removesuffix(".n")]
    return found


def _exit_counter(states: dict[str, Any], loop: set[str]) -> str | None:
    """The counter that bounds the loop as a whole: for loops within a loop (the node-group waves
    around the waits), the one whose counting step, taken out, leaves only the smallest loops."""
    counters = _counters(states, loop)

    def largest_left(counter: str) -> int:
        return max((len(c) for c in _cycles(states, loop - {counters[counter]})), default=0)

    return min(counters, key=largest_left) if counters else None


def _inner_loops(states: dict[str, Any], loop: set[str]) -> list[set[str]]:
    counter = _exit_counter(states, loop)
    assert counter
    return _cycles(states, loop - {_counters(states, loop)[counter]})


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_wait_loop_is_bounded_and_leaves_through_the_failure_path(path: Path) -> None:
    definition = render(path)
    states = definition["States"]
    loops = _cycles(states)
    assert loops, "the machines wait in loops"
    configured = definition["States"]["Configure"]["Parameters"]["polls"]
    while loops:
        loop = loops.pop()
        counter = _exit_counter(states, loop)
        assert counter, f"the loop {sorted(loop)} has no bound"
        assert counter.split(".")[2] in configured, f"{counter} is not set to 0 by Configure"
        stuck = next(r["Next"] for n in loop for r in states[n].get("Choices", []) if r.get("Variable") == counter)
        assert states[stuck]["Parameters"]["Error"] == "WaitTimedOut"
        assert states[stuck]["Next"] in ("Diagnose", "Notify failure")
        loops += _inner_loops(states, loop)
    # A counter only ever grows: set to 0 by Configure and never again, so a loop inside another
    # is bounded by its own limit over all the outer loop's laps, not per lap.
    for name, state in states.items():
        if name != "Configure" and str(state.get("ResultPath", "")).startswith("$.polls"):
            assert "States.MathAdd($.polls." in json.dumps(state.get("Parameters", {})), name


# Events a state writes to the execution history per visit (Standard workflows): entered and
# exited, plus scheduled/started/succeeded for a task; each retry of a task adds three.
_EVENTS = {"Task": 5, "Pass": 2, "Choice": 2, "Wait": 2, "Succeed": 2, "Fail": 2}
HISTORY_LIMIT = 25_000


def _worst_case_events(definition: dict[str, Any]) -> int:
    states = definition["States"]

    def visit(state: dict[str, Any]) -> int:
        retries = sum(int(r.get("MaxAttempts", 3)) for r in state.get("Retry", []))
        return _EVENTS[state["Type"]] + 3 * retries

    def loop_events(loop: set[str]) -> int:
        counter = _exit_counter(states, loop)
        assert counter
        limit = next(
            int(r["NumericGreaterThanEquals"]) for n in loop for r in states[n].get("Choices", [])
            if r.get("Variable") == counter
        )  # fmt: skip
        inner = _inner_loops(states, loop)
        own = loop - set().union(*inner) if inner else loop
        # Retries inside a loop are transient failures: count them once per loop, not per lap.
        lap = sum(_EVENTS[states[n]["Type"]] for n in own)
        # An inner loop's counter is shared by every lap of the outer one: its bound holds overall.
        nested = sum(loop_events(i) for i in inner)
        return limit * lap + sum(visit(states[n]) - _EVENTS[states[n]["Type"]] for n in own) + nested

    loops = _cycles(states)
    in_loop = set().union(*loops) if loops else set()
    total = sum(visit(s) for n, s in states.items() if n not in in_loop) + 2  # execution started/ended
    return total + sum(loop_events(loop) for loop in loops)


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_the_worst_case_execution_stays_under_the_history_limit(path: Path) -> None:
    """Step Functions ends a Standard execution at 25,000 history events, with no Catch: every
    loop run to its bound, every retry used, still under it (with AWS's poll intervals)."""
    worst = _worst_case_events(render(path))
    assert 100 < worst < HISTORY_LIMIT, worst


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_result_path_is_a_field_of_the_execution_state(path: Path) -> None:
    """The state document is typed: each ResultPath (its first segment) is a field of
    contract.ExecutionState, and each Lambda-backed step has a result model."""
    from clusterdrop import contract

    fields = {f.alias or name for name, f in contract.ExecutionState.model_fields.items()}
    for name, state in render(path)["States"].items():
        result_path = state.get("ResultPath")
        if result_path:
            assert result_path.split(".")[1] in fields, f"{name}: {result_path} is not in the contract"
        match = re.search(r":function:([A-Za-z0-9]+)FunctionArn$", state.get("Resource", ""))
        if match:
            assert _snake(match.group(1)) in contract.RESULTS, f"{name}: no result model"
