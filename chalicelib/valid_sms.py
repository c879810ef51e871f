"""A send request that passed every check of its body: the value intake accepts.

api/send_body.py builds it from the HTTP body; it lives here, beside intake.py, so that the domain never
imports the HTTP layer. The send_at window is intake's rule (it needs the clock), stated here beside the value.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.segments import Encoding

# send_at: a time with its offset, at most this far ahead; a time this little in the past is "now" (clock skew).
MAX_SCHEDULE_AHEAD_S = 7 * 86400
SEND_AT_SKEW_S = 60


@dataclass(frozen=True)
class ValidSms:
    phone: str  # E.164
    text: str
    encoding: Encoding
    segments: int
    country: str | None = None  # ISO 3166 region of the number ("US"); None for non-geographic numbers
    number_type: str = "UNKNOWN"  # libphonenumber's PhoneNumberType name
    reference: str | None = None
    sender: str | None = None  # the body's "from"
    validity_s: int | None = None
    send_at: float | None = None  # epoch s; its window (not in the past, at most 7 days ahead) is intake's check
    callback_url: str | None = None

    def options(self) -> tuple[str, ...]:
        """The options as text, for the Idempotency-Key fingerprint (none given: nothing, as before they were)."""
        values = (self.reference, self.sender, self.validity_s, self.send_at, self.callback_url)
        return () if all(value is None for value in values) else tuple("" if v is None else str(v) for v in values)
