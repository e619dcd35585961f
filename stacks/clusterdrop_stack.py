"""The clusterdrop deployer: intake, workflow and notifications in one stack.

Names line up end to end: the state "Validate spec" ↔ lambdas/validate_spec.py ↔ the construct
ValidateSpecFunction ↔ the substitution ${ValidateSpecFunctionArn}.
"""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import (
    Acknowledgment,
    Aws,
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as assets
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct, IConstruct

from clusterdrop.render.common import NAME_PREFIX
from stacks import bundle
from stacks.timing import ON_AWS, Timing

REPO = Path(__file__).resolve().parents[1]
STATE_MACHINES = REPO / "statemachine"
ASL_FILES = ("deploy.asl.json", "teardown.asl.json")


def step_functions() -> list[str]:
    """The Lambda-backed steps of both state machines, from their `${<Name>FunctionArn}`
    substitutions, in order of first use."""
    names: dict[str, None] = {}
    for file in ASL_FILES:
        for name in re.findall(r"\$\{([A-Za-z0-9]+)FunctionArn\}", (STATE_MACHINES / file).read_text()):
            names.setdefault(name)
    return list(names)


STACK_PREFIX = NAME_PREFIX  # every cluster's stacks, roles and agents start with it


def acknowledge(construct: IConstruct, rule: str, reason: str, *, evidence: list[str] | None = None) -> None:
    """A cdk-nag finding accepted on purpose, with its reason, in code. IAM findings name their
    evidence (the resource or action pattern), and each pattern is acknowledged by name."""
    ids = (
        [f"AwsSolutions::AwsSolutions-{rule}[{e}]" for e in evidence]
        if evidence
        else [f"AwsSolutions::AwsSolutions-{rule}"]
    )
    for finding in ids:
        Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))


