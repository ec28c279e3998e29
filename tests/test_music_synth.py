"""The report's synthesiser: pitch, timing, length and the WAV container."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from seqtk.plugins.music.notes import Note, Piece
from seqtk.plugins.music.synth import frequency, piece_to_wav, render


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def test_a4_sounds_at_440_hz_for_exactly_its_duration() -> None:
    # At 60 bpm a beat is a second: one A4 lasting 1.5 beats is 1.5 s of audio.
    audio = render(Piece([Note(0.0, 1.5, 69, 100)], tempo_bpm=60.0), sample_rate=16_000)
    assert audio.shape == (24_000,)
    assert abs(peak_hz(audio, 16_000) - 440.0) <= 1.0
    assert 0.2 < float(np.max(np.abs(audio))) < 1.0


def test_the_second_note_starts_on_its_beat_and_has_its_own_pitch() -> None:
    rate = 8_000
    audio = render(Piece([Note(0.0, 1.0, 69), Note(1.0, 1.0, 81)], tempo_bpm=120.0), sample_rate=rate)
    assert audio.shape == (rate,)  # two beats at 120 bpm: one second
    first, second = audio[: rate // 2], audio[rate // 2 :]
    assert abs(peak_hz(first, rate) - 440.0) <= 2.0
    assert abs(peak_hz(second, rate) - 880.0) <= 2.0
    # A rest sounds as silence: a note starting on beat 2 leaves beat 1 empty.
    late = render(Piece([Note(1.0, 1.0, 60)], tempo_bpm=60.0), sample_rate=rate)
    assert np.all(late[:rate] == 0.0) and np.any(late[rate:] != 0.0)


def test_clips_are_cut_at_max_seconds_and_chords_never_clip() -> None:
    chord = Piece([Note(0.0, 20.0, p, 127) for p in (48, 52, 55, 60, 64, 67, 72)], tempo_bpm=60.0)
    audio = render(chord, sample_rate=8_000, max_seconds=3.0)
    assert audio.shape == (24_000,)
    assert float(np.max(np.abs(audio))) <= 0.99 + 1e-6


def test_wav_bytes_are_16_bit_mono_at_the_rate_asked() -> None:
    data = piece_to_wav(Piece([Note(0.0, 2.0, 57)], tempo_bpm=120.0), sample_rate=16_000)
    with wave.open(io.BytesIO(data)) as handle:
        assert (handle.getnchannels(), handle.getsampwidth(), handle.getframerate()) == (1, 2, 16_000)
        assert handle.getnframes() == 16_000  # 2 beats at 120 bpm
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
    assert abs(peak_hz(pcm.astype(float), 16_000) - float(frequency(57))) <= 1.0


def test_a_low_sample_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        render(Piece([Note(0.0, 1.0, 60)]), sample_rate=100)
