"""Standard MIDI files in and out: ``.mid`` <-> ``Piece``.

Reading turns ticks into beats (``tick / ticks_per_beat``) and never uses the tempo map
to place notes, so a tempo change in the middle of a file leaves every note where a
musician reads it; the first tempo and time signature are kept only so that a piece can
be written back the way it came in. Everything a user can fix about a file (it is not a
MIDI file, it holds no notes, its tempo is absurd) raises ``DataError`` naming the file;
the folder reader skips such files with a warning so one bad download does not stop a
run. Writing goes through a memory buffer and ``atomic_open``: a ``.mid`` file appears
complete or not at all.

mido is the only MIDI library used here.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import mido

from seqtk.core.atomic import atomic_open
from seqtk.core.errors import DataError

from .notes import Note, Piece

__all__ = ["read_midi", "read_midi_folder", "write_midi", "DRUM_CHANNEL", "MIDI_SUFFIXES"]

#: General MIDI puts percussion on channel 10 (index 9); its "pitches" name drums, not notes.
DRUM_CHANNEL = 9

#: File endings the folder reader picks up (compared case-insensitively).
MIDI_SUFFIXES = (".mid", ".midi")

#: What mido raises on a file it cannot parse (bad header, truncated chunk, bad status byte,
#: a key signature with an impossible mode, ...).
_MIDO_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, mido.KeySignatureError)

#: Tempo a file without set_tempo plays at (the MIDI default), and its time signature.
DEFAULT_TEMPO_BPM = 120.0
DEFAULT_BEATS_PER_BAR = 4.0

#: Bounds a ``Piece`` accepts; the tempo limits of the reader must lie inside them.
_PIECE_TEMPO_RANGE = (1.0, 1000.0)

#: Denominators tried, in order, when writing a time signature for ``beats_per_bar``.
_DENOMINATORS = (4, 8, 16, 32, 64)


# --------------------------------------------------------------------------- reading


def read_midi(
    path: str | Path,
    *,
    tracks: Sequence[int] | None = None,
    drums: bool = False,
    max_tempo_bpm: float = 400.0,
    min_tempo_bpm: float = 20.0,
    allow_empty: bool = False,
) -> Piece:
    """Read one MIDI file into a ``Piece`` whose times are in beats.

    ``tracks`` picks track indices (all tracks by default); tempo and time-signature
    events count from every track, because they are global in a MIDI file. Notes on
    channel 10 (drums) are left out unless ``drums`` is true. A note-on with velocity 0
    is a note-off; a note-on for a pitch already sounding on that channel closes the
    sounding note first; a note never closed ends at its track's end; notes of length
    zero are dropped. ``allow_empty`` accepts a file with no notes (a generated sample
    that is silent must count as silence when samples are scored). ``tempo_bpm`` is the file's first tempo (120 if it has none),
    ``beats_per_bar`` comes from its first time signature (4 if none).

    Raises ``DataError`` naming the file when it cannot be read or parsed, a chosen track
    does not exist, any tempo lies outside ``[min_tempo_bpm, max_tempo_bpm]``, or no
    note is left; ``ValueError`` for bad arguments.
    """
    _check_tempo_limits(min_tempo_bpm, max_tempo_bpm)
    wanted = _check_track_argument(tracks)
    path = Path(path)
    midi = _parse(path)
    chosen = _chosen_tracks(path, midi, wanted)
    tempo_bpm = _first_tempo(path, midi, min_tempo_bpm, max_tempo_bpm)
    beats_per_bar = _first_beats_per_bar(path, midi)
    notes: list[Note] = []
    drum_notes = 0
    for index in chosen:
        track_notes, skipped = _track_notes(midi.tracks[index], midi.ticks_per_beat, drums)
        notes.extend(track_notes)
        drum_notes += skipped
    if not notes and not allow_empty:
        raise DataError(_no_notes_message(path, chosen, drum_notes))
    return Piece(notes=notes, tempo_bpm=tempo_bpm, beats_per_bar=beats_per_bar, name=path.name)


def read_midi_folder(
    folder: str | Path,
    *,
    tracks: Sequence[int] | None = None,
    drums: bool = False,
    recursive: bool = True,
    max_tempo_bpm: float = 400.0,
    min_tempo_bpm: float = 20.0,
    allow_empty: bool = False,
) -> tuple[list[Piece], list[str]]:
    """Read every ``*.mid``/``*.midi`` file of ``folder`` (sorted by path).

    Files that cannot be used are skipped, each with a ``warnings.warn`` naming the file
    and the reason, so that one corrupt file in a downloaded collection does not stop a
    run; their messages come back as the second element. The options mean what they mean
    for ``read_midi``. Raises ``DataError`` when the folder does not exist, holds no MIDI
    file, or no file in it could be read.
    """
    _check_tempo_limits(min_tempo_bpm, max_tempo_bpm)
    wanted = _check_track_argument(tracks)
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: MIDI folder not found (expected a directory of .mid/.midi files)")
    files = _midi_files(folder, recursive)
    if not files:
        where = "in it or below it" if recursive else "directly in it (recursive=False)"
        raise DataError(f"{folder}: no .mid or .midi files {where}")
    pieces: list[Piece] = []
    skipped: list[str] = []
    for file in files:
        try:
            pieces.append(read_midi(
                file, tracks=wanted, drums=drums, max_tempo_bpm=max_tempo_bpm, min_tempo_bpm=min_tempo_bpm,
                allow_empty=allow_empty,
            ))
        except DataError as error:
            message = str(error)
            warnings.warn(f"skipping MIDI file {message}", stacklevel=2)
            skipped.append(message)
    if not pieces:
        listing = "\n".join(f"  {m}" for m in skipped[:5])
        more = f"\n  ... and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        raise DataError(f"{folder}: none of its {len(files)} MIDI files could be read:\n{listing}{more}")
    return pieces, skipped


def _midi_files(folder: Path, recursive: bool) -> list[Path]:
    candidates: Iterable[Path] = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in candidates if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())


def _check_tempo_limits(min_tempo_bpm: float, max_tempo_bpm: float) -> None:
    low, high = _PIECE_TEMPO_RANGE
    for name, value in (("min_tempo_bpm", min_tempo_bpm), ("max_tempo_bpm", max_tempo_bpm)):
        if not low <= value <= high:
            raise ValueError(f"read_midi: {name} must lie in {low:g}..{high:g} bpm, got {value!r}")
    if min_tempo_bpm > max_tempo_bpm:
        raise ValueError(
            f"read_midi: min_tempo_bpm ({min_tempo_bpm!r}) must not exceed max_tempo_bpm ({max_tempo_bpm!r})"
        )


def _check_track_argument(tracks: Sequence[int] | None) -> list[int] | None:
    if tracks is None:
        return None
    if isinstance(tracks, (str, bytes)) or not all(isinstance(t, int) and not isinstance(t, bool) for t in tracks):
        raise ValueError(f"read_midi: tracks must be a list of track indices (integers), got {tracks!r}")
    if len(tracks) == 0:
        raise ValueError("read_midi: tracks must name at least one track index, or be None for all tracks")
    return sorted(set(tracks))


def _parse(path: Path) -> mido.MidiFile:
    """The file parsed by mido, or a ``DataError`` that says why not."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read MIDI file ({error.strerror or error})") from error
    if not data:
        raise DataError(f"{path}: empty file (0 bytes), expected a MIDI file")
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except _MIDO_ERRORS as error:
        reason = str(error) or type(error).__name__
        if isinstance(error, EOFError):
            reason = "file ends in the middle of a chunk (truncated)"
        raise DataError(f"{path}: not a valid MIDI file: {reason}") from error
    if midi.ticks_per_beat <= 0:
        raise DataError(
            f"{path}: uses SMPTE (frames per second) timing, which has no beats; "
            "only files with ticks per beat can be read"
        )
    return midi


