"""WAV files: read any telephony WAV as PCM16, write PCM16, and record a call incrementally.

The stdlib ``wave`` module on Python 3.11 reads integer PCM only, but telephony WAVs are often G.711
(format tags 6 and 7), so reading parses the RIFF chunks itself. Writing always produces the plain
44-byte-header PCM16 layout every reader accepts.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, NamedTuple

import numpy as np

from bridge.audio.g711 import alaw_to_pcm16, ulaw_to_pcm16
from bridge.audio.resample import resample
from bridge.errors import ProtocolError

__all__ = ["StreamingWavWriter", "WavAudio", "interleave_stereo", "mono_pcm16", "parse_wav", "read_wav", "write_wav"]

StrPath = str | os.PathLike[str]

_FORMAT_PCM = 1
_FORMAT_ALAW = 6
_FORMAT_ULAW = 7
_FORMAT_EXTENSIBLE = 0xFFFE
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")  # RIFF header + 16-byte fmt chunk + data chunk header
_RIFF_SIZE_OFFSET = 4
_DATA_SIZE_OFFSET = _HEADER.size - 4
_MAX_DATA = 0xFFFFFFFF - (_HEADER.size - 8)  # RIFF sizes are 32-bit


@dataclass(frozen=True, slots=True)
class WavAudio:
    """Decoded WAV audio: ``pcm`` is interleaved 16-bit little-endian PCM."""

    rate: int
    channels: int
    pcm: bytes


class _Format(NamedTuple):
    decode: Callable[[bytes], bytes]  # stored samples -> PCM16 little-endian
    width: int  # bytes per stored sample
    channels: int
    rate: int


def parse_wav(data: bytes) -> WavAudio:
    """Decode a whole WAV file held in memory to PCM16.

    Accepts 8-bit (unsigned) and 16-bit integer PCM, A-law (format 6) and mu-law (format 7), also when
    wrapped in WAVE_FORMAT_EXTENSIBLE.

    Raises:
        ProtocolError: ``data`` is not a well-formed WAV in one of those encodings; ``field`` names
            the offending part.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ProtocolError("not a RIFF/WAVE file", field="riff")
    fmt: _Format | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if body + size > len(data):
            name = chunk_id.decode("latin-1").strip()
            present = len(data) - body
            raise ProtocolError(f"{name} chunk is truncated: {size} bytes declared, {present} present", field=name)
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(data[body : body + size])
        elif chunk_id == b"data":
            if fmt is None:
                raise ProtocolError("data chunk comes before the fmt chunk", field="fmt")
            return _decode(fmt, data[body : body + size])
        pos = body + size + (size & 1)  # chunks are padded to an even length
    if fmt is None:
        raise ProtocolError("no fmt chunk", field="fmt")
    raise ProtocolError("no data chunk", field="data")


