"""Metrics for clips: pixels, frame-to-frame change, objects and their motion, and a post-hoc classifier.

None needs downloaded weights; every one compares generated clips with held-out real
ones, and lower is better for all of them:

- ``video-pixels``: ``1 - overlap`` of the histograms of pixel intensities (``bins``
  equal bins on [0, 1], per channel, averaged over channels): the frames' look.
- ``video-temporal``: 1-Wasserstein distance between the distributions of the mean
  absolute frame-to-frame change (one value per clip and transition): too still, too
  flickery.
- ``video-objects``: ``1 - overlap`` of the distributions of the number of objects per
  frame, an object being a 4-connected blob of pixels at least ``threshold`` bright
  (brightest channel), found by ``scipy.ndimage.label``.
- ``video-motion``: 1-Wasserstein distance between the distributions of each clip's
  mean blob speed in pixels per frame: every blob of a frame is matched to the nearest
  blob centroid of the next frame and the distance averaged over the clip (a clip with no
  blob in two consecutive frames has speed 0).
- ``video-discriminative``: TimeGAN's discriminative score
  (``seqtk.plugins.timeseries.posthoc``) on frames average-pooled to ``pool x pool``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from seqtk.core.interfaces import Batch, DomainSpec, Metric
from seqtk.core.params import NonNegativeInt, PositiveFloat, PositiveInt, checked
from seqtk.plugins.timeseries.posthoc import discriminative_score, repeated
from seqtk.plugins.video.frame import resolve_frame_shape

__all__ = [
    "histogram_distance", "wasserstein_1d", "frame_differences", "frame_blobs", "blob_counts", "clip_speeds", "pooled_frames",
    "PixelDistance", "TemporalDistance", "ObjectCountDistance", "MotionDistance", "VideoDiscriminativeScore",
]

#: The blob threshold of ``video-objects`` and ``video-motion``: half-bright.
THRESHOLD = 0.5


# --------------------------------------------------------------------------- distances


def histogram_distance(a: np.ndarray, b: np.ndarray, bins: int, low: float = 0.0, high: float = 1.0) -> float:
    """``1 - sum_i min(p_i, q_i)`` of the normalised ``bins``-bin histograms of ``a`` and ``b`` on [low, high]."""
    p, _ = np.histogram(np.clip(a, low, high), bins=bins, range=(low, high))
    q, _ = np.histogram(np.clip(b, low, high), bins=bins, range=(low, high))
    if p.sum() == 0 or q.sum() == 0:
        raise ValueError("histogram distance: one side has no values")
    return float(1.0 - np.minimum(p / p.sum(), q / q.sum()).sum())


def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
    """The 1-Wasserstein distance of two empirical distributions: the area between their CDFs."""
    a, b = np.sort(np.asarray(a, dtype=np.float64).ravel()), np.sort(np.asarray(b, dtype=np.float64).ravel())
    if a.size == 0 or b.size == 0:
        raise ValueError("wasserstein distance: one side has no values")
    points = np.concatenate([a, b])
    points.sort()
    widths = np.diff(points)
    cdf_a = np.searchsorted(a, points[:-1], side="right") / a.size
    cdf_b = np.searchsorted(b, points[:-1], side="right") / b.size
    return float(np.sum(np.abs(cdf_a - cdf_b) * widths))


# --------------------------------------------------------------------------- statistics


def _frames(batch: Batch, frame_shape: tuple[int, int, int]) -> list[np.ndarray]:
    """Each clip's real frames, ``[length, C, H, W]`` float64."""
    values = batch.values.detach().cpu().double().numpy()
    lengths = batch.lengths.detach().cpu().numpy()
    return [values[i, : int(lengths[i])].reshape(-1, *frame_shape) for i in range(len(values))]


def frame_differences(clips: list[np.ndarray]) -> np.ndarray:
    """Mean absolute change between consecutive frames: one value per clip and transition."""
    parts = [np.abs(np.diff(c, axis=0)).reshape(len(c) - 1, -1).mean(axis=1) for c in clips if len(c) > 1]
    return np.concatenate(parts) if parts else np.zeros(0)


def frame_blobs(clip: np.ndarray, threshold: float = THRESHOLD) -> list[np.ndarray]:
    """Per frame of ``clip`` ``[T, C, H, W]``: ``[k, 2]`` (row, column) centroids of its blobs.

    A blob is a 4-connected set of pixels whose brightest channel is at least
    ``threshold``. One ``scipy.ndimage.label`` call labels every frame of the clip (the
    structure connects pixels within a frame only), and centroids are pixel means.
    """
    from scipy import ndimage

    lit = clip.max(axis=1) >= threshold  # [T, H, W]
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    labels, count = ndimage.label(lit, structure=structure)
    if count == 0:
        return [np.zeros((0, 2)) for _ in range(len(clip))]
    t, row, col = np.indices(labels.shape).reshape(3, -1)
    flat = labels.ravel()
    pixels = np.bincount(flat, minlength=count + 1)[1:]
    frame = np.bincount(flat, weights=t, minlength=count + 1)[1:] / pixels
    centroids = np.stack(
        [np.bincount(flat, weights=row, minlength=count + 1)[1:] / pixels, np.bincount(flat, weights=col, minlength=count + 1)[1:] / pixels], axis=1
    )
    frame = np.round(frame).astype(np.int64)
    return [centroids[frame == i] for i in range(len(clip))]


