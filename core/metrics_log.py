"""``metrics.jsonl``: one JSON object per line, durable and truncatable on resume.

A checkpoint records the log's size when it was taken (after an fsync, so those bytes
survive a crash); resuming cuts the log back to that size, so lines written after the
checkpoint (by a run that was then killed) are replaced by the identical lines the resumed
run writes again.

What a kill -9 leaves, before any resume: the log is a byte prefix of what the
uninterrupted run writes, at least as long as the newest checkpoint's ``log_size``. Each
line reaches the kernel in one ``write``, so it normally ends at a line boundary, but a
kill is not promised to land between lines: ``read_metrics`` skips a last line that was
cut short, and the resume cuts it off.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

from seqtk.core.errors import CheckpointError


class MetricsLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(path, "a", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        self._handle.write(json.dumps(_finite(record), sort_keys=False) + "\n")
        self._handle.flush()

    def sync(self) -> int:
        """Flush to disk and return the size a checkpoint should remember."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return self._handle.tell()

    def truncate(self, size: int) -> None:
        """Cut the log back to ``size`` bytes (a checkpoint's ``log_size``), never extend it.

        A log shorter than its checkpoint recorded lost lines the checkpoint counts on (it
        was edited, or replaced by an older copy); padding it would write NUL bytes into
        the log, so that is refused.
        """
        self._handle.flush()
        check_log_holds(self.path, size, "the checkpoint being resumed")
        self._handle.truncate(size)
        self._handle.seek(size)

    def close(self) -> None:
        self._handle.close()


def check_log_holds(path: Path, size: int, checkpoint: str) -> None:
    """Refuse a log shorter than ``checkpoint`` recorded: lines it counts on are gone, and resuming would pad with NULs."""
    actual = path.stat().st_size if path.exists() else 0
    if actual < size:
        raise CheckpointError(
            f"{path}: holds {actual} bytes, fewer than the {size} that {checkpoint} recorded: lines logged "
            "before that checkpoint are missing (was the file edited or replaced by an older copy?); "
            "put the complete log back, or start the run again with --overwrite"
        )


def _finite(record: Mapping[str, Any]) -> dict[str, Any]:
    """JSON has no NaN or infinity: write them as strings rather than invalid JSON."""
    return {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics log; a last line cut short (no newline, not JSON) by a kill is skipped."""
    with open(path, encoding="utf-8") as handle:
        lines = handle.readlines()
    if lines and not lines[-1].endswith("\n") and not _parses(lines[-1]):
        lines.pop()
    return [json.loads(line) for line in lines if line.strip()]


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True
