"""What conditional music needs of the Bach chorales beyond their notes: each chorale's mode, its soprano and its bass.

:mod:`seqtk.plugins.music.chorales` keeps every chorale as one piece of all its parts,
which is what unconditional generation reads. Conditioning needs two more facts per
chorale, both read off the music21 score at conversion time:

- its **mode**, ``"major"`` or ``"minor"``: music21's key analysis of the whole score
  (``score.analyze('key')``, the Krumhansl-Schmuckler method with Aarden-Essen profiles
  in music21 10), the label of every excerpt of the chorale;
- its **soprano** and **bass** parts as pieces of their own, for the bass-under-soprano
  task. A part counts as the soprano (bass) when its id or name starts with "soprano"
  ("bass"); a score of exactly four unnamed parts gives its first and last. A chorale
  where neither rule finds both has ``soprano = bass = None`` and keeps its mode.

They are kept in their own cache file beside the notes cache,
``bach-chorale-voices-v1-music21-<version>.npz`` (same folder, same rules: written
atomically, read with ``allow_pickle=False``, a damaged file warned about and converted
again, any file of this format usable when music21 is not installed), so that the notes
cache of unconditional runs is neither rebuilt nor changed. Converting parses each score
once and also writes the notes cache when it is missing, so a first conditional run pays
for one parse of the corpus, not two.
"""

from __future__ import annotations

import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from seqtk.core.atomic import atomic_open
from seqtk.core.errors import DataError

from . import chorales
from .notes import Note, Piece

__all__ = ["ChoraleVoices", "chorale_voices", "voices_to_arrays", "arrays_to_voices", "MODES", "VOICES_FORMAT_VERSION"]

#: Bumped whenever the conversion or the array layout changes (part of the file name, stored inside).
VOICES_FORMAT_VERSION = 1
#: The two modes, in label order: label 0 is major, label 1 minor.
MODES = ("major", "minor")
#: Per-note voice codes of the cache file.
_SOPRANO, _BASS = 0, 1
_FORMAT_KEY = "format_version"
_KEYS = ("name", "mode", "has_voices", "tempo_bpm", "beats_per_bar", "piece", "voice", "start", "duration", "pitch")
_CACHE_NAME = re.compile(rf"^bach-chorale-voices-v{VOICES_FORMAT_VERSION}-music21-(?P<version>.+?)(?:-first(?P<limit>\d+))?\.npz$")


@dataclass(frozen=True)
class ChoraleVoices:
    """One chorale's mode and, when its parts are named, its soprano and bass lines (times in beats from the score's start)."""

    name: str
    mode: str
    soprano: Piece | None = None
    bass: Piece | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"ChoraleVoices {self.name!r}: mode must be one of {MODES}, got {self.mode!r}")
        if (self.soprano is None) != (self.bass is None):
            raise ValueError(f"ChoraleVoices {self.name!r}: soprano and bass come together or not at all")


