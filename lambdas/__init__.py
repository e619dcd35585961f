"""Lambda handlers. A workflow step's handler is one line around its library function
(`_runtime.step_handler`); the notify handler adds its metrics; the trigger starts executions
from S3 events; the Slack formatter posts to the webhook itself (it is the one place that does)."""
