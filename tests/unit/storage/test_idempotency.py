"""Idempotency keys on moto: the first call owns a key, later calls find what it reserved."""

from __future__ import annotations

import pytest

from chalicelib.storage.idempotency import IdempotencyKeys, KeyTaken, Reservation, fingerprint

pytestmark = pytest.mark.unit


def test_idempotency_key_is_reserved_once_then_found(idempotency):
    assert idempotency.reserve("k", "body-1", "req-1") == Reservation("k", "req-1")
    taken = idempotency.reserve("k", "body-2", "req-2")
    assert isinstance(taken, KeyTaken)
    assert (taken.request_id, taken.body_hash) == ("req-1", "body-1")


def test_expired_idempotency_key_can_be_taken_again(tables, clock):
    keys = IdempotencyKeys(tables, clock, ttl_s=60)
    keys.reserve("k", "body-1", "req-1")
    clock.advance(61)
    assert keys.reserve("k", "body-2", "req-2") == Reservation("k", "req-2")


def test_released_idempotency_key_is_free(idempotency):
    idempotency.release(idempotency.reserve("k", "body-1", "req-1"))
    assert isinstance(idempotency.reserve("k", "body-2", "req-2"), Reservation)


def test_fingerprint_parts_cannot_run_into_each_other():
    assert fingerprint("ab", "c") != fingerprint("a", "bc")
    assert fingerprint("a", "b") == fingerprint("a", "b")
