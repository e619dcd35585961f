"""EKS's support calendar and what clusterdrop says about it."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from clusterdrop import facts
from clusterdrop.aws import notify


@pytest.mark.parametrize(
    ("version", "today", "expected"),
    [
        ("1.35", date(2026, 9, 1), None),  # months of standard support left
        ("1.36", date(2026, 11, 30), None),  # no published dates: nothing said
        (
            "1.34",
            date(2026, 11, 30),
            (
                "Kubernetes 1.34 leaves EKS standard support on 2026-12-02 (2 days); extended support then costs "
                "$0.60 per cluster hour instead of $0.10, until 2027-12-02; upgrade to 1.35"
            ),
        ),
        (
            "1.33",
            date(2026, 11, 30),
            (
                "Kubernetes 1.33 is in EKS extended support since 2026-07-29 (until 2027-07-29): the control plane "
                "costs $0.60 an hour instead of $0.10; upgrade to 1.34"
            ),
        ),
        (
            "1.31",
            date(2026, 11, 30),
            (
                "Kubernetes 1.31 left EKS extended support on 2026-11-26: EKS upgrades such control planes itself; "
                "upgrade to 1.32"
            ),
        ),
        ("1.35", date(2026, 11, 26), None),
        ("1.35", date(2026, 11, 28), "Kubernetes 1.35 leaves EKS standard support on 2027-03-27 (119 days)"),
    ],
)
def test_support_warnings(version: str, today: date, expected: str | None) -> None:
    warning = facts.support_warning(version, today)
    if expected is None:
        assert warning is None
    else:
        assert warning is not None
        assert warning.startswith(expected)


def test_the_calendar_is_consistent() -> None:
    for version, (standard, extended) in facts.SUPPORT_CALENDAR.items():
        # Twelve months of extended support after standard support, as EKS gives.
        assert (extended.year - standard.year, extended.month, extended.day) == (1, standard.month, standard.day)
        assert version in facts.KUBERNETES_VERSIONS or extended <= date(2026, 11, 30), version
    assert set(facts.KUBERNETES_VERSIONS) - set(facts.SUPPORT_CALENDAR) == {"1.36"}


def test_every_notification_carries_the_warning() -> None:
    outcome = notify.Outcome(
        cluster="demo",
        action="update",
        outcome="PLANNED",
        region="eu-west-1",
        execution_arn="arn:aws:states:eu-west-1:123456789012:execution:m:e",
        kubernetes_version="1.33",
        warnings=["Kubernetes 1.33 is in EKS extended support since 2026-07-29"],
    )
    assert "Warning: Kubernetes 1.33 is in EKS extended support since 2026-07-29" in notify.email_text(outcome)
    blocks = json.dumps(notify.slack_blocks(outcome))
    assert "Kubernetes 1.33 is in EKS extended support" in blocks


def test_an_upgrade_says_each_phase_s_moves_and_once_done_what_each_took() -> None:
    upgrade = {
        "from": "1.34",
        "to": "1.35",
        "nodeGroups": ["apps", "system"],
        "cni": "cilium 1.18.12 → 1.19.6",
        "addons": {"kube-proxy": "v1.34.0-eksbuild.1 → v1.35.0-eksbuild.1"},
    }
    steps = [
        notify.Step("Plan", "SUCCEEDED", 1.0),
        notify.Step("Apply cluster stack", "SUCCEEDED", 0.5),
        notify.Step("Wait for cluster stack", "SUCCEEDED", 480.0),
        notify.Step("Connect", "SUCCEEDED", 2.0),
        notify.Step("Apply CNI", "SUCCEEDED", 30.0),
        notify.Step("Apply node-group stacks", "SUCCEEDED", 1.0),
        notify.Step("Wait for node-group stacks", "SUCCEEDED", 600.0),
        notify.Step("Validate cluster", "SUCCEEDED", 9.0),
    ]
    base: dict[str, Any] = {
        "cluster": "demo",
        "action": "update",
        "region": "eu-west-1",
        "execution_arn": "arn",
        "upgrade": upgrade,
    }
    done = notify.email_text(notify.Outcome(outcome="SUCCEEDED", steps=steps, **base))
    assert "  1. control plane 1.34 → 1.35 (the cluster stack) — 480.5 s\n" in done
    assert "(cilium 1.18.12 → 1.19.6, kube-proxy v1.34.0-eksbuild.1 → v1.35.0-eksbuild.1) — 32 s\n" in done
    assert "validated before the next — 610 s\n" in done
    planned = notify.email_text(notify.Outcome(outcome="PLANNED", **base))
    assert "Upgrade 1.34 → 1.35 would run in this order:" in planned
    assert "(cilium 1.18.12 → 1.19.6, kube-proxy v1.34.0-eksbuild.1 → v1.35.0-eksbuild.1)\n" in planned
    assert " s\n" not in planned.split("would run in this order:")[1].split("Steps")[0]


def test_a_plan_says_which_add_ons_it_would_remove() -> None:
    base: dict[str, Any] = {"cluster": "demo", "action": "update", "region": "eu-west-1", "execution_arn": "arn"}
    planned = notify.email_text(notify.Outcome(outcome="PLANNED", addons_removed=["metrics-server"], **base))
    assert "Would remove (no longer in spec.addons; EKS deletes their workloads): metrics-server\n" in planned
    done = notify.email_text(notify.Outcome(outcome="SUCCEEDED", addons_removed=["metrics-server"], **base))
    assert "Removed (no longer in spec.addons; EKS deletes their workloads): metrics-server\n" in done


@pytest.mark.parametrize(
    ("version", "today", "shown"),
    [
        ("1.35", date(2026, 12, 8), "standard until 2027-03-27 (109 days)"),
        ("1.33", date(2026, 12, 8), "EXTENDED until 2027-07-29 ($0.60/h)"),
        ("1.31", date(2026, 12, 8), "ENDED 2026-11-26: EKS upgrades it itself"),
        ("1.36", date(2026, 12, 8), "-"),  # no dates published yet
        ("", date(2026, 12, 8), "-"),  # never created: no version
    ],
)
def test_status_says_where_each_cluster_stands_in_the_support_calendar(version: str, today: date, shown: str) -> None:
    from clusterdrop.ops import format_status

    table = format_status([{"cluster": "c", "status": "ACTIVE", "kubernetesVersion": version}], today=today)
    header, row = table.splitlines()
    assert header.split()[-1] == "SUPPORT"
    assert row.endswith(shown)
