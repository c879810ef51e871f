"""SQS failures as gateway errors, once for every queue (the dispatch queue, the callbacks queue and its DLQ).

Any SQS error is a dependency outage for the caller, as any Redis error is (redis_scripts.py): a refused
connection, a timeout or the invocation's deadline (aws_deadline.py), throttling, but also a queue that does
not exist or may not be written. The API answers 503; a queue consumer reports the record in
``batchItemFailures`` and SQS brings it back. A queue class subclasses ``SqsBacked``: each public method it
defines runs inside ``sqs_errors`` (errors.MapsErrors), not a ``with`` at each call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import DependencyUnavailable, MapsErrors

# SQS's ceiling for DelaySeconds. Here, below every queue, so that a store can plan around it (storage/requests.py
# hands a request due past it to the sweeper) without importing the queue that sends.
MAX_DELAY_S = 900


@contextmanager
def sqs_errors() -> Iterator[None]:
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise DependencyUnavailable(f"SQS unavailable: {type(exc).__name__}") from None


class SqsBacked(MapsErrors):
    def _errors(self):
        return sqs_errors()


def queue_url_of(sqs_client, queue_name: str) -> str:
    """GetQueueUrl: a queue's URL from its name, for the queues whose URL is not configured."""
    with sqs_errors():
        return sqs_client.get_queue_url(QueueName=queue_name)["QueueUrl"]
