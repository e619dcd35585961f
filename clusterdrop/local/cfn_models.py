"""CloudFormation resource types moto lacks and the deployer's stack uses.

Resource policies (bucket, queue, topic) are recorded, not evaluated: the embedded IAM
(`iam_enforce.py`) decides on identity policies only. The SNS subscription and the Secrets
Manager secret are real: notifications reach the Slack formatter, and the formatter reads its
webhook from the secret.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from moto.core.common_models import CloudFormationModel


class _Recorded:
    """A resource policy: accepted and kept, not enforced. (moto finds models among the direct
    subclasses of CloudFormationModel: each type below names it as a base itself.)"""

    def __init__(self, physical_id: str):
        self.physical_id = physical_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> _Recorded:
        return cls(f"{resource_name}-{uuid.uuid4().hex[:8]}")

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> Any:
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        return None

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        return None


class BucketPolicy(_Recorded, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"


class QueuePolicy(_Recorded, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"


class TopicPolicy(_Recorded, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"


class SnsSubscription(_Recorded, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> _Recorded:
        from moto.sns.models import sns_backends

        p = cloudformation_json["Properties"]
        subscription = sns_backends[account_id][region_name].subscribe(p["TopicArn"], p["Endpoint"], p["Protocol"])
        return cls(subscription.arn)


class Secret(_Recorded, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.physical_id

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> _Recorded:
        from moto.secretsmanager.models import secretsmanager_backends

        p = cloudformation_json["Properties"]
        value = p.get("SecretString")
        generate = p.get("GenerateSecretString")
        if value is None and generate:
            template = json.loads(generate.get("SecretStringTemplate") or "{}")
            template[generate.get("GenerateStringKey", "password")] = uuid.uuid4().hex
            value = json.dumps(template)
        name = p.get("Name") or f"{resource_name}-{uuid.uuid4().hex[:12]}"
        created = secretsmanager_backends[account_id][region_name].create_secret(
            name=name,
            secret_string=value,
            secret_binary=None,
            description=p.get("Description"),
            tags=p.get("Tags"),
            kms_key_id=None,
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        return cls(json.loads(created)["ARN"])


class MetricAlarm(_Recorded, CloudFormationModel):
    """AWS::CloudWatch::Alarm, made in moto's CloudWatch (DescribeAlarms shows it, with its
    actions); moto evaluates no alarm, so none ever fires here."""

    arn = ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> _Recorded:
        from moto.cloudwatch.models import cloudwatch_backends

        p = cloudformation_json["Properties"]
        name = p.get("AlarmName") or f"{resource_name}-{uuid.uuid4().hex[:12]}"
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=name,
            namespace=p.get("Namespace", ""),
            metric_name=p.get("MetricName", ""),
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p.get("Period", 300)),
            threshold=float(p["Threshold"]),
            statistic=p.get("Statistic", ""),
            description=p.get("AlarmDescription", ""),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in p.get("Dimensions") or []],
            alarm_actions=list(p.get("AlarmActions") or []),
            ok_actions=list(p.get("OKActions") or []),
            treat_missing_data=p.get("TreatMissingData"),
        )
        made = cls(name)
        made.arn = alarm.alarm_arn
        return made

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region_name].delete_alarms([self.physical_id])
