"""Rendering a CNI's official Helm chart (Cilium's) into the manifest the catalog pins.

The engine is Helm's own (v4, through helm-python-sdk), loaded only here and only where a person
runs clusterdrop: its native library is ~80 MB (installed three times over by a wheel), too big
for a Lambda. The workflow's functions find rendered manifests in the CNI mirror by digest; a
person's machine renders them into it (`clusterdrop cni mirror`, `cni apply`, `local up`).

The output is reproducible: the templates are rendered offline (no cluster is asked anything),
with the catalog's fixed values, and joined in template order — the same chart, engine and values
give the same bytes, which the catalog pins.
"""

from __future__ import annotations

import json
from typing import Any

from clusterdrop.errors import ArtifactUnavailable

ENGINE = "helm-python-sdk"


def available() -> bool:
    """Whether this machine can render charts: not a Lambda (whose bundles never carry the engine:
    the embedded runtime's functions see the person's packages, so it is said here), and the
    `charts` extra installed."""
    import importlib.util
    import os

    return not os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and importlib.util.find_spec("helm_python") is not None


def render_chart(chart: bytes, values: dict[str, Any], *, release: str, namespace: str) -> bytes:
    """The chart's templates rendered with `values`, as one multi-document YAML file."""
    if not available():
        raise ArtifactUnavailable(
            f"rendering a Helm chart needs {ENGINE} (pip install 'clusterdrop[charts]'; Linux x86_64 or "
            "aarch64): render on such a machine into the CNI mirror (clusterdrop cni mirror)"
        )
    from helm_python import Chart

    with Chart.load_archive(chart) as loaded:
        rendered: dict[str, str] = loaded.render(
            json.loads(json.dumps(values)), name=release, namespace=namespace, is_install=True
        )
    parts = []
    for path in sorted(rendered):
        text = rendered[path].strip()
        if not text or path.endswith("NOTES.txt"):
            continue
        parts.append(f"---\n# Source: {path}\n{text}\n")
    return "".join(parts).encode()
