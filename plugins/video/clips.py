"""The user's clips: a folder of animated GIFs, or a folder of folders of numbered PNG frames.

Pillow reads both (the ``video`` extra). Every frame is centre-cropped to a square,
resized to ``size x size`` (area averaging when shrinking), converted to grayscale or
RGB and scaled to [0, 1]. A clip keeps every ``stride``-th frame and is then cut into
consecutive, non-overlapping windows of ``frames`` steps (a clip too short for one
window is skipped with a warning). Files Pillow cannot read, and frame folders holding
an unreadable frame, are skipped with a warning naming them; a folder with no usable
clip left is a :class:`~seqtk.core.errors.DataError` naming the folder.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqtk.core.errors import DataError

__all__ = ["Clip", "read_clips", "split_clips", "windows", "INSTALL_HINT"]

INSTALL_HINT = "install it with `pip install 'seqtk[video]'` (or `pip install pillow`)"

_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class Clip:
    """One source clip: its name (file or folder) and ``[frames, C * H * W]`` float32 values in [0, 1]."""

    name: str
    values: np.ndarray


def _pillow():
    try:
        from PIL import Image, ImageSequence
    except ImportError as exc:  # pragma: no cover - the extra is installed in tests
        raise DataError(f"reading GIF and PNG clips needs Pillow; {INSTALL_HINT}") from exc
    return Image, ImageSequence


def _natural_key(path: Path) -> list[object]:
    """``frame2.png`` before ``frame10.png``: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(path.name)]


def _frame_array(image, size: int, channels: int) -> np.ndarray:
    """One Pillow frame as ``[C * H * W]`` float32 in [0, 1], centre-cropped square and resized."""
    Image, _ = _pillow()
    image = image.convert("L" if channels == 1 else "RGB")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if side != size:
        image = image.resize((size, size), Image.Resampling.BOX if side > size else Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.float32) / 255.0
    if channels == 1:
        return array.reshape(-1)
    return array.transpose(2, 0, 1).reshape(-1)  # channel-major, as the networks unflatten it


def _read_gif(path: Path, size: int, channels: int) -> np.ndarray:
    Image, ImageSequence = _pillow()
    with Image.open(path) as image:
        frames = [_frame_array(frame.copy(), size, channels) for frame in ImageSequence.Iterator(image)]
    return np.stack(frames)


def _read_png_folder(folder: Path, size: int, channels: int) -> np.ndarray:
    Image, _ = _pillow()
    paths = sorted((p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file()), key=_natural_key)
    if not paths:
        raise ValueError("no .png frames")
    frames = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
                frames.append(_frame_array(image, size, channels))
        except Exception as exc:  # Pillow raises several kinds for a broken file
            raise ValueError(f"frame {path.name} cannot be read ({type(exc).__name__}: {exc})") from None
    return np.stack(frames)


def read_clips(folder: Path, size: int, channels: int) -> list[Clip]:
    """Every readable clip under ``folder``, by name: ``*.gif`` files and sub-folders of ``*.png`` frames.

    Unreadable ones are skipped, each with a warning naming it; none left is a DataError.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; expected a folder of animated GIFs or of folders of numbered PNG frames")
    clips: list[Clip] = []
    skipped: list[str] = []
    for path in sorted(folder.iterdir(), key=_natural_key):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            reader = _read_png_folder
        elif path.suffix.lower() == ".gif":
            reader = _read_gif
        else:
            continue
        try:
            values = reader(path, size, channels)
        except Exception as exc:  # a corrupt GIF is an OSError, a truncated one a ValueError or EOFError
            skipped.append(path.name)
            warnings.warn(f"{path}: skipped, not a readable clip ({type(exc).__name__}: {exc})", stacklevel=2)
            continue
        clips.append(Clip(path.name, values))
    if not clips:
        what = f" (skipped as unreadable: {', '.join(skipped)})" if skipped else ""
        raise DataError(
            f"{folder}: no readable clip{what}; expected animated .gif files or sub-folders of numbered .png frames"
        )
    return clips


def windows(clip: Clip, frames: int, stride: int) -> np.ndarray:
    """``[n, frames, F]``: every ``stride``-th frame of ``clip``, cut into consecutive non-overlapping windows."""
    kept = clip.values[::stride]
    count = len(kept) // frames
    return kept[: count * frames].reshape(count, frames, kept.shape[1])


def split_clips(clips: list[Clip], test_fraction: float, seed: int, frames: int, stride: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Train and test windows ``[n, frames, F]``, split by clip (seeded), so no clip is on both sides."""
    usable = []
    for clip in clips:
        cut = windows(clip, frames, stride)
        if len(cut) == 0:
            warnings.warn(
                f"{source}/{clip.name}: skipped, {len(clip.values)} frames give fewer than frames={frames} steps at stride={stride}",
                stacklevel=2,
            )
            continue
        usable.append(cut)
    if len(usable) < 2:
        raise DataError(
            f"{source}: {len(usable)} clip(s) long enough for frames={frames} at stride={stride}; "
            "need at least 2 (one to train on, one to test), so add clips or lower frames or stride"
        )
    order = np.random.default_rng(seed).permutation(len(usable))
    test_count = min(len(usable) - 1, max(1, round(len(usable) * test_fraction)))
    test = np.concatenate([usable[i] for i in order[:test_count]])
    train = np.concatenate([usable[i] for i in order[test_count:]])
    return train.astype(np.float32), test.astype(np.float32)
