"""``metrics.jsonl``: one JSON object per line, durable and truncatable on resume.

A checkpoint records the log's size when it was taken; resuming cuts the log back to
that size, so lines written after the checkpoint (by a run that was then killed) are
replaced by the identical lines the resumed run writes again.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping


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
        self._handle.flush()
        self._handle.truncate(size)
        self._handle.seek(size)

    def close(self) -> None:
        self._handle.close()


def _finite(record: Mapping[str, Any]) -> dict[str, Any]:
    """JSON has no NaN or infinity: write them as strings rather than invalid JSON."""
    return {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


def read_metrics(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
