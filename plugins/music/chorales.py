"""Bach's four-part chorales from music21's corpus, as ``Piece`` objects, converted once.

Parsing the chorales' MusicXML with music21 takes about a minute, far too long to repeat
at every run, so the converted notes are kept in one ``.npz`` file of flat numeric arrays
(``pieces_to_arrays``) and every later call only loads that file, in well under a second,
and without music21: a machine that received the cache file needs no optional extra.

The cache file's name carries the conversion format version and music21's version
(``bach-chorales-v1-music21-10.5.1.npz``), because a new music21 may parse the corpus
differently and a new conversion here changes what the notes mean; either bump makes a
new file instead of silently reusing the old one. The file is written with
``atomic_open`` (it appears complete or not at all) and read with ``allow_pickle=False``
(a cache file can never run code). A file that cannot be read or does not hold valid
notes is reported with a warning and converted again, never trusted.

music21 is optional (``pip install 'seqtk[music]'``) and imported only inside the
functions that convert.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from seqtk.core.atomic import atomic_open
from seqtk.core.errors import DataError

from .notes import Note, Piece

__all__ = [
    "chorale_pieces",
    "default_cache_dir",
    "pieces_to_arrays",
    "arrays_to_pieces",
    "CACHE_FORMAT_VERSION",
    "CACHE_DIR_ENV",
    "CHORALE_VELOCITY",
    "DEFAULT_CHORALE_TEMPO_BPM",
    "INSTALL_HINT",
]

#: Bumped whenever the conversion or the array layout changes, so old cache files are
#: not mistaken for new ones (the number is part of the file name and stored inside).
CACHE_FORMAT_VERSION = 1

#: Environment variable naming the cache folder; it wins over ``$XDG_CACHE_HOME/seqtk``.
CACHE_DIR_ENV = "SEQTK_CACHE_DIR"

#: The chorales carry no dynamics, so every note gets this one velocity (mezzo-forte).
CHORALE_VELOCITY = 80

#: The chorales carry no metronome marks. Chorales are sung at a moderate walking pace;
#: about 80 quarter notes per minute is a usual choice for hymn singing, so generated
#: samples written back to MIDI sound at a plausible speed. (Notes are in beats, so the
#: tempo never changes a note, only how fast a MIDI player plays it.)
DEFAULT_CHORALE_TEMPO_BPM = 80.0

#: What a user types to get music21.
INSTALL_HINT = "pip install 'seqtk[music]'"

#: The arrays of the cache format: per note, then per piece.
_NOTE_KEYS = ("piece", "start", "duration", "pitch", "velocity")
_PIECE_KEYS = ("tempo_bpm", "beats_per_bar", "name")
_FORMAT_KEY = "format_version"

#: What ``np.load`` and the checks of ``arrays_to_pieces`` raise on a damaged file.
_CACHE_ERRORS = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)

#: How every ``.npz`` (a zip archive holding at least one array) starts.
_ZIP_MAGIC = b"PK\x03\x04"

_CACHE_NAME = re.compile(
    rf"^bach-chorales-v{CACHE_FORMAT_VERSION}-music21-(?P<version>.+?)(?:-first(?P<limit>\d+))?\.npz$"
)


# --------------------------------------------------------------------------- public API


def default_cache_dir() -> Path:
    """Where converted data is cached: ``$SEQTK_CACHE_DIR``, else ``$XDG_CACHE_HOME/seqtk``,
    else ``~/.cache/seqtk`` (empty variables count as unset, as the XDG rules say)."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "seqtk"
    return Path.home() / ".cache" / "seqtk"


