"""Clips out: one animated GIF per clip, and a PNG strip of real clips beside generated ones.

Pillow writes both, atomically (``seqtk.core.atomic``), so a reader sees a complete file
or none. The strip needs no matplotlib: each row is one clip's frames left to right,
real clips in the left block, generated ones in the right, scaled up by whole pixels
(nearest neighbour, so the network's actual pixels are what you see).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqtk.core.atomic import atomic_open

__all__ = ["to_uint8_frames", "write_gif", "write_strip"]


def to_uint8_frames(values: np.ndarray, frame_shape: tuple[int, int, int]) -> np.ndarray:
    """``[T, C*H*W]`` floats in [0, 1] as ``[T, H, W]`` (C = 1) or ``[T, H, W, 3]`` uint8 pixels."""
    channels, height, width = frame_shape
    frames = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float32)), 0.0, 1.0).reshape(-1, channels, height, width)
    pixels = np.round(frames * 255.0).astype(np.uint8)
    return pixels[:, 0] if channels == 1 else pixels.transpose(0, 2, 3, 1)


def _image(pixels: np.ndarray):
    from PIL import Image

    return Image.fromarray(pixels, mode="L" if pixels.ndim == 2 else "RGB")


def write_gif(values: np.ndarray, frame_shape: tuple[int, int, int], path: Path, fps: float) -> Path:
    """One looping animated GIF of a clip's frames (``values`` ``[T, C*H*W]``), atomically."""
    images = [_image(frame) for frame in to_uint8_frames(values, frame_shape)]
    with atomic_open(Path(path), "wb") as handle:
        images[0].save(
            handle, format="GIF", save_all=True, append_images=images[1:], duration=round(1000.0 / fps), loop=0, optimize=False
        )
    return Path(path)


def write_strip(
    real: np.ndarray | None, fake: np.ndarray, frame_shape: tuple[int, int, int], path: Path, *, rows: int = 8, scale: int | None = None
) -> Path:
    """A PNG of ``rows`` real clips (left) beside ``rows`` generated clips (right), frames left to right.

    ``real`` None (sampling without the data): generated clips alone. ``scale`` defaults to
    the smallest whole factor that makes a frame at least 48 pixels tall.
    """
    from PIL import Image, ImageDraw

    channels, height, width = frame_shape
    scale = scale or max(1, -(-48 // height))
    blocks = [("generated", fake[:rows])] if real is None else [("real", real[:rows]), ("generated", fake[:rows])]
    steps = max(block.shape[1] for _, block in blocks)
    gap, header = 2 * scale, 14
    block_width = steps * (width * scale + 1)
    total_rows = max(len(block) for _, block in blocks)
    canvas = Image.new("RGB", (len(blocks) * block_width + (len(blocks) - 1) * 3 * gap, header + total_rows * (height * scale + gap)), (40, 40, 40))
    draw = ImageDraw.Draw(canvas)
    for b, (title, block) in enumerate(blocks):
        left = b * (block_width + 3 * gap)
        draw.text((left + 2, 1), title, fill=(230, 230, 230))
        for r, clip in enumerate(block):
            for t, frame in enumerate(to_uint8_frames(clip, frame_shape)):
                tile = _image(frame).convert("RGB").resize((width * scale, height * scale), Image.Resampling.NEAREST)
                canvas.paste(tile, (left + t * (width * scale + 1), header + r * (height * scale + gap)))
    with atomic_open(Path(path), "wb") as handle:
        canvas.save(handle, format="PNG")
    return Path(path)
