"""The per-cluster agent Lambda (runs in the cluster's VPC): parse → clusterdrop.kube.agent → return."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from clusterdrop.cni.s3mirror import S3Mirror
from clusterdrop.kube import agent


@cache
def _context() -> agent.AgentContext:
    # Built once per container: environment read here, not in the library.
    import botocore.session

    bucket = os.environ["ARTIFACTS_BUCKET"]
    s3 = botocore.session.get_session().create_client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3"))
    return agent.AgentContext(kube_for=agent.kube_from_lambda_role, mirror=S3Mirror(s3, bucket))


def handler(event: dict[str, Any], _context_arg: Any) -> dict[str, Any]:
    return agent.run(event, _context())
