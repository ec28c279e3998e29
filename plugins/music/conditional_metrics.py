"""Is the condition honoured? Metrics of conditional music (higher is better unless said).

- :class:`ModeFidelity` (``mode-fidelity``): the share of generated pieces whose key, found
  by the Krumhansl-Schmuckler method (:func:`estimate_key`), has the mode they were asked
  for. Real held-out excerpts scored the same way give the ceiling (an excerpt of a few
  bars can sit in another key than its chorale); a generator that ignores the label
  scores about the share of its one preferred mode among the labels.
- :class:`ClassMusicDistance` (``class-music-distance``, lower is better): ``music-distance``
  computed within each class (real excerpts of a mode against samples asked for it),
  averaged over the classes: matching the mix of classes is not enough, each class must
  be matched.
- :class:`HarmonicFit` (``harmonic-fit``): for a bass line generated under a given
  soprano, the share of onsets where the two sound a consonant interval. Real bass lines
  under their own soprano give the ceiling.

Key finding is written here in numpy (a correlation with 24 rotated key profiles) rather
than called from music21: it costs microseconds per piece, needs no optional package at
evaluation time, and with the same profiles gives music21's answer (checked on real
chorale excerpts in tests/test_conditional_music.py).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import torch

from seqtk.core.interfaces import Batch, Metric
from seqtk.core.params import Range, checked

from .features import DEFAULT_BINS, FEATURES, overlap
from .metrics import _check_domain, _entry, _feature_values
from .notes import Piece

__all__ = ["KEY_PROFILES", "CONSONANT_INTERVALS", "key_correlations", "estimate_key", "estimate_tonic", "harmonic_fit", "ModeFidelity", "ClassMusicDistance", "HarmonicFit"]

#: (major, minor) profiles, tonic first. Aarden-Essen is music21's default for
#: ``analyze('key')`` (and so what labels the chorales); Krumhansl-Kessler is the original.
#: Values as tabulated in Humdrum's ``keycor`` documentation.
KEY_PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "aarden-essen": (
        (17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062, 0.145624, 8.15494, 0.232998, 4.95122),
        (18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161, 4.56621, 1.93186, 7.37619, 1.75623),
    ),
    "krumhansl-kessler": (
        (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
        (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
    ),
}
Profile = Literal["aarden-essen", "krumhansl-kessler"]

#: Vertical intervals (semitones modulo the octave) counted consonant against the bass:
#: unison/octave, minor and major third, perfect fifth, minor and major sixth. The perfect
#: fourth is not: above the bass it is the dissonance of common-practice harmony.
CONSONANT_INTERVALS = frozenset({0, 3, 4, 7, 8, 9})


def key_correlations(piece: Piece, profile: Profile = "aarden-essen") -> dict[str, np.ndarray] | None:
    """Per mode, the Pearson correlation of the piece's pitch-class weights with that mode's profile on each of the 12 tonics.

    The piece's pitch classes are weighted by their notes' durations; row ``t`` of a mode
    is its profile rotated to tonic ``t``. None when the piece has no notes.
    """
    if not piece.notes:
        return None
    histogram = np.zeros(12)
    for note in piece.notes:
        histogram[note.pitch % 12] += note.duration
    centred = histogram - histogram.mean()
    found = {}
    for mode, weights in zip(("major", "minor"), KEY_PROFILES[profile]):
        rotations = np.stack([np.roll(np.asarray(weights), tonic) for tonic in range(12)])  # row t: weight of pc j in key t
        rotations = rotations - rotations.mean(axis=1, keepdims=True)
        denominator = np.sqrt((rotations**2).sum(axis=1) * (centred**2).sum())
        found[mode] = np.where(denominator > 0, rotations @ centred / np.where(denominator > 0, denominator, 1.0), 0.0)
    return found


def estimate_key(piece: Piece, profile: Profile = "aarden-essen") -> tuple[int, str] | None:
    """(tonic pitch class, ``"major"``/``"minor"``) of the key whose profile correlates best with the piece; None when it has no notes.

    Each of the 24 keys is scored by :func:`key_correlations`. Ties go to the earlier key,
    majors (C, C#, ...) before minors.
    """
    scores = key_correlations(piece, profile)
    if scores is None:
        return None
    best, answer = -np.inf, (0, "major")
    for mode in ("major", "minor"):
        tonic = int(np.argmax(scores[mode]))
        if scores[mode][tonic] > best + 1e-12:
            best, answer = float(scores[mode][tonic]), (tonic, mode)
    return answer


def estimate_tonic(piece: Piece, mode: str, profile: Profile = "aarden-essen") -> int | None:
    """The tonic pitch class of the piece's best-fitting key *of the given mode*; None when it has no notes.

    When the mode is known already (music21's analysis of a chorale) only the tonic is
    left to find; asking for it in that mode keeps the two analyses from disagreeing on a
    piece whose relative major and minor score alike.
    """
    scores = key_correlations(piece, profile)
    return None if scores is None else int(np.argmax(scores[mode]))


def harmonic_fit(soprano: Piece, bass: Piece) -> float:
    """The share of onsets (of either line) at which soprano and bass sound a consonant interval.

    At each onset the highest sounding soprano pitch is compared with the lowest sounding
    bass pitch; onsets where one line is silent are not counted. 0.0 when no onset has
    both lines sounding (an empty or silent bass fits nothing).
    """
    onsets = sorted({n.start for n in soprano.notes} | {n.start for n in bass.notes})
    counted = consonant = 0
    for time in onsets:
        top = [n.pitch for n in soprano.notes if n.start <= time < n.end]
        low = [n.pitch for n in bass.notes if n.start <= time < n.end]
        if top and low:
            counted += 1
            consonant += (max(top) - min(low)) % 12 in CONSONANT_INTERVALS
    return consonant / counted if counted else 0.0


def _labels(batch: Batch, metric: str) -> np.ndarray:
    if batch.condition is None or batch.condition.labels is None:
        raise ValueError(f"{metric}: the batch carries no mode labels; use it with domain param condition: mode")
    return batch.condition.labels.detach().cpu().numpy()


@checked("ModeFidelity")
class ModeFidelity(Metric):
    """The share of generated pieces whose estimated key has the mode they were asked for (``profile``: the key profiles)."""

    higher_is_better: ClassVar[bool] = True

    def __init__(self, domain: Any, profile: Profile = "aarden-essen") -> None:
        _check_domain(domain, "mode-fidelity")
        if profile not in KEY_PROFILES:
            raise ValueError(f"mode-fidelity: profile must be one of {', '.join(KEY_PROFILES)}, got {profile!r}")
        conditions = domain.spec.conditions
        names = tuple(conditions.class_names) if conditions is not None else ()
        if names != ("major", "minor"):
            raise ValueError(f"mode-fidelity: needs a domain conditioned on mode (classes major, minor), got classes {names or 'none'}")
        self.domain, self.profile, self.names = domain, profile, names

    def __call__(self, real: Batch, fake: Batch) -> float:
        labels = _labels(fake, "mode-fidelity")
        pieces = _entry(self.domain, fake, "fake", "mode-fidelity").pieces
        found = [estimate_key(piece, self.profile) for piece in pieces]
        hits = [key is not None and key[1] == self.names[int(label)] for key, label in zip(found, labels)]
        return float(np.mean(hits))


Bins = Annotated[int, Range(1)]


@checked("ClassMusicDistance")
class ClassMusicDistance(Metric):
    """``music-distance`` within each class (real excerpts of the class against samples asked for it), averaged over classes on both sides."""

    higher_is_better: ClassVar[bool] = False

    def __init__(self, domain: Any, bins: Bins = DEFAULT_BINS) -> None:
        _check_domain(domain, "class-music-distance")
        self.domain, self.bins = domain, int(bins)

    def __call__(self, real: Batch, fake: Batch) -> float:
        real_labels, fake_labels = _labels(real, "class-music-distance"), _labels(fake, "class-music-distance")
        real_entry = _entry(self.domain, real, "real", "class-music-distance")
        fake_entry = _entry(self.domain, fake, "fake", "class-music-distance")
        classes = sorted(set(real_labels.tolist()) & set(fake_labels.tolist()))
        if not classes:
            raise ValueError("class-music-distance: no class has both real and generated pieces")
        per_class = []
        for label in classes:
            distances = []
            for name in FEATURES:
                real_values = _feature_values(real_entry, name)[real_labels == label]
                fake_values = _feature_values(fake_entry, name)[fake_labels == label]
                distances.append(1.0 - overlap(real_values, fake_values, bins=self.bins))
            per_class.append(np.mean(distances))
        return float(np.mean(per_class))


@checked("HarmonicFit")
class HarmonicFit(Metric):
    """Mean over generated bass lines of :func:`harmonic_fit` against the soprano each was asked to accompany."""

    higher_is_better: ClassVar[bool] = True

    def __init__(self, domain: Any) -> None:
        _check_domain(domain, "harmonic-fit")
        self.domain = domain

    def __call__(self, real: Batch, fake: Batch) -> float:
        condition = fake.condition
        if condition is None or condition.context is None:
            raise ValueError("harmonic-fit: the batch carries no soprano context; use it with domain param condition: soprano")
        basses = _entry(self.domain, fake, "fake", "harmonic-fit").pieces
        sopranos = self.domain.to_pieces(condition.context, prefix="soprano")
        return float(np.mean([harmonic_fit(s, b) for s, b in zip(sopranos, basses)]))


def shuffled(batch: Batch, seed: int = 0) -> Batch:
    """``batch`` with its conditions permuted across rows (seeded): the shuffled-condition reference for a real batch."""
    assert batch.condition is not None
    order = torch.randperm(batch.size, generator=torch.Generator().manual_seed(seed))
    return Batch(values=batch.values, lengths=batch.lengths, condition=batch.condition.index(order))