def chorale_pieces(
    *,
    cache_dir: str | Path | None = None,
    limit: int | None = None,
    refresh: bool = False,
    progress: bool = True,
) -> list[Piece]:
    """The Bach chorales of music21's corpus as ``Piece`` objects, in a fixed order.

    The chorales come in Riemenschneider order (music21's ``corpus.chorales.Iterator``
    with ``numberingSystem='riemenschneider'``, 371 numbers). Riemenschneider's
    collection prints some chorales twice and music21 maps both numbers to the same
    file, so each file is kept once, at its first number: 350 distinct chorales with
    music21 10.5, none counted twice in a train/held-out split. Each piece is named after
    its corpus file (``"bwv269"``), which is unique and stable.

    One piece holds all parts (soprano, alto, tenor, bass, and any instrumental part);
    tied notes are merged into one note, rests and grace notes are left out, a chord
    gives one note per pitch. Times are music21's offsets in quarter notes (= beats)
    from the start of the score, so a one-beat pickup starts at 0 and the first full bar
    at 1. Every note has velocity ``CHORALE_VELOCITY``; ``beats_per_bar`` comes from the
    first time signature (4 if none) and ``tempo_bpm`` from the first metronome mark
    (``DEFAULT_CHORALE_TEMPO_BPM`` if none: 342 of the 350 have no mark).

    The first call converts (about a minute) and writes
    ``<cache_dir>/bach-chorales-v1-music21-<version>.npz``; later calls load that file,
    without music21 if it is not installed (then the newest cache file of this format
    version is used). ``cache_dir`` defaults to ``default_cache_dir()``. ``limit``
    returns only the first ``limit`` chorales: sliced from the full cache when there is
    one, otherwise converted alone and cached as ``...-first<limit>.npz``, never as the
    full cache. ``refresh`` converts again and overwrites the cache. ``progress`` prints
    one line to stderr before converting.

    A chorale that music21 cannot parse or that does not convert is skipped with a
    warning naming it; a cache file that cannot be read is reported with a warning and
    converted again. Raises ``DataError`` when no cache is usable and music21 is not
    installed (the message names ``pip install 'seqtk[music]'``), or when no chorale
    converts; ``ValueError`` for a bad ``limit``.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"chorale_pieces: limit must be a positive integer or None, got {limit!r}")
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    version = _music21_version()
    if not refresh:
        for candidate, is_full in _cache_candidates(folder, version, limit):
            pieces = _load_cache(candidate)
            if pieces is not None:
                return pieces[:limit] if (is_full and limit is not None) else pieces
    if version is None:
        raise DataError(_missing_music21_message(folder))
    target = _cache_path(folder, version, limit)
    if progress:
        count = "the first " + str(limit) if limit is not None else "all"
        print(f"converting {count} Bach chorales from music21's corpus once; cached at {target}", file=sys.stderr)
    pieces = _convert(limit)
    _write_cache(target, pieces)
    return pieces


def pieces_to_arrays(pieces: list[Piece] | tuple[Piece, ...]) -> dict[str, np.ndarray]:
    """Flatten pieces into numeric arrays that ``np.savez`` stores without pickling.

    Per note (concatenated in piece order): ``piece`` (index of its piece, int32),
    ``start`` and ``duration`` (float64, exact copies of the floats), ``pitch`` and
    ``velocity`` (uint8). Per piece: ``tempo_bpm`` and ``beats_per_bar`` (float64),
    ``name`` (a numpy unicode array). Plus ``format_version`` (a 0-d int64).
    ``arrays_to_pieces`` inverts it exactly.
    """
    notes = [(index, note) for index, piece in enumerate(pieces) for note in piece.notes]
    return {
        _FORMAT_KEY: np.array(CACHE_FORMAT_VERSION, dtype=np.int64),
        "piece": np.array([index for index, _ in notes], dtype=np.int32),
        "start": np.array([note.start for _, note in notes], dtype=np.float64),
        "duration": np.array([note.duration for _, note in notes], dtype=np.float64),
        "pitch": np.array([note.pitch for _, note in notes], dtype=np.uint8),
        "velocity": np.array([note.velocity for _, note in notes], dtype=np.uint8),
        "tempo_bpm": np.array([piece.tempo_bpm for piece in pieces], dtype=np.float64),
        "beats_per_bar": np.array([piece.beats_per_bar for piece in pieces], dtype=np.float64),
        "name": np.array([piece.name for piece in pieces], dtype=np.str_),
    }


def arrays_to_pieces(arrays: Mapping[str, Any]) -> list[Piece]:
    """Rebuild the pieces of ``pieces_to_arrays`` (also accepts an open ``np.load`` file).

    Checks what it is given rather than trusting it, since the arrays usually come from
    a file: every key present, one dimension, the right kind of number, matching
    lengths, piece indices in range, and every note and piece valid. Raises
    ``ValueError`` saying what is wrong.
    """
    missing = [key for key in (_FORMAT_KEY, *_NOTE_KEYS, *_PIECE_KEYS) if key not in arrays]
    if missing:
        raise ValueError(f"arrays_to_pieces: missing array(s) {', '.join(missing)}; expected the output of pieces_to_arrays")
    version = np.asarray(arrays[_FORMAT_KEY])
    if version.shape != () or version.dtype.kind not in "iu" or int(version) != CACHE_FORMAT_VERSION:
        raise ValueError(f"arrays_to_pieces: format_version is {version!r}, expected {CACHE_FORMAT_VERSION}")
    note_arrays = {key: _column(arrays, key) for key in _NOTE_KEYS}
    piece_arrays = {key: _column(arrays, key) for key in _PIECE_KEYS}
    _check_columns(note_arrays, piece_arrays)
    count = len(piece_arrays["name"])
    index = note_arrays["piece"]
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(count + 1))
    columns = [note_arrays[key][order].tolist() for key in ("start", "duration", "pitch", "velocity")]
    pieces = []
    for number in range(count):
        low, high = int(bounds[number]), int(bounds[number + 1])
        notes = [Note(*values) for values in zip(*(column[low:high] for column in columns))]
        pieces.append(Piece(
            notes=notes,
            tempo_bpm=float(piece_arrays["tempo_bpm"][number]),
            beats_per_bar=float(piece_arrays["beats_per_bar"][number]),
            name=str(piece_arrays["name"][number]),
        ))
    return pieces


# --------------------------------------------------------------------------- the array format


#: The numpy kinds each array may have: i/u integers, f floats, U unicode.
_KINDS = {
    "piece": "iu", "start": "f", "duration": "f", "pitch": "iu", "velocity": "iu",
    "tempo_bpm": "f", "beats_per_bar": "f", "name": "U",
}


def _column(arrays: Mapping[str, Any], key: str) -> np.ndarray:
    column = np.asarray(arrays[key])
    if column.ndim != 1:
        raise ValueError(f"arrays_to_pieces: {key!r} must be one-dimensional, got shape {column.shape}")
    if column.dtype.kind not in _KINDS[key] and column.size:
        raise ValueError(f"arrays_to_pieces: {key!r} has dtype {column.dtype}, expected kind {_KINDS[key]!r}")
    return column


def _check_columns(note_arrays: dict[str, np.ndarray], piece_arrays: dict[str, np.ndarray]) -> None:
    note_lengths = {key: len(value) for key, value in note_arrays.items()}
    piece_lengths = {key: len(value) for key, value in piece_arrays.items()}
    for lengths, what in ((note_lengths, "per-note"), (piece_lengths, "per-piece")):
        if len(set(lengths.values())) > 1:
            raise ValueError(f"arrays_to_pieces: the {what} arrays differ in length: {lengths}")
    index = note_arrays["piece"]
    count = len(piece_arrays["name"])
    if index.size and (index.min() < 0 or index.max() >= count):
        raise ValueError(f"arrays_to_pieces: piece indices must lie in 0..{count - 1}, got {index.min()}..{index.max()}")
    for key in ("start", "duration", "tempo_bpm", "beats_per_bar"):
        values = note_arrays.get(key, piece_arrays.get(key))
        if values is not None and not np.all(np.isfinite(values)):
            raise ValueError(f"arrays_to_pieces: {key!r} holds a value that is not finite")


# --------------------------------------------------------------------------- the cache file


def _cache_path(folder: Path, version: str, limit: int | None) -> Path:
    safe = re.sub(r"[^A-Za-z0-9.+_]", "_", version)
    suffix = f"-first{limit}" if limit is not None else ""
    return folder / f"bach-chorales-v{CACHE_FORMAT_VERSION}-music21-{safe}{suffix}.npz"


def _cache_candidates(folder: Path, version: str | None, limit: int | None) -> list[tuple[Path, bool]]:
    """Cache files worth trying, best first, each with whether it holds all chorales.

    With music21 installed only its own version's files count. Without it, any file of
    this format version will do (the newest first): its notes are as good as they were
    when written, and refusing them would force an install for nothing.
    """
    return cache_candidates(folder, version, limit, _cache_path, _CACHE_NAME)


def cache_candidates(
    folder: Path, version: str | None, limit: int | None, path_of: Any, name_pattern: "re.Pattern[str]"
) -> list[tuple[Path, bool]]:
    """:func:`_cache_candidates` for any cache of this kind: ``path_of(folder, version, limit)`` names a file, ``name_pattern`` (with a ``limit`` group) recognises one."""
    if version is not None:
        paths = [(path_of(folder, version, None), True)]
        if limit is not None:
            paths.append((path_of(folder, version, limit), False))
        return [(path, full) for path, full in paths if path.is_file()]
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = name_pattern.match(path.name)
        if match is None or not path.is_file():
            continue
        file_limit = match.group("limit")
        if file_limit is None or (limit is not None and int(file_limit) == limit):
            found.append((file_limit is not None, -path.stat().st_mtime, path.name, path))
    return [(path, not partial) for partial, _, _, path in sorted(found)]


def _load_cache(path: Path) -> list[Piece] | None:
    """The pieces of a cache file, or ``None`` (with a warning) when it cannot be used."""
    try:
        # Opened here, not by np.load, so that a failed load never leaks the handle.
        with open(path, "rb") as handle:
            if handle.read(len(_ZIP_MAGIC)) != _ZIP_MAGIC:
                raise ValueError("not an .npz file: it does not start like a zip archive")
            handle.seek(0)
            with np.load(handle, allow_pickle=False) as arrays:
                pieces = arrays_to_pieces(arrays)
    except _CACHE_ERRORS as error:
        warnings.warn(
            f"{path}: unreadable Bach chorale cache ({type(error).__name__}: {error}); "
            "ignoring it and converting the chorales again",
            stacklevel=3,
        )
        return None
    if not pieces:
        warnings.warn(f"{path}: Bach chorale cache holds no pieces; ignoring it and converting again", stacklevel=3)
        return None
    return pieces


def _write_cache(path: Path, pieces: list[Piece]) -> None:
    arrays: dict[str, Any] = pieces_to_arrays(pieces)
    with atomic_open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def _missing_music21_message(folder: Path) -> str:
    pattern = f"bach-chorales-v{CACHE_FORMAT_VERSION}-music21-*.npz"
    return (
        f"{folder}: no usable Bach chorale cache ({pattern}) and music21 is not installed; "
        f"install the music extra with: {INSTALL_HINT} "
        "(the chorales are converted once, about a minute, then load from the cache)"
    )


# --------------------------------------------------------------------------- conversion (music21)


def _music21_version() -> str | None:
    """music21's installed version, read from package metadata without importing it."""
    try:
        return metadata.version("music21")
    except metadata.PackageNotFoundError:
        return None


