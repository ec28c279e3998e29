"""A user's melodies as sopranos to harmonise (``seqtk sample --conditions`` for ``condition: soprano``).

A melody file may hold a single line or a whole arrangement; the soprano is its
*skyline*: at each onset the highest note starting there, held until the next onset at
the latest (so that the line never sounds two notes at once, as a soprano never does).
Each melody is cut into consecutive excerpts of the training excerpts' note count, one
condition each, so that a bass is generated under every stretch of it.
"""

from __future__ import annotations

from pathlib import Path

from seqtk.core.errors import DataError

from .notes import Note, Piece

__all__ = ["skyline", "melody_excerpts"]


def skyline(piece: Piece) -> Piece:
    """The highest note starting at each onset of ``piece``, cut where the next onset begins."""
    tops: dict[float, Note] = {}
    for note in piece.notes:
        if note.start not in tops or note.pitch > tops[note.start].pitch:
            tops[note.start] = note
    onsets = sorted(tops)
    line = []
    for here, after in zip(onsets, [*onsets[1:], None]):
        note = tops[here]
        duration = note.duration if after is None else min(note.duration, after - here)
        line.append(Note(note.start, duration, note.pitch, note.velocity))
    return Piece(line, tempo_bpm=piece.tempo_bpm, beats_per_bar=piece.beats_per_bar, name=piece.name)


def melody_excerpts(pieces: list[Piece], notes: int, source: Path) -> list[Piece]:
    """Each piece's skyline cut into consecutive excerpts of ``notes`` notes (a shorter last one kept), each starting at beat 0.

    A DataError names ``source`` when no piece has a note.
    """
    found = []
    for piece in pieces:
        line = skyline(piece).notes
        for start in range(0, len(line), notes):
            chunk = line[start : start + notes]
            offset = chunk[0].start
            moved = [Note(n.start - offset, n.duration, n.pitch, n.velocity) for n in chunk]
            found.append(Piece(moved, tempo_bpm=piece.tempo_bpm, beats_per_bar=piece.beats_per_bar, name=f"{piece.name}@{start}"))
    if not found:
        raise DataError(f"conditions {source}: no melody note in {len(pieces)} MIDI file(s); expected .mid files holding the sopranos to harmonise")
    return found
