"""Pure, synchronous audio: G.711 codecs, streaming resampler, WAV files."""
