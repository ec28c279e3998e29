"""Moving shapes: a seeded, in-process video benchmark that needs no download.

Each clip shows ``N`` objects (discs or squares) on a black background. An object has a
size (its radius, or half its side), a position and a velocity; every frame it moves by
its velocity and bounces off the walls (the velocity component towards a wall flips, and
the position is mirrored back inside), as in the bouncing-balls data of Sutskever et al.
(2009) and the moving shapes MoCoGAN and similar papers train on. Objects pass through
each other. Frames are rendered at ``size x size`` pixels, grayscale (objects at
intensity 1) or colour (each object one bright colour); overlapping objects take the
brighter value per channel. Values lie in [0, 1].

Everything comes from one ``numpy.random.Generator``, so a seed gives the same clips on
every machine, whatever torch's random state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["ShapesConfig", "moving_shapes", "trajectories"]

ShapeKind = Literal["ball", "square", "mixed"]

#: Bright colours for colour clips: red, green, blue, yellow, magenta, cyan, orange, white.
PALETTE = np.array(
    [[1, 0.2, 0.2], [0.2, 1, 0.2], [0.3, 0.4, 1], [1, 1, 0.2], [1, 0.2, 1], [0.2, 1, 1], [1, 0.6, 0.1], [1, 1, 1]],
    dtype=np.float32,
)


@dataclass(frozen=True)
class ShapesConfig:
    """What the clips look like; sizes and speeds are fractions of the frame's side.

    ``objects`` is the most objects in a clip and ``min_objects`` the fewest (each clip
    draws its count uniformly between them); ``radius`` and ``speed`` are ``(low, high)``
    ranges drawn uniformly per object (speed in frame sides per frame, direction uniform).
    """

    size: int = 16
    channels: int = 1
    frames: int = 8
    objects: int = 2
    min_objects: int = 2
    radius: tuple[float, float] = (0.1, 0.15)
    speed: tuple[float, float] = (0.04, 0.08)
    shape: ShapeKind = "ball"


def trajectories(config: ShapesConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``[frames, N, 2]`` (pixels, x then y) and radii ``[N]`` (pixels) of one clip's objects.

    Positions start uniformly where the whole object fits; each step adds the velocity,
    and a centre that crosses ``r`` or ``size - r`` is mirrored back and its velocity
    component flipped (an elastic bounce off the wall).
    """
    size = float(config.size)
    count = int(rng.integers(config.min_objects, config.objects + 1))
    radii = rng.uniform(*config.radius, size=count) * size
    low, high = radii[:, None], size - radii[:, None]
    position = rng.uniform(low, np.maximum(high, low + 1e-6), size=(count, 2))
    angle = rng.uniform(0.0, 2.0 * np.pi, size=count)
    speed = rng.uniform(*config.speed, size=count) * size
    velocity = np.stack([np.cos(angle), np.sin(angle)], axis=1) * speed[:, None]
    centres = np.empty((config.frames, count, 2))
    for t in range(config.frames):
        centres[t] = position
        position = position + velocity
        below, above = position < low, position > high
        position = np.where(below, 2 * low - position, position)
        position = np.where(above, 2 * high - position, position)
        velocity = np.where(below | above, -velocity, velocity)
    return centres, radii


def _render(config: ShapesConfig, centres: np.ndarray, radii: np.ndarray, kinds: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """``[frames, C, H, W]`` float32 frames of one clip: each pixel lit if its centre lies inside an object."""
    grid = np.arange(config.size, dtype=np.float64) + 0.5  # pixel centres
    x = grid[None, None, None, :]
    y = grid[None, None, :, None]
    cx = centres[:, :, 0, None, None]
    cy = centres[:, :, 1, None, None]
    r = radii[None, :, None, None]
    disc = (x - cx) ** 2 + (y - cy) ** 2 <= r**2
    square = (np.abs(x - cx) <= r) & (np.abs(y - cy) <= r)
    inside = np.where(kinds[None, :, None, None] == 1, square, disc)  # [frames, N, H, W]
    lit = inside[:, :, None].astype(np.float32) * colours[None, :, :, None, None]  # [frames, N, C, H, W]
    return lit.max(axis=1) if lit.shape[1] else np.zeros((config.frames, config.channels, config.size, config.size), np.float32)


def moving_shapes(clips: int, config: ShapesConfig, rng: np.random.Generator) -> np.ndarray:
    """``[clips, frames, C * H * W]`` float32 values in [0, 1]: the clips, frames flattened channel-major."""
    out = np.empty((clips, config.frames, config.channels * config.size * config.size), dtype=np.float32)
    for i in range(clips):
        centres, radii = trajectories(config, rng)
        count = len(radii)
        if config.shape == "mixed":
            kinds = rng.integers(0, 2, size=count)
        else:
            kinds = np.full(count, 1 if config.shape == "square" else 0)
        if config.channels == 1:
            colours = np.ones((count, 1), dtype=np.float32)
        else:
            colours = PALETTE[rng.integers(0, len(PALETTE), size=count)]
        out[i] = _render(config, centres, radii, kinds, colours).reshape(config.frames, -1)
    return out