def blob_counts(clips: list[np.ndarray], threshold: float = THRESHOLD) -> np.ndarray:
    """The number of blobs in every frame of every clip."""
    return np.array([len(found) for clip in clips for found in frame_blobs(clip, threshold)], dtype=np.int64)


def clip_speeds(clips: list[np.ndarray], threshold: float = THRESHOLD) -> np.ndarray:
    """Each clip's mean blob speed (pixels per frame): blobs matched to the nearest centroid of the next frame."""
    speeds = []
    for clip in clips:
        centroids = frame_blobs(clip, threshold)
        moves = []
        for now, later in zip(centroids, centroids[1:]):
            if len(now) and len(later):
                distances = np.sqrt(((now[:, None, :] - later[None, :, :]) ** 2).sum(-1))
                moves.append(distances.min(axis=1))
        speeds.append(float(np.concatenate(moves).mean()) if moves else 0.0)
    return np.array(speeds)


def pooled_frames(batch: Batch, frame_shape: tuple[int, int, int], pool: int) -> Tensor:
    """``[B, T, C * pool * pool]``: every frame average-pooled to ``pool x pool`` (adaptive pooling)."""
    size, steps = batch.values.shape[:2]
    frames = batch.values.detach().float().reshape(size * steps, *frame_shape)
    pooled = torch.nn.functional.adaptive_avg_pool2d(frames, pool)
    return pooled.reshape(size, steps, -1)


# --------------------------------------------------------------------------- metrics


class _VideoMetric(Metric):
    """Frames folded back to ``(C, H, W)`` from the domain's ``frame_shape``; lower is better."""

    higher_is_better: ClassVar[bool] = False
    name: ClassVar[str] = "video metric"

    def __init__(self, spec: DomainSpec, domain: Any = None) -> None:
        self.frame_shape = resolve_frame_shape(spec, domain, None, self.name)

    def clips(self, batch: Batch) -> list[np.ndarray]:
        return _frames(batch, self.frame_shape)


@checked("video-pixels")
class PixelDistance(_VideoMetric):
    """``1 - overlap`` of pixel-intensity histograms, per channel, averaged (module docstring)."""

    name: ClassVar[str] = "video-pixels"

    def __init__(self, spec: DomainSpec, domain: Any = None, bins: PositiveInt = 16) -> None:
        super().__init__(spec, domain)
        self.bins = bins

    def __call__(self, real: Batch, fake: Batch) -> float:
        real_clips, fake_clips = self.clips(real), self.clips(fake)
        channels = self.frame_shape[0]
        per_channel = [
            histogram_distance(
                np.concatenate([c[:, k].ravel() for c in real_clips]), np.concatenate([c[:, k].ravel() for c in fake_clips]), self.bins
            )
            for k in range(channels)
        ]
        return float(np.mean(per_channel))


class TemporalDistance(_VideoMetric):
    """1-Wasserstein distance of the mean absolute frame-to-frame changes (module docstring)."""

    name: ClassVar[str] = "video-temporal"

    def __call__(self, real: Batch, fake: Batch) -> float:
        return wasserstein_1d(frame_differences(self.clips(real)), frame_differences(self.clips(fake)))


class ObjectCountDistance(_VideoMetric):
    """``1 - overlap`` of the distributions of blobs per frame (module docstring)."""

    name: ClassVar[str] = "video-objects"

    def __call__(self, real: Batch, fake: Batch) -> float:
        a, b = blob_counts(self.clips(real)), blob_counts(self.clips(fake))
        top = int(max(a.max(initial=0), b.max(initial=0))) + 1
        p, q = np.bincount(a, minlength=top) / max(len(a), 1), np.bincount(b, minlength=top) / max(len(b), 1)
        return float(1.0 - np.minimum(p, q).sum())


class MotionDistance(_VideoMetric):
    """1-Wasserstein distance of the clips' mean blob speeds, pixels per frame (module docstring)."""

    name: ClassVar[str] = "video-motion"

    def __call__(self, real: Batch, fake: Batch) -> float:
        return wasserstein_1d(clip_speeds(self.clips(real)), clip_speeds(self.clips(fake)))


@checked("video-discriminative")
class VideoDiscriminativeScore(_VideoMetric):
    """TimeGAN's discriminative score on frames pooled to ``pool x pool`` (``|accuracy - 0.5|``; lower is better)."""

    name: ClassVar[str] = "video-discriminative"

    def __init__(
        self,
        spec: DomainSpec,
        domain: Any = None,
        pool: PositiveInt = 8,
        steps: PositiveInt = 1000,
        batch_size: PositiveInt = 128,
        lr: PositiveFloat = 1e-3,
        repeats: PositiveInt = 1,
        seed: NonNegativeInt = 0,
    ) -> None:
        super().__init__(spec, domain)
        self.pool, self.steps, self.batch_size, self.lr, self.repeats, self.seed = pool, steps, batch_size, float(lr), repeats, seed

    def __call__(self, real: Batch, fake: Batch) -> float:
        r, f = pooled_frames(real, self.frame_shape, self.pool), pooled_frames(fake, self.frame_shape, self.pool)

        def once(seed: int) -> float:
            return discriminative_score(
                r, f, real.lengths, fake.lengths, steps=self.steps, batch_size=self.batch_size, lr=self.lr, seed=seed
            )

        return repeated(once, self.repeats, self.seed)[0]
