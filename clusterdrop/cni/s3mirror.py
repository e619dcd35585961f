"""The artifacts bucket as a CNI mirror: objects keyed by digest (`cni/sha256/<digest>`).

The staging step (outside the VPC) puts verified files here; the agent (inside the VPC, through
the S3 gateway endpoint) reads them. botocore only: the agent ships no boto3.
"""

from __future__ import annotations

from typing import Any

from clusterdrop.cni.catalog import Artifact, CniRelease
from clusterdrop.errors import ArtifactUnavailable

PREFIX = "cni/sha256/"


class S3Mirror:
    def __init__(self, s3: Any, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def key(self, artifact: Artifact) -> str:
        return f"{PREFIX}{artifact.sha256}"

    def describe(self) -> str:
        return f"artifacts bucket s3://{self.bucket}/{PREFIX}"

    def seed_command(self, release: CniRelease) -> str:
        return f"clusterdrop cni mirror {release.name} --version {release.version} --bucket {self.bucket}"

    def find(self, artifact: Artifact) -> tuple[bytes, str] | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=self.key(artifact))
        except self.s3.exceptions.NoSuchKey:
            return None
        except self.s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("AccessDenied", "403"):
                raise
            # S3 answers a missing key with 403 to a caller without s3:ListBucket on the bucket.
            raise ArtifactUnavailable(
                f"{artifact.name}: reading s3://{self.bucket}/{self.key(artifact)} was refused (AccessDenied): "
                "the reader needs s3:GetObject on the key and s3:ListBucket on the bucket"
            ) from None
        data: bytes = response["Body"].read()
        return data, f"s3://{self.bucket}/{self.key(artifact)}"

    def put(self, artifact: Artifact, data: bytes) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self.key(artifact),
            Body=data,
            ContentType="application/yaml",
            Metadata={"artifact": artifact.name, "source": artifact.url},
        )
