"""Where outcomes go: the SNS topic (email subscriptions), and the Slack formatter subscribed to it
with the webhook URL from Secrets Manager."""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.functions import FunctionCode
from stacks.nag import acknowledge


class Notifications(Construct):
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
        self.slack_formatter = code.function(
            self,
            "SlackFormatter",
            {"SLACK_WEBHOOK_SECRET_ARN": self.slack_secret.secret_arn, "POWERTOOLS_SERVICE_NAME": "clusterdrop"},
            memory=256,
            timeout=30,
        )
        self.slack_secret.grant_read(self.slack_formatter)
        self.topic.add_subscription(subscriptions.LambdaSubscription(self.slack_formatter))
