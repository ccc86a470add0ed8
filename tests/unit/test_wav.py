"""WAV reading (PCM 8/16-bit, A-law, mu-law), writing, incremental recording, stereo interleaving and
downmixing/resampling to mono."""

from __future__ import annotations

import struct
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bridge.audio import wav as wav_module
from bridge.audio.g711 import alaw_to_pcm16, pcm16_to_alaw, pcm16_to_ulaw, ulaw_to_pcm16
from bridge.audio.resample import resample
from bridge.audio.wav import (
    StreamingWavWriter,
    WavAudio,
    interleave_stereo,
    mono_pcm16,
    parse_wav,
    read_wav,
    write_wav,
)
from bridge.errors import ProtocolError

SHARED_FILES = [
    "agent-greeting.wav",
    "agent-long-answer.wav",
    "caller-digits.wav",
    "caller-goodbye.wav",
    "caller-interrupt.wav",
    "caller-long.wav",
    "caller-opening-hours.wav",
    "caller-order-status.wav",
    "caller-transfer.wav",
    "caller-yes.wav",
    "noise-street.wav",
    "silence-3s.wav",
]


def _ramp(n: int, channels: int = 1) -> bytes:
    # Distinct values per sample and channel, spanning the int16 range.
    return (np.linspace(-32768, 32767, n * channels).astype("<i2")).tobytes()


def _fmt(tag: int, channels: int, rate: int, bits: int, extra: bytes = b"") -> bytes:
    align = channels * bits // 8
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits) + extra
    return _chunk(b"fmt ", body)


def _chunk(chunk_id: bytes, body: bytes, declared: int | None = None) -> bytes:
    size = len(body) if declared is None else declared
    return chunk_id + struct.pack("<I", size) + body + (b"\0" if len(body) % 2 else b"")


def _riff(*chunks: bytes) -> bytes:
    payload = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def _extensible(sub_tag: int) -> bytes:
    # cbSize 22, valid bits, channel mask, sub-format GUID (tag + the fixed KSDATAFORMAT suffix).
    guid = struct.pack("<H", sub_tag) + bytes.fromhex("000000001000800000aa00389b71")
    return struct.pack("<HHI", 22, 8, 4) + guid


def _read_with_wave(path: Path) -> tuple[int, int, int, bytes]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.readframes(w.getnframes())


@pytest.mark.parametrize("channels", [1, 2])
def test_write_then_read_round_trips(tmp_path: Path, channels: int) -> None:
    path = tmp_path / "a.wav"
    pcm = _ramp(8000, channels)
    write_wav(path, pcm, 8000, channels)
    assert read_wav(path) == WavAudio(rate=8000, channels=channels, pcm=pcm)
    assert _read_with_wave(path) == (8000, channels, 2, pcm)
    assert path.stat().st_size == 44 + len(pcm)


def test_write_empty_file_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    write_wav(path, b"", 24000)
    assert read_wav(path) == WavAudio(rate=24000, channels=1, pcm=b"")
    assert _read_with_wave(path) == (24000, 1, 2, b"")


def test_write_rejects_partial_frames_and_bad_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="whole number of 2-channel"):
        write_wav(tmp_path / "x.wav", b"\0\0", 8000, channels=2)
    with pytest.raises(ValueError, match="must be positive"):
        write_wav(tmp_path / "x.wav", b"", 0)
    with pytest.raises(ValueError, match="must be positive"):
        StreamingWavWriter(tmp_path / "y.wav", 8000, channels=0)


@pytest.mark.parametrize("name", SHARED_FILES)
def test_reads_the_shared_test_audio(shared_audio: Path, name: str) -> None:
    path = shared_audio / name
    audio = read_wav(path)
    rate, channels, width, frames = _read_with_wave(path)
    assert (audio.rate, audio.channels, width) == (rate, channels, 2) == (8000, 1, 2)
    assert audio.pcm == frames
    assert len(audio.pcm) > 0


def test_shared_audio_has_every_listed_file(shared_audio: Path) -> None:
    assert sorted(p.name for p in shared_audio.glob("*.wav")) == SHARED_FILES


def test_reads_8_bit_unsigned_pcm(tmp_path: Path) -> None:
    path = tmp_path / "u8.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes([0, 1, 127, 128, 129, 255]))
    audio = read_wav(path)
    assert np.frombuffer(audio.pcm, dtype="<i2").tolist() == [-32768, -32512, -256, 0, 256, 32512]
    assert (audio.rate, audio.channels) == (8000, 1)


@pytest.mark.parametrize(
    ("tag", "encode", "decode"), [(7, pcm16_to_ulaw, ulaw_to_pcm16), (6, pcm16_to_alaw, alaw_to_pcm16)]
)
@pytest.mark.parametrize("extensible", [False, True], ids=["plain", "extensible"])
def test_reads_g711(
    tmp_path: Path, tag: int, encode: Callable[[bytes], bytes], decode: Callable[[bytes], bytes], extensible: bool
) -> None:
    coded = encode(_ramp(4000, 2))
    fmt = _fmt(0xFFFE, 2, 8000, 8, _extensible(tag)) if extensible else _fmt(tag, 2, 8000, 8, b"\0\0")
    # G.711 WAVs carry a fact chunk (and often LIST); an odd-sized chunk is padded to an even length.
    path = tmp_path / "g711.wav"
    path.write_bytes(
        _riff(fmt, _chunk(b"fact", struct.pack("<I", 4000)), _chunk(b"LIST", b"odd"), _chunk(b"data", coded))
    )
    assert read_wav(path) == WavAudio(rate=8000, channels=2, pcm=decode(coded))


