"""The callbacks queue and its DLQ: SendMessage with a delay, and a dead event straight to the DLQ."""

from __future__ import annotations

from chalicelib.callbacks.events import CallbackEvent
from chalicelib.dispatch_queue import MAX_DELAY_S
from chalicelib.sqs_errors import SqsBacked, queue_url_of


class CallbackQueue(SqsBacked):
    def __init__(self, sqs_client, queue_url: str, dlq_url: str):
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.dlq_url = dlq_url

    @classmethod
    def by_name(cls, sqs_client, queue_name: str, dlq_name: str) -> CallbackQueue:
        return cls(sqs_client, queue_url_of(sqs_client, queue_name), queue_url_of(sqs_client, dlq_name))

    def send(self, event: CallbackEvent, delay_s: int = 0) -> None:
        self._send(self.queue_url, event, max(0, min(MAX_DELAY_S, int(delay_s))))

    def send_to_dlq(self, event: CallbackEvent) -> None:
        self._send(self.dlq_url, event, 0)

    def _send(self, url: str, event: CallbackEvent, delay_s: int) -> None:
        self.sqs.send_message(QueueUrl=url, MessageBody=event.to_body(), DelaySeconds=delay_s)
