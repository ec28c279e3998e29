"""The music domain's common currency: notes with times in beats.

Every module of ``seqtk.plugins.music`` (MIDI reading and writing, the event and token
representations, the metrics, the pictures) exchanges ``Piece`` objects, so each can be
tested alone. Times are in beats (quarter notes), not seconds or ticks: a beat is the
unit a listener hears and every music metric counts in, it does not change when the tempo
does, and it converts to ticks exactly for any resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Note", "Piece"]


@dataclass(frozen=True, order=True)
class Note:
    """One sounded note: onset and length in beats, MIDI pitch 0-127, velocity 1-127."""

    start: float
    duration: float
    pitch: int
    velocity: int = 64

    def __post_init__(self) -> None:
        if not 0 <= self.pitch <= 127:
            raise ValueError(f"Note: pitch must lie in 0..127, got {self.pitch!r}")
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"Note: velocity must lie in 1..127, got {self.velocity!r}")
        if self.start < 0 or self.duration <= 0:
            raise ValueError(f"Note: start must be >= 0 and duration > 0, got start={self.start!r}, duration={self.duration!r}")

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass
class Piece:
    """A piece of music: its notes sorted by (start, pitch), and what a MIDI writer needs.

    ``tempo_bpm`` is the tempo written back to MIDI (the first tempo of a file read; notes
    are in beats, so later tempo changes never move them); ``beats_per_bar`` comes from
    the time signature (numerator * 4 / denominator; 4.0 for 4/4, 3.0 for 3/4, 3.0 for
    6/8); ``name`` is where it came from (a file name) for messages.
    """

    notes: list[Note] = field(default_factory=list)
    tempo_bpm: float = 120.0
    beats_per_bar: float = 4.0
    name: str = ""

    def __post_init__(self) -> None:
        self.notes = sorted(self.notes, key=lambda n: (n.start, n.pitch, n.duration, n.velocity))
        if not 1.0 <= self.tempo_bpm <= 1000.0:
            raise ValueError(f"Piece {self.name!r}: tempo_bpm must lie in 1..1000, got {self.tempo_bpm!r}")
        if self.beats_per_bar <= 0:
            raise ValueError(f"Piece {self.name!r}: beats_per_bar must be > 0, got {self.beats_per_bar!r}")

    @property
    def length_beats(self) -> float:
        """Beats from 0 to the end of the last note (0 for an empty piece)."""
        return max((n.end for n in self.notes), default=0.0)
