"""Per-feature min-max scaling, shared by the domains of real-valued data.

Networks train on values in [0, 1] (the generators squash their output to the domain's
range); users want their samples back in their own units. The scaler is fitted on
training data only, saved with the run as plain lists (``torch.load(weights_only=True)``
reads them) and inverted exactly when samples are written.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from seqtk.core.errors import DataError

__all__ = ["MinMaxScaler"]

_STATE_KEYS = ("names", "minimum", "maximum")


class MinMaxScaler:
    """Per-feature min-max scaling to [0, 1], fitted on training rows only, saved with the run, inverted on output.

    Test rows may fall slightly outside [0, 1]; they are not clipped, so metrics see the
    true gap between the splits.
    """

    def __init__(self, names: Sequence[str]) -> None:
        names = list(names)
        if not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"MinMaxScaler: names must be a non-empty list of column names (str), got {names!r}")
        self.names: list[str] = names
        self._minimum: np.ndarray | None = None
        self._maximum: np.ndarray | None = None

    @property
    def fitted(self) -> bool:
        """Whether the minimum and maximum are known (by :meth:`fit` or :meth:`from_state`)."""
        return self._minimum is not None

    @property
    def minimum(self) -> np.ndarray:
        """``[F]`` float64 minimum of each feature over the training rows."""
        return self._require()[0].copy()

    @property
    def maximum(self) -> np.ndarray:
        """``[F]`` float64 maximum of each feature over the training rows."""
        return self._require()[1].copy()

    def fit(self, values: np.ndarray, *, source: str) -> "MinMaxScaler":
        """Learn each feature's range from ``values`` ``[rows, F]`` (the training rows); return self.

        A constant column cannot be scaled (its range is zero) and carries no information for
        a generator, so it is an error that names the column and suggests dropping it.
        """
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(self.names):
            raise ValueError(
                f"MinMaxScaler.fit: values must be [rows, {len(self.names)}] for columns {self.names}, "
                f"got shape {values.shape}"
            )
        if values.shape[0] == 0:
            raise DataError(f"{source}: no training rows to fit the min-max scaling on; use a smaller `test_fraction`")
        if not np.isfinite(values).all():
            row, col = np.argwhere(~np.isfinite(values))[0]
            raise DataError(
                f"{source}: training row {row} (0-based), column {self.names[col]!r}: value {values[row, col]} "
                "is not finite; remove or fill it"
            )
        minimum, maximum = values.min(axis=0), values.max(axis=0)
        constant = np.flatnonzero(maximum == minimum)
        if constant.size:
            col = int(constant[0])
            others = [self.names[c] for c in constant[1:]]
            also = f" (also constant: {', '.join(map(repr, others))})" if others else ""
            raise DataError(
                f"{source}: column {self.names[col]!r} is constant ({minimum[col]:.9g}) in all "
                f"{values.shape[0]} training rows, so min-max scaling would divide by zero{also}; "
                "it carries no information: drop it with the `columns` option"
            )
        self._minimum, self._maximum = minimum, maximum
        return self

    def transform(self, values: np.ndarray, *, dtype: Any = np.float32) -> np.ndarray:
        """``(x - min) / (max - min)`` per feature, for any shape ``[..., F]``.

        float32 by default, what a network consumes; ``dtype=np.float64`` where the inverse
        must be exact to 1e-9.
        """
        minimum, maximum = self._require()
        values = self._check_last_axis(values, "transform")
        return ((values - minimum) / (maximum - minimum)).astype(dtype)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """``x * (max - min) + min`` per feature, for any shape ``[..., F]``; float64, original units."""
        minimum, maximum = self._require()
        values = self._check_last_axis(values, "inverse")
        return values * (maximum - minimum) + minimum

    def state_dict(self) -> dict[str, list]:
        """Plain lists of str and float, so ``torch.load(weights_only=True)`` reads them back."""
        minimum, maximum = self._require()
        return {"names": list(self.names), "minimum": minimum.tolist(), "maximum": maximum.tolist()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "MinMaxScaler":
        """Rebuild a fitted scaler from :meth:`state_dict`; a malformed state raises ValueError."""
        if not isinstance(state, Mapping):
            raise ValueError(f"{cls.__name__}.from_state: state must be a mapping, got {type(state).__name__}")
        missing = [k for k in _STATE_KEYS if k not in state]
        extra = sorted(str(k) for k in state if k not in _STATE_KEYS)
        if missing or extra:
            raise ValueError(
                f"{cls.__name__}.from_state: expected keys {list(_STATE_KEYS)}; missing {missing}, unexpected {extra}"
            )
        scaler = cls(state["names"])
        bounds = []
        for key in ("minimum", "maximum"):
            try:
                array = np.asarray(state[key], dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{cls.__name__}.from_state: {key} must be a list of floats ({exc})") from None
            if array.shape != (len(scaler.names),):
                raise ValueError(
                    f"{cls.__name__}.from_state: {key} must hold {len(scaler.names)} floats (one per name), "
                    f"got shape {array.shape}"
                )
            if not np.isfinite(array).all():
                raise ValueError(f"{cls.__name__}.from_state: {key} must be finite, got {array.tolist()}")
            bounds.append(array)
        if not (bounds[1] > bounds[0]).all():
            raise ValueError(f"{cls.__name__}.from_state: every maximum must exceed its minimum")
        scaler._minimum, scaler._maximum = bounds
        return scaler

    def _require(self) -> tuple[np.ndarray, np.ndarray]:
        if self._minimum is None or self._maximum is None:
            raise RuntimeError(f"{type(self).__name__}: not fitted; call fit() on the training data or from_state() first")
        return self._minimum, self._maximum

    def _check_last_axis(self, values: np.ndarray, method: str) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 0 or values.shape[-1] != len(self.names):
            raise ValueError(
                f"{type(self).__name__}.{method}: last axis must hold {len(self.names)} features, got shape {values.shape}"
            )
        return values

    def __repr__(self) -> str:
        return f"{type(self).__name__}(names={self.names!r}, fitted={self.fitted})"