def _import_music21() -> Any:
    try:
        import music21
    except ImportError as error:
        raise DataError(f"music21 could not be imported ({error}); install the music extra with: {INSTALL_HINT}") from error
    return music21


def _convert(limit: int | None) -> list[Piece]:
    """Parse and convert the chorales; each one that fails is skipped with a warning."""
    music21 = _import_music21()
    files = _chorale_files(music21)
    if limit is not None:
        files = files[:limit]
    pieces: list[Piece] = []
    for number, file in files:
        name = file.rsplit("/", 1)[-1]
        try:
            pieces.append(_score_to_piece(music21.corpus.parse(file), name))
        except Exception as error:  # music21 raises many kinds; one bad chorale must not stop the rest
            warnings.warn(
                f"skipping Bach chorale {name} (Riemenschneider {number}, corpus file {file!r}): "
                f"{type(error).__name__}: {error}",
                stacklevel=3,
            )
    if not pieces:
        raise DataError(f"music21 {music21.__version__}: none of the {len(files)} Bach chorales could be converted")
    return pieces


def _chorale_files(music21: Any) -> list[tuple[int, str]]:
    """(first Riemenschneider number, corpus file) of each distinct chorale, in that order."""
    iterator = music21.corpus.chorales.Iterator(numberingSystem="riemenschneider", returnType="filename")
    seen: set[str] = set()
    files = []
    for number, file in enumerate(iterator, start=1):
        if file not in seen:
            seen.add(file)
            files.append((number, file))
    return files


