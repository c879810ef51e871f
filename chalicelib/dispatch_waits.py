"""How a dispatch message that cannot be sent now waits on the queue, not in a Lambda: until its send_at (a
delayed copy), or until a booking makes sense again (its visibility extended, or a delayed copy). Neither is
a retry nor a failure. SQS delays a message by 15 min at most: a longer wait comes round again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from chalicelib.dispatch_queue import MAX_DELAY_S, DispatchMessage, DispatchQueue, delay_until
from chalicelib.errors import GatewayError
from chalicelib.logs import logger
from chalicelib.sqs_batch import QueueRecord

# A message that must wait is kept on the queue by extending its visibility while SQS has received it at
# most this often; later, a copy is queued instead (its receive count starts again), so that waiting never
# walks a message into the DLQ (maxReceiveCount 5: docs/deploy.md).
VISIBILITY_DEFERRALS = 2


class QueueWait:
    def __init__(self, queue: DispatchQueue, clock: Callable[[], float]):
        self._queue = queue
        self._clock = clock

    def until_send_at(self, message: DispatchMessage, not_before: float) -> bool:
        """A message that arrived before its request's send_at goes back, delayed until then (15 min at most:
        a later one comes round again)."""
        delay_s = delay_until(not_before, self._clock())
        self._queue.send(replace(message, not_before=not_before), delay_s=min(delay_s, MAX_DELAY_S))
        logger.info("before its send_at; requeued", extra={"request_id": message.id, "delay_s": delay_s})
        return True

    def for_booking(self, message: DispatchMessage, record: QueueRecord | None, wait_ms: float) -> bool:
        """Nothing to book now: the message waits on the queue. Not a retry and not a failure."""
        delay_s = max(1, math.ceil(wait_ms / 1000))
        if message.expires_at:
            delay_s = min(delay_s, max(1, math.ceil(message.expires_at - self._clock())))
        if record is not None and record.receipt_handle and record.receive_count <= VISIBILITY_DEFERRALS:
            try:
                self._queue.defer(record.receipt_handle, delay_s)
            except GatewayError:  # not deferred: it comes back when its visibility timeout ends
                logger.warning("visibility not extended", extra={"request_id": message.id})
            return False
        self._queue.send(message, delay_s=min(delay_s, MAX_DELAY_S))
        return True
