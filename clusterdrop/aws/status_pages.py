"""Status pages in the artifacts bucket: `status/<cluster>/index.html` (the latest execution) and
`status/<cluster>/<execution>.html` (each one), with `status/<cluster>/runs.json` the short
history the pages chart; `status/index.html`, every cluster of the registry on one page. Written
by the Notify step before the notification goes out, so that the notification can link to them.

How a reader reaches a page days later: through the S3 console (the object's page opens for
anyone allowed to read it, with their own credentials), or `clusterdrop status NAME --page`. A
presigned link is given beside it, marked with its expiry: it is signed with the Notify
function's role credentials, and stops working when they expire, whatever expiry it asks for.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from clusterdrop import facts
from clusterdrop.aws import notify
from clusterdrop.aws.registry import ClusterRecord
from clusterdrop.render.status_page import FleetRow, Page, Poll, Run, Span, fleet, render

RUNS_KEPT = 20  # the executions the history chart shows
PRESIGNED_SECONDS = 3600  # at most what the signing role's session has left, which is hours at best


FLEET_KEY = "status/index.html"


def page_key(cluster: str, execution: str | None = None) -> str:
    return f"status/{cluster}/{execution or 'index'}.html"


def runs_key(cluster: str) -> str:
    return f"status/{cluster}/runs.json"


def console_url(bucket: str, key: str, region: str) -> str:
    """The object's page in the S3 console: it opens for whoever may read the object."""
    return f"https://s3.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={quote(key)}"


def _runs(s3: Any, bucket: str, cluster: str) -> list[Run]:
    try:
        body = s3.get_object(Bucket=bucket, Key=runs_key(cluster))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return []
    return [Run(**r) for r in json.loads(body)]


def page_of(
    o: notify.Outcome, started: datetime, spans: list[Span], polls: list[Poll], runs: list[Run], now: datetime
) -> Page:
    """What the page shows: the outcome the notification carries, the execution's steps and
    readiness polls (history.step_spans, history.node_polls), the history of executions."""
    failure = o.failure
    links = [("Follow it: " + o.watch_command, ""), ("Every cluster of this deployer", "../index.html")]
    if not o.embedded:
        links.insert(0, ("The execution in the Step Functions console", o.console_url))
    return Page(
        cluster=o.cluster,
        region=o.region,
        action=o.action,
        outcome=o.outcome,
        execution=o.execution_arn.rsplit(":", 1)[-1],
        started=started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        generated=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        kubernetes_version=o.kubernetes_version,
        endpoint=o.endpoint,
        cni=f"{o.cni.get('name', '')} {o.cni.get('version', '')}".strip(),
        code=failure.code if failure else "",
        todo=failure.todo if failure else "",
        failed_step=failure.step if failure else "",
        cause=failure.cause if failure else "",
        nodes=o.nodes,
        spans=spans,
        polls=polls,
        validation=o.validation,
        changes=notify.change_lines(o),
        history=runs,
        links=links,
    )


def publish(
    s3: Any,
    bucket: str,
    o: notify.Outcome,
    started: datetime,
    spans: list[Span],
    polls: list[Poll],
    *,
    now: datetime | None = None,
) -> dict[str, str]:
    """Write the execution's page, the cluster's page and the history; where to read them."""
    now = now or datetime.now(UTC)
    execution = o.execution_arn.rsplit(":", 1)[-1]
    this = Run(
        name=execution,
        action=o.action,
        outcome=o.outcome,
        seconds=round(max((s.start + s.seconds for s in spans), default=0.0), 1),
        started=started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        code=o.failure.code if o.failure else "",
    )
    runs = [this, *[r for r in _runs(s3, bucket, o.cluster) if r.name != execution]][:RUNS_KEPT]
    text = render(page_of(o, started, spans, polls, runs, now)).encode()
    for key in (page_key(o.cluster, execution), page_key(o.cluster)):
        s3.put_object(Bucket=bucket, Key=key, Body=text, ContentType="text/html; charset=utf-8")
    s3.put_object(
        Bucket=bucket,
        Key=runs_key(o.cluster),
        Body=json.dumps([r.__dict__ for r in runs]).encode(),
        ContentType="application/json",
    )
    key = page_key(o.cluster, execution)
    presigned = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGNED_SECONDS
    )
    return {
        "bucket": bucket,
        "key": key,
        "latest": page_key(o.cluster),
        "console": console_url(bucket, key, o.region),
        "presigned": presigned,
        "expires": (now + timedelta(seconds=PRESIGNED_SECONDS)).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _when(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC") if stamp else ""


def fleet_rows(records: list[ClusterRecord], today: Any) -> list[FleetRow]:
    """The registry's clusters as the fleet page lists them (`clusterdrop status`'s columns)."""
    rows = []
    for r in records:
        failed = r.last_failure
        failure = f"{failed.get('code', '')} at {failed.get('step', '?')}" if failed else ""
        rows.append(
            FleetRow(
                cluster=r.cluster,
                status=r.status,
                kubernetes_version=r.kubernetes_version,
                nodes=f"{r.nodes_ready}/{r.nodes_expected}",
                last_execution=r.last_execution.rsplit(":", 1)[-1],
                updated=_when(r.updated_at),
                last_failure=failure,
                support=facts.support_cell(r.kubernetes_version, today),
            )
        )
    return rows


def publish_fleet(s3: Any, bucket: str, records: list[ClusterRecord], *, now: datetime | None = None) -> str:
    """Write the fleet page from the registry as it stands; its key."""
    now = now or datetime.now(UTC)
    text = fleet(fleet_rows(records, now.date()), now.strftime("%Y-%m-%dT%H:%M:%S"))
    s3.put_object(Bucket=bucket, Key=FLEET_KEY, Body=text.encode(), ContentType="text/html; charset=utf-8")
    return FLEET_KEY
