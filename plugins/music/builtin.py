"""A built-in corpus of four-voice phrases that needs no download and no extra package.

The chorales the music recipes are built for come from music21's corpus, an optional
extra that takes a minute to parse. The quickstart recipe and the smoke tests need music
at once, on any machine, that a small GAN can learn on two CPU cores in about a minute:
so this module *writes* chorale-like phrases from a handful of rules instead.

Each phrase is in one key (a random tonic of 12; major, or natural minor for a share of
the phrases) and follows a chord progression chained from a small named set of common
cadential progressions (I-IV-V-I, I-ii-V-I, I-vi-IV-V-I, ...), one chord per beat or per
two beats, ending on a tonic chord held for two beats after V. Four voices (bass, tenor,
alto, soprano) sing in their usual ranges; the bass takes the chord's root, and the
upper voices take the complete triad voiced with the least total movement from the
previous chord (each voice moves to a near chord tone, no crossing, no gap above an
octave between neighbouring upper voices). The soprano fills some leaps of a third with a
passing eighth note. 4/4, 90 bpm.

This is a synthetic stand-in for Bach chorales for smoke runs and the quickstart, **not a
benchmark**: numbers measured against it say nothing about real music.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .notes import Note, Piece

__all__ = [
    "PROGRESSIONS",
    "VOICES",
    "VOICE_RANGES",
    "TEMPO_BPM",
    "BuiltinPhrase",
    "builtin_phrases",
    "builtin_pieces",
]

#: Cadential progressions as scale degrees (0 = tonic), by their major-key names. Each
#: starts and ends on the tonic and closes with V-I, so they chain into longer phrases.
PROGRESSIONS: dict[str, tuple[int, ...]] = {
    "I-IV-V-I": (0, 3, 4, 0),
    "I-ii-V-I": (0, 1, 4, 0),
    "I-vi-IV-V-I": (0, 5, 3, 4, 0),
    "I-vi-ii-V-I": (0, 5, 1, 4, 0),
    "I-IV-I-V-I": (0, 3, 0, 4, 0),
    "I-iii-vi-ii-V-I": (0, 2, 5, 1, 4, 0),
}

#: Voice names, lowest first: the order of ``BuiltinPhrase.voices``.
VOICES: tuple[str, ...] = ("bass", "tenor", "alto", "soprano")
#: Inclusive MIDI pitch ranges: bass E2-C4, tenor C3-G4, alto G3-C5, soprano C4-G5.
VOICE_RANGES: dict[str, tuple[int, int]] = {
    "bass": (40, 60),
    "tenor": (48, 67),
    "alto": (55, 72),
    "soprano": (60, 79),
}
TEMPO_BPM = 90.0
BEATS_PER_BAR = 4
#: Beats the final tonic chord is held.
FINAL_BEATS = 2
#: Velocities: the soprano carries the tune, so it sounds a little louder.
VELOCITY = 80
SOPRANO_VELOCITY = 90
#: Probability that the soprano fills a leap of a third with a passing eighth note.
PASSING_PROBABILITY = 0.5
#: Weight of a semitone of voice movement against a semitone away from the middle of a
#: voice's range, when choosing a voicing: movement comes first, the middle breaks ties.
MOVEMENT_WEIGHT = 4
#: Largest gap, in semitones, between neighbouring upper voices (tenor-alto, alto-soprano).
MAX_UPPER_SPACING = 12

#: Middle of each voice's range, in the order of VOICES.
_CENTRES = tuple((low + high) // 2 for low, high in VOICE_RANGES.values())
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_NATURAL_MINOR = (0, 2, 3, 5, 7, 8, 10)
_MAJOR_NUMERALS = ("I", "ii", "iii", "IV", "V", "vi", "vii°")
_MINOR_NUMERALS = ("i", "ii°", "III", "iv", "v", "VI", "VII")


@dataclass(frozen=True)
class BuiltinPhrase:
    """One generated phrase and how it was made (for tests, docs and curious users).

    ``piece`` holds every note; ``voices`` the same notes split by voice, in the order of
    :data:`VOICES`; ``tonic`` is the key's pitch class (0 = C), ``mode`` ``"major"`` or
    ``"minor"`` (natural minor); ``chords`` the Roman numerals of the chords in order
    (the last is the held tonic); ``beats_per_chord`` the harmonic rhythm (1 or 2).
    """

    piece: Piece
    voices: tuple[tuple[Note, ...], ...]
    tonic: int
    mode: Literal["major", "minor"]
    chords: tuple[str, ...]
    beats_per_chord: int

    @property
    def scale(self) -> frozenset[int]:
        """The pitch classes of the phrase's key."""
        steps = _MAJOR if self.mode == "major" else _NATURAL_MINOR
        return frozenset((self.tonic + step) % 12 for step in steps)


