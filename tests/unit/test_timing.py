"""Time on AWS and in the embedded mode: the same bounds, run faster."""

from __future__ import annotations

import json
import re

from clusterdrop.steps import deadline_label
from stacks.timing import EMBEDDED, ON_AWS, WAVE_END, WAVE_START, _between
from tests.conftest import REPO


def test_the_embedded_mode_checks_as_often_and_says_how_long_that_is() -> None:
    aws, embedded = ON_AWS.substitutions(), EMBEDDED.substitutions()
    for name in ON_AWS.limits():
        assert embedded[name] == aws[name]  # the same number of checks, one second apart
    assert aws["ClusterStackWaitMinutes"] == "120"
    assert embedded["ClusterStackWaitMinutes"] == "4"


def test_a_deadline_reads_as_the_spec_sets_it_and_as_it_runs() -> None:
    assert deadline_label(20, 1) == "20 minutes"
    assert deadline_label(1, 1) == "1 minute"
    assert deadline_label(20, EMBEDDED.time_scale) == "20 minutes (40 s in the embedded mode)"


def test_an_execution_is_bounded_by_its_waits_and_retries() -> None:
    from tests.conftest import REPO

    deploy = REPO / "statemachine" / "deploy.asl.json"
    for timing in (ON_AWS, EMBEDDED):
        longest = timing.longest_execution_seconds(deploy)
        # At least every wait loop used up at its interval ...
        aws_limits = timing.limits()
        assert longest > aws_limits["NodePollLimit"] * timing.node_poll + aws_limits["ClusterStackPollLimit"] * (
            timing.stack_poll
        )
        # ... and the lock's and the access window's retries.
        assert longest > timing.lock_retry_max * (timing.lock_retry_attempts - 5)
    # On AWS: hours (nodes may take up to 190 minutes); in the embedded mode, far less.
    assert ON_AWS.longest_execution_seconds(deploy) > 190 * 60
    assert EMBEDDED.longest_execution_seconds(deploy) < ON_AWS.longest_execution_seconds(deploy) / 5


def test_the_upgrade_wave_repeats_its_own_states_not_the_failure_path() -> None:
    states = json.loads(re.sub(r"\$\{([A-Za-z0-9]+)\}", "1", (REPO / "statemachine" / "deploy.asl.json").read_text()))
    wave = _between(states["States"], WAVE_START, WAVE_END)
    assert {"Check disruption budgets", "Apply node-group stacks", "Validate cluster", "More node groups?"} <= wave
    assert not wave & {"Diagnose", "Clean up", "Notify failure", "Apply cluster stack", "Record state"}