def chorale_voices(*, cache_dir: str | Path | None = None, limit: int | None = None, progress: bool = True) -> list[ChoraleVoices]:
    """Mode, soprano and bass of each chorale, in the order of ``chorales.chorale_pieces`` (names match its pieces').

    Loaded from the cache file when there is a usable one, otherwise converted (a few
    minutes: every score is parsed and analysed) and cached. ``limit`` as for
    ``chorale_pieces``: sliced from the full cache, or converted alone and cached under
    its own name. Raises ``DataError`` when no cache is usable and music21 is missing.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"chorale_voices: limit must be a positive integer or None, got {limit!r}")
    folder = Path(cache_dir).expanduser() if cache_dir is not None else chorales.default_cache_dir()
    version = chorales._music21_version()
    for candidate, is_full in _candidates(folder, version, limit):
        found = _load(candidate)
        if found is not None:
            return found[:limit] if (is_full and limit is not None) else found
    if version is None:
        raise DataError(
            f"{folder}: no usable chorale voices cache (bach-chorale-voices-v{VOICES_FORMAT_VERSION}-music21-*.npz) and music21 "
            f"is not installed; install the music extra with: {chorales.INSTALL_HINT}"
        )
    target = _path(folder, version, limit)
    if progress:
        print(f"reading the mode, soprano and bass of {'the first ' + str(limit) if limit else 'all'} Bach chorales once; cached at {target}", file=sys.stderr)
    voices, pieces = _convert(limit)
    with atomic_open(target, "wb") as handle:
        np.savez_compressed(handle, **voices_to_arrays(voices, pieces))
    notes_cache = chorales._cache_path(folder, version, limit)
    if not notes_cache.is_file():
        chorales._write_cache(notes_cache, pieces)
    return voices


# --------------------------------------------------------------------------- the array format


def voices_to_arrays(voices: list[ChoraleVoices], pieces: list[Piece] | None = None) -> dict[str, np.ndarray]:
    """Flat arrays for ``np.savez`` (no pickling): per chorale its name, mode (0 major, 1 minor),
    whether it has voices, tempo and bar length (from ``pieces`` when given, else from the
    soprano); per note of the two voices its chorale, voice (0 soprano, 1 bass), start,
    duration and pitch. The voices' velocity is the chorales' one velocity."""
    rows = [(index, code, note) for index, v in enumerate(voices) for code, part in ((_SOPRANO, v.soprano), (_BASS, v.bass)) if part is not None for note in part.notes]
    timing = pieces if pieces is not None else [v.soprano or Piece(name=v.name) for v in voices]
    return {
        _FORMAT_KEY: np.array(VOICES_FORMAT_VERSION, dtype=np.int64),
        "name": np.array([v.name for v in voices], dtype=np.str_),
        "mode": np.array([MODES.index(v.mode) for v in voices], dtype=np.int8),
        "has_voices": np.array([v.soprano is not None for v in voices], dtype=np.bool_),
        "tempo_bpm": np.array([p.tempo_bpm for p in timing], dtype=np.float64),
        "beats_per_bar": np.array([p.beats_per_bar for p in timing], dtype=np.float64),
        "piece": np.array([i for i, _, _ in rows], dtype=np.int32),
        "voice": np.array([c for _, c, _ in rows], dtype=np.int8),
        "start": np.array([n.start for _, _, n in rows], dtype=np.float64),
        "duration": np.array([n.duration for _, _, n in rows], dtype=np.float64),
        "pitch": np.array([n.pitch for _, _, n in rows], dtype=np.uint8),
    }


def arrays_to_voices(arrays: Mapping[str, Any]) -> list[ChoraleVoices]:
    """Invert ``voices_to_arrays``, checking what a file gives (keys, version, lengths, ranges); ``ValueError`` says what is wrong."""
    missing = [key for key in (_FORMAT_KEY, *_KEYS) if key not in arrays]
    if missing:
        raise ValueError(f"arrays_to_voices: missing array(s) {', '.join(missing)}")
    version = np.asarray(arrays[_FORMAT_KEY])
    if version.shape != () or int(version) != VOICES_FORMAT_VERSION:
        raise ValueError(f"arrays_to_voices: format_version is {version!r}, expected {VOICES_FORMAT_VERSION}")
    a = {key: np.asarray(arrays[key]) for key in _KEYS}
    count = len(a["name"])
    if any(len(a[k]) != count for k in ("mode", "has_voices", "tempo_bpm", "beats_per_bar")):
        raise ValueError("arrays_to_voices: the per-chorale arrays differ in length")
    if len({len(a[k]) for k in ("piece", "voice", "start", "duration", "pitch")}) != 1:
        raise ValueError("arrays_to_voices: the per-note arrays differ in length")
    if a["piece"].size and (a["piece"].min() < 0 or a["piece"].max() >= count):
        raise ValueError("arrays_to_voices: a note's chorale index is out of range")
    if not set(np.unique(a["mode"]).tolist()) <= {0, 1} or not set(np.unique(a["voice"]).tolist()) <= {_SOPRANO, _BASS}:
        raise ValueError("arrays_to_voices: mode must be 0 or 1 and voice 0 or 1")
    notes: dict[tuple[int, int], list[Note]] = {}
    for index, code, start, duration, pitch in zip(*(a[k].tolist() for k in ("piece", "voice", "start", "duration", "pitch"))):
        notes.setdefault((index, code), []).append(Note(start, duration, pitch, chorales.CHORALE_VELOCITY))
    out = []
    for i in range(count):
        name, tempo, bar = str(a["name"][i]), float(a["tempo_bpm"][i]), float(a["beats_per_bar"][i])
        parts = [Piece(notes.get((i, code), []), tempo, bar, f"{name}-{label}") for code, label in ((_SOPRANO, "soprano"), (_BASS, "bass"))] if a["has_voices"][i] else [None, None]
        out.append(ChoraleVoices(name, MODES[int(a["mode"][i])], parts[0], parts[1]))
    return out


# --------------------------------------------------------------------------- the cache file


def _path(folder: Path, version: str, limit: int | None) -> Path:
    safe = re.sub(r"[^A-Za-z0-9.+_]", "_", version)
    return folder / f"bach-chorale-voices-v{VOICES_FORMAT_VERSION}-music21-{safe}{f'-first{limit}' if limit else ''}.npz"


def _candidates(folder: Path, version: str | None, limit: int | None) -> list[tuple[Path, bool]]:
    """As ``chorales._cache_candidates``: this music21's files, or without music21 any file of this format, newest first."""
    return chorales.cache_candidates(folder, version, limit, _path, _CACHE_NAME)


