"""The two ways a :class:`Piece` becomes a sequence a GAN can learn from, and back.

1. **Continuous note events** (C-RNN-GAN, Mogren 2016): one step per note, in the order
   ``(start, pitch)``, with the features ``[delta, duration, pitch, velocity]``. ``delta``
   is the time in beats since the previous note's onset (since beat 0 for the first note,
   so a piece that starts on beat 0 has ``delta == 0`` there and a leading rest survives
   the round trip). :func:`events_to_piece` inverts :func:`piece_to_events` (bit for bit
   on any power-of-two grid of beats, within one ulp of each onset otherwise), and
   repairs what a generator emits instead of refusing it (pitches and velocities
   rounded and clipped, negative gaps and lengths clipped). :class:`EventScaler` maps the
   features to [0, 1] and back; :func:`event_windows` cuts pieces into training sequences.
2. **Discrete event tokens** (Performance RNN, Music Transformer; Oore et al. 2018):
   ``NOTE_ON``/``NOTE_OFF`` per pitch, ``TIME_SHIFT`` in grid steps, ``VELOCITY`` bins.
   :class:`EventVocabulary` encodes a piece onto a grid and decodes *any* token sequence
   a generator can emit into a valid piece.

Times are in beats throughout (see :mod:`seqtk.plugins.music.notes`).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Mapping, Sequence

import numpy as np

from seqtk.core.errors import DataError
from seqtk.plugins.scaling import MinMaxScaler

from .notes import Note, Piece

__all__ = [
    "EVENT_FEATURES",
    "MIN_DURATION",
    "EventScaler",
    "EventVocabulary",
    "event_windows",
    "events_to_piece",
    "piece_to_events",
]

EVENT_FEATURES: tuple[str, ...] = ("delta", "duration", "pitch", "velocity")
#: The shortest note :func:`events_to_piece` makes, in beats: a generator's zero or
#: negative length still gives a note a player can sound (a 256th note).
MIN_DURATION: float = 1.0 / 64.0
_WIDTH = len(EVENT_FEATURES)
_DELTA, _DURATION, _PITCH, _VELOCITY = range(_WIDTH)
#: The fixed ranges of pitch and velocity (MIDI's own), so their scaling never depends on the data.
_PITCH_RANGE = (0.0, 127.0)
_VELOCITY_RANGE = (1.0, 127.0)
#: The range given to delta or duration when the data has no spread in it (all chords at
#: one onset, all quarter notes): one beat, so the scaling stays invertible.
_FALLBACK_SPAN = 1.0
#: A window needs two notes: one note has no delta to learn and no sequence to continue.
_MIN_NOTES = 2


# --------------------------------------------------------------------------- continuous note events


def piece_to_events(piece: Piece) -> np.ndarray:
    """``[notes, 4]`` float64 rows ``[delta, duration, pitch, velocity]`` in ``(start, pitch)`` order.

    ``delta`` is ``start - previous start``, with the previous start of the first note taken
    as beat 0. :func:`events_to_piece` adds the deltas back up: every onset on a
    power-of-two grid (1/4, 1/1024 beat) returns bit for bit; any other onset (``tick /
    480``) returns exactly or, rarely, one ulp (~1e-15 beat) off, never drifting further.
    """
    if not isinstance(piece, Piece):
        raise TypeError(f"piece_to_events: expected a Piece, got {type(piece).__name__}")
    notes = sorted(piece.notes, key=lambda n: (n.start, n.pitch, n.duration, n.velocity))
    events = np.zeros((len(notes), _WIDTH), dtype=np.float64)
    if not notes:
        return events
    starts = np.array([n.start for n in notes], dtype=np.float64)
    events[:, _DELTA] = _exact_deltas(starts)
    events[:, _DURATION] = [n.duration for n in notes]
    events[:, _PITCH] = [n.pitch for n in notes]
    events[:, _VELOCITY] = [n.velocity for n in notes]
    return events


def _exact_deltas(starts: np.ndarray) -> np.ndarray:
    """Gaps between sorted onsets whose running sum gives back every onset, exactly where it can.

    ``a + (b - a)`` is always ``b`` when both are multiples of a power-of-two fraction of a
    beat (1/4, 1/1024: any grid a person writes). Otherwise ``b - a`` may need one bit more
    than a float holds, and then no gap at all gives ``b`` exactly: the onset comes back one
    ulp off (about 1e-15 beat, far below one MIDI tick; about 1 onset in 7000 for times in
    1/480 beat). From the first such onset on, each gap is taken from the running sum
    :func:`events_to_piece` will form, trying the neighbouring floats too, so an ulp never
    accumulates into drift.
    """
    deltas = np.maximum(np.diff(starts, prepend=0.0), 0.0)
    rebuilt = np.add.accumulate(deltas)
    off = np.flatnonzero(rebuilt != starts)
    if off.size:
        _follow_running_sum(starts, deltas, int(off[0]), float(rebuilt[off[0] - 1]) if off[0] else 0.0)
    return deltas


def _follow_running_sum(starts: np.ndarray, deltas: np.ndarray, first: int, total: float) -> None:
    """Recompute ``deltas[first:]`` in place against the running sum :func:`events_to_piece` will form."""
    for k in range(first, len(starts)):
        target = float(starts[k])
        gap = max(target - total, 0.0)
        candidates = [gap, float(np.nextafter(gap, np.inf)), float(np.nextafter(gap, -np.inf))]
        best = min((c for c in candidates if c >= 0.0), key=lambda c: abs((total + c) - target))
        deltas[k] = best
        total = total + best


def events_to_piece(
    events: np.ndarray,
    *,
    tempo_bpm: float = 120.0,
    beats_per_bar: float = 4.0,
    name: str = "",
    min_duration: float = MIN_DURATION,
) -> Piece:
    """The piece that ``[notes, 4]`` rows ``[delta, duration, pitch, velocity]`` describe.

    Inverse of :func:`piece_to_events` on its output when every note lasts at least
    ``min_duration`` (exact for onsets on a power-of-two grid of beats, see there). Anything
    else a generator emits still gives a valid piece: delta is clipped to >= 0, duration to
    >= ``min_duration`` beats, pitch rounded (half to even) and clipped to 0..127, velocity
    rounded and clipped to 1..127. Non-finite values (or onsets that overflow), which no
    repair can give a meaning, raise ValueError.
    """
    events = np.asarray(events, dtype=np.float64)
    if events.ndim != 2 or events.shape[1] != _WIDTH:
        raise ValueError(
            f"events_to_piece: events must be [notes, {_WIDTH}] with columns {list(EVENT_FEATURES)}, "
            f"got shape {events.shape}"
        )
    if not np.isfinite(events).all():
        row, col = np.argwhere(~np.isfinite(events))[0]
        raise ValueError(
            f"events_to_piece: event {row} (0-based), feature {EVENT_FEATURES[col]!r} is {events[row, col]}; "
            "events must be finite (a generator that emits NaN or inf has diverged)"
        )
    if not (np.isfinite(min_duration) and min_duration > 0):
        raise ValueError(f"events_to_piece: min_duration must be a finite number of beats > 0, got {min_duration!r}")
    with np.errstate(over="ignore"):  # an overflow is reported just below, in words
        starts = np.add.accumulate(np.maximum(events[:, _DELTA], 0.0)) if len(events) else np.zeros(0)
    if not np.isfinite(starts).all():
        raise ValueError("events_to_piece: the deltas add up to an onset beyond the largest float; a generator emitted huge gaps")
    durations = np.maximum(events[:, _DURATION], min_duration)
    pitches = np.clip(np.rint(events[:, _PITCH]), *_PITCH_RANGE).astype(np.int64)
    velocities = np.clip(np.rint(events[:, _VELOCITY]), *_VELOCITY_RANGE).astype(np.int64)
    notes = [
        Note(float(s), float(d), int(p), int(v)) for s, d, p, v in zip(starts, durations, pitches, velocities)
    ]
    return Piece(notes, tempo_bpm=tempo_bpm, beats_per_bar=beats_per_bar, name=name)


def event_windows(pieces: Sequence[Piece], length: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Training sequences of ``length`` consecutive notes: ``([N, length, 4]`` float64, ``[N]`` int64 lengths).

    A piece of ``n >= length`` notes gives ``(n - length) // stride + 1`` windows starting at
    notes ``0, stride, 2 * stride, ...`` (notes after the last whole window are left out).
    A piece of ``2 <= n < length`` notes gives one shorter sequence of length ``n``, zero-padded
    to ``length``; a piece of 0 or 1 notes gives none. Each window's first delta is set to 0,
    so a window decodes to its excerpt starting at beat 0, as a generated sequence does.
    Pieces are windowed in order; no window crosses two pieces. No windows at all gives
    empty arrays (``[0, length, 4]``, ``[0]``); the caller decides whether that is an error.
    """
    _check_int("event_windows", "length", length, _MIN_NOTES)
    _check_int("event_windows", "stride", stride, 1)
    windows: list[np.ndarray] = []
    lengths: list[int] = []
    for piece in pieces:
        events = piece_to_events(piece)
        count = len(events)
        if count < _MIN_NOTES:
            continue
        if count < length:
            starts: Sequence[int] = [0]
        else:
            starts = range(0, count - length + 1, stride)
        for start in starts:
            window = np.zeros((length, _WIDTH), dtype=np.float64)
            part = events[start : start + length]
            window[: len(part)] = part
            window[0, _DELTA] = 0.0
            windows.append(window)
            lengths.append(len(part))
    if not windows:
        return np.zeros((0, length, _WIDTH), dtype=np.float64), np.zeros(0, dtype=np.int64)
    return np.stack(windows), np.array(lengths, dtype=np.int64)