def _score_to_piece(score: Any, name: str) -> Piece:
    """One music21 score as a ``Piece``: all parts, ties merged, rests and grace notes out.

    Offsets are taken from the flattened score (quarter notes from its start); music21's
    ``Fraction`` offsets (triplets) become the nearest float. Should a score ever start
    before 0, every note is shifted so that the first starts at 0.
    """
    from music21 import meter, tempo

    merged = score.stripTies(inPlace=False)
    events: list[tuple[float, float, int]] = []
    for element in merged.flatten().notes:
        length = element.duration.quarterLength
        if length <= 0 or element.duration.isGrace:
            continue
        start = float(element.offset)
        for pitch in getattr(element, "pitches", ()):
            events.append((start, float(length), int(pitch.midi)))
    if not events:
        raise ValueError("the score holds no pitched notes")
    shift = min(0.0, min(start for start, _, _ in events))
    notes = [Note(start - shift, length, pitch, CHORALE_VELOCITY) for start, length, pitch in events]
    signature = merged.recurse().getElementsByClass(meter.TimeSignature).first()
    beats_per_bar = signature.numerator * 4 / signature.denominator if signature is not None else 4.0
    return Piece(notes=notes, tempo_bpm=_first_tempo(merged, tempo), beats_per_bar=float(beats_per_bar), name=name)


def _first_tempo(score: Any, tempo_module: Any) -> float:
    mark = score.recurse().getElementsByClass(tempo_module.MetronomeMark).first()
    bpm = mark.getQuarterBPM() if mark is not None else None
    if bpm is None or not 1.0 <= float(bpm) <= 1000.0:
        return DEFAULT_CHORALE_TEMPO_BPM
    return float(bpm)
