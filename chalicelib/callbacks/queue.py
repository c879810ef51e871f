"""The callbacks queue and its DLQ: SendMessage with a delay, and a dead event straight to the DLQ."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.callbacks.events import CallbackEvent
from chalicelib.dispatch_queue import MAX_DELAY_S
from chalicelib.errors import DependencyUnavailable


class CallbackQueue:
    def __init__(self, sqs_client, queue_url: str, dlq_url: str):
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.dlq_url = dlq_url

    @classmethod
    def by_name(cls, sqs_client, queue_name: str, dlq_name: str) -> CallbackQueue:
        try:
            return cls(sqs_client, sqs_client.get_queue_url(QueueName=queue_name)["QueueUrl"],
                       sqs_client.get_queue_url(QueueName=dlq_name)["QueueUrl"])
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailable(f"SQS unavailable: {type(exc).__name__}") from None

    def send(self, event: CallbackEvent, delay_s: int = 0) -> None:
        self._send(self.queue_url, event, max(0, min(MAX_DELAY_S, int(delay_s))))

    def send_to_dlq(self, event: CallbackEvent) -> None:
        self._send(self.dlq_url, event, 0)

    def _send(self, url: str, event: CallbackEvent, delay_s: int) -> None:
        try:
            self.sqs.send_message(QueueUrl=url, MessageBody=event.to_body(), DelaySeconds=delay_s)
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailable(f"SQS unavailable: {type(exc).__name__}") from None
