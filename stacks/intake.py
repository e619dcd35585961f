"""The intake: S3 events of the spec bucket, through a queue, to the trigger that starts executions."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.functions import FunctionCode
from stacks.nag import acknowledge
from stacks.workflow import Workflow, machine_arn


class Intake(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, spec_bucket: s3.Bucket, workflow: Workflow, code: FunctionCode
    ) -> None:
        super().__init__(scope, construct_id)

        """S3 → SQS (with a dead-letter queue) → the trigger. SQS because S3's asynchronous invoke
        drops an event after two failed retries; a queue keeps it, shows a backlog, and parks
        what keeps failing in the DLQ for inspection and replay."""
        self.dead_letter_queue = dlq = sqs.Queue(
            self,
            "DeadLetterQueue",
            retention_period=Duration.days(14),
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
        )
        acknowledge(dlq, "SQS3", "This is the dead-letter queue.")
        self.intake_queue = sqs.Queue(
            self,
            "Queue",
            visibility_timeout=Duration.seconds(180),
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=5),
        )
        destination = s3n.SqsDestination(self.intake_queue)
        for prefix in ("clusters/", "plans/"):
            key_filter = s3.NotificationKeyFilter(prefix=prefix)
            spec_bucket.add_event_notification(s3.EventType.OBJECT_CREATED, destination, key_filter)
        spec_bucket.add_event_notification(
            s3.EventType.OBJECT_REMOVED_DELETE_MARKER_CREATED, destination, s3.NotificationKeyFilter(prefix="clusters/")
        )
        self.trigger = code.function(
            self,
            "Trigger",
            {
                "DEPLOY_STATE_MACHINE_ARN": workflow.deploy.state_machine_arn,
                "TEARDOWN_STATE_MACHINE_ARN": workflow.teardown.state_machine_arn,
                # Built from the fixed names, not referenced: the machines depend on the functions.
                "STATE_MACHINE_ARNS": ",".join(machine_arn(self, m) for m in ("Deploy", "Teardown")),
                "POWERTOOLS_SERVICE_NAME": "clusterdrop",
            },
            memory=256,
            timeout=30,
        )
        self.trigger.add_event_source(
            sources.SqsEventSource(self.intake_queue, batch_size=10, report_batch_item_failures=True)
        )
        workflow.deploy.grant_start_execution(self.trigger)
        workflow.teardown.grant_start_execution(self.trigger)
