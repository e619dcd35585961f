"""Where clusterdrop keeps things: the spec bucket (versioned: every upload kept), the artifacts
bucket, their access logs, the cluster registry and the per-cluster lock."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import acknowledge


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,  # log delivery writes with ACLs
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(self.access_logs, "S1", "This is the access-log bucket itself; logging it to itself would loop.")
        common = {
            "encryption": s3.BucketEncryption.S3_MANAGED,
            "enforce_ssl": True,
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "versioned": True,
            "server_access_logs_bucket": self.access_logs,
            "removal_policy": RemovalPolicy.RETAIN,
        }
        # Specs are versioned: every upload is kept, and the workflow reads the exact version
        # it was started for. Old versions expire after 180 days.
        self.spec_bucket = s3.Bucket(
            self,
            "SpecBucket",
            server_access_logs_prefix="spec-bucket/",
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(180))],
            **common,  # type: ignore[arg-type]
        )
        # Artifacts: the CNI mirror (cni/sha256/…), rendered templates, normalized specs.
        self.artifacts_bucket = s3.Bucket(
            self,
            "ArtifactsBucket",
            server_access_logs_prefix="artifacts-bucket/",
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30))],
            **common,  # type: ignore[arg-type]
        )

        common = {
            "partition_key": dynamodb.Attribute(name="cluster", type=dynamodb.AttributeType.STRING),
            "billing_mode": dynamodb.BillingMode.PAY_PER_REQUEST,
            "encryption": dynamodb.TableEncryption.AWS_MANAGED,
            "point_in_time_recovery_specification": dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
        }
        self.clusters = dynamodb.Table(self, "ClustersTable", removal_policy=RemovalPolicy.RETAIN, **common)  # type: ignore[arg-type]
        self.locks = dynamodb.Table(
            self,
            "LocksTable",
            time_to_live_attribute="expiresAt",
            removal_policy=RemovalPolicy.DESTROY,
            **common,  # type: ignore[arg-type]
        )