class EventScaler(MinMaxScaler):
    """Per-feature min-max scaling of note events to [0, 1], saved with a run, inverted on output.

    Pitch and velocity use MIDI's fixed ranges (0..127 and 1..127), so their scaling does
    not depend on the data and a sample decodes the same whatever data the scaler saw.
    Delta uses ``[0, max]`` and duration ``[min, max]`` over the fitted notes; a feature with
    no spread in the data gets a span of one beat so the scaling stays invertible. Values
    outside the fitted range (held-out data, samples) are not clipped here;
    :func:`events_to_piece` repairs what needs repairing. Transform, inverse and the saved
    state are :class:`~seqtk.plugins.scaling.MinMaxScaler`'s.
    """

    def __init__(self, names: Sequence[str] = EVENT_FEATURES) -> None:
        if list(names) != list(EVENT_FEATURES):
            raise ValueError(f"EventScaler: features must be {list(EVENT_FEATURES)}, got {list(names)}")
        super().__init__(names)

    def fit(self, events: Sequence[np.ndarray], *, source: str = "events") -> "EventScaler":  # type: ignore[override]
        """Learn the delta and duration ranges from ``[notes, 4]`` arrays (trim padded windows first); return self.

        No notes at all, or a non-finite value, raise :class:`DataError` naming ``source``.
        """
        arrays = [_check_events("EventScaler.fit", e) for e in events]
        rows = np.concatenate(arrays) if arrays else np.zeros((0, _WIDTH))
        if len(rows) == 0:
            raise DataError(f"{source}: no notes to fit the event scaling on; give pieces with at least one note")
        if not np.isfinite(rows).all():
            row, col = np.argwhere(~np.isfinite(rows))[0]
            raise DataError(
                f"{source}: note {row} (0-based, counting through all pieces), feature {EVENT_FEATURES[col]!r} "
                f"is {rows[row, col]}; event values must be finite"
            )
        minimum = np.array([0.0, rows[:, _DURATION].min(), _PITCH_RANGE[0], _VELOCITY_RANGE[0]])
        maximum = np.array([rows[:, _DELTA].max(), rows[:, _DURATION].max(), _PITCH_RANGE[1], _VELOCITY_RANGE[1]])
        flat = maximum <= minimum
        maximum[flat] = minimum[flat] + _FALLBACK_SPAN
        self._minimum, self._maximum = minimum, maximum
        return self


