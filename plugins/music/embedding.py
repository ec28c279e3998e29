"""One fixed-size vector per piece, so that k-nearest-neighbour metrics can compare music.

Density and coverage (:mod:`seqtk.plugins.collapse`) measure distances between whole
excerpts. Raw sequences are a poor space for that in either representation: event values
shift with every inserted note, and token sequences have no geometry at all. Both
representations decode into :class:`~seqtk.plugins.music.notes.Piece` objects, so a
piece is described by what a listener (and MGEval) would compare:

- the **pitch-class histogram** (12 shares of notes): key and tonality;
- the **interval histogram** (13 shares): absolute steps between consecutive notes in
  onset order (then pitch, so a chord contributes its vertical intervals), 0 to 11
  semitones, the last bin an octave or more: melodic and harmonic motion;
- the **duration histogram** (6 shares): note lengths up to a sixteenth, up to an
  eighth, a quarter, a half, a whole note, and longer: rhythm. Each bin includes its
  upper edge, within :data:`DURATION_TOLERANCE`: a decoded eighth is 0.5 beats in one
  representation and 0.49999999 in another (event values pass through a min-max scaling
  and back), and without the tolerance the two land in different bins, which made every
  event-representation sample look one rhythm class away from every real excerpt;
- the eight scalar features of :data:`~seqtk.plugins.music.features.FEATURES` (pitch
  range, used pitch classes, pitch-class entropy, scale consistency, polyphony,
  repetitions, note density, empty-beat rate), each min-max scaled with the *real*
  pieces' range so that every feature counts alike whatever its unit.

Histogram shares already lie in ``[0, 1]`` and are left as they are. An empty piece (a
silent or diverged sample) is all zeros before scaling. The pieces come from the same
cache as the music metrics', so an evaluation decodes each batch once.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from seqtk.core.interfaces import Batch
from seqtk.plugins.collapse import scaled_columns

from .features import FEATURES
from .metrics import PieceDecoder, Side, _entry, _feature_values
from .notes import Piece

__all__ = ["DURATION_EDGES", "DURATION_TOLERANCE", "HISTOGRAM_SIZE", "INTERVAL_BINS", "piece_embedding", "piece_histograms", "piece_vector"]

#: Absolute intervals 0 .. 11 semitones, and one bin for an octave or more.
INTERVAL_BINS = 13
#: Upper edges (beats, exclusive) of the duration bins; the last bin holds the rest.
DURATION_EDGES = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Beats within which a length counts as lying on a duration edge (far below any real
#: note value, far above float rounding).
DURATION_TOLERANCE = 1e-6
#: Entries of the histogram part of :func:`piece_vector` (pitch classes, intervals, durations).
HISTOGRAM_SIZE = 12 + INTERVAL_BINS + len(DURATION_EDGES) + 1


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else counts


def piece_histograms(piece: Piece) -> np.ndarray:
    """``[HISTOGRAM_SIZE]`` float64: pitch-class, interval and duration shares (zeros for an empty piece)."""
    pitch_classes = np.zeros(12)
    intervals = np.zeros(INTERVAL_BINS)
    durations = np.zeros(len(DURATION_EDGES) + 1)
    pitches = [note.pitch for note in piece.notes]
    for pitch in pitches:
        pitch_classes[pitch % 12] += 1
    for before, after in zip(pitches, pitches[1:]):
        intervals[min(abs(after - before), INTERVAL_BINS - 1)] += 1
    for note in piece.notes:
        durations[int(np.searchsorted(DURATION_EDGES, note.duration - DURATION_TOLERANCE, side="left"))] += 1
    return np.concatenate([_shares(pitch_classes), _shares(intervals), _shares(durations)])


def piece_vector(piece: Piece) -> np.ndarray:
    """``[HISTOGRAM_SIZE + 8]`` float64: :func:`piece_histograms`, then the eight raw (unscaled) features."""
    return np.concatenate([piece_histograms(piece), [float(feature(piece)) for feature in FEATURES.values()]])


def _points(domain: PieceDecoder, batch: Batch, side: Side) -> Tensor:
    """Unscaled :func:`piece_vector` rows, the features taken from the music metrics' cache."""
    entry = _entry(domain, batch, side, "density/coverage")
    histograms = np.stack([piece_histograms(piece) for piece in entry.pieces])
    features = np.stack([_feature_values(entry, name) for name in FEATURES], axis=1)
    return torch.from_numpy(np.concatenate([histograms, features], axis=1))


def piece_embedding(domain: PieceDecoder, real: Batch, fake: Batch) -> tuple[Tensor, Tensor]:
    """Real and generated excerpts as ``[N, D]`` and ``[M, D]`` points (module docstring).

    Decodes through ``domain.to_pieces`` (via the music metrics' cache, so an evaluation
    that also computes the feature distances decodes once), builds :func:`piece_vector`
    per piece and scales the eight features by the real pieces' range.
    """
    real_points, fake_points = _points(domain, real, "real"), _points(domain, fake, "fake")
    real_features, fake_features = scaled_columns(real_points[:, HISTOGRAM_SIZE:], fake_points[:, HISTOGRAM_SIZE:])
    return (
        torch.cat([real_points[:, :HISTOGRAM_SIZE], real_features], dim=1),
        torch.cat([fake_points[:, :HISTOGRAM_SIZE], fake_features], dim=1),
    )