_ARN = "arn:<AWS::Partition>"
_AT = "<AWS::Region>:<AWS::AccountId>"
LAMBDA_LOGS_POLICY = f"Policy::{_ARN}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


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
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.timing = timing
        self.cluster_admins = cluster_admins
        self._buckets()
        self._tables()
        self._notifications(notification_email, slack_webhook_secret_name)
        self._cloudformation_role()
        self._functions()
        self._state_machines()
        self._intake()
        self._permissions()
        CfnOutput(self, "SpecBucketName", value=self.spec_bucket.bucket_name, description="Upload specs here")
        CfnOutput(self, "ArtifactsBucketName", value=self.artifacts_bucket.bucket_name)
        CfnOutput(self, "DeployStateMachineArn", value=self.deploy.state_machine_arn)
        CfnOutput(self, "TeardownStateMachineArn", value=self.teardown.state_machine_arn)
        CfnOutput(self, "TopicArn", value=self.topic.topic_arn, description="Outcomes of every execution")
        CfnOutput(self, "ClustersTableName", value=self.clusters.table_name)
        longest = max(self.timing.longest_execution_seconds(STATE_MACHINES / f) for f in ASL_FILES)
        CfnOutput(
            self,
            "LongestExecutionSeconds",
            value=str(longest),
            description="An upper bound on one execution's length: every wait and retry used up",
        )

    # --- storage ---------------------------------------------------------------------------

    def _buckets(self) -> None:
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

    def _tables(self) -> None:
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

    # --- notifications ----------------------------------------------------------------------

    def _notifications(self, email: str | None, slack_secret_name: str | None) -> None:
        self.topic = sns.Topic(
            self,
            "OutcomesTopic",
            display_name="clusterdrop",
            enforce_ssl=True,
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
        )
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        if slack_secret_name:
            self.slack_secret: secretsmanager.ISecret = secretsmanager.Secret.from_secret_name_v2(
                self, "SlackWebhookSecret", slack_secret_name
            )
        else:
            secret = secretsmanager.Secret(
                self,
                "SlackWebhookSecret",
                description="clusterdrop: the Slack incoming-webhook URL (set it; 'unset' posts nothing)",
                secret_string_value=None,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template='{"url": "unset"}',  # noqa: S106 - a placeholder, not a secret
                    generate_string_key="unused",
                ),
            )
            acknowledge(secret, "SMG4", "A webhook URL is issued by Slack; it cannot be rotated by a Lambda.")
            self.slack_secret = secret

    # --- the CloudFormation service role ------------------------------------------------------

    def _cloudformation_role(self) -> None:
        """The role CloudFormation uses for every cluster's stacks: the workflow's Lambdas only
        pass it, they never hold EC2, EKS or IAM creation rights themselves.

        What it grants is what the resource providers' handlers call (their schemas list it per
        handler; tests/infra/test_cfn_role.py checks every rendered template against this policy,
        and the embedded CloudFormation enforces it). Actions that IAM authorizes only on `*`
        (the Service Authorization Reference lists no resource type for them) are granted on `*`;
        the rest on the `clusterdrop-` names every cluster's resources carry."""
        role = iam.Role(
            self,
            "ClusterStacksRole",
            assumed_by=iam.ServicePrincipal("cloudformation.amazonaws.com"),
            description="clusterdrop: creates and deletes the stacks of clusters",
        )
        prefix = STACK_PREFIX
        account, region, partition = Aws.ACCOUNT_ID, Aws.REGION, Aws.PARTITION
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Networking",
                actions=[
                    "ec2:CreateVpc", "ec2:DeleteVpc", "ec2:ModifyVpcAttribute", "ec2:DescribeVpcs",
                    "ec2:DescribeVpcAttribute", "ec2:DescribeVpcEncryptionControls", "ec2:DescribeNetworkAcls",
                    "ec2:CreateSubnet", "ec2:DeleteSubnet", "ec2:ModifySubnetAttribute", "ec2:DescribeSubnets",
                    "ec2:CreateInternetGateway", "ec2:DeleteInternetGateway", "ec2:AttachInternetGateway",
                    "ec2:DetachInternetGateway", "ec2:DescribeInternetGateways",
                    "ec2:AllocateAddress", "ec2:ReleaseAddress", "ec2:DescribeAddresses",
                    "ec2:AssociateAddress", "ec2:DisassociateAddress",
                    "ec2:CreateNatGateway", "ec2:DeleteNatGateway", "ec2:DescribeNatGateways",
                    "ec2:CreateRouteTable", "ec2:DeleteRouteTable", "ec2:CreateRoute", "ec2:DeleteRoute",
                    "ec2:ReplaceRoute", "ec2:AssociateRouteTable", "ec2:DisassociateRouteTable",
                    "ec2:ReplaceRouteTableAssociation", "ec2:DescribeRouteTables",
                    "ec2:CreateVpcEndpoint", "ec2:DeleteVpcEndpoints", "ec2:ModifyVpcEndpoint",
                    "ec2:DescribeVpcEndpoints",
                    "ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup", "ec2:DescribeSecurityGroups",
                    "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
                    "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupEgress",
                    "ec2:UpdateSecurityGroupRuleDescriptionsIngress", "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
                    "ec2:DescribeSecurityGroupRules", "ec2:CreateTags", "ec2:DeleteTags",
                    "ec2:DescribeAvailabilityZones", "ec2:DescribeNetworkInterfaces", "ec2:DescribeAccountAttributes",
                    # Deleting a security group looks for instances still using it; a node group
                    # with an SSH key checks the key pair.
                    "ec2:DescribeInstances", "ec2:DescribeKeyPairs",
                ],
                resources=["*"],
            )
        )  # fmt: skip
        # Node groups under an overlay CNI carry a launch template (the kubelet's maxPods): the
        # stack makes it, and EKS launches the nodes from it with the caller's rights, so the
        # role may run instances (only EKS does, through the node group's CreateNodegroup).
        ec2 = f"arn:{partition}:ec2:{region}:{account}"
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LaunchTemplates",
                actions=["ec2:CreateLaunchTemplate", "ec2:DeleteLaunchTemplate", "ec2:CreateLaunchTemplateVersion"],
                resources=[f"{ec2}:launch-template/*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LaunchTemplateReads",
                actions=["ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"],
                resources=["*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="NodesFromLaunchTemplates",
                actions=["ec2:RunInstances"],
                resources=[
                    *(f"{ec2}:{kind}/*" for kind in (
                        "instance", "network-interface", "security-group", "subnet", "volume", "launch-template",
                        "key-pair",
                    )),
                    f"arn:{partition}:ec2:{region}::image/*",
                ],
            )
        )  # fmt: skip
        # eks:CreateCluster has no resource-level permissions: IAM authorizes it on `*` only.
        role.add_to_policy(iam.PolicyStatement(sid="EksCreateCluster", actions=["eks:CreateCluster"], resources=["*"]))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Eks",
                actions=[
                    "eks:DeleteCluster", "eks:DescribeCluster", "eks:UpdateClusterConfig",
                    "eks:UpdateClusterVersion", "eks:ActivateCertificateAuthority", "eks:DescribeUpdate",
                    "eks:ListUpdates", "eks:TagResource", "eks:UntagResource",
                    "eks:CreateNodegroup", "eks:DeleteNodegroup", "eks:DescribeNodegroup", "eks:UpdateNodegroupConfig",
                    "eks:UpdateNodegroupVersion", "eks:CreateAccessEntry", "eks:DeleteAccessEntry",
                    "eks:DescribeAccessEntry", "eks:UpdateAccessEntry", "eks:AssociateAccessPolicy",
                    "eks:DisassociateAccessPolicy", "eks:ListAssociatedAccessPolicies",
                ],
                resources=[
                    f"arn:{partition}:eks:{region}:{account}:cluster/*",
                    f"arn:{partition}:eks:{region}:{account}:nodegroup/*",
                    f"arn:{partition}:eks:{region}:{account}:access-entry/*",
                ],
            )
        )  # fmt: skip
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ClusterRoles",
                actions=[
                    "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:TagRole", "iam:UntagRole",
                    "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy",
                    "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
                    "iam:GetRolePolicy", "iam:PassRole",
                    # EKS checks the cluster and node roles' policies; deleting a role lists its
                    # policies to detach them first.
                    "iam:ListAttachedRolePolicies", "iam:ListRolePolicies",
                ],
                resources=[f"arn:{partition}:iam::{account}:role/{prefix}*"],
            )
        )  # fmt: skip
        linked = [
            f"arn:{partition}:iam::{account}:role/aws-service-role/{service}/{name}"
            for service, name in (
                ("eks.amazonaws.com", "AWSServiceRoleForAmazonEKS"),
                ("eks-nodegroup.amazonaws.com", "AWSServiceRoleForAmazonEKSNodegroup"),
            )
        ]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ServiceLinkedRoles",
                actions=["iam:CreateServiceLinkedRole"],
                resources=[f"arn:{partition}:iam::{account}:role/aws-service-role/*"],
                conditions={
                    "StringEquals": {
                        "iam:AWSServiceName": [
                            "eks.amazonaws.com",
                            "eks-nodegroup.amazonaws.com",
                            "autoscaling.amazonaws.com",
                        ]
                    }
                },
            )
        )
        # EKS's CreateCluster and CreateNodegroup look their service-linked role up first.
        role.add_to_policy(iam.PolicyStatement(sid="ReadServiceLinkedRoles", actions=["iam:GetRole"], resources=linked))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Agent",
                actions=[
                    "lambda:CreateFunction", "lambda:DeleteFunction", "lambda:GetFunction", "lambda:UpdateFunctionCode",
                    "lambda:UpdateFunctionConfiguration", "lambda:TagResource", "lambda:UntagResource",
                    "lambda:ListTags", "lambda:GetFunctionConfiguration",
                    "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency",
                    "lambda:GetRuntimeManagementConfig", "lambda:PutRuntimeManagementConfig",
                    "lambda:GetFunctionCodeSigningConfig", "lambda:GetFunctionRecursionConfig",
                    "lambda:PutFunctionRecursionConfig", "lambda:GetFunctionScalingConfig",
                ],
                resources=[f"arn:{partition}:lambda:{region}:{account}:function:{prefix}*-agent"],
            )
        )  # fmt: skip
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AgentLogs",
                actions=[
                    "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
                    "logs:DeleteRetentionPolicy", "logs:TagResource", "logs:UntagResource",
                    "logs:ListTagsForResource", "logs:GetDataProtectionPolicy",
                ],
                resources=[f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{prefix}*"],
            )
        )  # fmt: skip
        # The log-group handlers describe log groups and their account-wide policies, which IAM
        # authorizes only on `*`.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DescribeLogs",
                actions=["logs:DescribeLogGroups", "logs:DescribeIndexPolicies", "logs:DescribeResourcePolicies"],
                resources=["*"],
            )
        )
        self.cfn_role = role

    # --- functions -------------------------------------------------------------------------

    def _functions(self) -> None:
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
        self.agent_code = assets.Asset(self, "AgentCode", path=str(bundle.AGENT))
        self.code = lambda_.Code.from_asset(str(bundle.FUNCTIONS))
        env = {
            "SPEC_BUCKET": self.spec_bucket.bucket_name,
            "ARTIFACTS_BUCKET": self.artifacts_bucket.bucket_name,
            "CLUSTERS_TABLE": self.clusters.table_name,
            "LOCKS_TABLE": self.locks.table_name,
            "TOPIC_ARN": self.topic.topic_arn,
            "CFN_ROLE_ARN": self.cfn_role.role_arn,
            "AGENT_CODE_BUCKET": self.agent_code.s3_bucket_name,
            "AGENT_CODE_KEY": self.agent_code.s3_object_key,
            # Built from the fixed names, not referenced: the machines depend on the functions.
            "STATE_MACHINE_ARNS": ",".join(self.machine_arn(m) for m in ("Deploy", "Teardown")),
            # Admitted to every cluster as cluster admins (EKS access entries), beside the spec's.
            "CLUSTER_ADMINS": ",".join(self.cluster_admins),
            "TIME_SCALE": str(self.timing.time_scale),
            "POWERTOOLS_SERVICE_NAME": "clusterdrop",
            "POWERTOOLS_METRICS_NAMESPACE": "clusterdrop",
        }
        self.functions: dict[str, lambda_.Function] = {}
        # One function per `${XFunctionArn}` the state machines name: the ASL is the list.
        steps = step_functions()
        for name in steps:
            # Connect downloads CNI manifests (3 MB of CRDs): more time and memory than the rest.
            big = name in ("Connect", "Plan", "ApplyNodeGroupStacks")
            self.functions[name] = self._function(name, env, memory=1024 if big else 256, timeout=120 if big else 30)

    def _function(self, name: str, env: dict[str, str], *, memory: int, timeout: int) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"{name}FunctionLogs", retention=logs.RetentionDays.ONE_MONTH)
        return lambda_.Function(
            self,
            f"{name}Function",
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            handler=f"lambdas.{_snake(name)}.handler",
            code=self.code,
            layers=[self.layer],
            environment=env,
            memory_size=memory,
            timeout=Duration.seconds(timeout),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
        )

    # --- state machines --------------------------------------------------------------------

    def _state_machines(self) -> None:
        substitutions = {f"{name}FunctionArn": fn.function_arn for name, fn in self.functions.items()}
        substitutions.update(self.timing.substitutions())
        self.definition_substitutions = substitutions
        self.deploy = self._state_machine("Deploy", ASL_FILES[0], substitutions)
        self.teardown = self._state_machine("Teardown", ASL_FILES[1], substitutions)

    def machine_name(self, name: str) -> str:
        return f"{self.stack_name}-{name.lower()}"

    def machine_arn(self, name: str) -> str:
        return f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:stateMachine:{self.machine_name(name)}"

    def _state_machine(self, name: str, file: str, substitutions: dict[str, str]) -> sfn.StateMachine:
        used = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", (STATE_MACHINES / file).read_text()))
        # Under /aws/vendedlogs/: Step Functions delivers logs through CloudWatch Logs' vended
        # logs, whose resource policy (5,120 characters per region) it extends for any other
        # name — in an account with many log groups CreateStateMachine then fails.
        log_group = logs.LogGroup(
            self,
            f"{name}StateMachineLogs",
            log_group_name=f"/aws/vendedlogs/states/{self.machine_name(name)}",
            retention=logs.RetentionDays.THREE_MONTHS,
        )
        machine = sfn.StateMachine(
            self,
            f"{name}StateMachine",
            # A fixed name: the steps' policies name its executions without a reference that
            # would make the state machine and its functions depend on each other.
            state_machine_name=self.machine_name(name),
            definition_body=sfn.DefinitionBody.from_file(str(STATE_MACHINES / file)),
            definition_substitutions={k: v for k, v in substitutions.items() if k in used},
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        for key, fn in self.functions.items():
            if f"{key}FunctionArn" in used:
                fn.grant_invoke(machine)
        partition, region, account = Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeClusterAgents",
                actions=["lambda:InvokeFunction"],
                resources=[f"arn:{partition}:lambda:{region}:{account}:function:{STACK_PREFIX}*-agent"],
            )
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="PollClusterStacks",
                actions=["cloudformation:DescribeStacks"],
                resources=[f"arn:{partition}:cloudformation:{region}:{account}:stack/{STACK_PREFIX}*/*"],
            )
        )
        invoked = [
            f"Resource::<{self.resolve(self.get_logical_id(fn.node.default_child))}.Arn>:*"  # type: ignore[arg-type]
            for key, fn in self.functions.items()
            if f"{key}FunctionArn" in used
        ]
        acknowledge(
            machine,
            "IAM5",
            "Each cluster has its own agent function and stacks, created at run time; the wildcards are bounded by "
            "the clusterdrop- prefix. Invoke grants on the step functions include their versions (:*). X-Ray and "
            "log delivery accept no resource scoping.",
            evidence=[
                "Resource::*",
                f"Resource::{_ARN}:lambda:{_AT}:function:{STACK_PREFIX}*-agent",
                f"Resource::{_ARN}:cloudformation:{_AT}:stack/{STACK_PREFIX}*/*",
                *invoked,
            ],
        )
        return machine

    # --- intake ------------------------------------------------------------------------------

    def _intake(self) -> None:
        """S3 → SQS (with a dead-letter queue) → the trigger. SQS because S3's asynchronous invoke
        drops an event after two failed retries; a queue keeps it, shows a backlog, and parks
        what keeps failing in the DLQ for inspection and replay."""
        dlq = sqs.Queue(
            self,
            "IntakeDeadLetterQueue",
            retention_period=Duration.days(14),
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
        )
        acknowledge(dlq, "SQS3", "This is the dead-letter queue.")
        self.intake_queue = sqs.Queue(
            self,
            "IntakeQueue",
            visibility_timeout=Duration.seconds(180),
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=5),
        )
        destination = s3n.SqsDestination(self.intake_queue)
        for prefix in ("clusters/", "plans/"):
            key_filter = s3.NotificationKeyFilter(prefix=prefix)
            self.spec_bucket.add_event_notification(s3.EventType.OBJECT_CREATED, destination, key_filter)
        self.spec_bucket.add_event_notification(
            s3.EventType.OBJECT_REMOVED_DELETE_MARKER_CREATED, destination, s3.NotificationKeyFilter(prefix="clusters/")
        )
        self.trigger = self._function(
            "Trigger",
            {
                "DEPLOY_STATE_MACHINE_ARN": self.deploy.state_machine_arn,
                "TEARDOWN_STATE_MACHINE_ARN": self.teardown.state_machine_arn,
                # Built from the fixed names, not referenced: the machines depend on the functions.
                "STATE_MACHINE_ARNS": ",".join(self.machine_arn(m) for m in ("Deploy", "Teardown")),
                "POWERTOOLS_SERVICE_NAME": "clusterdrop",
            },
            memory=256,
            timeout=30,
        )
        handler = self.node.try_find_child("BucketNotificationsHandler050a0587b7544547bf325f094a3db834")
        if handler is not None:
            acknowledge(
                handler,
                "IAM4",
                "CDK's own custom resource that writes the bucket notification configuration; its role uses the "
                "standard logs policy.",
                evidence=[LAMBDA_LOGS_POLICY],
            )
        self.trigger.add_event_source(
            sources.SqsEventSource(self.intake_queue, batch_size=10, report_batch_item_failures=True)
        )
        self.deploy.grant_start_execution(self.trigger)
        self.teardown.grant_start_execution(self.trigger)
        self.slack_formatter = self._function(
            "SlackFormatter",
            {"SLACK_WEBHOOK_SECRET_ARN": self.slack_secret.secret_arn, "POWERTOOLS_SERVICE_NAME": "clusterdrop"},
            memory=256,
            timeout=30,
        )
        self.slack_secret.grant_read(self.slack_formatter)
        self.topic.add_subscription(subscriptions.LambdaSubscription(self.slack_formatter))

    # --- permissions of the steps --------------------------------------------------------------

    def _permissions(self) -> None:
        f = self.functions
        partition, region, account = Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID
        stacks_arn = f"arn:{partition}:cloudformation:{region}:{account}:stack/{STACK_PREFIX}*/*"

        def allow(names: list[str], actions: list[str], resources: list[str], sid: str) -> None:
            for name in names:
                f[name].add_to_role_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))

        allow(
            ["ValidateSpec"],
            ["s3:GetObject", "s3:GetObjectVersion"],
            [self.spec_bucket.arn_for_objects("*")],
            "ReadSpecVersions",
        )
        allow(
            ["ValidateSpec", "Plan", "Connect"],
            ["s3:GetObject", "s3:PutObject"],
            [self.artifacts_bucket.arn_for_objects("*")],
            "Artifacts",
        )
        # The CNI staging looks files up in the mirror: without s3:ListBucket, S3 answers a
        # missing key with 403 AccessDenied instead of 404 NoSuchKey, and "not mirrored yet"
        # cannot be told from "refused".
        allow(["Connect"], ["s3:ListBucket"], [self.artifacts_bucket.bucket_arn], "ListArtifacts")
        # A teardown reads the last applied spec: its key in the registry, the spec beside the artifacts.
        allow(["ReadLastAppliedSpec"], ["dynamodb:GetItem"], [self.clusters.table_arn], "ReadRegistry")
        allow(
            ["ReadLastAppliedSpec"], ["s3:GetObject"], [self.artifacts_bucket.arn_for_objects("specs/*")], "ReadSpecs"
        )
        # Clean-up and teardown record what they could not delete.
        registry_users = [
            "Plan",
            "RecordState",
            "CleanUp",
            "DeleteStacks",
            "RemoveSubnetTags",
            "Notify",
        ]
        allow(registry_users, ["dynamodb:GetItem", "dynamodb:UpdateItem"], [self.clusters.table_arn], "Registry")
        allow(
            ["TakeClusterLock", "ReleaseClusterLock"],
            ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"],
            [self.locks.table_arn],
            "Locks",
        )
        readers = ["Plan", "DescribePlan", "DiscardPlan", "ApplyClusterStack", "Connect", "ApplyNodeGroupStacks",
                   "CheckNodeGroupStacks", "Diagnose", "CleanUp", "DescribeCluster", "DeleteStacks"]  # fmt: skip
        allow(
            readers,
            ["cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents", "cloudformation:DescribeChangeSet"],
            [stacks_arn],
            "ReadClusterStacks",
        )
        allow(["Plan", "DeleteStacks"], ["cloudformation:ListStacks"], ["*"], "ListStacks")
        # An existing VPC is checked before the plan (its subnets, DNS, a way to S3), and the
        # account's zone IDs settle the zones (EKS refuses some); Describe* takes no scoping.
        allow(
            ["Plan"],
            [
                "ec2:DescribeVpcs",
                "ec2:DescribeSubnets",
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeVpcAttribute",
                "ec2:DescribeRouteTables",
                "ec2:DescribeVpcEndpoints",
            ],
            ["*"],
            "DescribeNetwork",
        )
        writers = ["Plan", "DiscardPlan", "ApplyClusterStack", "ApplyNodeGroupStacks", "CleanUp", "DeleteStacks"]
        allow(
            writers,
            ["cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet", "cloudformation:DeleteChangeSet",
             "cloudformation:CreateStack", "cloudformation:DeleteStack", "cloudformation:TagResource"],
            [stacks_arn],
            "WriteClusterStacks",
        )  # fmt: skip
        allow(writers, ["iam:PassRole"], [self.cfn_role.role_arn], "PassStacksRole")
        allow(
            ["Connect", "ApplyAddons", "DescribeCluster"],
            ["eks:DescribeCluster", "eks:ListAddons", "eks:CreateAddon", "eks:DescribeAddon", "eks:TagResource"],
            [f"arn:{partition}:eks:{region}:{account}:cluster/*", f"arn:{partition}:eks:{region}:{account}:addon/*"],
            "ClusterAddons",
        )
        allow(
            ["ApplyClusterStack", "RemoveSubnetTags"],
            ["ec2:CreateTags", "ec2:DeleteTags"],
            [f"arn:{partition}:ec2:{region}:{account}:subnet/*"],
            "SharedSubnetTags",
        )
        executions = [
            f"arn:{partition}:states:{region}:{account}:execution:{self.machine_name(m)}:*"
            for m in ("Deploy", "Teardown")
        ]
        allow(["Diagnose", "Notify"], ["states:GetExecutionHistory"], executions, "ExecutionHistory")
        # The lock step lets an earlier upload of the same spec go first.
        machines = [self.machine_arn(m) for m in ("Deploy", "Teardown")]
        allow(["TakeClusterLock"], ["states:ListExecutions"], machines, "ListExecutions")
        allow(["TakeClusterLock"], ["states:DescribeExecution"], executions, "DescribeExecutions")
        self.topic.grant_publish(f["Notify"])
        # A success notification names the add-on versions EKS installed.
        allow(
            ["Notify"],
            ["eks:ListAddons", "eks:DescribeAddon"],
            [f"arn:{partition}:eks:{region}:{account}:cluster/*", f"arn:{partition}:eks:{region}:{account}:addon/*"],
            "ReadAddons",
        )
        # The agent's code: CloudFormation (with its role) reads it to create each agent.
        self.agent_code.grant_read(self.cfn_role)
        self.artifacts_bucket.grant_read(self.cfn_role)
        artifacts = self.resolve(self.get_logical_id(self.artifacts_bucket.node.default_child))  # type: ignore[arg-type]
        specs = self.resolve(self.get_logical_id(self.spec_bucket.node.default_child))  # type: ignore[arg-type]
        for fn in [*f.values(), self.trigger, self.slack_formatter]:
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
                "X-Ray's PutTraceSegments, CloudFormation's ListStacks and EC2's DescribeVpcs/DescribeSubnets "
                "accept no resource scoping.",
                evidence=["Resource::*"],
            )
            acknowledge(
                fn,
                "IAM5",
                "A cluster's stacks, EKS add-ons and shared subnets are named at run time; the wildcards are bounded "
                "by the clusterdrop- stack prefix, the account and the region.",
                evidence=[
                    f"Resource::{_ARN}:cloudformation:{_AT}:stack/{STACK_PREFIX}*/*",
                    f"Resource::{_ARN}:eks:{_AT}:cluster/*",
                    f"Resource::{_ARN}:eks:{_AT}:addon/*",
                    f"Resource::{_ARN}:ec2:{_AT}:subnet/*",
                ],
            )
            acknowledge(
                fn,
                "IAM5",
                "Objects of clusterdrop's own buckets (specs are read by version, artifacts are keyed by digest) "
                "and the executions of its own state machines.",
                evidence=[
                    f"Resource::<{artifacts}.Arn>/*",
                    f"Resource::<{artifacts}.Arn>/specs/*",
                    f"Resource::<{specs}.Arn>/*",
                    *[
                        f"Resource::{_ARN}:states:{_AT}:execution:{self.machine_name(m)}:*"
                        for m in ("Deploy", "Teardown")
                    ],
                ],
            )
        acknowledge(
            self.cfn_role,
            "IAM5",
            "EC2 create and describe actions support no resource-level scoping before the resource exists; IAM, "
            "Lambda and Logs actions are scoped to the clusterdrop- prefix every cluster's roles, agents and logs "
            "carry; EKS actions to the account's clusters in the region (clusters bear their users' names); "
            "the agent's code is read from the CDK assets bucket and the artifacts bucket.",
            evidence=[
                "Resource::*",
                f"Resource::{_ARN}:eks:{_AT}:cluster/*",
                f"Resource::{_ARN}:eks:{_AT}:nodegroup/*",
                f"Resource::{_ARN}:eks:{_AT}:access-entry/*",
                f"Resource::{_ARN}:iam::<AWS::AccountId>:role/{STACK_PREFIX}*",
                f"Resource::{_ARN}:iam::<AWS::AccountId>:role/aws-service-role/*",
                f"Resource::{_ARN}:lambda:{_AT}:function:{STACK_PREFIX}*-agent",
                f"Resource::{_ARN}:logs:{_AT}:log-group:/aws/lambda/{STACK_PREFIX}*",
                f"Resource::{_ARN}:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
                f"Resource::<{artifacts}.Arn>/*",
                "Action::s3:GetObject*",
                "Action::s3:GetBucket*",
                "Action::s3:List*",
            ],
        )
        acknowledge(
            self.cfn_role,
            "IAM5",
            "EKS launches a node group's instances from its launch template with the stack role's rights: the "
            "instances, their interfaces, volumes and the template are made at run time (EKS picks the image).",
            evidence=[
                *(
                    f"Resource::{_ARN}:ec2:{_AT}:{kind}/*"
                    for kind in (
                        "launch-template", "instance", "network-interface", "security-group", "subnet", "volume",
                        "key-pair",
                    )
                ),
                f"Resource::{_ARN}:ec2:<AWS::Region>::image/*",
            ],
        )  # fmt: skip
