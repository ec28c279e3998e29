"""Writing time series as CSV, atomically.

Shared by every continuous domain so that generated series all look alike on disk: one
row per sample per valid step, ``sample,step,<feature names>``, long format (it holds
variable-length series without padding and loads straight into pandas).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqtk.core.atomic import atomic_open

__all__ = ["write_series_csv"]

#: Nine significant digits round-trip any float32 exactly.
FLOAT_FORMAT = "%.9g"


def write_series_csv(values: np.ndarray, lengths: np.ndarray, path: Path, feature_names: list[str]) -> Path:
    """Write ``values`` ``[B, T, F]`` (rows cut at ``lengths`` ``[B]``) to ``path``; return it.

    The file appears complete or not at all (``seqtk.core.atomic``).
    """
    values = np.asarray(values)
    lengths = np.asarray(lengths).astype(np.int64).reshape(-1)
    path = Path(path)
    _check_shapes(values, lengths, feature_names)
    table = _long_table(values, lengths)
    header = ",".join(["sample", "step", *feature_names])
    fmt = ["%d", "%d"] + [FLOAT_FORMAT] * values.shape[2]
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        np.savetxt(handle, table, fmt=fmt, delimiter=",", header=header, comments="")
    return path


def _check_shapes(values: np.ndarray, lengths: np.ndarray, feature_names: list[str]) -> None:
    if values.ndim != 3:
        raise ValueError(f"write_series_csv: values must be [samples, steps, features], got shape {values.shape}")
    if lengths.shape[0] != values.shape[0]:
        raise ValueError(f"write_series_csv: {lengths.shape[0]} lengths for {values.shape[0]} samples")
    if len(feature_names) != values.shape[2]:
        raise ValueError(f"write_series_csv: {len(feature_names)} feature names for {values.shape[2]} features")
    if (lengths < 0).any() or (lengths > values.shape[1]).any():
        raise ValueError(f"write_series_csv: lengths must lie in [0, {values.shape[1]}]")


def _long_table(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``[rows, 2 + F]`` float64: sample index, step index, then the features of each valid step."""
    samples, steps, _ = values.shape
    mask = np.arange(steps)[None, :] < lengths[:, None]
    sample_idx, step_idx = np.nonzero(mask)  # row-major: sample by sample, step by step
    return np.column_stack([sample_idx, step_idx, values[mask].astype(np.float64)])