def test_extensible_pcm16(tmp_path: Path) -> None:
    path = tmp_path / "ext.wav"
    pcm = _ramp(100)
    path.write_bytes(_riff(_fmt(0xFFFE, 1, 16000, 16, _extensible(1)), _chunk(b"data", pcm)))
    assert read_wav(path) == WavAudio(rate=16000, channels=1, pcm=pcm)


GOOD_FMT = _fmt(1, 1, 8000, 16)


@pytest.mark.parametrize(
    ("content", "message", "field"),
    [
        (b"", "not a RIFF/WAVE file", "riff"),
        (b"RIFX" + bytes(8), "not a RIFF/WAVE file", "riff"),
        (b"RIFF\4\0\0\0AVI ", "not a RIFF/WAVE file", "riff"),
        (_riff(), "no fmt chunk", "fmt"),
        (_riff(GOOD_FMT), "no data chunk", "data"),
        (_riff(_chunk(b"data", bytes(4)), GOOD_FMT), "data chunk comes before the fmt chunk", "fmt"),
        (_riff(GOOD_FMT, _chunk(b"data", bytes(10), declared=20)), "data chunk is truncated", "data"),
        (_riff(_chunk(b"fmt ", bytes(14))), "fmt chunk is 14 bytes", "fmt"),
        (_riff(_fmt(3, 1, 8000, 32), _chunk(b"data", bytes(8))), "unsupported WAV format tag 0x3", "fmt.format_tag"),
        (_riff(_fmt(1, 1, 8000, 24), _chunk(b"data", bytes(6))), "24-bit PCM", "fmt.bits_per_sample"),
        (_riff(_fmt(7, 1, 8000, 16), _chunk(b"data", bytes(6))), "G.711 needs 8 bits", "fmt.bits_per_sample"),
        (_riff(_fmt(1, 0, 8000, 16), _chunk(b"data", b"")), "no channels", "fmt.channels"),
        (_riff(_fmt(1, 1, 0, 16), _chunk(b"data", b"")), "sample rate is 0", "fmt.sample_rate"),
        (_riff(_fmt(0xFFFE, 1, 8000, 16, b"\x16\0"), _chunk(b"data", b"")), "EXTENSIBLE", "fmt.sub_format"),
        (_riff(_fmt(1, 2, 8000, 16), _chunk(b"data", bytes(6))), "partial frame", "data"),
    ],
    ids=[
        "empty",
        "rifx",
        "not-wave",
        "no-fmt",
        "no-data",
        "data-first",
        "truncated-data",
        "short-fmt",
        "float",
        "24-bit",
        "16-bit-ulaw",
        "no-channels",
        "zero-rate",
        "short-extensible",
        "partial-frame",
    ],
)
def test_malformed_files_raise_protocol_error(tmp_path: Path, content: bytes, message: str, field: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(ProtocolError, match=message) as info:
        read_wav(path)
    assert info.value.field == field


def test_parse_wav_decodes_bytes_as_read_wav_decodes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    pcm = _ramp(160, 2)
    write_wav(path, pcm, 16000, channels=2)
    assert parse_wav(path.read_bytes()) == read_wav(path) == WavAudio(rate=16000, channels=2, pcm=pcm)
    with pytest.raises(ProtocolError, match="not a RIFF/WAVE file") as info:
        parse_wav(b"ID3\x03mp3 data")
    assert info.value.field == "riff"


def test_mono_pcm16_averages_channels_rounding_half_to_even() -> None:
    frames = np.array([[100, 300], [-50, -150], [1, 2], [3, 4], [-1, -2], [32767, 32767]], dtype="<i2")
    audio = WavAudio(rate=8000, channels=2, pcm=frames.tobytes())
    assert np.frombuffer(mono_pcm16(audio, 8000), dtype="<i2").tolist() == [200, -100, 2, 4, -2, 32767]
    three = WavAudio(rate=8000, channels=3, pcm=np.array([[3, 6, 9]], dtype="<i2").tobytes())
    assert mono_pcm16(three, 8000) == np.array([6], dtype="<i2").tobytes()


def test_mono_pcm16_resamples_with_the_bridge_resampler() -> None:
    mono = _ramp(4410)
    assert mono_pcm16(WavAudio(rate=44100, channels=1, pcm=mono), 8000) == resample(mono, 44100, 8000)
    assert mono_pcm16(WavAudio(rate=8000, channels=1, pcm=mono), 8000) == mono
    stereo = np.repeat(np.frombuffer(mono, dtype="<i2"), 2).tobytes()  # both channels equal
    assert mono_pcm16(WavAudio(rate=44100, channels=2, pcm=stereo), 8000) == resample(mono, 44100, 8000)
    with pytest.raises(ValueError, match="too fine a ratio"):
        mono_pcm16(WavAudio(rate=8001, channels=1, pcm=mono), 8000)


def test_block_align_must_match(tmp_path: Path) -> None:
    path = tmp_path / "bad.wav"
    fmt = _chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, 8000, 16000, 4, 16))
    path.write_bytes(_riff(fmt, _chunk(b"data", bytes(4))))
    with pytest.raises(ProtocolError, match="block align 4") as info:
        read_wav(path)
    assert info.value.field == "fmt.block_align"


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "nope.wav")


