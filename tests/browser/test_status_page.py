"""The status page in a real browser (Debian's headless chromium, driven through chromedriver):
what a person sees, measured on the rendered page, not in the HTML source. Pages of a success, a
failure and an upgrade-sized history, at a phone's width and a laptop's; a screenshot of each is
kept under build/test-artifacts/."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clusterdrop.aws import notify
from clusterdrop.aws.status_pages import page_of
from clusterdrop.history import node_polls, step_spans
from clusterdrop.render.status_page import Run, render
from tests.conftest import REPO

ARTIFACTS = REPO / "build" / "test-artifacts"
DOCS_SCREENSHOT = REPO / "docs" / "status-page.png"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
WIDTHS = (390, 1280)


def _history(steps: Sequence[tuple[str, float]], *, polls: dict[str, list[int]] | None = None, fail: str = "",
             retries: dict[str, int] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """An execution's events: each step entered and exited after its seconds (a failed task at
    the end of `fail`, retried attempts inside the steps named in `retries`), and readiness polls
    inside "Wait for nodes Ready"."""
    events: list[dict[str, Any]] = []
    at = T0

    def add(kind: str, **details: Any) -> None:
        events.append({"type": kind, "timestamp": at, **details})

    for name, seconds in steps:
        add("TaskStateEntered", stateEnteredEventDetails={"name": name})
        for _ in range((retries or {}).get(name, 0)):
            add("TaskScheduled")
            add("TaskFailed", taskFailedEventDetails={"error": "NotReadyYet", "cause": "{}"})
        add("TaskScheduled")
        if name == "Wait for nodes Ready" and polls:
            rounds = len(next(iter(polls.values())))
            for i in range(rounds):
                at += timedelta(seconds=seconds / rounds)
                groups = {g: {"ready": counts[i], "expected": max(counts)} for g, counts in polls.items()}
                output = {"nodesPoll": {"result": {"groups": groups}}}
                add("TaskStateExited", stateExitedEventDetails={"name": name, "output": json.dumps(output)})
                if i < rounds - 1:
                    add("TaskStateEntered", stateEnteredEventDetails={"name": name})
            continue
        at += timedelta(seconds=seconds)
        if name == fail:
            add("TaskFailed", taskFailedEventDetails={"error": "StackFailed", "cause": "{}"})
            add("TaskStateExited", stateExitedEventDetails={"name": name, "output": "{}"})
            add("TaskStateEntered", stateEnteredEventDetails={"name": "Diagnose"})
            return events
        add("TaskStateExited", stateExitedEventDetails={"name": name, "output": "{}"})
    return events


CREATE = [("Validate spec", 2), ("Take cluster lock", 1), ("Plan", 14), ("Apply cluster stack", 3),
          ("Wait for cluster stack", 610), ("Connect", 6), ("Apply CNI", 9), ("Apply node-group stacks", 4),
          ("Wait for node-group stacks", 150), ("Wait for nodes Ready", 120), ("Check CNI", 3),
          ("Validate cluster", 5), ("Record state", 1)]  # fmt: skip


def _outcome(outcome: str, **kw: Any) -> notify.Outcome:
    return notify.Outcome(
        cluster="payments",
        action=kw.pop("action", "create"),
        outcome=outcome,
        region="eu-west-1",
        execution_arn="arn:aws:states:eu-west-1:123456789012:execution:clusterdrop-deploy:deploy-payments-1",
        kubernetes_version="1.34",
        endpoint="https://0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com",
        cni={"name": "calico", "version": "v3.32.1"},
        **kw,
    )


def _page(o: notify.Outcome, events: list[dict[str, Any]], runs: list[Run], now: datetime) -> str:
    """The page as the Notify step writes it for this execution."""
    return render(page_of(o, T0, step_spans(events), node_polls(events), runs, now))


def _cases() -> dict[str, tuple[str, list[dict[str, Any]], int]]:
    """Each page: its HTML, its history, and the number of polls it holds."""
    polls = {"system": [0, 1, 3, 3], "batch": [0, 0, 1, 2]}
    success = _history(CREATE, polls=polls, retries={"Connect": 2})
    ok = _outcome(
        "SUCCEEDED",
        nodes={"system": {"ready": 3, "desired": 3}, "batch": {"ready": 2, "desired": 2}},
        validation="KIND NAME STATUS MESSAGE\nNodeGroup system ok 3/3 Ready\nNodeGroup batch ok 2/2 Ready",
        changes=[{"stack": "clusterdrop-payments", "changeType": "CREATE", "counts": {"add": 33}, "changes": []}],
    )
    failed_steps = CREATE[:5]
    failure = _history(failed_steps, fail="Wait for cluster stack")
    cause = "clusterdrop-payments Cluster (AWS::EKS::Cluster) CREATE_FAILED: " + "insufficient capacity " * 20
    bad = _outcome(
        "FAILED",
        failure=notify.Failure(
            step="Wait for cluster stack", error="StackFailed", cause=cause, cleaned_up=["clusterdrop-payments"],
            code="ERR_INSUFFICIENT_CAPACITY", todo="retry later, or give the node group more instance types or zones",
        ),
    )  # fmt: skip
    # An upgrade of a big cluster: a wave per node group, every group validated in turn.
    waves = [(name, s) for name, s in CREATE[:3]] + [("Apply cluster stack", 3), ("Wait for cluster stack", 1500)]
    groups = [f"group-{i}" for i in range(12)]
    for _ in groups:
        waves += [("Apply node-group stacks", 3), ("Wait for node-group stacks", 400), ("Validate cluster", 4)]
    upgrade = _history(waves)
    runs = [
        Run(name=f"deploy-payments-{i}", action="update" if i else "create", outcome="FAILED" if i == 3 else "SUCCEEDED",
            seconds=900 + 150 * (i % 4) + (2400 if i == 0 else 0), started=f"2026-11-{29 - i:02d}T08:00:00",
            code="ERR_NODES_NOT_READY" if i == 3 else "")
        for i in range(20)
    ]  # fmt: skip
    now = T0 + timedelta(hours=2)
    return {
        "success": (_page(ok, success, runs[:3], now), success, 8),
        "failure": (_page(bad, failure, runs[:1], now), failure, 0),
        "upgrade": (_page(_outcome("SUCCEEDED", action="update"), upgrade, runs, now), upgrade, 0),
    }


CASES = _cases()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager download a browser or a driver
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium, "make test installs Debian's chromium"
    assert driver, "make test installs Debian's chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # Headless as root, and quiet on a closed network (no background connections, no updates).
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):  # fmt: skip
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(driver), options=options)
    yield session
    session.quit()


def _open(browser: Any, html: str, width: int, tmp: Path) -> None:
    page = tmp / "page.html"
    page.write_text(html)
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    browser.get(page.as_uri())


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", list(CASES))
def test_the_rendered_page_shows_every_step_in_proportion_and_fits(
    browser: Any, case: str, width: int, tmp_path: Path
) -> None:

    html, events, polls = CASES[case]
    _open(browser, html, width, tmp_path)
    spans = step_spans(events)
    bars = browser.execute_script(
        "return [...document.querySelectorAll('svg.timeline rect.step')].map(r => "
        "[r.getBoundingClientRect().width, Number(r.dataset.seconds), r.getAttribute('class'), r.dataset.step])"
    )
    assert len(bars) == len(spans)  # one bar per step
    # Widths in proportion to durations (bars drawn at their minimum width left aside).
    longest = max(bars, key=lambda b: b[1])
    per_second = longest[0] / longest[1]
    for shown, seconds, _, _ in bars:
        if seconds * per_second > 3:
            assert shown == pytest.approx(seconds * per_second, rel=0.02, abs=0.5)
    points = browser.execute_script("return document.querySelectorAll('svg.nodes circle.poll').length")
    assert points == polls  # a point per poll and group
    if case == "failure":
        marked = {step: kind for _, _, kind, step in bars}
        assert marked["Wait for cluster stack"] == "step failed"  # the failing step is marked
        assert marked["Plan"] == "step succeeded"
        assert "ERR_INSUFFICIENT_CAPACITY" in browser.find_element("tag name", "h2").text
    overflow = browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth, "
        "Math.max(...[...document.body.querySelectorAll('*')].map(e => e.getBoundingClientRect().right))]"
    )
    assert overflow[0] <= overflow[1], f"the page is wider than the viewport: {overflow}"
    assert overflow[2] <= overflow[1] + 1, f"an element overflows the viewport: {overflow}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": min(height, 6000), "deviceScaleFactor": 1, "mobile": width < 600},
    )
    shot = ARTIFACTS / f"status-page-{case}-{width}.png"
    assert browser.save_screenshot(str(shot))
    if case == "success" and width == 1280 and os.environ.get("CLUSTERDROP_DOCS_SCREENSHOTS"):
        shutil.copyfile(shot, DOCS_SCREENSHOT)  # `make docs`: the picture the docs show is this page


def test_the_history_chart_draws_a_bar_per_execution_so_a_slow_one_stands_out(browser: Any, tmp_path: Path) -> None:
    html, _, _ = CASES["upgrade"]
    _open(browser, html, 1280, tmp_path)
    runs = browser.execute_script(
        "return [...document.querySelectorAll('svg.history rect.run')].map(r => "
        "[r.getBoundingClientRect().width, Number(r.dataset.seconds)])"
    )
    assert len(runs) == 20
    widest = max(runs)
    assert widest[1] == max(seconds for _, seconds in runs)  # the slowest execution is the longest bar
    assert all(width < widest[0] * 0.6 for width, seconds in runs if seconds < widest[1] * 0.6)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_fleet_page_lists_every_cluster_linked_to_its_page_and_fits(
    browser: Any, width: int, tmp_path: Path
) -> None:
    """status/index.html from registry records as the workflow leaves them: one row per cluster,
    its name linking to the cluster's page beside it, where its version stands in EKS's calendar."""
    from clusterdrop.aws.registry import ClusterRecord
    from clusterdrop.aws.status_pages import fleet_rows
    from clusterdrop.render.status_page import fleet

    at = int(T0.timestamp())
    records = [
        ClusterRecord(cluster="prod-eu", status="ACTIVE", kubernetes_version="1.35", nodes_expected=12,
                      nodes_ready=12, last_execution="arn:aws:states:eu-west-1:1:execution:d:deploy-prod-eu-1",
                      updated_at=at),
        ClusterRecord(cluster="staging", status="ACTIVE", kubernetes_version="1.33", nodes_expected=3,
                      nodes_ready=3, updated_at=at,
                      last_failure={"code": "ERR_INVALID_SPEC", "step": "Plan"}),
        ClusterRecord(cluster="scratch-" + "x" * 30, status="CREATE_FAILED", updated_at=at,
                      last_failure={"code": "ERR_QUOTA_EXCEEDED", "step": "Plan"}),
    ]  # fmt: skip
    _open(browser, fleet(fleet_rows(records, T0.date()), "2026-11-30T09:00:00"), width, tmp_path)
    rows = browser.execute_script(
        "return [...document.querySelectorAll('tr.cluster')].map(r => [...r.cells].map(c => c.innerText))"
    )
    assert [r[0] for r in rows] == [r.cluster for r in records]
    assert rows[0][3] == "12/12"
    assert rows[1][6] == "ERR_INVALID_SPEC at Plan"
    assert rows[1][7].startswith("EXTENDED until")  # 1.33 on 2026-11-30: in extended support, priced
    links = browser.execute_script(
        "return [...document.querySelectorAll('tr.cluster a')].map(a => a.getAttribute('href'))"
    )
    assert links == [f"{r.cluster}/index.html" for r in records]
    overflow = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert overflow[0] <= overflow[1], f"the page is wider than the viewport: {overflow}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / f"fleet-page-{width}.png"))
