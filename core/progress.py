"""The progress bar: step, losses, rate and ETA on stderr (tqdm does the drawing).

The built-in ``progress`` callback (``seqtk.core.callbacks.ProgressBar``) drives it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Mapping

from tqdm import tqdm


class Progress:
    """A context manager around tqdm; silent when disabled or when stderr is not a terminal."""

    def __init__(self, total: int, initial: int, *, enabled: bool) -> None:
        self._bar = tqdm(
            total=total,
            initial=initial,
            disable=not enabled or None,  # None: tqdm disables itself when stderr is not a TTY
            unit="step",
            dynamic_ncols=True,
            smoothing=0.1,
        )

    def update(self, step: int, logs: Mapping[str, float]) -> None:
        if logs:
            self._bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items()}, refresh=False)
        self._bar.update(step - self._bar.n)  # redraws at most every tqdm.mininterval

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
