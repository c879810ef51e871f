import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.segments import GSM7_BASIC, GSM7_EXTENSION, SegmentInfo, count_segments

pytestmark = pytest.mark.unit

EMOJI = "\U0001f600"  # outside the BMP: a surrogate pair in UTF-16
UCS2_ONLY = "ж"  # Cyrillic: in the BMP, not in GSM-7


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", SegmentInfo("GSM-7", 0, 1), id="empty-is-one-empty-part"),
        pytest.param("a" * 160, SegmentInfo("GSM-7", 160, 1), id="gsm-160-fits-one-part"),
        pytest.param("a" * 161, SegmentInfo("GSM-7", 161, 2), id="gsm-161-needs-two"),
        pytest.param("a" * 306, SegmentInfo("GSM-7", 306, 2), id="gsm-306-is-two-full-parts"),
        pytest.param("a" * 307, SegmentInfo("GSM-7", 307, 3), id="gsm-307-needs-three"),
        pytest.param("a" * 159 + "€", SegmentInfo("GSM-7", 161, 2), id="gsm-euro-costs-two-septets"),
        pytest.param("a" * 158 + "{", SegmentInfo("GSM-7", 160, 1), id="gsm-escape-pair-fills-one-part"),
        pytest.param("\f^{}\\[~]|€", SegmentInfo("GSM-7", 20, 1), id="gsm-every-extension-char-costs-two"),
        pytest.param("Ære Øst Ålborg ÄÖÑÜ§¿ £$¥ @ ΔΦΓΛΩΠΨΣΘΞ é", SegmentInfo("GSM-7", 40, 1), id="gsm-accented-basic"),
        # Without the no-split rule this would be 306 septets = 2 parts; the pair moves, so 3.
        pytest.param(
            "a" * 152 + "{" + "a" * 152, SegmentInfo("GSM-7", 306, 3), id="gsm-escape-pair-moves-to-next-part"
        ),
        pytest.param(
            "a" * 151 + "{" + "a" * 153,
            SegmentInfo("GSM-7", 306, 2),
            id="gsm-escape-pair-ends-a-part-exactly",
        ),
        pytest.param(UCS2_ONLY * 70, SegmentInfo("UCS-2", 70, 1), id="ucs2-70-fits-one-part"),
        pytest.param(UCS2_ONLY * 71, SegmentInfo("UCS-2", 71, 2), id="ucs2-71-needs-two"),
        pytest.param(UCS2_ONLY * 134, SegmentInfo("UCS-2", 134, 2), id="ucs2-134-is-two-full-parts"),
        pytest.param(UCS2_ONLY * 135, SegmentInfo("UCS-2", 135, 3), id="ucs2-135-needs-three"),
        pytest.param(EMOJI, SegmentInfo("UCS-2", 2, 1), id="emoji-costs-two-units"),
        pytest.param("a" * 68 + EMOJI, SegmentInfo("UCS-2", 70, 1), id="emoji-fills-single-part"),
        # Without the no-split rule this would be 134 units = 2 parts; the pair moves, so 3.
        pytest.param("a" * 66 + EMOJI + "a" * 66, SegmentInfo("UCS-2", 134, 3), id="surrogate-pair-moves-to-next-part"),
        pytest.param("tab\there", SegmentInfo("UCS-2", 8, 1), id="tab-is-not-gsm"),
        pytest.param("`backtick`", SegmentInfo("UCS-2", 10, 1), id="backtick-is-not-gsm"),
    ],
)
def test_count_segments_matches_hand_count(text, expected):
    assert count_segments(text) == expected


def test_one_non_gsm_character_turns_the_whole_text_to_ucs2():
    assert count_segments("a" * 100).segments == 1
    assert count_segments("a" * 99 + UCS2_ONLY) == SegmentInfo("UCS-2", 100, 2)


GSM_CHARACTERS = st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION))


@given(st.text(GSM_CHARACTERS, max_size=400), st.text(GSM_CHARACTERS, min_size=1, max_size=20))
def test_appending_gsm_characters_never_lowers_the_count(text, appended):
    before, after = count_segments(text), count_segments(text + appended)
    assert after.encoding == before.encoding == "GSM-7"
    assert after.segments >= before.segments


@given(st.text(GSM_CHARACTERS, max_size=400))
def test_gsm_units_are_the_sum_of_character_costs(text):
    info = count_segments(text)
    assert info.units == sum(2 if char in GSM7_EXTENSION else 1 for char in text)
    # A part holds 153 septets less at most one septet left empty by a moved escape pair.
    assert info.segments == 1 or 152 * (info.segments - 1) < info.units <= 153 * info.segments


@given(st.text(max_size=300).filter(lambda text: count_segments(text).encoding == "UCS-2"))
def test_ucs2_units_are_utf16_code_units(text):
    info = count_segments(text)
    assert info.units == len(text.encode("utf-16-le", "surrogatepass")) // 2
    assert info.segments == 1 or 66 * (info.segments - 1) < info.units <= 67 * info.segments