def read_wav(path: StrPath) -> WavAudio:
    """Read a WAV file and convert it to PCM16, as :func:`parse_wav` does.

    Raises:
        ProtocolError: as :func:`parse_wav`.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as f:
        data = f.read()
    return parse_wav(data)


def mono_pcm16(audio: WavAudio, rate: int) -> bytes:
    """``audio`` as mono PCM16 at ``rate``: channels averaged (rounded half to even), then resampled.

    Raises:
        ValueError: the two rates are too odd a pair to resample between (see ``resample``).
    """
    pcm = audio.pcm
    if audio.channels > 1:
        frames = np.frombuffer(pcm, dtype="<i2").reshape(-1, audio.channels)
        pcm = frames.mean(axis=1).round().astype("<i2").tobytes()
    return resample(pcm, audio.rate, rate)


def _parse_fmt(body: bytes) -> _Format:
    if len(body) < 16:
        raise ProtocolError(f"fmt chunk is {len(body)} bytes, needs at least 16", field="fmt")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _FORMAT_EXTENSIBLE:
        # cbSize, valid bits, channel mask, then a GUID whose first two bytes are the real format tag.
        if len(body) < 26:
            raise ProtocolError("WAVE_FORMAT_EXTENSIBLE fmt chunk is too short", field="fmt.sub_format")
        (tag,) = struct.unpack_from("<H", body, 24)
    decode: Callable[[bytes], bytes]
    if tag == _FORMAT_PCM and bits == 16:
        decode = bytes
    elif tag == _FORMAT_PCM and bits == 8:
        decode = _pcm8_to_pcm16
    elif tag == _FORMAT_PCM:
        raise ProtocolError(f"{bits}-bit PCM is not supported (8 or 16)", field="fmt.bits_per_sample")
    elif tag in (_FORMAT_ALAW, _FORMAT_ULAW):
        if bits != 8:
            raise ProtocolError(f"G.711 needs 8 bits per sample, not {bits}", field="fmt.bits_per_sample")
        decode = alaw_to_pcm16 if tag == _FORMAT_ALAW else ulaw_to_pcm16
    else:
        raise ProtocolError(f"unsupported WAV format tag {tag:#x}", field="fmt.format_tag")
    if channels < 1:
        raise ProtocolError("WAV has no channels", field="fmt.channels")
    if rate < 1:
        raise ProtocolError("WAV sample rate is 0", field="fmt.sample_rate")
    if block_align != channels * bits // 8:
        raise ProtocolError(
            f"block align {block_align} does not match {channels} x {bits}-bit samples", field="fmt.block_align"
        )
    return _Format(decode=decode, width=bits // 8, channels=channels, rate=rate)


def _pcm8_to_pcm16(samples: bytes) -> bytes:
    # 8-bit WAV PCM is unsigned, centred on 128.
    return ((np.frombuffer(samples, dtype=np.uint8).astype("<i2") - 128) << 8).tobytes()


def _decode(fmt: _Format, samples: bytes) -> WavAudio:
    if len(samples) % (fmt.width * fmt.channels):
        raise ProtocolError(f"data chunk of {len(samples)} bytes ends in a partial frame", field="data")
    return WavAudio(rate=fmt.rate, channels=fmt.channels, pcm=fmt.decode(samples))


def _header(rate: int, channels: int, data_size: int) -> bytes:
    return _HEADER.pack(
        b"RIFF",
        _HEADER.size - 8 + data_size,
        b"WAVE",
        b"fmt ",
        16,
        _FORMAT_PCM,
        channels,
        rate,
        rate * channels * 2,
        channels * 2,
        16,
        b"data",
        data_size,
    )


def _check_format(rate: int, channels: int) -> None:
    if rate < 1 or channels < 1:
        raise ValueError(f"rate and channels must be positive, got rate={rate} channels={channels}")


def _check_frames(pcm: bytes, channels: int) -> None:
    if len(pcm) % (2 * channels):
        raise ValueError(f"{len(pcm)} bytes is not a whole number of {channels}-channel PCM16 frames")


def write_wav(path: StrPath, pcm: bytes, rate: int, channels: int = 1) -> None:
    """Write interleaved PCM16 little-endian samples as a WAV file.

    Raises:
        ValueError: bad rate or channel count, ``pcm`` is not whole frames, or it exceeds 4 GiB.
        OSError: the file cannot be written.
    """
    _check_format(rate, channels)
    _check_frames(pcm, channels)
    if len(pcm) > _MAX_DATA:
        raise ValueError("WAV data cannot exceed 4 GiB")
    with open(path, "wb") as f:
        f.write(_header(rate, channels, len(pcm)))
        f.write(pcm)


class StreamingWavWriter:
    """A PCM16 WAV file written incrementally, e.g. a call recording.

    ``write()`` appends; ``flush()`` hands the data to the operating system and then rewrites the RIFF
    and data sizes, so after every flush the file on disk is a complete WAV. Data written after the last
    flush is not covered by the header: a crash of the process loses at most that (``flush()`` does not
    fsync, so a crash of the machine may lose what the OS had not written yet). Use as a context manager
    or call ``close()`` (which flushes).
    """

    def __init__(self, path: StrPath, rate: int, channels: int = 1) -> None:
        _check_format(rate, channels)
        self._channels = channels
        self._data_size = 0
        self._file: BinaryIO = open(path, "wb")  # closed by close() / __exit__
        try:
            self._file.write(_header(rate, channels, 0))
            self._file.flush()
        except BaseException:
            self._file.close()
            raise

    def write(self, pcm: bytes) -> None:
        """Append interleaved PCM16 little-endian frames.

        Raises:
            ValueError: ``pcm`` is not whole frames, the data would exceed 4 GiB, or the writer is closed.
        """
        _check_frames(pcm, self._channels)
        if self._data_size + len(pcm) > _MAX_DATA:
            raise ValueError("WAV data cannot exceed 4 GiB")
        self._file.write(pcm)
        self._data_size += len(pcm)

    def flush(self) -> None:
        """Make everything written so far a valid WAV on disk."""
        f = self._file
        # Data first, sizes second: if we die in between, the old sizes still describe valid data.
        f.flush()
        f.seek(_RIFF_SIZE_OFFSET)
        f.write(struct.pack("<I", _HEADER.size - 8 + self._data_size))
        f.seek(_DATA_SIZE_OFFSET)
        f.write(struct.pack("<I", self._data_size))
        f.seek(0, os.SEEK_END)
        f.flush()

    def close(self) -> None:
        """Flush and close; closing twice is harmless."""
        if self._file.closed:
            return
        try:
            self.flush()
        finally:
            self._file.close()

    def __enter__(self) -> StreamingWavWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def interleave_stereo(left: bytes, right: bytes) -> bytes:
    """Interleave two PCM16 mono signals into stereo; the shorter one is padded with silence.

    Raises:
        ValueError: either input is not whole PCM16 samples.
    """
    _check_frames(left, 1)
    _check_frames(right, 1)
    a = np.frombuffer(left, dtype="<i2")
    b = np.frombuffer(right, dtype="<i2")
    out = np.zeros((max(a.size, b.size), 2), dtype="<i2")
    out[: a.size, 0] = a
    out[: b.size, 1] = b
    return out.tobytes()
