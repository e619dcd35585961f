"""The embedded mode: one create of the quickstart and one of a 3-node-group Calico cluster, end
to end, and what each would cost on AWS.

The simulated infrastructure delays are zero (CloudFormation resources complete at once, nodes
turn Ready as soon as the CNI is there), so the end-to-end time is the orchestration overhead:
the state machine, the Lambda invocations (each a real Python process here) and the polling at
the embedded mode's 1-second intervals. State transitions and Lambda invocations come from the
execution's history and the local runtime; the cost uses list prices (us-east-1, 2026): Step
Functions Standard $0.025 per 1,000 state transitions, Lambda arm64 $0.0000133334 per
GB-second plus $0.20 per million requests. On AWS the waits are minutes (EKS takes ~10 to create
a control plane): Wait states cost a transition per poll, not Lambda time.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

from clusterdrop.history import execution_history
from clusterdrop.local import session

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO.parent / "shared" / "fixtures" / "cni"  # the official Calico files, as a mirror
QUICKSTART = (REPO / "examples" / "quickstart.yaml").read_text()
# In order: the first create after the deploy starts every function's worker (a cold start); the
# later ones find the workflow's functions warm, but each cluster's agent is new, so cold.
CLUSTERS = {
    "quickstart, cold": QUICKSTART,
    "quickstart, warm": QUICKSTART.replace("name: quickstart", "name: quickstart-warm"),
    "calico, 3 node groups": (REPO / "examples" / "calico-node-groups.yaml").read_text(),
}
TRANSITION_USD = 0.025 / 1000
GB_SECOND_USD = 0.0000133334
REQUEST_USD = 0.20 / 1_000_000


def measure(local: session.LocalDeployer, text: str) -> dict[str, Any]:
    spec = local.workdir / "spec.yaml"
    spec.write_text(text)
    before = len(local.aws.runtime.invocations)
    result = session.run(local, spec, io.StringIO())
    if result["status"] != "SUCCEEDED":
        said = (result["notifications"]["sns"] or {}).get("text")
        raise RuntimeError(f"{result['cluster']}: {result['status']}: {said}")
    history = execution_history(local.aws.client("stepfunctions"), result["execution"])
    invocations = local.aws.runtime.invocations[before:]
    transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
    # Step Functions refuses a state input or output over 256 KiB (States.DataLimitExceeded).
    largest = max(
        len(str(details.get(k, "")).encode())
        for e in history
        for details in (e.get("stateEnteredEventDetails") or {}, e.get("stateExitedEventDetails") or {})
        for k in ("input", "output")
    )
    gb_seconds = sum(i["seconds"] * i["memory"] / 1024 for i in invocations)
    return {
        "seconds": result["seconds"],
        "polling": sum(s["seconds"] for s in result["steps"] if s["name"].startswith("Wait for")),
        "nodes": result["nodes"]["ready"],
        "transitions": transitions,
        "invocations": len(invocations),
        "largest_state": largest / 1024,
        "lambda_seconds": sum(i["seconds"] for i in invocations),
        "cost": transitions * TRANSITION_USD + gb_seconds * GB_SECOND_USD + len(invocations) * REQUEST_USD,
    }


def main() -> None:
    session.quiet_logs()
    started = time.monotonic()
    local = session.up(mirror=str(MIRROR))
    ready = time.monotonic() - started
    try:
        measured = {name: measure(local, text) for name, text in CLUSTERS.items()}
    finally:
        local.stop()
    print(f"synthesize + deploy the deployer into moto: {ready:.1f} s")
    # What `make demo` does once its virtualenv and bundles exist (target: under 2 minutes).
    demo = ready + measured["quickstart, cold"]["seconds"]
    print(f"make demo's run (deploy + the quickstart's cold create): {demo:.1f} s")
    rows = [
        ("nodes Ready", "nodes", "{:d}"),
        ("create, end to end = orchestration overhead (s)", "seconds", "{:.1f}"),
        ("  of which in polling steps (s)", "polling", "{:.1f}"),
        ("state transitions", "transitions", "{:d}"),
        ("Lambda invocations", "invocations", "{:d}"),
        ("largest state input/output (KiB, limit 256)", "largest_state", "{:.1f}"),
        ("summed Lambda duration here (s)", "lambda_seconds", "{:.1f}"),
        ("cost of one create on AWS, list prices (USD)", "cost", "{:.5f}"),
    ]
    width = max(len(r[0]) for r in rows)
    columns = list(measured)
    print(" " * width + "  " + "  ".join(c.rjust(22) for c in columns))
    for label, key, fmt in rows:
        print(label.ljust(width) + "  " + "  ".join(fmt.format(measured[c][key]).rjust(22) for c in columns))
