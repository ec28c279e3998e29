"""Where a video component learns the shape of a frame.

A video batch is continuous data ``[B, T, F]`` with ``F = C * H * W``: each step is one
frame flattened channel-major, so every continuous part of seqtk (the reparam estimator,
WGAN-GP's interpolates, ``Batch.concat``, the ``density`` metric) works on clips
unchanged. ``DomainSpec`` says ``F`` but not how it folds into ``(C, H, W)``; rather than
add a field to the core spec that only one domain needs, the video domain exposes a
``frame_shape`` attribute and video components take the ``domain`` argument that seqtk
injects into every component whose signature names it. A ``frame_shape`` parameter
overrides it, for a domain that does not expose one (another plugin's clips).
"""

from __future__ import annotations

from typing import Any, Sequence

from seqtk.core.interfaces import DomainSpec

__all__ = ["resolve_frame_shape"]


def resolve_frame_shape(spec: DomainSpec, domain: Any, given: Sequence[int] | None, label: str) -> tuple[int, int, int]:
    """``(C, H, W)`` from ``given``, else from ``domain.frame_shape``; a ValueError unless ``C*H*W == spec.features``."""
    if given is not None:
        shape = tuple(given)
        source = "frame_shape"
    elif getattr(domain, "frame_shape", None) is not None:
        shape = tuple(domain.frame_shape)
        source = f"the domain's frame_shape ({type(domain).__name__})"
    else:
        raise ValueError(
            f"{label}: the frame shape is unknown; use the video domain (it exposes frame_shape) "
            "or give frame_shape: [channels, height, width]"
        )
    if len(shape) != 3 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in shape):
        raise ValueError(f"{label}: {source} must be three positive integers [channels, height, width], got {list(shape)}")
    channels, height, width = shape
    if spec.kind != "continuous" or channels * height * width != spec.features:
        raise ValueError(
            f"{label}: {source} {list(shape)} holds {channels * height * width} values per frame, "
            f"but the domain is {spec.kind} with {spec.features} features per step"
        )
    return channels, height, width
