"""Where outcomes go: the SNS topic (email subscriptions), and the Slack formatter subscribed to it
with the webhook URL from Secrets Manager."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.functions import FunctionCode
from stacks.nag import acknowledge


class Notifications(Construct):
    def _topic_key(self) -> kms.Key:
        """The topic's own key: CloudWatch alarms publish to an encrypted topic only when the key's
        policy lets cloudwatch.amazonaws.com use it, which the AWS managed alias/aws/sns does not
        (SNS Developer Guide, "Enable compatibility between event sources from AWS services and
        encrypted topics"). Admitted for this account's alarms named with the stack's prefix."""
        from stacks.monitoring import alarm_prefix

        key = kms.Key(self, "TopicKey", description="clusterdrop: the outcomes topic", enable_key_rotation=True)
        stack = Stack.of(self)
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:"
                        f"{alarm_prefix(self)}*"
                    },
                },
            )
        )
        return key

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: FunctionCode,
        email: str | None,
        slack_secret_name: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "OutcomesTopic",
            display_name="clusterdrop",
            enforce_ssl=True,
            master_key=self._topic_key(),
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
        self.slack_formatter = code.function(
            self,
            "SlackFormatter",
            {"SLACK_WEBHOOK_SECRET_ARN": self.slack_secret.secret_arn, "POWERTOOLS_SERVICE_NAME": "clusterdrop"},
            memory=256,
            timeout=30,
        )
        self.slack_secret.grant_read(self.slack_formatter)
        self.topic.add_subscription(subscriptions.LambdaSubscription(self.slack_formatter))
