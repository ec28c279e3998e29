"""Per-piece musical features, and one number that says how far generated music is from real.

Each feature is a plain function of a :class:`~seqtk.plugins.music.notes.Piece` that
returns a Python float, so it can be tested on a hand-built piece and applied to any
source of pieces (MIDI files, decoded events, decoded tokens). The set follows the
papers that evaluate symbolic-music GANs:

- C-RNN-GAN (Mogren, "C-RNN-GAN: Continuous recurrent neural networks with adversarial
  training", 2016): pitch range, scale consistency, repetitions, polyphony (tone span);
- MuseGAN (Dong et al., "MuseGAN: Multi-track sequential generative adversarial networks
  for symbolic music generation and accompaniment", AAAI 2018): used pitch classes, empty
  bars (here empty *beats*), polyphony on a time grid;
- MGEval (Yang & Lerch, "On the evaluation of generative models in music", Neural
  Computing and Applications 2018): pitch count, pitch-class histogram, pitch range, note
  count per unit of time; and the idea of comparing *distributions* of a feature over a
  set of real pieces and a set of generated ones instead of looking at single values.

A single value of a feature says little (a Bach chorale and a random piece may share a
pitch range); what matters is whether the generated pieces' values are spread like the
real pieces' values. :func:`overlap` measures that for one feature as the shared area of
the two histograms, and :func:`feature_distance` turns it into one distance per feature
(``1 - overlap``) and their mean, so "closer to Bach" is one number in ``[0, 1]``.

Every feature is defined for an empty piece (no notes) and returns 0 there, so a
generator that produces silence gets numbers, not an exception. Times are in beats
(quarter notes), as in ``Piece``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Callable, Sequence

import numpy as np

from seqtk.plugins.music.notes import Piece

__all__ = [
    "pitch_range",
    "used_pitch_classes",
    "pitch_class_entropy",
    "scale_consistency",
    "polyphony",
    "repetitions",
    "note_density",
    "empty_beat_rate",
    "FEATURES",
    "piece_features",
    "overlap",
    "feature_distance",
    "STEPS_PER_BEAT",
    "REPETITION_NGRAM",
    "DEFAULT_BINS",
]

#: Grid resolution of :func:`polyphony`: four steps per beat (sixteenth notes in 4/4).
STEPS_PER_BEAT = 4
#: :func:`repetitions` compares n-grams of this many consecutive pitch intervals (4 notes).
REPETITION_NGRAM = 3
#: Number of histogram bins of :func:`overlap` and :func:`feature_distance`.
DEFAULT_BINS = 20
#: Times closer than this (in beats) count as equal: note ends computed in floating point
#: (``start + duration``) must not spill a note into the next beat.
_EPS = 1e-6

#: Pitch classes (0 = C) of the major and natural-minor scales on C.
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_NATURAL_MINOR = (0, 2, 3, 5, 7, 8, 10)
#: The 24 scales of :func:`scale_consistency`: major and natural minor on each of 12 tonics.
_SCALES: tuple[frozenset[int], ...] = tuple(
    frozenset((tonic + step) % 12 for step in steps) for steps in (_MAJOR, _NATURAL_MINOR) for tonic in range(12)
)


# --------------------------------------------------------------------------- pitch


def pitch_range(piece: Piece) -> float:
    """Highest minus lowest MIDI pitch, in semitones (0 for an empty or one-pitch piece).

    C-RNN-GAN's "tone span" and MGEval's "pitch range": a generator that wanders over the
    whole keyboard or sticks to a few keys shows up here.
    """
    if not piece.notes:
        return 0.0
    pitches = [note.pitch for note in piece.notes]
    return float(max(pitches) - min(pitches))


def used_pitch_classes(piece: Piece) -> float:
    """Number of distinct pitch classes (``pitch % 12``) among the notes, 0 to 12.

    MuseGAN's "used pitch classes" (UPC), here over the whole piece rather than per bar:
    tonal music uses about seven, random notes all twelve.
    """
    return float(len({note.pitch % 12 for note in piece.notes}))


def pitch_class_entropy(piece: Piece) -> float:
    """Shannon entropy in bits of the piece's pitch-class histogram, 0 to log2(12).

    The histogram counts *notes* per pitch class (each note once, whatever its duration),
    as MGEval's pitch-class histogram does; ``H = -sum p_c log2 p_c`` over the classes
    with ``p_c > 0``. Seven equally frequent classes give ``log2(7)``; one class, or no
    notes, gives 0. Low entropy means a few tonal centres dominate; random notes approach
    ``log2(12)``.
    """
    if not piece.notes:
        return 0.0
    counts = np.array(list(Counter(note.pitch % 12 for note in piece.notes).values()), dtype=np.float64)
    shares = counts / counts.sum()
    return float(max(0.0, -(shares * np.log2(shares)).sum()))


def scale_consistency(piece: Piece) -> float:
    """Largest share of notes that fit one standard scale, over 24 scales (C-RNN-GAN).

    For each of the 12 major and 12 natural-minor scales, the share of the piece's notes
    (counted once each, whatever their duration) whose pitch class lies in the scale; the
    best-fitting scale's share is returned, in ``[0, 1]``. A piece in one key scores 1;
    chromatic passages or random notes score lower. An empty piece scores 0 (no evidence
    of any key). Natural minor shares its pitch classes with its relative major, so the
    24 scales hold 12 distinct pitch-class sets; both are listed to follow the paper.
    """
    if not piece.notes:
        return 0.0
    classes = Counter(note.pitch % 12 for note in piece.notes)
    best = max(sum(count for pc, count in classes.items() if pc in scale) for scale in _SCALES)
    return best / len(piece.notes)


# --------------------------------------------------------------------------- time


def _grid_step(beats: float) -> int:
    """Nearest step of the polyphony grid, halves rounded up (no banker's rounding)."""
    return int(math.floor(beats * STEPS_PER_BEAT + 0.5))


def polyphony(piece: Piece) -> float:
    """Mean number of distinct pitches sounding per grid step, over steps where any sounds.

    The piece is drawn as a piano roll on a grid of :data:`STEPS_PER_BEAT` (4) steps per
    beat, as MuseGAN's data is: a note's onset and end are rounded to the nearest step
    (halves up) and it fills the steps from its onset up to, not including, its end, at
    least one step, so a very short note is never lost. A step's polyphony is the number of
    distinct pitches it holds (two notes on one pitch at once sound as one, as in a piano
    roll). The result is the mean over the steps that hold at least one pitch, so rests do
    not pull it down: a melody scores 1, a held three-note chord 3, a four-part chorale
    about 4. An empty piece scores 0.
    """
    if not piece.notes:
        return 0.0
    spans = []
    for note in piece.notes:
        onset = _grid_step(note.start)
        spans.append((onset, max(_grid_step(note.end), onset + 1), note.pitch))
    roll = np.zeros((max(end for _, end, _ in spans), 128), dtype=bool)
    for onset, end, pitch in spans:
        roll[onset:end, pitch] = True
    counts = roll.sum(axis=1)
    return float(counts[counts > 0].mean())


def repetitions(piece: Piece) -> float:
    """Share of interval n-grams that already occurred earlier in the piece (C-RNN-GAN).

    The notes are read in order of onset (then pitch, so a chord is read upwards) and
    reduced to the intervals between consecutive pitches, ``d_i = pitch_{i+1} - pitch_i``.
    Each position ``i = 0 .. len(d) - n`` starts an n-gram ``(d_i, ..., d_{i+n-1})`` of
    ``n =`` :data:`REPETITION_NGRAM` (3) intervals, i.e. a figure of four notes. The score
    is the number of positions whose n-gram equals the n-gram at some earlier position
    (overlaps allowed), divided by the number of positions, in ``[0, 1)``. Intervals make
    it transposition-invariant: a motif repeated a step higher counts as a repetition.
    C-RNN-GAN counts "repetitions of short subsequences" without fixing the details; this
    is one exact reading. Pieces with fewer than ``n + 1`` notes have no n-gram and score 0.
    """
    pitches = [note.pitch for note in piece.notes]
    intervals = [after - before for before, after in zip(pitches, pitches[1:])]
    positions = len(intervals) - REPETITION_NGRAM + 1
    if positions <= 0:
        return 0.0
    seen: set[tuple[int, ...]] = set()
    repeated = 0
    for start in range(positions):
        gram = tuple(intervals[start : start + REPETITION_NGRAM])
        repeated += gram in seen
        seen.add(gram)
    return repeated / positions


def note_density(piece: Piece) -> float:
    """Notes per beat: the number of notes divided by ``piece.length_beats`` (0 if empty).

    MGEval's note count, made comparable across pieces of different lengths. The length
    runs from beat 0 to the end of the last note, so leading silence counts as time.
    """
    length = piece.length_beats
    if not piece.notes or length <= 0:
        return 0.0
    return len(piece.notes) / length


def empty_beat_rate(piece: Piece) -> float:
    """Share of the piece's beats in which no note sounds (MuseGAN's empty bars, per beat).

    The piece has ``ceil(length_beats)`` beats, beat ``b`` spanning ``[b, b + 1)``; a beat
    is empty when no note overlaps it for any time (a note held across a beat fills it; a
    note ending exactly on the beat's start does not). Times within 1e-6 beats count as
    equal, so rounding in ``start + duration`` neither adds a beat nor fills one. MuseGAN
    counts empty bars; beats are used here because chorales and short generated phrases
    have few bars. An empty piece has no beats and scores 0.
    """
    beats = math.ceil(piece.length_beats - _EPS) if piece.notes else 0
    if beats <= 0:
        return 0.0
    filled = np.zeros(beats, dtype=bool)
    for note in piece.notes:
        first = max(0, math.floor(note.start + _EPS))
        last = min(beats - 1, math.ceil(note.end - _EPS) - 1)
        filled[first : last + 1] = True
    return float(1.0 - filled.mean())


#: Every feature by its name (the function name with hyphens), in a fixed order.
FEATURES: dict[str, Callable[[Piece], float]] = {
    "pitch-range": pitch_range,
    "used-pitch-classes": used_pitch_classes,
    "pitch-class-entropy": pitch_class_entropy,
    "scale-consistency": scale_consistency,
    "polyphony": polyphony,
    "repetitions": repetitions,
    "note-density": note_density,
    "empty-beat-rate": empty_beat_rate,
}


def piece_features(piece: Piece) -> dict[str, float]:
    """All :data:`FEATURES` of one piece, by name."""
    return {name: float(feature(piece)) for name, feature in FEATURES.items()}


# --------------------------------------------------------------------------- distributions


def _check_values(name: str, values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError(f"overlap: {name} is empty; pass at least one value")
    if not np.isfinite(array).all():
        index = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"overlap: {name}[{index}] is {float(array[index])!r}; every value must be finite")
    return array


def overlap(real_values: Sequence[float], fake_values: Sequence[float], *, bins: int = DEFAULT_BINS) -> float:
    """Shared area of the two samples' histograms, in ``[0, 1]``; 1 means identical histograms.

    Both samples are binned on the same ``bins`` equal-width bins spanning the smallest to
    the largest value of *both* samples together (the last bin includes its right edge,
    as in ``numpy.histogram``); each histogram is divided by its sample size, so the two
    samples may differ in size, and the overlap is ``sum over bins of min(p_real, p_fake)``.
    When every value of both samples is the same number the histograms coincide and the
    overlap is 1; samples whose values fall in no common bin score 0. The sum is formed
    on integer counts (``min(a * m, b * n) / (n * m)``), so identical samples give exactly 1.

    This is the "overlapped area" of MGEval (Yang & Lerch 2018) on histograms instead of
    kernel density estimates: no bandwidth to choose, and exact on discrete features such
    as used pitch classes. ``1 - overlap`` is the distance :func:`feature_distance` reports.
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"overlap: bins must be a whole number >= 1, got {bins!r}")
    real = _check_values("real_values", real_values)
    fake = _check_values("fake_values", fake_values)
    low = min(real.min(), fake.min())
    high = max(real.max(), fake.max())
    if low == high:
        return 1.0
    real_counts = np.histogram(real, bins=int(bins), range=(low, high))[0].astype(np.int64)
    fake_counts = np.histogram(fake, bins=int(bins), range=(low, high))[0].astype(np.int64)
    shared = np.minimum(real_counts * fake.size, fake_counts * real.size).sum()
    return float(min(1.0, max(0.0, shared / (real.size * fake.size))))


def feature_distance(real: list[Piece], fake: list[Piece], *, bins: int = DEFAULT_BINS) -> dict[str, float]:
    """Per feature ``1 - overlap`` of real and generated values, plus their ``"mean"``.

    Every :data:`FEATURES` entry is computed on every piece of ``real`` (held-out real
    music) and of ``fake`` (generated music); each feature's distance is
    ``1 - overlap(real values, fake values, bins=bins)``, 0 when the two histograms agree
    and 1 when they share no bin. ``"mean"`` is the unweighted mean over the features: the
    one number to compare models by, lower is closer to the real music. Keys are the
    feature names in :data:`FEATURES` order, then ``"mean"``.
    """
    if len(real) == 0:
        raise ValueError("feature_distance: real holds no pieces; pass at least one real piece")
    if len(fake) == 0:
        raise ValueError("feature_distance: fake holds no pieces; pass at least one generated piece")
    distances = {}
    for name, feature in FEATURES.items():
        real_values = [feature(piece) for piece in real]
        fake_values = [feature(piece) for piece in fake]
        distances[name] = 1.0 - overlap(real_values, fake_values, bins=bins)
    distances["mean"] = float(np.mean(list(distances.values())))
    return distances
