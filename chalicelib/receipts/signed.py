"""What every vendor's receipt signature check shares. A caller's header or parameter may hold anything: each
reading here answers "not it" for anything that is not what was signed, and never raises."""

from __future__ import annotations

import hmac
import re

# A signed unix time: ASCII digits only (int() reads "١٢" and refuses "²" or 5,000 digits with a ValueError
# that would escape as a 500); 12 digits reach year 33658.
_UNIX_TIME = re.compile(r"[0-9]{1,12}")


def unix_time(text: str | None) -> int | None:
    """The unix time in ``text``, or None when it is not one."""
    return int(text) if text and _UNIX_TIME.fullmatch(text) else None


def digest_matches(expected: str, given: str) -> bool:
    """A digest we computed against one a caller sent, in constant time. ``hmac.compare_digest`` raises TypeError
    on a str with non-ASCII characters: both are compared as UTF-8 bytes."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", errors="replace"))
