"""The deployer's dashboard and alarms: what a platform team watches.

The dashboard: executions started, succeeded and failed (Step Functions' own metrics), how long
each step takes (the `StepSeconds.<step>` metrics the Notify function emits through Powertools),
the intake queue's oldest message and the dead-letter queue's depth, and every function's errors
and throttles. Two alarms publish to the outcomes topic: a message in the dead-letter queue (an
upload the intake could not start) and a failed execution.

CloudWatch publishes alarm notifications as the service principal cloudwatch.amazonaws.com; to an
encrypted topic it can only do so when the key's policy lets it use the key, which the AWS managed
key (alias/aws/sns) never does (SNS Developer Guide, "Enable compatibility between event sources
from AWS services and encrypted topics"). The topic is therefore encrypted with a key of its own
(notifications.py) whose policy admits this account's alarms.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from clusterdrop.workflow import DEPLOY_STEPS

NAMESPACE = "clusterdrop"  # Powertools' metrics namespace (POWERTOOLS_METRICS_NAMESPACE)


def alarm_prefix(scope: Construct) -> str:
    """Every alarm's name starts with the stack's: the topic key's policy admits exactly these."""
    return f"{Stack.of(scope).stack_name}-"


def _search(metric: str, statistic: str, label: str) -> cw.MathExpression:
    """A Powertools metric over every `action` dimension value (create, update, plan, delete)."""
    return cw.MathExpression(
        expression=f"SEARCH('{{{NAMESPACE},action,service}} MetricName=\"{metric}\"', '{statistic}', 300)",
        label=label,
        period=Duration.minutes(5),
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        machines: dict[str, sfn.StateMachine],
        functions: list[lambda_.IFunction],
        intake_queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = alarm_prefix(self)
        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"{Stack.of(self).stack_name}-deployer")
        executions = [
            cw.GraphWidget(
                title=f"{name} executions",
                left=[
                    machine.metric_started(label="started"),
                    machine.metric_succeeded(label="succeeded"),
                    machine.metric_failed(label="failed"),
                ],
                width=12,
            )
            for name, machine in machines.items()
        ]
        steps = cw.GraphWidget(
            title="Seconds per step (average)",
            left=[_search(f"StepSeconds.{step}", "Average", step) for step in DEPLOY_STEPS],
            width=24,
            height=8,
        )
        outcomes = cw.GraphWidget(
            title="Outcomes notified",
            left=[_search("Deployments", "Sum", "succeeded or planned"), _search("Failures", "Sum", "failed")],
            width=12,
        )
        queues = cw.GraphWidget(
            title="Intake",
            left=[intake_queue.metric_approximate_age_of_oldest_message(label="oldest upload waiting (s)")],
            right=[dead_letter_queue.metric_approximate_number_of_messages_visible(label="dead letters")],
            width=12,
        )
        errors = cw.GraphWidget(
            title="Function errors and throttles",
            left=[fn.metric_errors(label=f"{fn.node.id} errors") for fn in functions],
            right=[fn.metric_throttles(label=f"{fn.node.id} throttles") for fn in functions],
            width=24,
            height=8,
        )
        self.dashboard.add_widgets(*executions)
        self.dashboard.add_widgets(outcomes, queues)
        self.dashboard.add_widgets(steps)
        self.dashboard.add_widgets(errors)

        notify = actions.SnsAction(topic)
        self.dead_letters = cw.Alarm(
            self,
            "DeadLetters",
            alarm_name=f"{prefix}intake-dead-letters",
            alarm_description="An upload the intake could not start is in the dead-letter queue: inspect, replay.",
            metric=dead_letter_queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(5)),
            threshold=0,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.failed = [
            cw.Alarm(
                self,
                f"{name}Failed",
                alarm_name=f"{prefix}{name.lower()}-failed",
                alarm_description=f"A {name.lower()} execution failed: its notification names the step and the cause.",
                metric=machine.metric_failed(period=Duration.minutes(5), statistic="Sum"),
                threshold=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            for name, machine in machines.items()
        ]
        for alarm in [self.dead_letters, *self.failed]:
            alarm.add_alarm_action(notify)