def _chosen_tracks(path: Path, midi: mido.MidiFile, wanted: list[int] | None) -> list[int]:
    count = len(midi.tracks)
    if wanted is None:
        return list(range(count))
    bad = [t for t in wanted if not 0 <= t < count]
    if bad:
        valid = f"0..{count - 1}" if count else "none"
        raise DataError(f"{path}: track index {bad[0]} out of range; the file has {count} tracks (valid: {valid})")
    return wanted


def _absolute(track: mido.MidiTrack) -> Iterable[tuple[int, mido.Message]]:
    """(absolute tick, message) for each message of a track (its times are deltas)."""
    tick = 0
    for message in track:
        tick += message.time
        yield tick, message


@dataclass(frozen=True)
class _Meta:
    tick: int
    track: int
    message: mido.MetaMessage


def _meta_events(midi: mido.MidiFile, kind: str) -> list[_Meta]:
    """Every meta message of one kind in the file, in time order (ties: track order)."""
    found = [
        _Meta(tick, index, message)
        for index, track in enumerate(midi.tracks)
        for tick, message in _absolute(track)
        if message.type == kind
    ]
    return sorted(found, key=lambda m: (m.tick, m.track))


def _first_tempo(path: Path, midi: mido.MidiFile, min_bpm: float, max_bpm: float) -> float:
    """The first tempo in bpm, after checking that every tempo of the file is plausible.

    An absurd tempo anywhere (5 bpm, 3000 bpm) is a sign of a broken or non-musical file.
    The value is rounded to 0.01 bpm: MIDI stores whole microseconds per beat, so 90 bpm
    reads back as 89.99995 without the rounding.
    """
    events = _meta_events(midi, "set_tempo")
    for event in events:
        micros = event.message.tempo
        bpm = 60_000_000 / micros if micros > 0 else math.inf
        if not min_bpm <= bpm <= max_bpm:
            raise DataError(
                f"{path}: track {event.track}, tick {event.tick} (beat {event.tick / midi.ticks_per_beat:g}): "
                f"absurd tempo {bpm:.6g} bpm ({micros} microseconds per beat); expected "
                f"{min_bpm:g} to {max_bpm:g} bpm (raise min_tempo_bpm/max_tempo_bpm if the file is right)"
            )
    if not events:
        return DEFAULT_TEMPO_BPM
    return round(60_000_000 / events[0].message.tempo, 2)


