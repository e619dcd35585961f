"""The clusterdrop deployer: one stack of constructs named for what they are — storage, the
CloudFormation role of cluster stacks, notifications, the workflow, the intake.

Names line up end to end: the state "Take cluster lock" ↔ ${TakeClusterLockFunctionArn} ↔ the
construct TakeClusterLockFunction ↔ lambdas/take_cluster_lock.py ↔ clusterdrop.steps.take_cluster_lock.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from clusterdrop.render.common import ROLE_PATH
from clusterdrop.spec import references
from clusterdrop.spec.policy import Policy
from stacks.cfn_role import ClusterStacksRole
from stacks.functions import FunctionCode
from stacks.intake import Intake
from stacks.monitoring import Monitoring
from stacks.nag import ARN, AT, LAMBDA_LOGS_POLICY, STACK_PREFIX, acknowledge
from stacks.notifications import Notifications
from stacks.storage import Storage
from stacks.timing import ON_AWS, Timing
from stacks.workflow import ASL_FILES, STATE_MACHINES, Workflow, machine_name, step_functions

__all__ = ["ASL_FILES", "ClusterdropStack", "step_functions"]


class ClusterdropStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        notification_email: str | None = None,
        slack_webhook_secret_name: str | None = None,
        timing: Timing = ON_AWS,
        cluster_admins: tuple[str, ...] = (),
        policy: Policy | None = None,
        reference_parameter_paths: tuple[str, ...] = references.DEFAULT_PARAMETER_PATHS,
        reference_exports: tuple[str, ...] | None = None,
        quota_preflight: bool = True,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.timing = timing
        code = FunctionCode(self, "Code")
        storage = Storage(self, "Storage")
        notifications = Notifications(
            self, "Notifications", code=code, email=notification_email, slack_secret_name=slack_webhook_secret_name
        )
        self.cfn_role = ClusterStacksRole(self, "ClusterStacksRole").role
        workflow = Workflow(
            self,
            "Workflow",
            code=code,
            storage=storage,
            topic=notifications.topic,
            cfn_role=self.cfn_role,
            timing=timing,
            cluster_admins=cluster_admins,
            policy=policy or Policy(),
            reference_parameter_paths=reference_parameter_paths,
            reference_exports=reference_exports,
            quota_preflight=quota_preflight,
        )
        intake = Intake(self, "Intake", spec_bucket=storage.spec_bucket, workflow=workflow, code=code)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            machines={"Deploy": workflow.deploy, "Teardown": workflow.teardown},
            functions=[*workflow.functions.values(), intake.trigger, notifications.slack_formatter],
            intake_queue=intake.intake_queue,
            dead_letter_queue=intake.dead_letter_queue,
            topic=notifications.topic,
        )
        self.storage, self.notifications, self.workflow, self.intake = storage, notifications, workflow, intake
        self._acknowledge(storage, notifications, workflow, intake)
        CfnOutput(self, "SpecBucketName", value=storage.spec_bucket.bucket_name, description="Upload specs here")
        CfnOutput(
            self,
            "Guardrails",
            value=(policy or Policy()).model_dump_json(by_alias=True, exclude_defaults=True),
            description="What an upload may ask for (clusterdrop validate --policy)",
        )
        CfnOutput(self, "ArtifactsBucketName", value=storage.artifacts_bucket.bucket_name)
        CfnOutput(self, "DeployStateMachineArn", value=workflow.deploy.state_machine_arn)
        CfnOutput(self, "TeardownStateMachineArn", value=workflow.teardown.state_machine_arn)
        CfnOutput(self, "TopicArn", value=notifications.topic.topic_arn, description="Outcomes of every execution")
        CfnOutput(self, "ClustersTableName", value=storage.clusters.table_name)
        longest = max(self.timing.longest_execution_seconds(STATE_MACHINES / f) for f in ASL_FILES)
        CfnOutput(
            self,
            "LongestExecutionSeconds",
            value=str(longest),
            description="An upper bound on one execution's length: every wait and retry used up",
        )

    def _acknowledge(self, storage: Storage, notifications: Notifications, workflow: Workflow, intake: Intake) -> None:
        """What crosses the constructs: the role reads the agent's code, and the findings every
        function shares."""
        role = self.cfn_role
        handler = self.node.try_find_child("BucketNotificationsHandler050a0587b7544547bf325f094a3db834")
        if handler is not None:
            acknowledge(
                handler,
                "IAM4",
                "CDK's own custom resource that writes the bucket notification configuration; its role uses the "
                "standard logs policy.",
                evidence=[LAMBDA_LOGS_POLICY],
            )
        # The agent's code: CloudFormation (with its role) reads it to create each agent.
        workflow.agent_code.grant_read(role)
        storage.artifacts_bucket.grant_read(role)
        artifacts = self.resolve(self.get_logical_id(storage.artifacts_bucket.node.default_child))  # type: ignore[arg-type]
        specs = self.resolve(self.get_logical_id(storage.spec_bucket.node.default_child))  # type: ignore[arg-type]
        for publisher in ("Notify", "ExecutionEnded"):
            acknowledge(
                workflow.functions[publisher],
                "IAM5",
                "Publishing to the outcomes topic, encrypted with its own key: SNS asks that key for data keys "
                "(kms:GenerateDataKey*, the key's ARN as the resource).",
                evidence=["Action::kms:GenerateDataKey*"],
            )
        if workflow.reference_parameter_paths:
            acknowledge(
                workflow.functions["ValidateSpec"],
                "IAM5",
                "Spec references (fromSsm) read the parameters under the paths the CDK context allows "
                "(referenceParameterPaths); their names below those paths are the users'.",
                evidence=[
                    f"Resource::{ARN}:ssm:{AT}:parameter/{path.lstrip('/')}*"
                    for path in workflow.reference_parameter_paths
                ],
            )
        for fn in [*workflow.functions.values(), intake.trigger, notifications.slack_formatter]:
            acknowledge(
                fn, "L1", "Python 3.13, as the issue pins it: the layer's wheels are built for it (cp313, arm64)."
            )
            acknowledge(
                fn,
                "IAM4",
                "AWSLambdaBasicExecutionRole is the standard policy for a function's own logs.",
                evidence=[LAMBDA_LOGS_POLICY],
            )
            acknowledge(
                fn,
                "IAM5",
                "X-Ray's PutTraceSegments, CloudFormation's ListStacks and ListExports, EC2's "
                "DescribeVpcs/DescribeSubnets, EKS's DescribeAddonVersions, EC2's DescribeKeyPairs and IAM's "
                "SimulateCustomPolicy accept no resource scoping.",
                evidence=["Resource::*"],
            )
            acknowledge(
                fn,
                "IAM5",
                "A cluster's stacks, EKS add-ons and node groups and shared subnets are named at run time; the "
                "wildcards are bounded by the clusterdrop- stack prefix, the account and the region. The KMS keys "
                "a spec names (read at Plan) are the users', of the region, in any account; so are the managed "
                "policies a pod identity's role gets (AWS's or the account's), and Plan reads whether a role name "
                "the spec gives is taken in the account (role names are unique whatever the path).",
                evidence=[
                    f"Resource::{ARN}:kms:<AWS::Region>:*:key/*",
                    f"Resource::{ARN}:iam::*:policy/*",
                    f"Resource::{ARN}:iam::<AWS::AccountId>:role/*",
                    f"Resource::{ARN}:cloudformation:{AT}:stack/{STACK_PREFIX}*/*",
                    f"Resource::{ARN}:eks:{AT}:cluster/*",
                    f"Resource::{ARN}:eks:{AT}:addon/*",
                    f"Resource::{ARN}:eks:{AT}:nodegroup/*",
                    f"Resource::{ARN}:ec2:{AT}:subnet/*",
                ],
            )
            acknowledge(
                fn,
                "IAM5",
                "Objects of clusterdrop's own buckets (specs are read by version, artifacts are keyed by digest, "
                "status pages by cluster) and the executions of its own state machines.",
                evidence=[
                    f"Resource::<{artifacts}.Arn>/*",
                    f"Resource::<{artifacts}.Arn>/specs/*",
                    f"Resource::<{artifacts}.Arn>/status/*",
                    f"Resource::<{specs}.Arn>/*",
                    *[
                        f"Resource::{ARN}:states:{AT}:execution:{machine_name(self, m)}:*"
                        for m in ("Deploy", "Teardown")
                    ],
                ],
            )
        acknowledge(
            role,
            "IAM5",
            "EC2 create and describe actions support no resource-level scoping before the resource exists; IAM, "
            "Lambda and Logs actions are scoped to the clusterdrop- prefix every cluster's roles, agents and logs "
            "carry (the Pod Identity roles a spec names, to the /clusterdrop/ path), and to the control-plane log "
            "group of a cluster (/aws/eks/<cluster>/cluster, EKS's name); "
            "EKS actions to the account's clusters in the region (clusters bear their users' names); "
            "the agent's code is read from the CDK assets bucket and the artifacts bucket; a cluster's secrets key "
            "is the spec's (any key of the account in the region); a Pod Identity role is the spec's (any role of "
            "the account, passed to pods.eks.amazonaws.com only); EKS Auto Mode names the instance profile it "
            "makes for the node role.",
            evidence=[
                "Resource::*",
                f"Resource::{ARN}:kms:{AT}:key/*",
                f"Resource::{ARN}:eks:{AT}:cluster/*",
                f"Resource::{ARN}:eks:{AT}:nodegroup/*",
                f"Resource::{ARN}:eks:{AT}:access-entry/*",
                f"Resource::{ARN}:eks:{AT}:podidentityassociation/*",
                f"Resource::{ARN}:eks:{AT}:identityproviderconfig/*",
                f"Resource::{ARN}:iam::<AWS::AccountId>:role/*",
                f"Resource::{ARN}:iam::<AWS::AccountId>:role/{STACK_PREFIX}*",
                f"Resource::{ARN}:iam::<AWS::AccountId>:role{ROLE_PATH}*",
                f"Resource::{ARN}:iam::<AWS::AccountId>:role/aws-service-role/*",
                f"Resource::{ARN}:iam::<AWS::AccountId>:instance-profile/*",
                f"Resource::{ARN}:lambda:{AT}:function:{STACK_PREFIX}*-agent",
                f"Resource::{ARN}:logs:{AT}:log-group:/aws/lambda/{STACK_PREFIX}*",
                f"Resource::{ARN}:logs:{AT}:log-group:/aws/eks/*/cluster",
                f"Resource::{ARN}:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
                f"Resource::<{artifacts}.Arn>/*",
                "Action::s3:GetObject*",
                "Action::s3:GetBucket*",
                "Action::s3:List*",
            ],
        )
        acknowledge(
            role,
            "IAM5",
            "EKS launches a node group's instances from its launch template with the stack role's rights: the "
            "instances, their interfaces, volumes and the template are made at run time (EKS picks the image).",
            evidence=[
                *(
                    f"Resource::{ARN}:ec2:{AT}:{kind}/*"
                    for kind in (
                        "launch-template", "instance", "network-interface", "security-group", "subnet", "volume",
                        "key-pair",
                    )
                ),
                f"Resource::{ARN}:ec2:<AWS::Region>::image/*",
            ],
        )  # fmt: skip