def _load(path: Path) -> list[ChoraleVoices] | None:
    try:
        with open(path, "rb") as handle:
            if handle.read(len(chorales._ZIP_MAGIC)) != chorales._ZIP_MAGIC:
                raise ValueError("not an .npz file")
            handle.seek(0)
            with np.load(handle, allow_pickle=False) as arrays:
                found = arrays_to_voices(arrays)
    except chorales._CACHE_ERRORS as error:
        warnings.warn(f"{path}: unreadable chorale voices cache ({type(error).__name__}: {error}); converting again", stacklevel=3)
        return None
    return found or None


# --------------------------------------------------------------------------- conversion (music21)


def _convert(limit: int | None) -> tuple[list[ChoraleVoices], list[Piece]]:
    """Each chorale's voices and its full piece (for the notes cache); one that fails is skipped with a warning."""
    music21 = chorales._import_music21()
    files = chorales._chorale_files(music21)[:limit]
    voices, pieces = [], []
    for number, file in files:
        name = file.rsplit("/", 1)[-1]
        try:
            score = music21.corpus.parse(file)
            piece = chorales._score_to_piece(score, name)
            voices.append(_score_voices(score, name, piece))
            pieces.append(piece)
        except Exception as error:  # music21 raises many kinds; one bad chorale must not stop the rest
            warnings.warn(f"skipping Bach chorale {name} (Riemenschneider {number}): {type(error).__name__}: {error}", stacklevel=3)
    if not voices:
        raise DataError(f"music21 {music21.__version__}: none of the {len(files)} Bach chorales could be converted")
    return voices, pieces


def _score_voices(score: Any, name: str, piece: Piece) -> ChoraleVoices:
    mode = str(score.analyze("key").mode)
    if mode not in MODES:
        raise ValueError(f"music21's key analysis gave mode {mode!r}")
    parts = list(score.parts)
    soprano, bass = voice_parts([(str(p.id or ""), str(p.partName or "")) for p in parts])
    if soprano is None or bass is None:
        return ChoraleVoices(name, mode)
    return ChoraleVoices(name, mode, _part_piece(parts[soprano], piece, f"{name}-soprano"), _part_piece(parts[bass], piece, f"{name}-bass"))


def voice_parts(labels: list[tuple[str, str]]) -> tuple[int | None, int | None]:
    """Indices of the soprano and bass among parts given as (id, name): by name, else first and last of four unnamed parts."""
    def find(word: str) -> int | None:
        return next((i for i, (ident, name) in enumerate(labels) if ident.lower().startswith(word) or name.lower().startswith(word)), None)

    soprano, bass = find("soprano"), find("bass")
    if soprano is None and bass is None and len(labels) == 4:
        return 0, 3
    return soprano, bass


def _part_piece(part: Any, piece: Piece, name: str) -> Piece:
    """One part's notes, converted as ``chorales._score_to_piece`` converts the whole score (ties merged, rests out)."""
    merged = part.stripTies(inPlace=False)
    notes = []
    for element in merged.flatten().notes:
        length = element.duration.quarterLength
        if length <= 0 or element.duration.isGrace:
            continue
        for pitch in getattr(element, "pitches", ()):
            notes.append(Note(max(0.0, float(element.offset)), float(length), int(pitch.midi), chorales.CHORALE_VELOCITY))
    return Piece(notes, tempo_bpm=piece.tempo_bpm, beats_per_bar=piece.beats_per_bar, name=name)