def _first_beats_per_bar(path: Path, midi: mido.MidiFile) -> float:
    """Beats (quarter notes) per bar of the first time signature: 3/4 -> 3.0, 6/8 -> 3.0."""
    events = _meta_events(midi, "time_signature")
    if not events:
        return DEFAULT_BEATS_PER_BAR
    first = events[0]
    numerator, denominator = first.message.numerator, first.message.denominator
    if numerator <= 0:
        raise DataError(
            f"{path}: track {first.track}, tick {first.tick}: time signature {numerator}/{denominator} "
            "has no beats in a bar (numerator must be at least 1)"
        )
    return numerator * 4 / denominator


def _track_notes(track: mido.MidiTrack, ticks_per_beat: int, drums: bool) -> tuple[list[Note], int]:
    """The notes of one track, and how many drum notes were left out."""
    open_notes: dict[tuple[int, int], tuple[int, int]] = {}  # (channel, pitch) -> (start tick, velocity)
    spans: list[tuple[int, int, int, int]] = []  # start tick, end tick, pitch, velocity
    skipped_drums = 0
    end_tick = 0
    for tick, message in _absolute(track):
        end_tick = tick
        if message.type not in ("note_on", "note_off"):
            continue
        if message.channel == DRUM_CHANNEL and not drums:
            skipped_drums += message.type == "note_on" and message.velocity > 0
            continue
        key = (message.channel, message.note)
        if key in open_notes:  # an off, or a repeated on that cuts the sounding note short
            start, velocity = open_notes.pop(key)
            spans.append((start, tick, message.note, velocity))
        if message.type == "note_on" and message.velocity > 0:
            open_notes[key] = (tick, message.velocity)
    for (_, pitch), (start, velocity) in open_notes.items():  # never closed: they ring to the end
        spans.append((start, end_tick, pitch, velocity))
    notes = [
        Note(start=start / ticks_per_beat, duration=(end - start) / ticks_per_beat, pitch=pitch, velocity=velocity)
        for start, end, pitch, velocity in spans
        if end > start
    ]
    return notes, skipped_drums


def _no_notes_message(path: Path, chosen: list[int], drum_notes: int) -> str:
    where = f"tracks {chosen}" if chosen else "any track (the file has no tracks)"
    counted = "1 drum note on channel 10 was" if drum_notes == 1 else f"{drum_notes} drum notes on channel 10 were"
    hint = f"; {counted} left out (pass drums=True to keep them)" if drum_notes else ""
    return f"{path}: no notes in {where}{hint}"


# --------------------------------------------------------------------------- writing


def write_midi(piece: Piece, path: str | Path, *, ticks_per_beat: int = 480, program: int = 0) -> Path:
    """Write ``piece`` as a one-track MIDI file (type 0) at ``path``; return the path.

    The track holds the tempo, a time signature for ``beats_per_bar`` (n/4 when it is a
    whole number, else n/8, n/16, ...), a program change to General MIDI ``program``,
    then the notes on channel 1. Times are rounded to the nearest tick; a note shorter
    than half a tick is written one tick long rather than vanish. Note-offs come before
    note-ons at the same tick, so a note repeated right after itself stays two notes.
    Same-pitch notes that overlap cannot be told apart in MIDI: the second one cuts the
    first short when the file is read back.

    The file appears complete or not at all. Raises ``ValueError`` for arguments MIDI
    cannot hold.
    """
    _check_write_arguments(piece, ticks_per_beat, program)
    midi = mido.MidiFile(type=0, ticks_per_beat=ticks_per_beat)
    midi.tracks.append(_track_for(piece, ticks_per_beat, program))
    return _save(midi, path)


