"""Time on AWS and in the embedded mode: the same bounds, run faster."""

from __future__ import annotations

from clusterdrop.aws.steps import deadline_label
from stacks.timing import EMBEDDED, ON_AWS


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