def builtin_pieces(count: int = 200, *, seed: int = 0, bars: int = 4, minor_share: float = 0.0) -> list[Piece]:
    """``count`` chorale-like four-voice phrases of ``bars`` bars, the same for the same arguments.

    A synthetic stand-in for Bach chorales for smoke runs and the quickstart recipe, not a
    benchmark (see the module docstring for the rules). Pieces are named
    ``builtin-000``, ``builtin-001``, ...; ``minor_share`` is the probability that a
    phrase is in a (natural) minor key rather than major. Deterministic: drawn from
    ``numpy.random.default_rng(seed)``. Raises ``ValueError`` naming the parameter when
    ``count < 1``, ``bars < 2`` or ``minor_share`` lies outside ``[0, 1]``.
    """
    return [phrase.piece for phrase in builtin_phrases(count, seed=seed, bars=bars, minor_share=minor_share)]


def builtin_phrases(
    count: int = 200, *, seed: int = 0, bars: int = 4, minor_share: float = 0.0
) -> list[BuiltinPhrase]:
    """Like :func:`builtin_pieces`, with each piece's key, chords and voices."""
    _check_arguments(count, seed, bars, minor_share)
    rng = np.random.default_rng(seed)
    width = max(3, len(str(count - 1)))
    return [_phrase(rng, f"builtin-{index:0{width}d}", bars, minor_share) for index in range(count)]


def _check_arguments(count: int, seed: int, bars: int, minor_share: float) -> None:
    if not _is_whole(count) or count < 1:
        raise ValueError(f"builtin_pieces: count must be a whole number >= 1, got {count!r}")
    if not _is_whole(bars) or bars < 2:
        raise ValueError(
            f"builtin_pieces: bars must be a whole number >= 2 (room for a progression and its cadence), got {bars!r}"
        )
    if not _is_whole(seed) or seed < 0:
        raise ValueError(f"builtin_pieces: seed must be a whole number >= 0, got {seed!r}")
    if isinstance(minor_share, bool) or not isinstance(minor_share, (int, float)) or not 0.0 <= minor_share <= 1.0:
        raise ValueError(f"builtin_pieces: minor_share must be a number in [0, 1], got {minor_share!r}")


