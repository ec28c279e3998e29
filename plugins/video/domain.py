"""The ``video`` domain: short clips as sequences of frames.

A clip of ``frames`` steps is a continuous sequence ``[frames, C * H * W]``: each step
one frame, flattened channel-major, values in [0, 1]. Two sources:

- ``shapes`` (default): moving discs or squares bouncing off the walls, generated
  in-process from ``seed`` (``seqtk.plugins.video.shapes``); no download.
- ``folder``: the user's clips (``seqtk.plugins.video.clips``), a folder of animated
  GIFs or of folders of numbered PNG frames, resized to ``size``, subsampled by
  ``stride`` and cut into windows of ``frames`` steps, split into train and test by clip.

Samples are written as one animated GIF per clip (``<stem>/clip-0000.gif``, ...) and a
PNG strip of real test clips beside generated ones (``<stem>-strip.png``, which
``seqtk report`` and TensorBoard show). Networks learn the frame's ``(C, H, W)`` from
:attr:`VideoDomain.frame_shape` (``seqtk.plugins.video.frame``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Mapping, Sequence

import numpy as np
import torch

from seqtk.core.errors import DataError
from seqtk.core.interfaces import Batch, Domain, DomainSpec, SequenceData
from seqtk.core.params import NonNegativeInt, OpenFraction, PositiveFloat, PositiveInt, Range, checked
from seqtk.core.splits import LazySplits
from seqtk.plugins.video.clips import read_clips, split_clips, windows
from seqtk.plugins.video.gifs import write_gif, write_strip
from seqtk.plugins.video.shapes import ShapesConfig, moving_shapes

__all__ = ["VideoDomain"]

SCORING_PARAMS = ("size", "channels", "frames", "stride")


def _range(value: Sequence[float], name: str, high: float) -> tuple[float, float]:
    if len(value) != 2 or not 0 < float(value[0]) <= float(value[1]) <= high:
        raise ValueError(f"video: {name} must be [low, high] with 0 < low <= high <= {high} (fractions of the frame side), got {list(value)}")
    return float(value[0]), float(value[1])


@checked("video")
class VideoDomain(LazySplits, Domain):
    """Clips of moving shapes, or of the user's GIFs or PNG frame folders (module docstring; docs/video.md)."""

    default_metrics: ClassVar[tuple[str, ...]] = ("video-pixels", "video-temporal", "video-objects", "video-motion")
    scoring_metrics: ClassVar[tuple[str, ...]] = (*default_metrics, "video-discriminative")
    split_label: ClassVar[str] = "video"

    def __init__(
        self,
        source: Literal["shapes", "folder"] = "shapes",
        path: str | None = None,
        size: Annotated[int, Range(4, 256)] = 16,
        channels: Literal[1, 3] = 1,
        frames: Annotated[int, Range(2)] = 8,
        stride: PositiveInt = 1,
        clips: Annotated[int, Range(2)] = 2000,
        objects: PositiveInt = 2,
        min_objects: NonNegativeInt | None = None,
        radius: list[float] | tuple[float, ...] = (0.1, 0.15),
        speed: list[float] | tuple[float, ...] = (0.04, 0.08),
        shape: Literal["ball", "square", "mixed"] = "ball",
        test_fraction: OpenFraction = 0.2,
        seed: int = 0,
        fps: PositiveFloat = 8.0,
        strip_rows: NonNegativeInt = 8,
    ) -> None:
        if source == "folder" and path is None:
            raise ValueError("video: source 'folder' needs path, the folder of GIFs or of PNG-frame folders")
        if source == "shapes" and path is not None:
            raise ValueError("video: path is read only with source: folder (source 'shapes' generates its clips)")
        if min_objects is not None and min_objects > objects:
            raise ValueError(f"video: min_objects ({min_objects}) must not exceed objects ({objects})")
        self.source, self.path = source, Path(path) if path is not None else None
        self.size, self.channels, self.frames, self.stride = size, int(channels), frames, stride
        self.clips, self.test_fraction, self.seed = clips, test_fraction, seed
        self.shapes = ShapesConfig(
            size=size, channels=int(channels), frames=frames, objects=objects,
            min_objects=objects if min_objects is None else min_objects,
            radius=_range(radius, "radius", 0.5), speed=_range(speed, "speed", 1.0), shape=shape,
        )
        self.fps, self.strip_rows = float(fps), strip_rows

    # ----------------------------------------------------------- Domain

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of one frame: how a step's ``C*H*W`` values fold back into a picture."""
        return (self.channels, self.size, self.size)

    @property
    def spec(self) -> DomainSpec:
        return DomainSpec(kind="continuous", max_len=self.frames, features=self.channels * self.size * self.size, value_range=(0.0, 1.0))

    def read_splits(self, split: Literal["train", "test"]) -> dict[str, SequenceData]:
        if self.source == "shapes":
            data = moving_shapes(self.clips, self.shapes, np.random.default_rng(self.seed))
            cut = self.clips - min(self.clips - 1, max(1, round(self.clips * self.test_fraction)))
            train, test = data[:cut], data[cut:]
        else:
            assert self.path is not None
            found = read_clips(self.path, self.size, self.channels)
            train, test = split_clips(found, self.test_fraction, self.seed, self.frames, self.stride, str(self.path))
        return {"train": _sequences(train), "test": _sequences(test)}

    def write_samples(self, batch: Batch, directory: Path, stem: str) -> list[Path]:
        """``<stem>/clip-NNNN.gif`` (one per clip) and ``<stem>-strip.png`` (real test clips beside the first samples)."""
        values = batch.values.detach().cpu().float().numpy()
        folder = Path(directory) / stem
        folder.mkdir(parents=True, exist_ok=True)
        written = [write_gif(clip, self.frame_shape, folder / f"clip-{i:04d}.gif", self.fps) for i, clip in enumerate(values)]
        if self.strip_rows:
            real = self._real_for_pictures()
            written.append(write_strip(real, values, self.frame_shape, Path(directory) / f"{stem}-strip.png", rows=self.strip_rows))
        return written

    def state_dict(self) -> dict[str, Any]:
        """The frame shape and clip length, so a checkpoint refuses a domain built for other clips."""
        return {"frame_shape": list(self.frame_shape), "frames": self.frames}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        shape, frames = [int(n) for n in state["frame_shape"]], int(state["frames"])
        if shape != list(self.frame_shape) or frames != self.frames:
            raise DataError(
                f"video: the run was trained on {frames}-frame clips of frames {shape} (channels, height, width), "
                f"but the recipe now asks for {self.frames} frames of {list(self.frame_shape)}; restore its size, channels and frames"
            )

    @classmethod
    def scoring_data(cls, real: Path, samples: Path, params: Mapping[str, Any]) -> tuple["VideoDomain", Batch, Batch]:
        """Every clip of two folders (GIFs or PNG-frame folders), as windows of the same size and length.

        ``--param`` ``size``, ``channels``, ``frames`` and ``stride`` (1) default to what the
        samples have: the first sample clip's frame width, colour if any sample has colour,
        and the shortest sample clip's length. Both folders are cut alike; no split.
        """
        unknown = sorted(set(params) - set(SCORING_PARAMS))
        if unknown:
            raise DataError(f"--param {', '.join(unknown)}: not an option of video scoring; valid: {', '.join(SCORING_PARAMS)}")
        for label, folder in (("--real", real), ("--samples", samples)):
            if not Path(folder).is_dir():
                raise DataError(f"{label} {folder}: expected a folder of GIFs or of PNG-frame folders (a run writes samples/step-N/)")
        probe = read_clips(Path(samples), int(params.get("size", 0)) or _first_width(Path(samples)), 3)
        size = int(params.get("size", 0)) or int(round((probe[0].values.shape[1] / 3) ** 0.5))
        colour = any(_has_colour(c.values) for c in probe)
        channels = int(params.get("channels", 3 if colour else 1))
        frames = int(params.get("frames", min(len(c.values) for c in probe)))
        stride = int(params.get("stride", 1))
        domain = cls(size=size, channels=channels, frames=frames, stride=stride)
        batches = []
        for folder in (real, samples):
            found = read_clips(Path(folder), size, channels)
            cut = [windows(c, frames, stride) for c in found]
            cut = [w for w in cut if len(w)]
            if not cut:
                raise DataError(f"{folder}: no clip has {frames} frames at stride {stride}; lower --param frames or stride")
            batches.append(Batch.full_length(torch.from_numpy(np.concatenate(cut).astype(np.float32))))
        return domain, batches[0], batches[1]

    # ----------------------------------------------------------- helpers

    def _real_for_pictures(self) -> np.ndarray | None:
        """Real test clips for the strip, or None when sampling without the data folder."""
        if self.source == "folder" and not self.has_split("test") and not (self.path is not None and self.path.is_dir()):
            return None
        return self.load("test").batch.values[: self.strip_rows].numpy()

    def __repr__(self) -> str:
        where = f"path={str(self.path)!r}" if self.path is not None else f"clips={self.clips}"
        return f"VideoDomain(source={self.source!r}, {where}, size={self.size}, channels={self.channels}, frames={self.frames})"


def _sequences(values: np.ndarray) -> SequenceData:
    return SequenceData(Batch.full_length(torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))))


def _first_width(folder: Path) -> int:
    """The frame width of the first clip in ``folder`` (its GIF, or the first PNG of its frame folder)."""
    from PIL import Image

    for path in sorted(folder.iterdir()):
        target = path
        if path.is_dir():
            pngs = sorted(path.glob("*.png"))
            if not pngs:
                continue
            target = pngs[0]
        elif path.suffix.lower() != ".gif":
            continue
        try:
            with Image.open(target) as image:
                return int(min(image.size))
        except Exception:
            continue
    raise DataError(f"{folder}: no readable clip; expected animated .gif files or sub-folders of numbered .png frames")


def _has_colour(values: np.ndarray) -> bool:
    """True when an RGB clip ``[T, 3*H*W]`` has a pixel whose channels differ."""
    frames = values.reshape(len(values), 3, -1)
    return bool(np.abs(frames[:, 0] - frames[:, 1]).max() > 1 / 255 or np.abs(frames[:, 0] - frames[:, 2]).max() > 1 / 255)
