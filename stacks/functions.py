"""The code every clusterdrop Lambda runs: one bundle of handlers and one layer of pinned
dependencies (`make build`), and how a function is made from them."""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks import bundle

REPO = Path(__file__).resolve().parents[1]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class FunctionCode(Construct):
    """The handlers' bundle and the dependencies' layer, shared by every function."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        for path in (bundle.LAYER, bundle.FUNCTIONS, bundle.AGENT):
            if not path.is_dir():
                raise SystemExit(f"{path.relative_to(REPO)} is missing: run `make build` first")
        self.layer = lambda_.LayerVersion(
            self,
            "DependenciesLayer",
            code=lambda_.Code.from_asset(str(bundle.LAYER)),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_13],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="clusterdrop: pinned dependencies of the workflow Lambdas (no Kubernetes client)",
        )
        self.code = lambda_.Code.from_asset(str(bundle.FUNCTIONS))

    def function(
        self, scope: Construct, name: str, env: dict[str, str], *, memory: int, timeout: int
    ) -> lambda_.Function:
        """`<name>Function` running `lambdas/<snake name>.py`, with its own log group."""
        log_group = logs.LogGroup(scope, f"{name}FunctionLogs", retention=logs.RetentionDays.ONE_MONTH)
        return lambda_.Function(
            scope,
            f"{name}Function",
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            handler=f"lambdas.{snake(name)}.handler",
            code=self.code,
            layers=[self.layer],
            environment=env,
            memory_size=memory,
            timeout=Duration.seconds(timeout),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
        )
