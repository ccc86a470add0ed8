"""The default voice: right length, deterministic, speech-shaped."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from bridge.engine.vad import EnergyVad, SpeechStarted, SpeechStopped
from bridge.engine.voice import MS_PER_CHAR, SpeechVoice

TEXT = "Your order left our warehouse on Monday and should arrive by Thursday."


def samples(pcm: bytes) -> npt.NDArray[np.float64]:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def frame_levels(x: npt.NDArray[np.float64], rate: int, ms: int = 10) -> npt.NDArray[np.float64]:
    n = rate * ms // 1000
    frames = x[: len(x) // n * n].reshape(-1, n)
    levels: npt.NDArray[np.float64] = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) / 32768 + 1e-10)
    return levels


def test_length_and_word_timings_follow_the_text() -> None:
    pcm, words = SpeechVoice().synthesize(TEXT, 8000)
    assert len(pcm) == len(TEXT) * MS_PER_CHAR * 8 * 2
    assert [w for w, _, _ in words] == TEXT.split()
    assert words[0][1] == 0 and words[-1][2] == len(TEXT) * MS_PER_CHAR
    for (word, start, end), (_, next_start, _) in zip(words, words[1:], strict=False):
        assert end - start == len(word) * MS_PER_CHAR and next_start - end == MS_PER_CHAR
    # About 170 words a minute for ordinary text.
    assert 150 <= len(words) / (len(pcm) / 16000 / 60) <= 200
    pcm24, words24 = SpeechVoice().synthesize(TEXT, 24000)
    assert len(pcm24) == 3 * len(pcm) and words24 == words
    assert SpeechVoice().synthesize("", 8000) == (b"", [])


def test_it_is_deterministic_per_text() -> None:
    assert SpeechVoice().synthesize(TEXT, 8000) == SpeechVoice().synthesize(TEXT, 8000)
    # The same length, another text: another pitch and other vowels.
    assert SpeechVoice().synthesize("Hello world", 8000)[0] != SpeechVoice().synthesize("Jello world", 8000)[0]


def test_it_sounds_like_speech() -> None:
    rate = 8000
    pcm, words = SpeechVoice().synthesize(TEXT, rate)
    x = samples(pcm)
    peak = np.max(np.abs(x))
    assert 0.4 * 32768 <= peak <= 0.51 * 32768  # -6 dBFS peak, no clipping
    levels = frame_levels(x, rate)
    voiced = np.concatenate([levels[start // 10 + 2 : end // 10 - 2] for _, start, end in words])
    assert np.median(voiced) > -25  # loud enough for any VAD threshold up to about 0.7
    # Words are separated by silent gaps.
    for (_, _, end), (_, next_start, _) in zip(words, words[1:], strict=False):
        assert np.all(x[end * rate // 1000 : next_start * rate // 1000] == 0)
    # Syllable-rate loudness modulation: within words the level swings by more than 10 dB.
    longest = max(words, key=lambda w: w[2] - w[1])
    inside = levels[longest[1] // 10 + 2 : longest[2] // 10 - 2]
    assert inside.max() - inside.min() > 10
    # Voiced: most energy sits in harmonics of a 90-170 Hz pitch, under the 4 kHz telephone band edge.
    word = x[longest[1] * rate // 1000 : longest[2] * rate // 1000]
    spectrum = np.abs(np.fft.rfft(word * np.hanning(len(word))))
    freqs = np.fft.rfftfreq(len(word), 1 / rate)
    assert freqs[np.argmax(spectrum)] < 1200
    assert np.sum(spectrum[freqs < 3700] ** 2) > 0.99 * np.sum(spectrum**2)
    autocorr = np.correlate(word[:800], word[:800], "full")[799:]
    lag = np.argmax(autocorr[40:100]) + 40  # 80-200 Hz
    assert 90 <= rate / lag <= 170
    # Moving formants: the spectral centroid changes over time.
    centroids = []
    for start in range(0, len(x) - 400, 400):
        frame = np.abs(np.fft.rfft(x[start : start + 400]))
        if frame.sum() > 0:
            centroids.append(np.sum(frame * np.fft.rfftfreq(400, 1 / rate)) / frame.sum())
    assert np.std(centroids) > 100


def test_a_vad_hears_it_as_one_turn() -> None:
    pcm, _ = SpeechVoice().synthesize(TEXT, 24000)
    events = EnergyVad(rate=24000, threshold=0.5, silence_duration_ms=200).feed(pcm + bytes(24000))
    assert [type(e) for e in events] == [SpeechStarted, SpeechStopped]
