"""The embedded mode: one create of the quickstart, end to end, and what it would cost on AWS.

State transitions and Lambda invocations come from the execution's history and the local
runtime; the cost uses list prices (us-east-1, 2026): Step Functions Standard $0.025 per 1,000
state transitions, Lambda arm64 $0.0000133334 per GB-second plus $0.20 per million requests.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

from clusterdrop.local import session

REPO = Path(__file__).resolve().parents[1]
TRANSITION_USD = 0.025 / 1000
GB_SECOND_USD = 0.0000133334
REQUEST_USD = 0.20 / 1_000_000


def main() -> None:
    started = time.monotonic()
    local = session.up()
    ready = time.monotonic() - started
    try:
        before = len(local.aws.runtime.invocations)
        result = session.run(local, REPO / "examples" / "quickstart.yaml", io.StringIO())
        sfn = local.aws.client("stepfunctions")
        history = sfn.get_execution_history(executionArn=result["execution"], maxResults=1000)["events"]
        transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
        invocations = local.aws.runtime.invocations[before:]
        lambda_seconds = sum(i["seconds"] for i in invocations)
        gb_seconds = sum(i["seconds"] * i["memory"] / 1024 for i in invocations)
        waits = sum(s["seconds"] for s in result["steps"] if s["name"].startswith("Wait for"))
    finally:
        local.stop()
    cost = transitions * TRANSITION_USD + gb_seconds * GB_SECOND_USD + len(invocations) * REQUEST_USD
    rows = [
        ("synthesize + deploy the deployer into moto (s)", f"{ready:.1f}"),
        ("create the quickstart, end to end (s)", f"{result['seconds']:.1f}"),
        ("of which in polling steps (s)", f"{waits:.1f}"),
        ("state transitions", str(transitions)),
        ("Lambda invocations", str(len(invocations))),
        ("summed Lambda duration here (s)", f"{lambda_seconds:.1f}"),
        ("cost of one create on AWS at list prices (USD, at these durations)", f"{cost:.5f}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