@pytest.mark.parametrize("channels", [1, 2])
def test_streaming_writer_is_valid_after_every_flush(tmp_path: Path, channels: int) -> None:
    path = tmp_path / "rec.wav"
    chunks = [_ramp(n, channels) for n in (160, 1, 999, 0, 4000)]
    with StreamingWavWriter(path, 8000, channels) as writer:
        assert _read_with_wave(path) == (8000, channels, 2, b"")  # valid before any audio
        written = b""
        for chunk in chunks:
            writer.write(chunk)
            written += chunk
            writer.flush()
            assert _read_with_wave(path) == (8000, channels, 2, written)
            assert read_wav(path) == WavAudio(rate=8000, channels=channels, pcm=written)
    assert _read_with_wave(path) == (8000, channels, 2, written)


def test_streaming_writer_crash_loses_only_unflushed_audio(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    writer = StreamingWavWriter(path, 8000)
    flushed = _ramp(8000)
    writer.write(flushed)
    writer.flush()
    # Ten seconds more, never flushed: much of it reaches the disk as the file buffer fills, but the
    # header still describes only the flushed part, so the file stays valid (the "crash" is reading now).
    writer.write(_ramp(80000))
    assert path.stat().st_size > 44 + len(flushed)
    assert _read_with_wave(path) == (8000, 1, 2, flushed)
    assert read_wav(path).pcm == flushed
    writer.close()
    assert len(read_wav(path).pcm) == len(flushed) + 160000


def test_streaming_writer_close_flushes_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    writer = StreamingWavWriter(path, 24000)
    writer.write(_ramp(480))
    writer.close()
    writer.close()
    assert _read_with_wave(path) == (24000, 1, 2, _ramp(480))
    with pytest.raises(ValueError):
        writer.write(_ramp(480))


def test_streaming_writer_rejects_partial_frames(tmp_path: Path) -> None:
    with StreamingWavWriter(tmp_path / "rec.wav", 8000, 2) as writer:
        with pytest.raises(ValueError, match="whole number of 2-channel"):
            writer.write(b"\0\0")


def test_streaming_writer_closes_on_error(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    with pytest.raises(RuntimeError), StreamingWavWriter(path, 8000) as writer:
        writer.write(_ramp(10))
        raise RuntimeError("call ended badly")
    assert _read_with_wave(path) == (8000, 1, 2, _ramp(10))


def test_interleave_stereo_pads_the_shorter_side() -> None:
    left = np.array([1, 2, 3], dtype="<i2").tobytes()
    right = np.array([-1], dtype="<i2").tobytes()
    assert np.frombuffer(interleave_stereo(left, right), dtype="<i2").tolist() == [1, -1, 2, 0, 3, 0]
    assert np.frombuffer(interleave_stereo(right, left), dtype="<i2").tolist() == [-1, 1, 0, 2, 0, 3]
    assert interleave_stereo(b"", b"") == b""


def test_interleaved_stereo_is_a_valid_recording(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    caller, agent = _ramp(800), _ramp(400)
    write_wav(path, interleave_stereo(caller, agent), 8000, channels=2)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getnframes()) == (2, 800)
        frames = np.frombuffer(w.readframes(800), dtype="<i2").reshape(-1, 2)
    assert frames[:, 0].tobytes() == caller
    assert frames[:400, 1].tobytes() == agent
    assert not frames[400:, 1].any()


def test_interleave_rejects_partial_samples() -> None:
    with pytest.raises(ValueError, match="whole number"):
        interleave_stereo(b"\0", b"")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_streaming_writer_closes_its_file_when_the_header_cannot_be_written() -> None:
    with pytest.raises(OSError):
        StreamingWavWriter("/dev/full", 8000)


def test_data_is_capped_at_the_32_bit_riff_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real cap is 4 GiB - 36 bytes; shrink it rather than write gigabytes.
    monkeypatch.setattr(wav_module, "_MAX_DATA", 8)
    with pytest.raises(ValueError, match="4 GiB"):
        write_wav(tmp_path / "big.wav", bytes(10), 8000)
    with StreamingWavWriter(tmp_path / "rec.wav", 8000) as writer:
        writer.write(bytes(8))
        with pytest.raises(ValueError, match="4 GiB"):
            writer.write(bytes(2))
    assert _read_with_wave(tmp_path / "rec.wav") == (8000, 1, 2, bytes(8))
