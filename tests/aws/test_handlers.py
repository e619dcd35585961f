"""The Lambda handlers themselves: thin wiring, environment read once, no Kubernetes client in
handlers that do not talk to Kubernetes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import boto3
import pytest

from tests.conftest import REPO

HANDLERS = sorted(p.stem for p in (REPO / "lambdas").glob("*.py") if not p.stem.startswith("_"))


class FakeContext:
    function_name = "test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:test"
    aws_request_id = "req-1"


@pytest.mark.parametrize("module", [h for h in HANDLERS if h != "agent"])
def test_workflow_handlers_do_not_import_kubernetes(module: str) -> None:
    code = f"import sys, lambdas.{module}; print('kubernetes' in sys.modules)"
    env = {"POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "eu-west-1", "PATH": ""}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.fixture
def handler_env(moto_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a handler sees in the embedded mode: moto's endpoint, dummy credentials, no X-Ray."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.mark.usefixtures("handler_env")
def test_trigger_starts_executions_from_sqs_records(monkeypatch: pytest.MonkeyPatch) -> None:
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"m-{uuid.uuid4().hex[:6]}",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    monkeypatch.setenv("DEPLOY_STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("TEARDOWN_STATE_MACHINE_ARN", arn)
    import lambdas.trigger as trigger

    trigger._sfn.cache_clear()
    trigger._machines.cache_clear()
    record = {
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-11-26T10:00:00Z",
        "s3": {
            "bucket": {"name": "specs"},
            "object": {"key": "clusters/demo.yaml", "versionId": "v9", "sequencer": "01"},
        },
    }
    ignored = {**record, "s3": {"bucket": {"name": "specs"}, "object": {"key": "notes/x.txt", "versionId": "v1"}}}
    event = {
        "Records": [
            {"eventSource": "aws:sqs", "messageId": "m1", "body": json.dumps({"Records": [record]})},
            {"eventSource": "aws:sqs", "messageId": "m2", "body": json.dumps({"Records": [record]})},  # duplicate
            {"eventSource": "aws:sqs", "messageId": "m3", "body": json.dumps({"Records": [ignored]})},
            {"eventSource": "aws:sqs", "messageId": "m4", "body": "not json"},
        ]
    }
    result = trigger.handler(event, FakeContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "m4"}]}  # back to the queue, then the DLQ
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert len(executions) == 1
    trigger._sfn.cache_clear()
    trigger._machines.cache_clear()


@pytest.fixture
def webhook() -> Iterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.append({"url": f"http://127.0.0.1:{server.server_address[1]}/hook"})
    yield received
    server.shutdown()


@pytest.mark.usefixtures("handler_env")
def test_slack_formatter_posts_block_kit(monkeypatch: pytest.MonkeyPatch, webhook: list[dict[str, Any]]) -> None:
    url = webhook.pop(0)["url"]
    secret = boto3.client("secretsmanager").create_secret(Name=f"slack-{uuid.uuid4().hex[:6]}", SecretString=url)
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", secret["ARN"])
    from clusterdrop.aws import notify

    outcome = notify.Outcome(
        cluster="demo", action="delete", outcome="SUCCEEDED", region="eu-west-1", execution_arn="arn:x"
    )
    message = json.loads(notify.sns_message(outcome)["Message"])["lambda"]
    import lambdas.slack_formatter as formatter

    # The deployer's alarms publish to the same topic, in CloudWatch's own message format.
    alarm = json.dumps({
        "AlarmName": "clusterdrop-deploy-failed",
        "AlarmDescription": "A deploy execution failed: its notification names the step and the cause.",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 1 datapoint [1.0] was greater than or equal to the threshold (1.0).",
    })  # fmt: skip
    formatter._webhook_url.cache_clear()
    result = formatter.handler({"Records": [{"Sns": {"Message": message}}, {"Sns": {"Message": alarm}}]}, FakeContext())
    assert result == {"posted": 2}
    payload, alarmed = webhook
    assert payload["text"] == "[clusterdrop] demo: delete succeeded"
    assert payload["blocks"][0]["type"] == "header"
    assert alarmed["text"] == "[clusterdrop] alarm clusterdrop-deploy-failed: ALARM"
    assert "its notification names the step" in alarmed["blocks"][0]["text"]["text"]
    formatter._webhook_url.cache_clear()


def test_slack_formatter_refuses_plain_http() -> None:
    import lambdas.slack_formatter as formatter

    with pytest.raises(ValueError, match="https"):
        formatter.post("http://hooks.example.com/x", {})
