"""Music from MIDI files (or Bach chorales, or a built-in corpus) in, playable MIDI files out.

The pipeline, each step in its own module:

1. A source gives whole pieces (:class:`~seqtk.plugins.music.notes.Piece`, times in
   beats): a folder of the user's MIDI files (``midi.read_midi_folder``, unreadable
   files skipped with a warning naming them), the Bach chorales of music21's corpus
   (``chorales.chorale_pieces``, converted once and cached), or ``builtin``: synthetic
   four-part phrases that need no download and no extra package.
2. Pieces, not excerpts, are split into train and test, so no bar of a held-out piece is
   ever seen in training; exact duplicates are dropped first so that a piece stored twice
   cannot sit on both sides.
3. Each piece is cut into excerpts of ``notes`` consecutive notes every ``stride`` notes,
   each moved to start on beat 0.
4. The representation turns an excerpt into a sequence: ``events`` (C-RNN-GAN: one step
   of ``[delta, duration, pitch, velocity]`` per note, min-max scaled with the scaling
   saved in the run) or ``tokens`` (performance events: note-on, note-off, time-shift,
   velocity bins; a discrete domain, so the text generators, discriminators and
   estimators apply).

Samples are decoded back into pieces and written as one ``.mid`` file each, in a folder
per evaluation that appears whole or not at all, with a piano roll of real and generated
excerpts beside it. The fitted state (scaling or vocabulary, lengths, tempo) lives in the
checkpoint, so ``seqtk sample`` writes MIDI without the data.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import tempfile
import warnings
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Mapping, Sequence

import numpy as np
import torch

from seqtk.core.errors import DataError
from seqtk.core.interfaces import Batch, Condition, ConditionSpec, Domain, DomainSpec, SequenceData
from seqtk.core.params import OpenFraction, PositiveInt, Range, checked
from seqtk.core.splits import LazySplits
from seqtk.plugins.collapse import COLLAPSE_METRICS
from seqtk.plugins.music.notes import Note, Piece
from seqtk.plugins.music.representations import (
    EVENT_FEATURES,
    EventScaler,
    EventVocabulary,
    events_to_piece,
    piece_to_events,
)

__all__ = ["MusicDomain", "excerpts", "split_pieces", "read_midi_source"]

SOURCES = ("folder", "chorales", "builtin")
REPRESENTATIONS = ("events", "tokens")
#: What excerpts may be conditioned on (``condition``): nothing, their chorale's mode, or the soprano above a bass line.
CONDITIONS = ("none", "mode", "soprano")
#: Version of the ``state_dict`` layout.
_STATE_FORMAT = 1
#: The fewest notes an excerpt may have: one note has no interval and no rhythm to learn.
_MIN_NOTES = 2

METRIC_NAMES: tuple[str, ...] = (
    "music-distance",
    "pitch-range-distance",
    "used-pitch-classes-distance",
    "pitch-class-entropy-distance",
    "scale-consistency-distance",
    "polyphony-distance",
    "repetitions-distance",
    "note-density-distance",
    "empty-beat-rate-distance",
)


@checked("music")
class MusicDomain(LazySplits, Domain):
    """Excerpts of MIDI pieces as note events (continuous) or event tokens (discrete).

    Parameters: ``source`` ``folder`` (the MIDI files under ``path``), ``chorales`` (Bach
    chorales from music21, needs ``seqtk[music]``) or ``builtin`` (``builtin_count``
    synthetic four-part phrases); ``representation`` ``events`` or ``tokens``; ``notes``
    per excerpt and ``stride`` notes between excerpt starts (default ``notes // 2``);
    ``tracks`` MIDI track indices to read (all by default) and ``drums`` keep channel-10
    notes; ``test_fraction`` of the pieces held out, chosen with ``seed``; for tokens,
    ``steps_per_beat`` (time grid), ``max_shift_steps`` (longest single time shift),
    ``velocity_bins``, and ``max_tokens`` (cap on an excerpt's tokens, EOS included;
    default: the longest training excerpt); ``cache_dir`` where the converted chorales
    are kept; ``program`` the General MIDI instrument of written files; ``pianoroll``
    draw real and generated excerpts beside each sample folder (needs ``seqtk[plot]``).

    ``condition`` (docs/conditional.md): ``none``; ``mode``, each excerpt labelled with its
    piece's mode (0 major, 1 minor: music21's key analysis of the whole chorale, or for
    other sources the Krumhansl-Schmuckler estimate of the whole piece); ``soprano``
    (chorales only), the values are excerpts of ``notes`` bass notes and each is
    conditioned on the soprano sounding over the same beats, a context sequence in the
    same representation. ``shuffle_train_conditions`` permutes the training split's
    conditions (seeded): the shuffled-condition baseline.

    ``transpose``: ``none`` keeps every piece in its written key; ``tonic-c`` moves each
    piece (and, for ``soprano``, its soprano and bass) by the shift of -5..+6 semitones
    that puts its tonic on C, so that every major piece is in C major and every minor one
    in C minor. The tonic is that of the best-fitting key of the piece's mode (music21's
    for the chorales, else the Krumhansl-Schmuckler estimate). A model then learns one
    key per mode instead of twenty-four, and the mode decides the pitches of every bar,
    not only of the first: the setting that lets a mode label be honoured.
    """

    #: Density and coverage (``seqtk.plugins.collapse``) say whether the samples spread over the real excerpts or collapse.
    default_metrics: ClassVar[tuple[str, ...]] = (*METRIC_NAMES, *COLLAPSE_METRICS)
    scoring_metrics: ClassVar[tuple[str, ...]] = METRIC_NAMES
    split_label: ClassVar[str] = "music"

    def __init__(
        self,
        source: Literal["folder", "chorales", "builtin"] = "folder",
        path: str | None = None,
        representation: Literal["events", "tokens"] = "events",
        notes: Annotated[int, Range(_MIN_NOTES)] = 32,
        stride: PositiveInt | None = None,
        tracks: list[int] | None = None,
        drums: bool = False,
        test_fraction: OpenFraction = 0.2,
        seed: int = 0,
        steps_per_beat: PositiveInt = 4,
        max_shift_steps: PositiveInt = 16,
        velocity_bins: Annotated[int, Range(1, 127)] = 8,  # also checked by EventVocabulary
        max_tokens: Annotated[int, Range(2)] | None = None,
        builtin_count: Annotated[int, Range(2)] = 200,
        cache_dir: str | None = None,
        program: Annotated[int, Range(0, 127)] = 0,
        pianoroll: bool = True,
        condition: Literal["none", "mode", "soprano"] = "none",
        shuffle_train_conditions: bool = False,
        transpose: Literal["none", "tonic-c"] = "none",
    ) -> None:
        if condition == "soprano" and source != "chorales":
            raise ValueError(f"music: condition 'soprano' needs source 'chorales' (the four-part chorales name their soprano and bass), not {source!r}")
        if source == "folder" and not path:
            raise ValueError("music: source 'folder' needs path, the folder of .mid files (or choose source: chorales or builtin)")
        if source != "folder" and path:
            raise ValueError(f"music: path is only read with source 'folder', not {source!r}; remove it or set source: folder")
        self.source = source
        self.path = Path(path).expanduser() if path else None
        self.representation = representation
        self.notes = int(notes)
        self.stride = int(stride) if stride is not None else max(1, self.notes // 2)
        self.tracks = list(tracks) if tracks is not None else None
        self.drums = bool(drums)
        self.test_fraction = float(test_fraction)
        self.seed = int(seed)
        self.max_tokens = max_tokens
        self.builtin_count = int(builtin_count)
        self.cache_dir = cache_dir
        self.program = int(program)
        self.pianoroll = bool(pianoroll)
        self.condition = condition
        self.shuffle_train_conditions = bool(shuffle_train_conditions)
        self.transpose = transpose
        self._shifts: dict[str, int] = {}  # transpose 'tonic-c': each piece's shift in semitones, by name
        self._context_len: int | None = None  # condition 'soprano': the context's width
        # EventVocabulary validates its own settings (ValueError naming them).
        self._vocab = EventVocabulary(steps_per_beat, max_shift_steps, velocity_bins) if representation == "tokens" else None
        # Fitted state: from the data (_prepare) or from a checkpoint (load_state_dict).
        self._scaler: EventScaler | None = None
        self._max_len: int | None = None
        self._length_weights: tuple[float, ...] = ()
        self._tempo_bpm: float = 120.0
        self._beats_per_bar: float = 4.0

    # ----------------------------------------------------------- Domain

    @property
    def spec(self) -> DomainSpec:
        if self._max_len is None:
            self._prepare()
        assert self._max_len is not None
        if self._vocab is not None:
            vocab = self._vocab
            return DomainSpec(
                kind="discrete",
                max_len=self._max_len,
                vocab_size=vocab.size,
                pad_id=vocab.pad_id,
                bos_id=vocab.bos_id,
                eos_id=vocab.eos_id,
                unsampled_ids=(vocab.pad_id, vocab.bos_id),
                conditions=self._condition_spec(),
            )
        return DomainSpec(
            kind="continuous",
            max_len=self._max_len,
            features=len(EVENT_FEATURES),
            value_range=(0.0, 1.0),
            length_weights=self._length_weights,
            conditions=self._condition_spec(),
        )

    def _condition_spec(self) -> ConditionSpec | None:
        if self.condition == "mode":
            from seqtk.plugins.music.chorale_voices import MODES

            return ConditionSpec(num_classes=len(MODES), class_names=MODES)
        if self.condition == "soprano":
            assert self._context_len is not None
            if self._vocab is not None:
                vocab = self._vocab
                context = DomainSpec(kind="discrete", max_len=self._context_len, vocab_size=vocab.size, pad_id=vocab.pad_id,
                                     bos_id=vocab.bos_id, eos_id=vocab.eos_id, unsampled_ids=(vocab.pad_id, vocab.bos_id))
            else:
                context = DomainSpec(kind="continuous", max_len=self._context_len, features=len(EVENT_FEATURES), value_range=(0.0, 1.0))
            return ConditionSpec(context=context)
        return None

    @property
    def feature_names(self) -> list[str]:
        return list(EVENT_FEATURES) if self._vocab is None else []

    def read_splits(self, split: Literal["train", "test"]) -> dict[str, SequenceData]:
        """Both splits: the pieces are split by piece, then each side is cut into excerpts."""
        return self._prepare()

    def to_pieces(self, batch: Batch, *, prefix: str = "sample") -> list[Piece]:
        """Each row of ``batch`` (real or generated, up to its length) as a piece in beats.

        Events are unscaled and repaired (``events_to_piece``); tokens are decoded by the
        vocabulary, which accepts any sequence. A row of non-finite values (a diverged
        generator) becomes an empty piece, with one warning, so that metrics still say
        how bad it is instead of stopping the run.
        """
        if self._max_len is None:
            self._prepare()
        lengths = batch.lengths.detach().cpu().tolist()
        tempo, bar = self._tempo_bpm, self._beats_per_bar
        if self._vocab is not None:
            rows = batch.values.detach().cpu().tolist()
            return [self._vocab.decode(row[: int(n)], tempo_bpm=tempo, beats_per_bar=bar, name=f"{prefix}-{i}")
                    for i, (row, n) in enumerate(zip(rows, lengths))]
        assert self._scaler is not None
        values = self._scaler.inverse(batch.values.detach().cpu().double().numpy())
        pieces, broken = [], 0
        for i, (row, n) in enumerate(zip(values, lengths)):
            try:
                pieces.append(events_to_piece(row[: int(n)], tempo_bpm=tempo, beats_per_bar=bar, name=f"{prefix}-{i}"))
            except ValueError:
                pieces.append(Piece([], tempo_bpm=tempo, beats_per_bar=bar, name=f"{prefix}-{i}"))
                broken += 1
        if broken:
            warnings.warn(f"music: {broken} of {len(pieces)} sequences held NaN or infinite values and became empty pieces", stacklevel=2)
        return pieces

    def knn_embedding(self, real: Batch, fake: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Each excerpt as a feature vector for ``density`` and ``coverage``, in either representation.

        Pitch-class, interval and duration histograms plus the eight music features
        (``seqtk.plugins.music.embedding``): sequences themselves have no meaningful distance.
        """
        from seqtk.plugins.music.embedding import piece_embedding

        return piece_embedding(self, real, fake)

    def write_samples(self, batch: Batch, directory: Path, stem: str) -> list[Path]:
        """``<stem>/0000.mid``, ``0001.mid``, ... (one per sample) and ``<stem>-pianoroll.png``.

        The folder is filled under a temporary name and renamed when complete, so an
        interrupted run never leaves a folder with some of its files missing.
        """
        pieces = self.to_pieces(batch)
        suffixes, companions = self._sample_conditions(batch)
        written = write_midi_folder(pieces, Path(directory) / stem, program=self.program, suffixes=suffixes, companions=companions)
        if self.pianoroll:
            drawn = pieces if not companions else [_joined(s, p) for s, p in zip(companions, pieces)]
            written += self._write_pianoroll(drawn, Path(directory) / f"{stem}-pianoroll.png")
        return written

    def _sample_conditions(self, batch: Batch) -> tuple[list[str], list[Piece]]:
        """What each sample was asked for, for its file: a mode for its name (``0003-minor.mid``), or the soprano for a track of its own."""
        if self.condition == "none" or batch.condition is None:
            return [], []
        if self.condition == "mode" and batch.condition.labels is not None:
            from seqtk.plugins.music.chorale_voices import MODES

            return [f"-{MODES[int(label)]}" for label in batch.condition.labels.tolist()], []
        if batch.condition.context is not None:
            return [], self.to_pieces(batch.condition.context, prefix="soprano")
        return [], []

    def read_conditions(self, path: Path) -> Condition:
        """``seqtk sample --conditions``: for ``mode``, a text file of ``major``/``minor`` (or 0/1), one per line; for ``soprano``, melodies.

        Melodies are a ``.mid`` file or a folder of them; each file's top line is cut into
        excerpts of ``notes`` notes, one soprano each (``seqtk.plugins.music.melody``).
        With ``transpose: tonic-c`` every melody is first moved to C like the training
        data (the key of its best-fitting key profile), so samples come back in C.
        """
        path = Path(path)
        if self.condition == "none":
            raise DataError(f"conditions {path}: this run's music domain is unconditional (condition: none)")
        if self._max_len is None:
            self._prepare()
        if self.condition == "mode":
            return Condition(labels=torch.tensor(_read_modes(path), dtype=torch.long))
        from seqtk.plugins.music.conditional_metrics import estimate_key
        from seqtk.plugins.music.melody import melody_excerpts

        if not path.exists():
            raise DataError(f"conditions {path}: no such file or folder; expected a .mid file or a folder of them (the sopranos to harmonise)")
        melodies = read_midi_source(path, tracks=None, drums=False)
        if self.transpose == "tonic-c":
            melodies = [transposed(m, tonic_shift((estimate_key(m) or (0, ""))[0], m)) for m in melodies]
        sopranos = melody_excerpts(melodies, self.notes, path)
        assert self._context_len is not None
        if self._vocab is None:
            context = self._event_batch([piece_to_events(p) for p in sopranos], width=self._context_len)
        else:
            context = self._token_batch([self._vocab.encode(p) for p in sopranos], f"conditions {path}", width=self._context_len)
        return Condition(context=context)

    def report_samples(self, run_dir: Path, *, generator: Any = None, count: int = 8) -> list[Any]:
        """``seqtk report``: the piano roll, and held-out excerpts and every sample as audio (``seqtk.plugins.music.report``)."""
        from seqtk.plugins.music.report import report_samples

        return report_samples(self, run_dir, count)

    def state_dict(self) -> dict[str, Any]:
        """Representation, scaling or vocabulary, lengths and tempo: what ``seqtk sample`` needs."""
        if self._max_len is None:
            self._prepare()
        return {
            "format": _STATE_FORMAT,
            "representation": self.representation,
            "notes": self.notes,
            "scaler": self._scaler.state_dict() if self._scaler is not None else None,
            "vocabulary": self._vocab.state_dict() if self._vocab is not None else None,
            "max_len": self._max_len,
            "length_weights": list(self._length_weights),
            "tempo_bpm": self._tempo_bpm,
            "beats_per_bar": self._beats_per_bar,
            "condition": self.condition,
            "context_len": self._context_len,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or state.get("format") != _STATE_FORMAT:
            raise DataError(f"music: the saved domain state is not a music domain's state (format {_STATE_FORMAT})")
        if state.get("representation") != self.representation:
            raise DataError(
                f"music: the run was trained on representation {state.get('representation')!r}, "
                f"this domain has {self.representation!r}"
            )
        try:
            if self._vocab is not None:
                self._vocab = EventVocabulary.from_state(state["vocabulary"])
            else:
                self._scaler = EventScaler.from_state(state["scaler"])  # type: ignore[assignment]
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"music: the saved {self.representation} state cannot be read: {exc}") from None
        self._max_len = int(state["max_len"])
        self._length_weights = tuple(float(w) for w in state.get("length_weights", ()))
        self._tempo_bpm = float(state.get("tempo_bpm", 120.0))
        self._beats_per_bar = float(state.get("beats_per_bar", 4.0))
        if state.get("condition", "none") != self.condition:
            raise DataError(f"music: the run was trained with condition {state.get('condition', 'none')!r}, this domain has {self.condition!r}")
        self._context_len = None if state.get("context_len") is None else int(state["context_len"])

    @classmethod
    def scoring_data(cls, real: Path, samples: Path, params: Mapping[str, Any]) -> tuple["MusicDomain", Batch, Batch]:
        """Real MIDI and generated MIDI as note-event batches of comparable excerpts.

        ``real`` and ``samples`` are a ``.mid`` file or a folder of them. Every sample file
        is one generated piece, cut to its first ``notes`` notes; the real pieces are cut
        into non-overlapping excerpts of ``notes`` notes, so both sides are compared at the
        same size (pitch range and used pitch classes grow with length). ``params``:
        ``notes`` (default: the median number of notes in a sample file), ``tracks`` and
        ``drums`` (for the real files). A folder of samples is read without its subfolders
        (a run's ``samples/`` holds one folder per evaluation: name one), and a silent
        sample counts as a piece with no notes rather than being skipped, so a generator
        that writes silence is scored for it.
        """
        allowed = ("notes", "tracks", "drums")
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValueError(f"music: unknown scoring parameter(s) {', '.join(unknown)}; valid: {', '.join(allowed)}")
        tracks, drums = params.get("tracks"), bool(params.get("drums", False))
        real_pieces = read_midi_source(Path(real), tracks=tracks, drums=drums)
        fake_pieces = read_midi_source(Path(samples), tracks=None, drums=True, recursive=False, allow_empty=True)
        notes = params.get("notes", max(_MIN_NOTES, int(np.median([len(p.notes) for p in fake_pieces]))))
        _integer("notes", notes, _MIN_NOTES)
        real_excerpts = excerpts(real_pieces, int(notes), int(notes))
        if not real_excerpts:
            raise DataError(f"{real}: no piece has {_MIN_NOTES} or more notes to compare with the samples")
        fake_excerpts = [_shifted(piece.notes[: int(notes)], piece) for piece in fake_pieces]
        domain = cls(source="builtin", notes=int(notes), stride=int(notes), representation="events", pianoroll=False)
        real_events = [piece_to_events(piece) for piece in real_excerpts]
        domain._fit_events(real_events, source=str(real))
        domain._fit_timing(real_pieces)
        real_batch = domain._event_batch(real_events)
        domain.keep_splits({"train": SequenceData(real_batch), "test": SequenceData(real_batch)})
        return domain, real_batch, domain._event_batch([piece_to_events(piece) for piece in fake_excerpts])

    # ----------------------------------------------------------- preparing

    def _prepare(self) -> dict[str, SequenceData]:
        """Read the source, split by piece, cut excerpts, fit the representation (unless restored); keep and return the splits."""
        pieces = self._read_source()
        if self.transpose == "tonic-c":
            pieces = self._to_c(pieces)
        moved = " (moved to C: copies in other keys are duplicates now)" if self.transpose == "tonic-c" else ""
        train_pieces, test_pieces = split_pieces(pieces, self.test_fraction, self.seed, source=self._source_label() + moved)
        train, train_conditions = self._conditioned_excerpts(train_pieces)
        test, test_conditions = self._conditioned_excerpts(test_pieces)
        for role, found, given in (("training", train, train_pieces), ("test", test, test_pieces)):
            if not found:
                raise DataError(
                    f"{self._source_label()}: the {len(given)} {role} piece(s) hold no excerpt of {_MIN_NOTES} or more notes"
                )
        restored = self._max_len is not None
        if not restored:
            self._fit_timing(train_pieces)
        if self._vocab is None:
            train_events = [piece_to_events(piece) for piece in train]
            if not restored:
                self._fit_events(train_events, source=self._source_label())
            train_batch = self._event_batch(train_events)
            test_batch = self._event_batch([piece_to_events(piece) for piece in test])
        else:
            train_ids = [self._vocab.encode(piece) for piece in train]
            test_ids = [self._vocab.encode(piece) for piece in test]
            if not restored:
                longest = max(len(ids) for ids in train_ids) + 1
                self._max_len = min(longest, self.max_tokens) if self.max_tokens is not None else longest
            train_batch, test_batch = self._token_batch(train_ids, "training"), self._token_batch(test_ids, "test")
        if self.condition != "none":
            train_batch = self._with_condition(train_batch, train_conditions, "training", fit=not restored, shuffle=self.shuffle_train_conditions)
            test_batch = self._with_condition(test_batch, test_conditions, "test", fit=False, shuffle=False)
        splits = {"train": SequenceData(train_batch), "test": SequenceData(test_batch)}
        self.keep_splits(splits)
        return splits

    # ----------------------------------------------------------- conditions

    def _conditioned_excerpts(self, pieces: Sequence[Piece]) -> tuple[list[Piece], list[Any]]:
        """The excerpts of ``pieces`` and, row for row, their condition: a mode label, a soprano excerpt, or nothing."""
        if self.condition == "none":
            return excerpts(pieces, self.notes, self.stride), []
        if self.condition == "mode":
            found, labels = [], []
            for piece, label in zip(pieces, self._mode_labels(pieces)):
                cut = excerpts([piece], self.notes, self.stride)
                found += cut
                labels += [label] * len(cut)
            return found, labels
        from seqtk.plugins.music.chorale_voices import chorale_voices

        voices = {v.name: v for v in chorale_voices(cache_dir=self.cache_dir)}
        basses: list[Piece] = []
        sopranos: list[Piece] = []
        for piece in pieces:
            found = voices.get(piece.name)
            if found is not None and found.bass is not None and found.soprano is not None:
                shift = self._shifts.get(piece.name, 0)
                for bass, soprano in bass_under_soprano(transposed(found.bass, shift), transposed(found.soprano, shift), self.notes, self.stride):
                    basses.append(bass)
                    sopranos.append(soprano)
        return basses, sopranos

    def _to_c(self, pieces: Sequence[Piece]) -> list[Piece]:
        """``pieces`` each moved so that its tonic is C (``transpose: tonic-c``); the shifts are kept for the soprano and bass."""
        from seqtk.plugins.music.chorale_voices import MODES
        from seqtk.plugins.music.conditional_metrics import estimate_tonic

        moved = []
        for piece, label in zip(pieces, self._mode_labels(pieces)):
            tonic = estimate_tonic(piece, MODES[label]) or 0
            shift = self._shifts[piece.name] = tonic_shift(tonic, piece)
            moved.append(transposed(piece, shift))
        return moved

    def _mode_labels(self, pieces: Sequence[Piece]) -> list[int]:
        """Each piece's mode label (0 major, 1 minor): music21's analysis for the chorales, else the key-profile estimate."""
        from seqtk.plugins.music.chorale_voices import MODES
        from seqtk.plugins.music.conditional_metrics import estimate_key

        known: dict[str, str] = {}
        if self.source == "chorales":
            from seqtk.plugins.music.chorale_voices import chorale_voices

            known = {v.name: v.mode for v in chorale_voices(cache_dir=self.cache_dir)}
        labels = []
        for piece in pieces:
            mode = known.get(piece.name)
            if mode is None:
                key = estimate_key(piece)
                mode = key[1] if key is not None else "major"
            labels.append(MODES.index(mode))
        return labels

    def _with_condition(self, batch: Batch, conditions: list[Any], role: str, *, fit: bool, shuffle: bool) -> Batch:
        """``batch`` with its rows' conditions attached; ``fit`` sets the context width from these rows; ``shuffle`` permutes them (seeded)."""
        if self.condition == "mode":
            condition = Condition(labels=torch.tensor(conditions, dtype=torch.long))
        else:
            if self._vocab is None:
                events = [piece_to_events(piece) for piece in conditions]
                if fit:
                    self._context_len = max(len(e) for e in events)
                context = self._event_batch(events, width=self._context_len)
            else:
                ids = [self._vocab.encode(piece) for piece in conditions]
                if fit:
                    self._context_len = max(len(i) for i in ids) + 1
                context = self._token_batch(ids, f"{role} soprano", width=self._context_len)
            condition = Condition(context=context)
        if shuffle:
            order = torch.randperm(batch.size, generator=torch.Generator().manual_seed(self.seed + 7919))
            condition = condition.index(order)
        return Batch(values=batch.values, lengths=batch.lengths, condition=condition)

    def _token_batch(self, token_lists: Sequence[list[int]], role: str, width: int | None = None) -> Batch:
        """Token lists cut to ``max_len - 1`` (or ``width - 1``) + EOS and padded; says how many were cut (the metrics see the cut notes)."""
        assert self._vocab is not None and self._max_len is not None
        width = width or self._max_len
        rows = torch.full((len(token_lists), width), self._vocab.pad_id, dtype=torch.long)
        lengths = []
        for row, tokens in enumerate(token_lists):
            ids = tokens[: width - 1] + [self._vocab.eos_id]
            rows[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            lengths.append(len(ids))
        cut = sum(len(tokens) >= width for tokens in token_lists)
        if cut:
            warnings.warn(
                f"{self._source_label()}: {cut} of {len(token_lists)} {role} excerpts have more than {width - 1} tokens "
                f"and were cut (max_tokens={self.max_tokens}); raise max_tokens or lower notes to keep them whole",
                stacklevel=4,
            )
        return Batch(values=rows, lengths=torch.tensor(lengths, dtype=torch.long))

    def _fit_events(self, events: Sequence[np.ndarray], *, source: str) -> None:
        """The scaling, width and length distribution of excerpts given as ``[notes, 4]`` event arrays."""
        self._scaler = EventScaler().fit(events, source=source)
        self._max_len = self.notes
        counts = np.array([min(len(e), self.notes) for e in events])
        if np.all(counts == self.notes):
            self._length_weights = ()
        else:
            histogram = np.bincount(counts, minlength=self.notes + 1)[1:]
            self._length_weights = tuple(float(c) / float(histogram.sum()) for c in histogram)

    def _fit_timing(self, pieces: Sequence[Piece]) -> None:
        """The tempo and bar length written into generated files: the training pieces' median and most common."""
        self._tempo_bpm = float(statistics.median(p.tempo_bpm for p in pieces))
        self._beats_per_bar = float(statistics.mode(p.beats_per_bar for p in pieces))

    def _event_batch(self, events: Sequence[np.ndarray], width: int | None = None) -> Batch:
        """``[notes, 4]`` event arrays, scaled, cut to ``max_len`` (or ``width``) notes and padded."""
        assert self._max_len is not None and self._scaler is not None
        width = width or self._max_len
        values = np.zeros((len(events), width, len(EVENT_FEATURES)), dtype=np.float32)
        lengths = []
        for row, excerpt in enumerate(events):
            excerpt = excerpt[:width]
            values[row, : len(excerpt)] = self._scaler.transform(excerpt)
            lengths.append(len(excerpt))
        return Batch(values=torch.from_numpy(values), lengths=torch.tensor(lengths, dtype=torch.long))

    def _read_source(self) -> list[Piece]:
        if self.source == "folder":
            assert self.path is not None
            return read_midi_source(self.path, tracks=self.tracks, drums=self.drums)
        if self.source == "chorales":
            from seqtk.plugins.music.chorales import chorale_pieces

            # One chorale appears in music21's corpus under two numbers: drop the repeat quietly.
            return _unique(chorale_pieces(cache_dir=self.cache_dir))
        from seqtk.plugins.music.builtin import builtin_pieces

        # Phrases drawn from a few progressions can repeat exactly; drop them here, quietly
        # (a duplicate in the user's data is worth a warning, one in ours is not).
        # The corpus is fixed (seed 0), so ``seed`` chooses the split and nothing else.
        return _unique(builtin_pieces(self.builtin_count, seed=0))

    def _source_label(self) -> str:
        return str(self.path) if self.source == "folder" else f"music source {self.source!r}"

    def _write_pianoroll(self, pieces: list[Piece], path: Path) -> list[Path]:
        """Real test excerpts (when the data is at hand) beside generated ones; never fails a run."""
        from seqtk.plugins.music import pianoroll

        if not pianoroll.plotting_available():
            from seqtk.plugins.pictures import no_pictures

            return no_pictures()
        real: list[Piece] = []
        if self.has_split("test") or self.source != "folder" or (self.path is not None and self.path.exists()):
            try:
                test = self.load("test")
                rows = test.batch.index(torch.arange(min(3, len(test))))
                real = self.to_pieces(rows, prefix="held-out")
                _, above = self._sample_conditions(rows)
                real = [_joined(s, p) for s, p in zip(above, real)] if above else real
            except DataError:
                real = []
        if not real and not any(p.notes for p in pieces):
            return []
        return [pianoroll.write_pianoroll(real, pieces, path)]

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path else ""
        return f"MusicDomain(source={self.source!r}{where}, representation={self.representation!r}, notes={self.notes}, stride={self.stride})"


# --------------------------------------------------------------------------- pieces


def _read_modes(path: Path) -> list[int]:
    """Mode labels from a text file, one ``major``/``minor`` (or ``0``/``1``) per non-blank line; a DataError names the line."""
    from seqtk.core.textfiles import read_utf8
    from seqtk.plugins.music.chorale_voices import MODES

    text = read_utf8(path, f"conditions file {path}", "a text file with one mode (major or minor) per line")
    labels = []
    for number, line in enumerate(text.split("\n"), start=1):
        word = line.strip().lower()
        if not word:
            continue
        if word in MODES:
            labels.append(MODES.index(word))
        elif word in ("0", "1"):
            labels.append(int(word))
        else:
            raise DataError(f"conditions file {path}: line {number}: unknown mode {line.strip()!r}; valid: major, minor (or 0, 1)")
    if not labels:
        raise DataError(f"conditions file {path}: holds no mode; expected one mode (major or minor) per line")
    return labels


def read_midi_source(
    path: Path, *, tracks: Sequence[int] | None, drums: bool, recursive: bool = True, allow_empty: bool = False
) -> list[Piece]:
    """The pieces of one ``.mid`` file or of every MIDI file in a folder (bad files skipped with a warning)."""
    from seqtk.plugins.music.midi import read_midi, read_midi_folder

    if path.is_file():
        return [read_midi(path, tracks=tracks, drums=drums, allow_empty=allow_empty)]
    pieces, _ = read_midi_folder(path, tracks=tracks, drums=drums, recursive=recursive, allow_empty=allow_empty)
    return pieces


def split_pieces(pieces: Sequence[Piece], test_fraction: float, seed: int, *, source: str) -> tuple[list[Piece], list[Piece]]:
    """Whole pieces for training and for testing, drawn with ``seed``; exact duplicates dropped first.

    At least one piece goes to each side. Duplicates (same notes, however named) are
    dropped with one warning, because a piece on both sides would let a memorising model
    look like a good one.
    """
    kept = _unique(pieces)
    if len(kept) < len(pieces):
        warnings.warn(f"{source}: dropped {len(pieces) - len(kept)} piece(s) whose notes duplicate another piece's", stacklevel=2)
    if len(kept) < 2:
        raise DataError(f"{source}: {len(kept)} distinct piece(s); at least 2 are needed (one is held out for testing)")
    order = np.random.default_rng(seed).permutation(len(kept))
    n_test = min(len(kept) - 1, max(1, round(test_fraction * len(kept))))
    test_rows = set(order[:n_test].tolist())
    return [p for i, p in enumerate(kept) if i not in test_rows], [p for i, p in enumerate(kept) if i in test_rows]


def excerpts(pieces: Sequence[Piece], notes: int, stride: int) -> list[Piece]:
    """Excerpts of ``notes`` consecutive notes every ``stride`` notes, each moved to start at beat 0.

    A piece with fewer than ``notes`` notes (but at least 2) gives one shorter excerpt;
    a piece with fewer than 2 gives none. Notes keep their (start, pitch) order, so a
    chord is never reordered.
    """
    out: list[Piece] = []
    for piece in pieces:
        count = len(piece.notes)
        if count < _MIN_NOTES:
            continue
        starts = [0] if count <= notes else range(0, count - notes + 1, stride)
        for start in starts:
            out.append(_shifted(piece.notes[start : start + notes], piece, suffix=f"@{start}"))
    return out


def bass_under_soprano(bass: Piece, soprano: Piece, notes: int, stride: int) -> list[tuple[Piece, Piece]]:
    """Excerpts of ``notes`` bass notes every ``stride`` notes, each with the soprano over the same beats.

    An excerpt spans from its first bass onset to the next bass onset after it (the end
    of its last note when it is the piece's end); the soprano notes starting in that span
    are kept, cut at its end. Both are moved so the span starts at beat 0. An excerpt
    whose span holds no soprano onset is left out.
    """
    count = len(bass.notes)
    if count < _MIN_NOTES:
        return []
    pairs = []
    for start in [0] if count <= notes else range(0, count - notes + 1, stride):
        chosen = bass.notes[start : start + notes]
        begin = chosen[0].start
        end = bass.notes[start + notes].start if start + notes < count else max(n.end for n in chosen)
        above = [Note(n.start - begin, min(n.duration, end - n.start), n.pitch, n.velocity) for n in soprano.notes if begin <= n.start < end]
        if above:
            pairs.append((
                _shifted(chosen, bass, suffix=f"@{start}"),
                Piece(above, tempo_bpm=soprano.tempo_bpm, beats_per_bar=soprano.beats_per_bar, name=f"{soprano.name}@{start}"),
            ))
    return pairs


def tonic_shift(tonic: int, piece: Piece) -> int:
    """The shift in semitones, -5..+6 where the MIDI range allows (else an octave further), that moves pitch class ``tonic`` to C."""
    shift = -tonic % 12
    shift = shift - 12 if shift > 6 else shift
    pitches = [n.pitch for n in piece.notes]
    if pitches and max(pitches) + shift > 127:
        shift -= 12
    if pitches and min(pitches) + shift < 0:
        shift += 12
    return shift


def transposed(piece: Piece, shift: int) -> Piece:
    """``piece`` with every pitch moved by ``shift`` semitones (the same piece when ``shift`` is 0)."""
    if shift == 0:
        return piece
    moved = [Note(n.start, n.duration, n.pitch + shift, n.velocity) for n in piece.notes]
    return Piece(moved, tempo_bpm=piece.tempo_bpm, beats_per_bar=piece.beats_per_bar, name=piece.name)


def _shifted(notes: Sequence[Note], piece: Piece, suffix: str = "") -> Piece:
    offset = notes[0].start if notes else 0.0
    moved = [Note(n.start - offset, n.duration, n.pitch, n.velocity) for n in notes]
    return Piece(moved, tempo_bpm=piece.tempo_bpm, beats_per_bar=piece.beats_per_bar, name=piece.name + suffix)


def _unique(pieces: Sequence[Piece]) -> list[Piece]:
    """``pieces`` in order without exact repeats of an earlier piece's notes."""
    unique: dict[str, Piece] = {}
    for piece in pieces:
        unique.setdefault(_fingerprint(piece), piece)
    return list(unique.values())


def _fingerprint(piece: Piece) -> str:
    digest = hashlib.sha256()
    for note in piece.notes:
        digest.update(f"{note.start!r},{note.duration!r},{note.pitch},{note.velocity};".encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------- files


def _joined(soprano: Piece, bass: Piece) -> Piece:
    """Both lines in one piece (for a piano roll)."""
    return Piece([*soprano.notes, *bass.notes], tempo_bpm=bass.tempo_bpm, beats_per_bar=bass.beats_per_bar, name=bass.name)


def write_midi_folder(
    pieces: Sequence[Piece], folder: Path, *, program: int = 0, suffixes: Sequence[str] = (), companions: Sequence[Piece] = ()
) -> list[Path]:
    """One ``NNNN.mid`` per piece in ``folder``, which appears complete (replacing an older one) or not at all.

    ``suffixes`` (one per piece) end the file names (``0003-minor.mid``); ``companions``
    (one per piece) are written as a first track before the piece's own (a given soprano
    above a generated bass).
    """
    from seqtk.plugins.music.midi import write_midi, write_midi_tracks

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        digits = max(4, len(str(len(pieces) - 1)))
        for index, piece in enumerate(pieces):
            path = staging / f"{index:0{digits}d}{suffixes[index] if suffixes else ''}.mid"
            if companions:
                write_midi_tracks([companions[index], piece], path, program=program, names=("soprano (given)", "bass (generated)"))
            else:
                write_midi(piece, path, program=program)
        os.chmod(staging, 0o755 & ~_umask())
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(folder.glob("*.mid"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _integer(name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum or (maximum is not None and value > maximum):
        bound = f"in {minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"music: {name} must be an integer {bound}, got {value!r}")
