"""G.711: every code and every PCM16 value, against audioop and against the ITU-T G.711 definitions."""

from __future__ import annotations

import audioop
from collections.abc import Callable

import numpy as np
import pytest

from bridge.audio.g711 import alaw_to_pcm16, pcm16_to_alaw, pcm16_to_ulaw, ulaw_to_pcm16

ALL_CODES = bytes(range(256))
ALL_PCM16 = np.arange(-32768, 32768, dtype="<i2").tobytes()


def _pcm(data: bytes) -> list[int]:
    return [int(v) for v in np.frombuffer(data, dtype="<i2")]


def _itu_ulaw_decode(code: int) -> int:
    # G.711 mu-law: the character is transmitted with every bit inverted; after inversion bit 7 is the
    # sign (1 = negative), bits 6-4 the segment e and bits 3-0 the step m. Segment e spans
    # [2^(e+5) - 33, 2^(e+6) - 33) in 14-bit units (bias 33) in 16 steps of 2^(e+1); the decoder outputs
    # the middle of step m: (2m + 33) * 2^e - 33. Scaled by 4 to 16 bits (14-bit max 8031 -> 32124).
    c = code ^ 0xFF
    e = (c >> 4) & 0x7
    m = c & 0xF
    magnitude = ((2 * m + 33) << e) - 33
    return -4 * magnitude if c & 0x80 else 4 * magnitude


def _itu_alaw_decode(code: int) -> int:
    # G.711 A-law: even bits inverted (XOR 0x55); bit 7 = 1 is positive. Segment 0 has 16 steps of 2 from
    # 0, segment e >= 1 spans [2^(e+4), 2^(e+5)) in 13-bit units in 16 steps of 2^e; the decoder outputs
    # the middle of the step. Scaled by 8 to 16 bits (13-bit max 4032 -> 32256).
    c = code ^ 0x55
    e = (c >> 4) & 0x7
    m = c & 0xF
    magnitude = 2 * m + 1 if e == 0 else (2 * m + 33) << (e - 1)
    return 8 * magnitude if c & 0x80 else -8 * magnitude


def _itu_ulaw_encode(value: int) -> int:
    # The code whose G.711 decision interval holds the 14-bit value (PCM16 >> 2), sign-magnitude,
    # magnitudes beyond the last decision value (8158) coded as the top step.
    x = value >> 2
    magnitude = min(-x if x < 0 else x, 8158) + 33
    e = magnitude.bit_length() - 6  # biased magnitude lies in [2^(e+5), 2^(e+6))
    m = (magnitude >> (e + 1)) - 16
    return ((0x80 if x < 0 else 0) | (e << 4) | m) ^ 0xFF


def test_ulaw_decode_every_code_matches_audioop() -> None:
    assert ulaw_to_pcm16(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)


def test_alaw_decode_every_code_matches_audioop() -> None:
    assert alaw_to_pcm16(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


def test_ulaw_encode_every_pcm16_value_matches_audioop() -> None:
    assert pcm16_to_ulaw(ALL_PCM16) == audioop.lin2ulaw(ALL_PCM16, 2)


def test_alaw_encode_every_pcm16_value_matches_audioop() -> None:
    assert pcm16_to_alaw(ALL_PCM16) == audioop.lin2alaw(ALL_PCM16, 2)


def test_ulaw_decode_matches_the_itu_definition() -> None:
    assert _pcm(ulaw_to_pcm16(ALL_CODES)) == [_itu_ulaw_decode(c) for c in ALL_CODES]


def test_alaw_decode_matches_the_itu_definition() -> None:
    assert _pcm(alaw_to_pcm16(ALL_CODES)) == [_itu_alaw_decode(c) for c in ALL_CODES]


def test_ulaw_encode_matches_the_itu_decision_intervals() -> None:
    expected = bytes(_itu_ulaw_encode(v) for v in range(-32768, 32768))
    assert pcm16_to_ulaw(ALL_PCM16) == expected


def test_itu_reference_tables_have_the_documented_extremes() -> None:
    # Guards the reference formulas themselves: G.711 mu-law peaks at +-8031 (14-bit), A-law at +-4032
    # (13-bit); 0xFF / 0x7F are mu-law +0 / -0 and 0xD5 / 0x55 the smallest A-law steps.
    ulaw = [_itu_ulaw_decode(c) for c in ALL_CODES]
    alaw = [_itu_alaw_decode(c) for c in ALL_CODES]
    assert (max(ulaw), min(ulaw)) == (8031 * 4, -8031 * 4)
    assert (max(alaw), min(alaw)) == (4032 * 8, -4032 * 8)
    assert (_itu_ulaw_decode(0xFF), _itu_ulaw_decode(0x7F)) == (0, 0)
    assert (_itu_alaw_decode(0xD5), _itu_alaw_decode(0x55)) == (8, -8)
    assert len(set(ulaw)) == 255  # +0 and -0 coincide
    assert len(set(alaw)) == 256


@pytest.mark.parametrize(
    ("decode", "encode"), [(ulaw_to_pcm16, pcm16_to_ulaw), (alaw_to_pcm16, pcm16_to_alaw)], ids=["ulaw", "alaw"]
)
def test_decoded_levels_reencode_to_themselves(
    decode: Callable[[bytes], bytes], encode: Callable[[bytes], bytes]
) -> None:
    levels = decode(ALL_CODES)
    assert decode(encode(levels)) == levels


def test_empty_input_gives_empty_output() -> None:
    assert ulaw_to_pcm16(b"") == b""
    assert pcm16_to_ulaw(b"") == b""
    assert alaw_to_pcm16(b"") == b""
    assert pcm16_to_alaw(b"") == b""


def test_frame_sizes() -> None:
    # One 20 ms Twilio frame: 160 mu-law bytes <-> 320 PCM16 bytes.
    assert len(ulaw_to_pcm16(bytes(160))) == 320
    assert len(pcm16_to_ulaw(bytes(320))) == 160
