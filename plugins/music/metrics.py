"""How far generated music is from held-out real music, as seqtk metrics (lower is better).

Both metrics decode each batch into pieces with the music domain
(``domain.to_pieces(batch)``, whichever representation the run uses), compute the
features of :mod:`seqtk.plugins.music.features` on every piece, and compare the real
and generated distributions of each feature with :func:`~seqtk.plugins.music.features.overlap`
(the shared area of two histograms): a feature's distance is ``1 - overlap``, 0 when the
histograms agree and 1 when they share no bin.

- :class:`FeatureDistance`: one feature (``pitch-range-distance``, ``polyphony-distance``, ...),
  to see *where* generated music differs;
- :class:`MusicDistance`: the mean over all eight, so "closer to Bach" is one number.

An evaluation computes nine such metrics on the same real and generated batches, and the
trainer passes the same real batch again at every evaluation. Decoding and featurising
cost far more than comparing histograms, so the pieces and feature values of the last
real batch and of the last generated batch are kept (module-wide, shared by every metric
instance, one batch per side). A cached batch is reused only when the same domain is
asked about a batch with the same dtype, shape, values and lengths (compared against a
private copy), so a new batch, or one changed in place, is always decoded afresh.
"""

from __future__ import annotations

import difflib
import threading
import weakref
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, ClassVar, Literal, Protocol

import numpy as np
import torch
from torch import Tensor

from seqtk.core.interfaces import Batch, Metric
from seqtk.core.params import Range, checked

from .features import DEFAULT_BINS, FEATURES, overlap
from .notes import Piece

__all__ = ["FeatureDistance", "MusicDistance", "PieceDecoder", "clear_cache"]

Side = Literal["real", "fake"]


class PieceDecoder(Protocol):
    """What the metrics need of a domain: a way to turn a batch into pieces."""

    def to_pieces(self, batch: Batch) -> list[Piece]: ...


# --------------------------------------------------------------------------- cache


@dataclass
class _Entry:
    """One side's last batch: whose it was, a copy to compare with, and what it gave."""

    domain: Callable[[], Any]  # a weak (or, failing that, strong) reference to the domain
    values: Tensor
    lengths: Tensor
    pieces: list[Piece]
    features: dict[str, np.ndarray] = field(default_factory=dict)

    def matches(self, domain: Any, batch: Batch) -> bool:
        return (
            self.domain() is domain
            and _same_tensor(self.values, batch.values)
            and _same_tensor(self.lengths, batch.lengths)
        )


def _same_tensor(kept: Tensor, given: Tensor) -> bool:
    return (
        kept.dtype == given.dtype
        and kept.shape == given.shape
        and kept.device == given.device
        and bool(torch.equal(kept, given.detach()))
    )


def _reference(domain: Any) -> Callable[[], Any]:
    """A weak reference, so the cache never keeps a finished run's domain (and data) alive."""
    try:
        return weakref.ref(domain)
    except TypeError:  # objects without __weakref__ slots
        return lambda: domain


_LAST: dict[Side, _Entry] = {}
_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forget the cached batches (tests; or to free their memory at once)."""
    with _LOCK:
        _LAST.clear()


def _entry(domain: PieceDecoder, batch: Batch, side: Side, metric: str) -> _Entry:
    """The cached decoding of ``batch`` if it is the side's last batch, else a fresh one."""
    if batch.size == 0:
        what = "real (held-out)" if side == "real" else "generated"
        raise ValueError(f"{metric}: the {what} batch holds no sequences; pass at least one {what} sequence")
    with _LOCK:
        cached = _LAST.get(side)
        if cached is not None and cached.matches(domain, batch):
            return cached
    pieces = list(domain.to_pieces(batch))
    if not pieces:
        raise ValueError(f"{metric}: the domain decoded the {side} batch of {batch.size} rows into no pieces")
    entry = _Entry(
        domain=_reference(domain),
        values=batch.values.detach().clone(),
        lengths=batch.lengths.detach().clone(),
        pieces=pieces,
    )
    with _LOCK:
        _LAST[side] = entry
    return entry


def _feature_values(entry: _Entry, name: str) -> np.ndarray:
    """One feature over the entry's pieces, computed once per batch."""
    values = entry.features.get(name)
    if values is None:
        feature = FEATURES[name]
        values = np.array([feature(piece) for piece in entry.pieces], dtype=np.float64)
        entry.features[name] = values
    return values


# --------------------------------------------------------------------------- metrics


def _check_domain(domain: Any, metric: str) -> None:
    if not callable(getattr(domain, "to_pieces", None)):
        raise ValueError(
            f"{metric}: needs the music domain (one with to_pieces(batch)), got {type(domain).__name__}; "
            "use it in a recipe whose domain is 'music'"
        )


#: Histogram bins: at least one, declared once and checked before the metric is built.
Bins = Annotated[int, Range(1)]


def _check_feature(feature: str) -> None:
    if feature in FEATURES:
        return
    names = list(FEATURES)
    close = difflib.get_close_matches(str(feature).replace("_", "-"), names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"feature-distance: unknown feature {feature!r}{hint}; valid: {', '.join(names)}")


@checked("FeatureDistance")
class FeatureDistance(Metric):
    """``1 - overlap`` of one feature's histograms over real and generated pieces.

    ``feature`` is a name of :data:`~seqtk.plugins.music.features.FEATURES`
    (``pitch-range``, ``used-pitch-classes``, ``pitch-class-entropy``,
    ``scale-consistency``, ``polyphony``, ``repetitions``, ``note-density``,
    ``empty-beat-rate``); ``bins`` is the number of equal-width histogram bins spanning both
    samples' values. 0 means the generated pieces spread over the feature as the real
    ones do, 1 that no generated value falls in a bin any real value falls in.
    """

    higher_is_better: ClassVar[bool] = False

    def __init__(self, domain: PieceDecoder, feature: str, bins: Bins = DEFAULT_BINS) -> None:
        _check_feature(feature)
        self.name = f"{feature}-distance"
        _check_domain(domain, self.name)
        self.domain = domain
        self.feature = feature
        self.bins = int(bins)

    def __call__(self, real: Batch, fake: Batch) -> float:
        real_entry = _entry(self.domain, real, "real", self.name)
        fake_entry = _entry(self.domain, fake, "fake", self.name)
        shared = overlap(
            _feature_values(real_entry, self.feature), _feature_values(fake_entry, self.feature), bins=self.bins
        )
        return float(1.0 - shared)


@checked("MusicDistance")
class MusicDistance(Metric):
    """The mean of the eight feature distances: "closer to Bach" as one number in [0, 1].

    Equals ``feature_distance(real pieces, generated pieces, bins=bins)["mean"]`` and the
    mean of the eight ``<feature>-distance`` metrics.
    """

    higher_is_better: ClassVar[bool] = False

    def __init__(self, domain: PieceDecoder, bins: Bins = DEFAULT_BINS) -> None:
        _check_domain(domain, "music-distance")
        self.domain = domain
        self.bins = int(bins)

    def __call__(self, real: Batch, fake: Batch) -> float:
        real_entry = _entry(self.domain, real, "real", "music-distance")
        fake_entry = _entry(self.domain, fake, "fake", "music-distance")
        distances = [
            1.0 - overlap(_feature_values(real_entry, name), _feature_values(fake_entry, name), bins=self.bins)
            for name in FEATURES
        ]
        return float(np.mean(distances))
