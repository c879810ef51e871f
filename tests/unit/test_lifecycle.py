"""The lifecycle as data: every status has its moves, and the groups the code relies on agree with them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chalicelib import lifecycle
from chalicelib.lifecycle import (
    CLAIMABLE,
    OPEN,
    TERMINAL,
    TRANSITIONS,
    FailureReason,
    IllegalTransition,
    Status,
    can_move,
    delivery_error,
    moving,
    sources_of,
)

pytestmark = pytest.mark.unit


def test_every_status_is_open_or_terminal_never_both():
    assert set(Status) == OPEN | TERMINAL
    assert not OPEN & TERMINAL
    assert set(TRANSITIONS) == set(Status)


def test_an_open_request_can_always_still_end():
    for status in OPEN:
        assert can_move(status, Status.FAILED) or can_move(status, Status.PROCESSING)
    assert can_move(Status.PROCESSING, Status.SENT)


def test_only_a_delivery_receipt_moves_a_terminal_request_and_nothing_moves_it_back():
    assert [status for status in TERMINAL if TRANSITIONS[status]] == [Status.SENT]
    assert TRANSITIONS[Status.SENT] == {Status.DELIVERED, Status.UNDELIVERED}
    assert not any(can_move(status, target) for status in TERMINAL for target in OPEN)


def test_a_claim_starts_only_from_a_waiting_request():
    assert set(sources_of(Status.PROCESSING)) == set(CLAIMABLE) == {Status.PENDING, Status.RETRYING}
    assert not can_move(Status.SENT, Status.PROCESSING)



class _StatusAttribute:
    """Stands in for a store's status attribute: the condition is the statuses it was asked to be in."""

    def is_in(self, *statuses):
        return statuses


def test_a_write_condition_is_the_tables_sources_of_its_target():
    assert moving(_StatusAttribute(), Status.PROCESSING) == sources_of(Status.PROCESSING)
    assert moving(_StatusAttribute(), Status.FAILED, among=CLAIMABLE) == CLAIMABLE
    assert moving(_StatusAttribute(), Status.DELIVERED) == (Status.SENT,)


def test_a_write_the_table_has_no_move_for_is_a_bug_not_a_failed_condition():
    with pytest.raises(IllegalTransition):
        moving(_StatusAttribute(), Status.PROCESSING, among=(Status.SENT,))
    with pytest.raises(IllegalTransition):
        moving(_StatusAttribute(), Status.PENDING, among=(Status.DELIVERED,))


@pytest.mark.parametrize("reason, code, words", [
    pytest.param("unreachable", "30003", "unreachable (30003)", id="reason-and-code"),
    pytest.param("blocked", None, "blocked", id="reason-only"),
    pytest.param(None, "0", "error (0)", id="code-only"),
    pytest.param(None, None, None, id="neither"),
])
def test_a_delivery_error_is_said_one_way(reason, code, words):
    assert delivery_error(reason, code) == words


# Words spelled like a status that are someone else's: a provider answer's outcome, a receipt's reason.
NOT_A_STATUS = {
    ("providers/base.py", "refused"),  # Outcome.REFUSED: what a provider answered
    ("delivery_receipt.py", "expired"),  # DeliveryReason.EXPIRED: the network's validity period passed
}
# A vendor's module spells the vendor's own words (Twilio's "delivered", Vonage's "expired", Telnyx's "sent"), which
# it maps to ours: none of them is a status of the gateway's, and a new vendor adds no exception here.
VENDOR_VOCABULARY = "vendors/"


def test_nothing_but_the_lifecycle_spells_a_status():
    chalicelib = Path(lifecycle.__file__).parent
    words = {str(status) for status in Status} | {str(reason) for reason in FailureReason}
    spelled = {(path.relative_to(chalicelib).as_posix(), node.value)
               for path in chalicelib.rglob("*.py") if path.name != "lifecycle.py"
               and not path.relative_to(chalicelib).as_posix().startswith(VENDOR_VOCABULARY)
               for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Constant) and node.value in words}
    assert spelled <= NOT_A_STATUS, sorted(spelled - NOT_A_STATUS)
