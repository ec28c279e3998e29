"""A small additive synthesiser: a ``Piece`` as mono PCM audio, so a page can play samples.

Browsers cannot play MIDI files, and a General MIDI sound font or a synthesiser package
would be a heavy dependency for a preview. Each note here is a few harmonics of its pitch's
frequency under a short attack and an exponential decay, which is enough to hear melody,
harmony and rhythm. numpy and the standard library's ``wave`` only.

Times come from the piece's beats and its ``tempo_bpm``; the audio lasts exactly as long
as the piece (its last note's end), cut at ``max_seconds``. Every note fades out within
its own duration, so a note never rings past its end and the length is exact.
"""

from __future__ import annotations

import io
import wave

import numpy as np

from seqtk.plugins.music.notes import Piece

__all__ = ["SAMPLE_RATE", "frequency", "render", "wav_bytes", "piece_to_wav"]

#: 16 kHz: the highest note of a piano (4.2 kHz) keeps its first harmonics, at a third of CD's size.
SAMPLE_RATE = 16_000
#: Relative amplitudes of the fundamental and its overtones (a soft, organ-like tone).
HARMONICS = (1.0, 0.4, 0.2, 0.1)
ATTACK_SECONDS = 0.005
RELEASE_SECONDS = 0.03
#: Time for a held note to decay to 1/e of its level.
DECAY_SECONDS = 0.8


def frequency(pitch: int | np.ndarray) -> np.ndarray:
    """Equal temperament with A4 (MIDI 69) at 440 Hz."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=float) - 69.0) / 12.0)


def render(piece: Piece, *, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = 8.0) -> np.ndarray:
    """The piece as float32 samples in [-1, 1], ``piece.length_beats`` long (at most ``max_seconds``).

    Notes are mixed by adding; the mix is scaled down only when it would clip, so a single
    note keeps its loudness (velocity / 127 * 0.5) whatever else the piece holds.
    """
    if sample_rate < 1000:
        raise ValueError(f"render: sample_rate must be at least 1000 Hz, got {sample_rate}")
    seconds_per_beat = 60.0 / piece.tempo_bpm
    seconds = piece.length_beats * seconds_per_beat
    if max_seconds is not None:
        seconds = min(seconds, max_seconds)
    total = int(round(seconds * sample_rate))
    out = np.zeros(total, dtype=np.float64)
    nyquist = sample_rate / 2
    for note in piece.notes:
        start = int(round(note.start * seconds_per_beat * sample_rate))
        if start >= total:
            continue
        end = min(int(round(note.end * seconds_per_beat * sample_rate)), total)
        if end <= start:
            continue
        t = np.arange(end - start) / sample_rate
        tone = np.zeros_like(t)
        base = float(frequency(note.pitch))
        for number, weight in enumerate(HARMONICS, start=1):
            if base * number < nyquist:  # an overtone above Nyquist would alias into a wrong pitch
                tone += weight * np.sin(2 * np.pi * base * number * t)
        tone /= sum(HARMONICS)
        out[start:end] += tone * _envelope(end - start, sample_rate) * (note.velocity / 127.0 * 0.5)
    peak = float(np.max(np.abs(out))) if total else 0.0
    if peak > 0.99:
        out *= 0.99 / peak
    return out.astype(np.float32)


def _envelope(count: int, sample_rate: int) -> np.ndarray:
    """Attack, exponential decay, and a linear release that ends at the note's last sample."""
    t = np.arange(count) / sample_rate
    level = np.exp(-t / DECAY_SECONDS)
    attack = max(1, min(int(ATTACK_SECONDS * sample_rate), count // 4))
    level[:attack] *= np.linspace(0.0, 1.0, attack, endpoint=False)
    release = max(1, min(int(RELEASE_SECONDS * sample_rate), count // 4))
    level[-release:] *= np.linspace(1.0, 0.0, release)
    return level


def wav_bytes(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A 16-bit mono PCM WAV file holding ``samples`` (floats in [-1, 1], clipped)."""
    pcm = (np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0) * 32767).round().astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())
    return buffer.getvalue()


def piece_to_wav(piece: Piece, *, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = 8.0) -> bytes:
    """``render`` then ``wav_bytes``: what a report embeds as ``data:audio/wav``."""
    return wav_bytes(render(piece, sample_rate=sample_rate, max_seconds=max_seconds), sample_rate)