def _check_events(caller: str, events: np.ndarray) -> np.ndarray:
    events = np.asarray(events, dtype=np.float64)
    if events.ndim != 2 or events.shape[1] != _WIDTH:
        raise ValueError(f"{caller}: each events array must be [notes, {_WIDTH}], got shape {events.shape}")
    return events


def _check_last_axis(caller: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0 or values.shape[-1] != _WIDTH:
        raise ValueError(f"{caller}: last axis must hold the {_WIDTH} features {list(EVENT_FEATURES)}, got shape {values.shape}")
    return values


def _check_int(caller: str, name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if int(value) >= minimum and (maximum is None or int(value) <= maximum):
            return
    bound = f"in {minimum}..{maximum}" if maximum is not None else f">= {minimum}"
    raise ValueError(f"{caller}: {name} must be an integer {bound}, got {value!r}")


# --------------------------------------------------------------------------- discrete event tokens

_SPECIALS = ("<pad>", "<bos>", "<eos>")
_PITCHES = 128
_MAX_VELOCITY = 127


class EventVocabulary:
    """Performance-RNN event tokens: ``<pad> <bos> <eos>``, ``NOTE_ON_p``, ``NOTE_OFF_p``, ``TIME_SHIFT_k``, ``VELOCITY_b``.

    Ids, in order: 0 ``<pad>``, 1 ``<bos>``, 2 ``<eos>``; ``NOTE_ON_0..127``;
    ``NOTE_OFF_0..127``; ``TIME_SHIFT_1..S`` (``k`` steps of ``1 / steps_per_beat`` beat,
    ``S = max_shift_steps``); ``VELOCITY_0..B-1`` (``B = velocity_bins``).

    Velocity bins split 1..127 into ``B`` runs of consecutive integers: velocity ``v`` lies
    in bin ``(v - 1) * B // 127``. A bin's *centre* is the middle integer of its run, the
    lower of the two when the run has an even count (for ``B = 8``: 8, 24, 40, 56, 72, 88,
    104, 120); decoding gives every note its bin's centre, so velocities at centres round
    trip exactly. Before any ``VELOCITY`` token, a note has the centre of the bin that
    holds velocity 64.
    """

    def __init__(self, steps_per_beat: int = 4, max_shift_steps: int = 16, velocity_bins: int = 8) -> None:
        _check_int("EventVocabulary", "steps_per_beat", steps_per_beat, 1)
        _check_int("EventVocabulary", "max_shift_steps", max_shift_steps, 1)
        _check_int("EventVocabulary", "velocity_bins", velocity_bins, 1, _MAX_VELOCITY)
        self.steps_per_beat = int(steps_per_beat)
        self.max_shift_steps = int(max_shift_steps)
        self.velocity_bins = int(velocity_bins)
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2
        self._note_on = len(_SPECIALS)
        self._note_off = self._note_on + _PITCHES
        self._shift = self._note_off + _PITCHES  # id of TIME_SHIFT_1
        self._velocity = self._shift + self.max_shift_steps
        self.size: int = self._velocity + self.velocity_bins
        self.token_names: list[str] = (
            list(_SPECIALS)
            + [f"NOTE_ON_{p}" for p in range(_PITCHES)]
            + [f"NOTE_OFF_{p}" for p in range(_PITCHES)]
            + [f"TIME_SHIFT_{k}" for k in range(1, self.max_shift_steps + 1)]
            + [f"VELOCITY_{b}" for b in range(self.velocity_bins)]
        )
        self.velocity_centres: tuple[int, ...] = tuple(self._centre(b) for b in range(self.velocity_bins))
        self._default_velocity = self.velocity_centres[self.velocity_bin(64)]

    # ids of each kind of token, for tests and for code that builds or reads sequences
    def note_on_id(self, pitch: int) -> int:
        return self._note_on + int(pitch)

    def note_off_id(self, pitch: int) -> int:
        return self._note_off + int(pitch)

    def time_shift_id(self, steps: int) -> int:
        """Id of ``TIME_SHIFT_steps`` (1 <= steps <= max_shift_steps)."""
        return self._shift + int(steps) - 1

    def velocity_id(self, bin_index: int) -> int:
        return self._velocity + int(bin_index)

    def velocity_bin(self, velocity: int) -> int:
        """The bin (0..B-1) of a MIDI velocity 1..127."""
        return (int(velocity) - 1) * self.velocity_bins // _MAX_VELOCITY

    def _centre(self, bin_index: int) -> int:
        low = 1 + -(-bin_index * _MAX_VELOCITY // self.velocity_bins)  # 1 + ceil(b * 127 / B)
        high = -(-(bin_index + 1) * _MAX_VELOCITY // self.velocity_bins)  # ceil((b + 1) * 127 / B)
        return (low + high) // 2

    def encode(self, piece: Piece) -> list[int]:
        """Token ids for ``piece`` (no ``<bos>``/``<eos>``), with onsets and offsets quantised to the grid.

        Each onset and each offset is rounded to the nearest step (half to even, as
        ``round``); a note whose offset would land on its onset keeps one step. Events at one
        step come offs first (so a pitch struck again as it ends is closed, then reopened),
        then ons by pitch; a ``VELOCITY`` token precedes a note-on only when the bin changes.
        Gaps longer than ``max_shift_steps`` become several shifts. The encoding is exact
        (decode gives the piece back) for notes on the grid with velocities at bin centres,
        except that a pitch struck again while still sounding is ambiguous in this
        vocabulary: the decoder ends the earliest open note first.
        """
        if not isinstance(piece, Piece):
            raise TypeError(f"EventVocabulary.encode: expected a Piece, got {type(piece).__name__}")
        # (step, kind, pitch, end step, velocity): kind 0 = off, 1 = on, so offs sort first.
        events: list[tuple[int, int, int, int, int]] = []
        for note in piece.notes:
            on = round(note.start * self.steps_per_beat)
            off = max(round(note.end * self.steps_per_beat), on + 1)
            events.append((on, 1, note.pitch, off, note.velocity))
            events.append((off, 0, note.pitch, 0, 0))
        events.sort()
        tokens: list[int] = []
        now, current_bin = 0, None
        for step, kind, pitch, _, velocity in events:
            tokens.extend(self._shifts(step - now))
            now = step
            if kind == 0:
                tokens.append(self.note_off_id(pitch))
                continue
            bin_index = self.velocity_bin(velocity)
            if bin_index != current_bin:
                tokens.append(self.velocity_id(bin_index))
                current_bin = bin_index
            tokens.append(self.note_on_id(pitch))
        return tokens

    def _shifts(self, steps: int) -> list[int]:
        full, rest = divmod(steps, self.max_shift_steps)
        return [self.time_shift_id(self.max_shift_steps)] * full + ([self.time_shift_id(rest)] if rest else [])

    def decode(
        self, tokens: Sequence[int], *, tempo_bpm: float = 120.0, beats_per_bar: float = 4.0, name: str = ""
    ) -> Piece:
        """The piece that ``tokens`` play; any sequence of ids in ``0..size-1`` decodes to a valid piece.

        ``<pad>`` and ``<bos>`` are skipped, ``<eos>`` ends decoding; a note-off with no open
        note of its pitch is ignored; a pitch's note-offs close its open notes earliest first;
        a note closed at its own onset, or still open at the end, lasts until the final time
        and at least one step. An id outside ``0..size-1`` raises ValueError.
        """
        ids = self._check_ids(tokens)
        spb = self.steps_per_beat
        open_notes: dict[int, deque[tuple[int, int]]] = {}
        notes: list[Note] = []
        now, velocity = 0, self._default_velocity
        for token in ids:
            if token == self.eos_id:
                break
            if token < self._note_on:  # <pad>, <bos>
                continue
            if token < self._note_off:
                open_notes.setdefault(token - self._note_on, deque()).append((now, velocity))
            elif token < self._shift:
                pitch = token - self._note_off
                if open_notes.get(pitch):
                    start, vel = open_notes[pitch].popleft()
                    notes.append(Note(start / spb, max(now - start, 1) / spb, pitch, vel))
            elif token < self._velocity:
                now += token - self._shift + 1
            else:
                velocity = self.velocity_centres[token - self._velocity]
        for pitch, starts in open_notes.items():
            for start, vel in starts:
                notes.append(Note(start / spb, max(now - start, 1) / spb, pitch, vel))
        return Piece(notes, tempo_bpm=tempo_bpm, beats_per_bar=beats_per_bar, name=name)

    def _check_ids(self, tokens: Sequence[int]) -> list[int]:
        array = np.asarray(tokens)
        if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
            raise ValueError(
                f"EventVocabulary.decode: tokens must be a 1-D sequence of integer ids, got "
                f"dtype {array.dtype} and shape {array.shape}"
            )
        bad = np.flatnonzero((array < 0) | (array >= self.size))
        if bad.size:
            raise ValueError(
                f"EventVocabulary.decode: token {int(bad[0])} (0-based) is id {int(array[bad[0]])}, "
                f"outside the vocabulary 0..{self.size - 1}"
            )
        return array.astype(np.int64).tolist()

    def state_dict(self) -> dict[str, int]:
        """The three settings as plain ints (``torch.load(weights_only=True)`` safe); ids follow from them."""
        return {
            "steps_per_beat": self.steps_per_beat,
            "max_shift_steps": self.max_shift_steps,
            "velocity_bins": self.velocity_bins,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "EventVocabulary":
        """Rebuild the vocabulary from :meth:`state_dict`; a malformed state raises ValueError."""
        keys = ("steps_per_beat", "max_shift_steps", "velocity_bins")
        if not isinstance(state, Mapping) or set(state) != set(keys):
            got = sorted(map(str, state)) if isinstance(state, Mapping) else type(state).__name__
            raise ValueError(f"EventVocabulary.from_state: expected exactly the keys {list(keys)}, got {got}")
        return cls(**{k: state[k] for k in keys})

    def __repr__(self) -> str:
        return (
            f"EventVocabulary(steps_per_beat={self.steps_per_beat}, max_shift_steps={self.max_shift_steps}, "
            f"velocity_bins={self.velocity_bins}, size={self.size})"
        )
