"""The best evaluated checkpoint of a run (``output.keep_best``).

The newest ``output.keep_checkpoints`` checkpoints say where a run *is*; a GAN's metrics
rarely improve to the end, so the step worth sampling from is often an earlier one. When
an evaluation beats every earlier one on the chosen metric, the trainer checkpoints that
very step (evaluations fall between checkpoint steps) and this keeper:

* records the best as ``{metric, mode, value, step, file}`` inside every later checkpoint,
  so a resumed run knows the best so far, whichever checkpoint it resumes from;
* points ``checkpoints/best.json`` at it, written atomically *after* the checkpoint
  itself and *before* any pruning, so a kill at any moment leaves the record naming a file
  that exists (the previous best, still spared, or the new one);
* spares that file when older checkpoints are pruned.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Mapping

from seqtk.core import checkpoint as ckpt


class BestKeeper:
    """Tracks the best evaluation of one metric and the checkpoint that holds it (a no-op when ``metric`` is None)."""

    def __init__(self, metric: str | None, mode: str | None, higher_is_better: bool, directory: Path) -> None:
        self.metric = metric
        self.mode = mode or ("max" if higher_is_better else "min")
        self.directory = directory
        self.record: dict[str, Any] | None = None

    @property
    def enabled(self) -> bool:
        return self.metric is not None

    def offer(self, step: int, metrics: Mapping[str, float]) -> bool:
        """Take step ``step``'s evaluation; True when it is the new best, whose checkpoint the caller must write."""
        if self.metric is None or self.metric not in metrics:
            return False
        value = float(metrics[self.metric])
        if not ckpt.improves(value, self.record, self.mode):
            return False
        name = ckpt.checkpoint_path(self.directory, step).name
        self.record = {"metric": self.metric, "mode": self.mode, "value": value, "step": step, "file": name}
        return True

    def saved(self, step: int) -> None:
        """The checkpoint of ``step`` is on disk: if it is the best, point ``best.json`` at it (before any pruning)."""
        if self.record is not None and self.record["step"] == step:
            ckpt.write_best_record(self.directory, self.record)

    def spared(self) -> list[Path]:
        """Checkpoints that pruning must leave in place."""
        return [self.directory / self.record["file"]] if self.record is not None else []

    def restore(self, record: Any, *, writes_files: bool = True) -> None:
        """Resume with a checkpoint's record; one kept for another metric or direction (``output`` may change) is dropped.

        ``best.json`` is rewritten from the record (by the process that writes the run
        directory), since a kill between a checkpoint and its record leaves the file one best
        behind; it is removed when no record holds, so it never names a file pruning may delete.
        """
        fits = isinstance(record, dict) and record.get("metric") == self.metric and record.get("mode") == self.mode
        if record is not None and not fits and self.enabled:
            warnings.warn(
                f"the checkpoint's best was kept by {record.get('metric')} ({record.get('mode')}); output.keep_best now says "
                f"{self.metric} ({self.mode}): the best is chosen again from the next evaluation on",
                stacklevel=3,
            )
        self.record = dict(record) if fits else None
        if not writes_files:
            return
        if self.record is None:
            (self.directory / ckpt.BEST_FILE).unlink(missing_ok=True)
        elif (self.directory / self.record["file"]).is_file():
            ckpt.write_best_record(self.directory, self.record)
