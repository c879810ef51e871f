"""How many SMS parts a text costs, and in which encoding it travels.

A text goes as GSM-7 when every character is in the GSM 03.38 basic table or its extension
table, else as UCS-2. A multi-part SMS spends part of each part on the concatenation header:

    encoding  single part  each part of a multi-part SMS   unit
    GSM-7     160          153                             septet (extension chars cost 2: ESC + char)
    UCS-2     70           67                              UTF-16 code unit (non-BMP chars cost 2)

A two-unit character is never split across parts: handsets would show garbage, so providers
move the whole escape sequence or surrogate pair to the next part. That is why the count is a
greedy packing and not ``ceil(units / 153)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 basic table, minus ESC (0x1B): a raw ESC in a client's text would swallow the next char.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through ESC, so each costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE_PART = 160
GSM7_MULTI_PART = 153
UCS2_SINGLE_PART = 70
UCS2_MULTI_PART = 67


@dataclass(frozen=True)
class SegmentInfo:
    encoding: Encoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def count_segments(text: str) -> SegmentInfo:
    """Encoding, size and number of SMS parts of ``text`` ('' is one empty GSM-7 part)."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        costs = [2 if char in GSM7_EXTENSION else 1 for char in text]
        return _pack("GSM-7", costs, GSM7_SINGLE_PART, GSM7_MULTI_PART)
    costs = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return _pack("UCS-2", costs, UCS2_SINGLE_PART, UCS2_MULTI_PART)


def _pack(encoding: Encoding, costs: list[int], single_part: int, multi_part: int) -> SegmentInfo:
    units = sum(costs)
    if units <= single_part:
        return SegmentInfo(encoding, units, 1)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi_part:  # the character does not fit whole: it opens the next part
            segments, used = segments + 1, 0
        used += cost
    return SegmentInfo(encoding, units, segments)
