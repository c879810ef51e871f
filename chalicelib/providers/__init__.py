"""What every provider adapter shares, behind one interface: ``Provider.send(OutgoingSms) -> SendResult``.

    base.py       the outcomes, the result, the interface, the entry fields every kind has, the send flow
    deadline.py   every call bounded by a wall-clock deadline, its answer size capped
    secrets.py    credentials from the entry or from Secrets Manager with a maximum age

The vendors themselves (the adapters, their entries and receipts) are in chalicelib/vendors/, one module or
package per kind; ``chalicelib.vendors.build_providers`` makes the adapters. docs/providers.md has each vendor's
configuration, its classification table with sources, and how to add a vendor.
"""

from __future__ import annotations

from chalicelib.providers.base import MAX_STORED_BODY, Outcome, OutgoingSms, Provider, ProviderEntry, SendResult
from chalicelib.providers.deadline import MAX_ANSWER_BYTES, deadline_client

__all__ = [
    "MAX_ANSWER_BYTES",
    "MAX_STORED_BODY",
    "Outcome",
    "OutgoingSms",
    "Provider",
    "ProviderEntry",
    "SendResult",
    "deadline_client",
]