def write_midi_tracks(
    pieces: Sequence[Piece], path: str | Path, *, ticks_per_beat: int = 480, program: int = 0, names: Sequence[str] = ()
) -> Path:
    """Write ``pieces`` as the tracks of one MIDI file (type 1), track ``i`` on channel ``i + 1``; return the path.

    Each track is written as ``write_midi`` writes its one (tempo and time signature of the
    first piece are the file's), named ``names[i]`` when given: a given soprano and a
    generated bass stay apart in a MIDI editor. Atomic, as ``write_midi``.
    """
    if not 1 <= len(pieces) <= 9:  # channel 10 (index 9) is General MIDI's drum channel
        raise ValueError(f"write_midi_tracks: between 1 and 9 pieces, got {len(pieces)}")
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    for index, piece in enumerate(pieces):
        _check_write_arguments(piece, ticks_per_beat, program)
        timed = Piece(piece.notes, tempo_bpm=pieces[0].tempo_bpm, beats_per_bar=pieces[0].beats_per_bar, name=piece.name)
        track = _track_for(timed, ticks_per_beat, program, channel=index)
        if index < len(names):
            track.insert(0, mido.MetaMessage("track_name", name=names[index], time=0))
        midi.tracks.append(track)
    return _save(midi, path)


def _check_write_arguments(piece: Piece, ticks_per_beat: int, program: int) -> None:
    if isinstance(ticks_per_beat, bool) or not isinstance(ticks_per_beat, int) or not 1 <= ticks_per_beat <= 32767:
        raise ValueError(f"write_midi: ticks_per_beat must be an integer in 1..32767, got {ticks_per_beat!r}")
    if isinstance(program, bool) or not isinstance(program, int) or not 0 <= program <= 127:
        raise ValueError(f"write_midi: program must be a General MIDI program number in 0..127, got {program!r}")
    micros = mido.bpm2tempo(piece.tempo_bpm)
    if not 1 <= micros <= 0xFFFFFF:
        raise ValueError(
            f"write_midi: piece {piece.name!r} has tempo_bpm {piece.tempo_bpm!r}, slower than MIDI can store "
            "(at least 3.58 bpm)"
        )
    _time_signature(piece)  # raises early for a beats_per_bar with no time signature


def _time_signature(piece: Piece) -> tuple[int, int]:
    """(numerator, denominator) for ``beats_per_bar``: 3.0 -> 3/4, 3.5 -> 7/8, 2.25 -> 9/16."""
    for denominator in _DENOMINATORS:
        numerator = piece.beats_per_bar * denominator / 4
        if abs(numerator - round(numerator)) < 1e-9 and 1 <= round(numerator) <= 255:
            return round(numerator), denominator
    raise ValueError(
        f"write_midi: piece {piece.name!r} has beats_per_bar {piece.beats_per_bar!r}, which no MIDI time "
        f"signature n/d (d in {', '.join(map(str, _DENOMINATORS))}, n <= 255) expresses"
    )


def _track_for(piece: Piece, ticks_per_beat: int, program: int, channel: int = 0) -> mido.MidiTrack:
    numerator, denominator = _time_signature(piece)
    track = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(piece.tempo_bpm), time=0),
            mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator, time=0),
            mido.Message("program_change", program=program, channel=channel, time=0),
        ]
    )
    previous = 0
    for tick, _, message in _note_events(piece.notes, ticks_per_beat, channel):
        track.append(message.copy(time=tick - previous))
        previous = tick
    return track


def _note_events(notes: Sequence[Note], ticks_per_beat: int, channel: int = 0) -> list[tuple[int, int, mido.Message]]:
    """(tick, order, message) for every note-on and note-off, sorted; offs (order 0) first."""
    events = []
    for note in notes:
        start = round(note.start * ticks_per_beat)
        end = start + max(1, round(note.duration * ticks_per_beat))
        events.append((start, 1, mido.Message("note_on", note=note.pitch, velocity=note.velocity, channel=channel)))
        events.append((end, 0, mido.Message("note_off", note=note.pitch, velocity=0, channel=channel)))
    events.sort(key=lambda e: (e[0], e[1], e[2].note))
    return events


def _save(midi: "mido.MidiFile", path: str | Path) -> Path:
    """Write ``midi`` to ``path`` atomically: serialised in memory first, so the file appears complete or not at all."""
    buffer = io.BytesIO()
    midi.save(file=buffer)
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return path