def _is_whole(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


# --------------------------------------------------------------------------- harmony


def _phrase(rng: np.random.Generator, name: str, bars: int, minor_share: float) -> BuiltinPhrase:
    tonic = int(rng.integers(12))
    mode: Literal["major", "minor"] = "minor" if rng.random() < minor_share else "major"
    beats_per_chord = int(rng.choice((1, 2)))
    chord_count = (bars * BEATS_PER_BAR - FINAL_BEATS) // beats_per_chord + 1  # the last is the held tonic
    degrees = _degrees(rng, chord_count)
    scale = [(tonic + step) % 12 for step in (_MAJOR if mode == "major" else _NATURAL_MINOR)]
    voicings = _voice_leading(rng, [_triad(scale, degree) for degree in degrees])
    voices = _voice_notes(rng, voicings, scale, beats_per_chord)
    numerals = _MAJOR_NUMERALS if mode == "major" else _MINOR_NUMERALS
    piece = Piece(
        notes=[note for voice in voices for note in voice],
        tempo_bpm=TEMPO_BPM,
        beats_per_bar=float(BEATS_PER_BAR),
        name=name,
    )
    return BuiltinPhrase(
        piece=piece,
        voices=voices,
        tonic=tonic,
        mode=mode,
        chords=tuple(numerals[d] for d in degrees),
        beats_per_chord=beats_per_chord,
    )


def _degrees(rng: np.random.Generator, count: int) -> list[int]:
    """``count`` scale degrees: named progressions chained backwards from a final V-I.

    Progressions share their tonic ends, so prepending one drops its last chord. The
    chain is cut to ``count`` chords from the end (the cadence must survive) and the
    first chord is set to the tonic (unless the tonic follows it: a cut V-I stays), so
    every phrase states its key at once.
    """
    names = list(PROGRESSIONS)
    degrees = list(PROGRESSIONS[names[int(rng.integers(len(names)))]])
    while len(degrees) < count:
        degrees = list(PROGRESSIONS[names[int(rng.integers(len(names)))]][:-1]) + degrees
    degrees = degrees[-count:]
    if degrees[1] != 0:  # a chain cut before V-I already starts with the cadence
        degrees[0] = 0
    return degrees


def _triad(scale: list[int], degree: int) -> tuple[int, int, int]:
    """Pitch classes (root, third, fifth) of the diatonic triad on ``degree``."""
    return scale[degree % 7], scale[(degree + 2) % 7], scale[(degree + 4) % 7]


def _candidates(voice: str, classes: tuple[int, ...]) -> np.ndarray:
    low, high = VOICE_RANGES[voice]
    return np.array([p for p in range(low, high + 1) if p % 12 in classes], dtype=np.int64)


def _voice_leading(rng: np.random.Generator, triads: list[tuple[int, int, int]]) -> list[tuple[int, int, int, int]]:
    """(bass, tenor, alto, soprano) for each triad, each chord moving as little as it can.

    The first chord is voiced near a random starting height of the soprano so phrases do
    not all begin alike; after that everything follows from the rules, with ties broken
    by the fixed order of the candidates.
    """
    previous = (48, 57, 64, int(rng.integers(66, 75)))
    voicings = []
    for triad in triads:
        previous = _voice_chord(triad, previous)
        voicings.append(previous)
    return voicings


def _voice_chord(triad: tuple[int, int, int], previous: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The root in the bass nearest the previous bass; the upper voices by least movement.

    Every combination of chord tones in the three upper ranges is scored at once (numpy
    broadcasting over about a hundred candidates): it must keep the voices in order
    (bass < tenor < alto < soprano), keep neighbouring upper voices within an octave, and
    sound all three pitch classes of the triad; of those, the least total movement wins,
    ties (and near ties: movement weighs :data:`MOVEMENT_WEIGHT` times more) going to the
    voicing nearest the middle of the ranges, so the voices do not drift to an edge.
    """
    bass_options = _candidates("bass", triad[:1])
    bass = int(bass_options[np.argmin(np.abs(bass_options - previous[0]))])
    tenor = _candidates("tenor", triad)[:, None, None]
    alto = _candidates("alto", triad)[None, :, None]
    soprano = _candidates("soprano", triad)[None, None, :]
    ordered = (bass < tenor) & (tenor < alto) & (alto < soprano)
    spaced = (alto - tenor <= MAX_UPPER_SPACING) & (soprano - alto <= MAX_UPPER_SPACING)
    complete = np.ones_like(ordered)
    for pitch_class in triad:
        complete &= (bass % 12 == pitch_class) | (tenor % 12 == pitch_class) | (alto % 12 == pitch_class) | (
            soprano % 12 == pitch_class
        )
    movement = np.abs(tenor - previous[1]) + np.abs(alto - previous[2]) + np.abs(soprano - previous[3])
    height = np.abs(tenor - _CENTRES[1]) + np.abs(alto - _CENTRES[2]) + np.abs(soprano - _CENTRES[3])
    valid = ordered & spaced & complete
    if not valid.any():  # cannot happen with these ranges; keep the order rule at least
        valid = ordered
    cost = np.where(valid, MOVEMENT_WEIGHT * movement + height, np.iinfo(np.int64).max)
    t, a, s = np.unravel_index(int(np.argmin(cost)), cost.shape)
    return bass, int(tenor[t, 0, 0]), int(alto[0, a, 0]), int(soprano[0, 0, s])


# --------------------------------------------------------------------------- notes


def _voice_notes(
    rng: np.random.Generator, voicings: list[tuple[int, int, int, int]], scale: list[int], beats_per_chord: int
) -> tuple[tuple[Note, ...], ...]:
    """The notes of each voice: one per chord, the last held; soprano passing eighths."""
    voices: list[list[Note]] = [[] for _ in VOICES]
    last = len(voicings) - 1
    for index, voicing in enumerate(voicings):
        start = float(index * beats_per_chord)
        duration = float(FINAL_BEATS if index == last else beats_per_chord)
        for voice, pitch in enumerate(voicing):
            velocity = SOPRANO_VELOCITY if VOICES[voice] == "soprano" else VELOCITY
            passing = None
            if VOICES[voice] == "soprano" and index < last:
                passing = _passing_tone(pitch, voicings[index + 1][voice], scale)
                if passing is not None and rng.random() >= PASSING_PROBABILITY:
                    passing = None
            if passing is None:
                voices[voice].append(Note(start, duration, pitch, velocity))
            else:  # the chord tone, then the passing tone on the last eighth of the chord
                voices[voice].append(Note(start, duration - 0.5, pitch, velocity))
                voices[voice].append(Note(start + duration - 0.5, 0.5, passing, velocity))
    return tuple(tuple(notes) for notes in voices)


def _passing_tone(here: int, there: int, scale: list[int]) -> int | None:
    """The one scale tone strictly between two pitches a third apart, else None."""
    if abs(there - here) not in (3, 4):
        return None
    between = [p for p in range(min(here, there) + 1, max(here, there)) if p % 12 in scale]
    return between[0] if len(between) == 1 else None

