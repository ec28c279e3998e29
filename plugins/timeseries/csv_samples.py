"""Writing time series as CSV, atomically.

Shared by every continuous domain so that generated series all look alike on disk: one
row per sample per valid step, ``sample,step,<feature names>``, long format (it holds
variable-length series without padding and loads straight into pandas).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["write_series_csv"]

#: Nine significant digits round-trip any float32 exactly.
FLOAT_FORMAT = "%.9g"


def write_series_csv(values: np.ndarray, lengths: np.ndarray, path: Path, feature_names: list[str]) -> Path:
    """Write ``values`` ``[B, T, F]`` (rows cut at ``lengths`` ``[B]``) to ``path``; return it.

    The file appears complete or not at all: rows go to a temporary file in the same
    directory, which is flushed and fsynced, then renamed over ``path`` (``os.replace`` is
    atomic on POSIX and Windows). On any error the temporary file is removed.
    """
    values = np.asarray(values)
    lengths = np.asarray(lengths).astype(np.int64).reshape(-1)
    path = Path(path)
    _check_shapes(values, lengths, feature_names)
    table = _long_table(values, lengths)
    header = ",".join(["sample", "step", *feature_names])
    fmt = ["%d", "%d"] + [FLOAT_FORMAT] * values.shape[2]
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False, encoding="utf-8", newline=""
    )
    try:
        with handle:
            np.savetxt(handle, table, fmt=fmt, delimiter=",", header=header, comments="")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
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


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable where the platform allows it (POSIX)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
