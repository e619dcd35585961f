"""A local Lambda runtime for moto: the real handler code of each function, run in warm worker
processes with the function's own environment and timeout, errors returned in Lambda's error
shape (so that Step Functions' Retry and Catch match by exception class name).

moto runs every Lambda (Invoke, Step Functions tasks, S3/SNS notifications, SQS event source
mappings) through `LambdaFunction._invoke_lambda`, which needs Docker; replacing that one private
method makes all of them work. moto is pinned exactly for this; a smoke test fails loudly if the
method changes.

The functions' dependencies are the project's virtualenv (the same pinned versions the layer
holds; the layer's wheels are built for Linux arm64 and may not load here): only the code of
the function's package (clusterdrop/, lambdas/, inline handlers) is taken from its zip.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

from clusterdrop.local.receiver import JsonReceiver

CODE_PACKAGES = {"clusterdrop", "lambdas"}


def _as_cloudformation_sends(value: Any) -> Any:
    """CloudFormation hands custom resources every scalar property as a string."""
    if isinstance(value, dict):
        return {k: _as_cloudformation_sends(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_cloudformation_sends(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


class CustomResourceResponses:
    """Where custom-resource handlers PUT their answer. moto's own endpoint expects a Docker host
    and a content type the CDK's handlers do not send; this receiver hands the answer to moto's
    CloudFormation backend directly (moto runs in this process)."""

    def __init__(self) -> None:
        self.receiver = JsonReceiver(self.answer)

    @property
    def url(self) -> str:
        return self.receiver.url

    @staticmethod
    def answer(response: dict[str, Any]) -> None:
        from moto.cloudformation.models import cloudformation_backends

        stack_id = response["StackId"]
        _, _, _, region, account, _ = stack_id.split(":", 5)
        stack = cloudformation_backends[account][region].get_stack(stack_id)
        if response.get("Status") == "SUCCESS":
            stack.get_custom_resource(response["LogicalResourceId"]).set_data(response.get("Data") or {})
            stack.verify_readiness()
        else:
            stack._add_stack_event(
                "CREATE_FAILED", resource_status_reason=response.get("Reason", "custom resource failed")
            )
            stack.status = "CREATE_FAILED"

    def stop(self) -> None:
        self.receiver.stop()


def adapt_custom_resource_event(event: Any, response_url: str) -> Any:
    """moto builds custom-resource events for Lambdas in Docker: make them what CloudFormation
    sends (every scalar property a string) with a ResponseURL this machine answers."""
    if isinstance(event, dict) and "ResponseURL" in event and "ResourceProperties" in event:
        event = dict(event)
        event["ResponseURL"] = response_url
        event["ResourceProperties"] = _as_cloudformation_sends(event["ResourceProperties"])
    return event


class RoleNotAssumable(Exception):
    pass


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class _Worker:
    def __init__(self, code_dir: Path, handler: str, name: str, env: dict[str, str], memory: int, timeout: float):
        self.timeout = timeout
        self.busy = False
        self.process = subprocess.Popen(  # noqa: S603 - our own worker module
            # By path: the function's own code (which may hold another clusterdrop) is on PYTHONPATH.
            [
                sys.executable,
                str(Path(__file__).with_name("lambda_worker.py")),
                handler,
                name,
                str(memory),
                str(timeout),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if not os.environ.get("CLUSTERDROP_LOCAL_DEBUG") else None,
            cwd=code_dir,
            env={**env, "PYTHONPATH": str(code_dir)},
            text=True,
        )

    def invoke(self, event: Any) -> tuple[Any, bool]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], self.timeout)
        if not ready:
            self.process.kill()
            message = f"Task timed out after {self.timeout:.2f} seconds"
            return {"errorMessage": message, "errorType": "Sandbox.Timedout"}, True
        line = self.process.stdout.readline()
        if not line:
            return {"errorMessage": "the runtime exited", "errorType": "Runtime.ExitError"}, True
        reply = json.loads(line)
        if "error" in reply:
            return reply["error"], True
        return reply["result"], False

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.kill()


class LocalRuntime:
    """Warm workers per function (and code version), created on demand."""

    def __init__(self, *, extra_env: dict[str, str] | None = None, own_roles: bool = True):
        self.own_roles = own_roles
        self.root = Path(tempfile.mkdtemp(prefix="clusterdrop-lambda-"))
        self.extra_env = extra_env or {}
        self.lock = threading.Lock()
        self._unpacking = threading.Lock()
        self.pools: dict[str, list[_Worker]] = {}
        self.invocations: list[dict[str, Any]] = []
        self.responses = CustomResourceResponses()

    def credentials(self, function: Any) -> dict[str, str]:
        """The function's execution role, assumed through the embedded STS as the Lambda service
        assumes it, handed to the function in the variables Lambda sets. With `own_roles` off,
        every function calls as the embedded account's administrator."""
        if not self.own_roles:
            return {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
        from moto.iam.models import iam_backends

        from clusterdrop.local import iam_enforce

        account, role_arn = function.account_id, function.role
        try:
            role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
        except Exception:  # noqa: BLE001 - moto's NoSuchEntity
            raise RoleNotAssumable(
                f"The role defined for the function cannot be assumed by Lambda. ({role_arn})"
            ) from None
        trust = json.loads(role.assume_role_policy_document)
        services = [
            service
            for statement in trust.get("Statement", [])
            if statement.get("Effect") == "Allow"
            for service in _as_list((statement.get("Principal") or {}).get("Service"))
        ]
        if "lambda.amazonaws.com" not in services:
            # Lambda's own check: the service must be trusted by the role it assumes.
            raise RoleNotAssumable(f"The role defined for the function cannot be assumed by Lambda. ({role_arn})")
        key, secret, token = iam_enforce.assume(account, function.region, role_arn, function.function_name, 12)
        return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token}

    def code_dir(self, code: bytes) -> Path:
        digest = hashlib.sha256(code).hexdigest()[:16]
        target = self.root / digest
        # Under a lock: the first invocations of a function, started at once, unpack it once.
        with self._unpacking:
            self._unpack(code, digest, target)
        return target

    def _unpack(self, code: bytes, digest: str, target: Path) -> None:
        if not target.is_dir():
            staging = self.root / f".{digest}"
            with zipfile.ZipFile(io.BytesIO(code)) as archive:
                members = [
                    m for m in archive.namelist()
                    if m.split("/", 1)[0] in CODE_PACKAGES or ("/" not in m and m.endswith(".py"))
                ]  # fmt: skip
                archive.extractall(staging, members=members)
            staging.rename(target)

    def invoke(self, function: Any, event: Any) -> tuple[str, bool, str]:
        if not function.code_bytes:
            where = {k: v for k, v in function.code.items() if k in ("S3Bucket", "S3Key")}
            message = f"function {function.function_name} has no code (moto found none at {where})"
            return json.dumps({"errorMessage": message, "errorType": "Runtime.InvalidEntrypoint"}), True, ""
        code = self.code_dir(function.code_bytes)
        # A worker is an execution environment: new code, a new role or a new configuration
        # (UpdateFunctionConfiguration's environment) makes new ones, as on Lambda.
        environment = json.dumps(function.environment_vars or {}, sort_keys=True)
        key = f"{function.function_name}:{code.name}:{function.role}:{hashlib.sha256(environment.encode()).hexdigest()}"
        with self.lock:
            pool = self.pools.setdefault(key, [])
            worker = next((w for w in pool if not w.busy and w.alive()), None)
            if worker is None:
                try:
                    credentials = self.credentials(function)
                except RoleNotAssumable as exc:
                    return json.dumps({"errorMessage": str(exc), "errorType": "AccessDeniedException"}), True, ""
                env = {
                    **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "CLUSTERDROP_CNI_MIRROR")},
                    "AWS_REGION": function.region,
                    "AWS_DEFAULT_REGION": function.region,
                    **credentials,
                    "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
                    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
                    **{k: str(v) for k, v in (function.environment_vars or {}).items()},
                    **self.extra_env,
                }
                worker = _Worker(
                    code,
                    function.handler,
                    function.function_name,
                    env,
                    int(function.memory_size),
                    float(function.timeout),
                )
                pool.append(worker)
            worker.busy = True
        started = time.monotonic()
        try:
            if isinstance(event, str):
                event = json.loads(event) if event else {}
            result, errored = worker.invoke(adapt_custom_resource_event(event, self.responses.url))
        finally:
            worker.busy = False
        self.invocations.append(
            {
                "function": function.function_name,
                "errored": errored,
                "seconds": time.monotonic() - started,
                "memory": int(function.memory_size),
            }
        )
        return json.dumps(result), errored, ""

    def stop(self) -> None:
        self.responses.stop()
        for pool in self.pools.values():
            for worker in pool:
                worker.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def install(runtime: LocalRuntime) -> None:
    """Route every moto Lambda invocation through the local runtime."""
    from moto.awslambda.models import LambdaFunction

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        return runtime.invoke(self, event)

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
