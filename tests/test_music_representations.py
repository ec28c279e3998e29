"""Note events and event tokens: exact round trips, repairs of generated output, hand-counted windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqtk.core.errors import DataError
from seqtk.plugins.music.notes import Note, Piece
from seqtk.plugins.music.representations import (
    EVENT_FEATURES,
    MIN_DURATION,
    EventScaler,
    EventVocabulary,
    event_windows,
    events_to_piece,
    piece_to_events,
)


def _piece(*notes: tuple, **kwargs) -> Piece:
    return Piece([Note(*n) for n in notes], **kwargs)


def _random_piece(rng: np.random.Generator, count: int, *, ticks: int = 480, name: str = "r") -> Piece:
    """Onsets and lengths on a 1/480-beat tick grid (as a MIDI reader gives them): not dyadic floats.

    Lengths start at 1/64 beat: events_to_piece lengthens shorter notes to that.
    """
    starts = rng.integers(0, 200 * ticks, count) / ticks
    durations = rng.integers(-(-ticks // 64), 4 * ticks, count) / ticks
    pitches = rng.integers(0, 128, count)
    velocities = rng.integers(1, 128, count)
    notes = [Note(float(s), float(d), int(p), int(v)) for s, d, p, v in zip(starts, durations, pitches, velocities)]
    return Piece(notes, tempo_bpm=float(rng.uniform(40, 200)), beats_per_bar=3.0, name=name)


# --------------------------------------------------------------------------- continuous note events


def test_piece_to_events_by_hand():
    piece = _piece((0.5, 1.0, 64, 90), (0.0, 0.5, 60, 80), (0.5, 2.0, 60, 70), (3.0, 0.25, 72, 1))
    expected = np.array(
        [
            [0.0, 0.5, 60, 80],  # first note at beat 0: delta from beat 0
            [0.5, 2.0, 60, 70],  # chord at 0.5: lower pitch first
            [0.0, 1.0, 64, 90],
            [2.5, 0.25, 72, 1],
        ]
    )
    events = piece_to_events(piece)
    assert EVENT_FEATURES == ("delta", "duration", "pitch", "velocity")
    assert events.dtype == np.float64
    np.testing.assert_array_equal(events, expected)
    assert piece_to_events(Piece()).shape == (0, 4)


def test_a_leading_rest_is_the_first_delta():
    events = piece_to_events(_piece((2.0, 1.0, 60, 64)))
    np.testing.assert_array_equal(events, [[2.0, 1.0, 60, 64]])


def test_events_round_trip_exactly_on_a_power_of_two_grid():
    rng = np.random.default_rng(4)
    for index in range(20):
        piece = _random_piece(rng, int(rng.integers(1, 300)), ticks=1024, name=f"p{index}")
        back = events_to_piece(
            piece_to_events(piece), tempo_bpm=piece.tempo_bpm, beats_per_bar=piece.beats_per_bar, name=piece.name
        )
        assert back == piece


def _assert_round_trip_within_an_ulp(piece: Piece) -> int:
    """Everything but onsets exact, each onset within one ulp; returns how many onsets were off."""
    back = events_to_piece(piece_to_events(piece)).notes
    assert [(n.duration, n.pitch, n.velocity) for n in back] == [(n.duration, n.pitch, n.velocity) for n in piece.notes]
    starts, got = np.array([n.start for n in piece.notes]), np.array([n.start for n in back])
    assert (np.abs(got - starts) <= np.spacing(starts)).all()
    return int((got != starts).sum())


def test_events_round_trip_within_an_ulp_on_tick_times_without_drift():
    # On 1/480-beat ticks a gap can need one bit more than a float holds; a naive running sum
    # of the differences then drifts by several ulps over a long piece.
    rng = np.random.default_rng(5)
    off = sum(_assert_round_trip_within_an_ulp(_random_piece(rng, 300)) for _ in range(30))
    assert off < 30  # about 1 onset in 7000 is one ulp off
    # 3/480 -> 11/480 is such a gap; a naive sum is then also off at 20/480, ours is not.
    starts = np.array([0, 3, 11, 20]) / 480
    assert (np.add.accumulate(np.diff(starts, prepend=0.0)) != starts).tolist() == [False, False, True, True]
    piece = Piece([Note(float(s), 1.0, 60) for s in starts])
    assert _assert_round_trip_within_an_ulp(piece) == 1
    assert events_to_piece(piece_to_events(piece)).notes[3] == piece.notes[3]


def test_events_round_trip_within_an_ulp_on_arbitrary_floats():
    rng = np.random.default_rng(6)
    for _ in range(20):
        count = 200
        notes = [
            Note(float(s), float(d), int(p), int(v))
            for s, d, p, v in zip(
                rng.uniform(0, 1000, count), rng.uniform(MIN_DURATION, 8, count), rng.integers(0, 128, count), rng.integers(1, 128, count)
            )
        ]
        _assert_round_trip_within_an_ulp(Piece(notes))


def test_events_to_piece_repairs_generated_values():
    events = np.array(
        [
            [-0.3, -1.0, 130.4, 0.2],  # delta clipped to 0, duration to 1/64, pitch to 127, velocity to 1
            [1.0, 0.0, 60.5, 63.5],  # rounds half to even: pitch 60, velocity 64
            [-5.0, 0.5, -3.0, 500.0],  # delta 0 again: same onset as the note before
        ]
    )
    piece = events_to_piece(events, tempo_bpm=90.0, beats_per_bar=3.0, name="gen")
    assert piece == Piece(
        [Note(0.0, MIN_DURATION, 127, 1), Note(1.0, MIN_DURATION, 60, 64), Note(1.0, 0.5, 0, 127)],
        tempo_bpm=90.0,
        beats_per_bar=3.0,
        name="gen",
    )
    assert events_to_piece(np.zeros((0, 4))) == Piece()
    assert events_to_piece(np.array([[0.0, 0.01, 60, 64]]), min_duration=0.1).notes == [Note(0.0, 0.1, 60, 64)]


def test_events_to_piece_refuses_what_it_cannot_repair():
    with pytest.raises(ValueError, match=r"events_to_piece: events must be \[notes, 4\] .* got shape \(3,\)"):
        events_to_piece(np.zeros(3))
    bad = np.zeros((3, 4))
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"event 2 \(0-based\), feature 'duration' is nan; events must be finite"):
        events_to_piece(bad)
    with pytest.raises(ValueError, match="the deltas add up to an onset beyond the largest float"):
        events_to_piece(np.array([[1e308, 1.0, 60, 64], [1e308, 1.0, 60, 64]]))
    with pytest.raises(ValueError, match="min_duration must be a finite number of beats > 0, got 0"):
        events_to_piece(np.zeros((1, 4)), min_duration=0)


# --------------------------------------------------------------------------- scaling


def _scaler_data() -> list[np.ndarray]:
    return [
        np.array([[0.0, 0.5, 60, 80], [1.0, 2.0, 62, 90]]),
        np.array([[3.0, 0.25, 0, 1], [0.5, 1.0, 127, 127]]),
    ]


def test_event_scaler_ranges_and_transform_by_hand():
    scaler = EventScaler().fit(_scaler_data())
    np.testing.assert_array_equal(scaler.minimum, [0.0, 0.25, 0.0, 1.0])
    np.testing.assert_array_equal(scaler.maximum, [3.0, 2.0, 127.0, 127.0])
    scaled = scaler.transform(np.array([1.5, 0.25 + 1.75 / 4, 63.5, 64.0]))
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, [0.5, 0.25, 0.5, 0.5], rtol=0, atol=1e-7)
    for array in _scaler_data():  # the fitted data lies in [0, 1]
        assert scaler.transform(array).min() >= 0 and scaler.transform(array).max() <= 1


def test_event_scaler_inverse_is_exact():
    rng = np.random.default_rng(1)
    data = [piece_to_events(_random_piece(rng, 50)) for _ in range(4)]
    scaler = EventScaler().fit(data)
    for events in data:
        back = scaler.inverse(scaler.transform(events, dtype=np.float64))
        assert back.dtype == np.float64
        np.testing.assert_allclose(back, events, rtol=1e-9, atol=0)
        # Through float32 (what a network sees) pitch and velocity still come back exactly.
        piece = events_to_piece(scaler.inverse(scaler.transform(events)))
        assert [(n.pitch, n.velocity) for n in piece.notes] == [(int(p), int(v)) for p, v in events[:, 2:]]


def test_event_scaler_pitch_and_velocity_do_not_depend_on_the_data():
    narrow = EventScaler().fit([np.array([[0.0, 1.0, 60, 64], [1.0, 2.0, 61, 65]])])
    assert narrow.minimum[2:].tolist() == [0.0, 1.0] and narrow.maximum[2:].tolist() == [127.0, 127.0]


def test_event_scaler_gives_a_feature_without_spread_one_beat():
    scaler = EventScaler().fit([np.array([[0.0, 1.0, 60, 64], [0.0, 1.0, 64, 64]])])  # one chord of quarter notes
    np.testing.assert_array_equal(scaler.minimum[:2], [0.0, 1.0])
    np.testing.assert_array_equal(scaler.maximum[:2], [1.0, 2.0])


def test_event_scaler_state_survives_torch_save(tmp_path):
    scaler = EventScaler().fit(_scaler_data())
    path = tmp_path / "scaler.pt"
    torch.save({"scaler": scaler.state_dict()}, path)
    restored = EventScaler.from_state(torch.load(path, weights_only=True)["scaler"])
    x = np.array([[0.7, 1.3, 33, 99]])
    np.testing.assert_array_equal(restored.transform(x), scaler.transform(x))
    np.testing.assert_array_equal(restored.inverse(x), scaler.inverse(x))


def test_event_scaler_errors():
    with pytest.raises(RuntimeError, match="EventScaler: not fitted"):
        EventScaler().transform(np.zeros(4))
    with pytest.raises(DataError, match="^chorales: no notes to fit the event scaling on"):
        EventScaler().fit([np.zeros((0, 4))], source="chorales")
    bad = np.zeros((2, 4))
    bad[1, 0] = np.inf
    with pytest.raises(DataError, match=r"^events: note 3 \(0-based, counting through all pieces\), feature 'delta' is inf"):
        EventScaler().fit([np.zeros((2, 4)), bad])
    with pytest.raises(ValueError, match=r"each events array must be \[notes, 4\], got shape \(2, 3\)"):
        EventScaler().fit([np.zeros((2, 3))])
    scaler = EventScaler().fit(_scaler_data())
    with pytest.raises(ValueError, match=r"EventScaler.inverse: last axis must hold 4 features"):
        scaler.inverse(np.zeros((2, 5)))
    state = scaler.state_dict()
    with pytest.raises(ValueError, match=r"missing \['maximum'\], unexpected \['max'\]"):
        EventScaler.from_state({**{k: v for k, v in state.items() if k != "maximum"}, "max": [1.0] * 4})
    with pytest.raises(ValueError, match="every maximum must exceed its minimum"):
        EventScaler.from_state({**state, "maximum": state["minimum"]})
    with pytest.raises(ValueError, match=r"minimum must hold 4 floats \(one per name\)"):
        EventScaler.from_state({**state, "minimum": [0.0, 1.0]})


# --------------------------------------------------------------------------- windows


def _scale(count: int, start_pitch: int = 40) -> Piece:
    return Piece([Note(i * 0.5, 0.5, start_pitch + i, 64) for i in range(count)])


def test_event_windows_counts_by_hand():
    pieces = [_scale(10), _scale(3), _scale(1), _scale(0), _scale(4)]
    windows, lengths = event_windows(pieces, length=4, stride=3)
    # 10 notes: starts 0, 3, 6 -> 3 windows (notes 8, 9 past the last whole window are left out);
    # 3 notes: one shorter sequence; 1 and 0 notes: none; 4 notes: exactly one window.
    assert windows.shape == (5, 4, 4) and windows.dtype == np.float64
    assert lengths.tolist() == [4, 4, 4, 3, 4] and lengths.dtype == np.int64
    events = piece_to_events(pieces[0])
    expected = events[3:7].copy()
    expected[0, 0] = 0.0  # each window starts at its first note
    np.testing.assert_array_equal(windows[1], expected)
    np.testing.assert_array_equal(windows[3, 3], np.zeros(4))  # padding
    np.testing.assert_array_equal(windows[3, :3, 2], [40, 41, 42])
    # A window decodes to its excerpt, shifted to beat 0.
    assert events_to_piece(windows[2]) == Piece([Note(i * 0.5, 0.5, 46 + i, 64) for i in range(4)])


def test_event_windows_stride_one_and_nothing_to_window():
    windows, lengths = event_windows([_scale(6)], length=2, stride=1)
    assert lengths.tolist() == [2] * 5
    np.testing.assert_array_equal(windows[:, :, 2], [[40, 41], [41, 42], [42, 43], [43, 44], [44, 45]])
    windows, lengths = event_windows([_scale(1)], length=8, stride=2)
    assert windows.shape == (0, 8, 4) and lengths.shape == (0,)


@pytest.mark.parametrize(
    ("length", "stride", "message"),
    [(1, 1, "length must be an integer >= 2, got 1"), (4, 0, "stride must be an integer >= 1, got 0"), (4.0, 1, "length must be")],
)
def test_event_windows_bad_parameters(length, stride, message):
    with pytest.raises(ValueError, match=f"event_windows: {message}"):
        event_windows([_scale(5)], length=length, stride=stride)


# --------------------------------------------------------------------------- event tokens


def test_vocabulary_layout():
    vocab = EventVocabulary()
    assert vocab.size == 3 + 128 + 128 + 16 + 8 == len(vocab.token_names)
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2)
    assert vocab.token_names[:4] == ["<pad>", "<bos>", "<eos>", "NOTE_ON_0"]
    assert vocab.token_names[vocab.note_on_id(127)] == "NOTE_ON_127" and vocab.note_on_id(127) == 130
    assert vocab.token_names[vocab.note_off_id(0)] == "NOTE_OFF_0" and vocab.note_off_id(0) == 131
    assert vocab.token_names[vocab.time_shift_id(1)] == "TIME_SHIFT_1" and vocab.time_shift_id(1) == 259
    assert vocab.token_names[vocab.time_shift_id(16)] == "TIME_SHIFT_16"
    assert vocab.token_names[vocab.velocity_id(0)] == "VELOCITY_0" and vocab.velocity_id(0) == 275
    assert vocab.token_names[-1] == "VELOCITY_7"


def test_velocity_bins_and_centres():
    vocab = EventVocabulary()
    # 127 velocities in 8 runs: 1-16, 17-32, 33-48, 49-64, 65-80, 81-96, 97-112, 113-127 -> middles.
    assert [vocab.velocity_bin(v) for v in (1, 16, 17, 32, 33, 64, 65, 112, 113, 127)] == [0, 0, 1, 1, 2, 3, 4, 6, 7, 7]
    assert vocab.velocity_centres == (8, 24, 40, 56, 72, 88, 104, 120)
    for bins in (1, 2, 3, 7, 100, 127):
        other = EventVocabulary(velocity_bins=bins)
        assert [other.velocity_bin(c) for c in other.velocity_centres] == list(range(bins))
        assert {other.velocity_bin(v) for v in range(1, 128)} == set(range(bins))


def _names(vocab: EventVocabulary, tokens: list[int]) -> list[str]:
    return [vocab.token_names[t] for t in tokens]


def test_encode_by_hand_chord_velocity_changes_and_a_long_rest():
    vocab = EventVocabulary(steps_per_beat=4, max_shift_steps=16, velocity_bins=8)
    piece = _piece((0.0, 1.0, 64, 72), (0.0, 1.0, 60, 72), (1.0, 0.5, 67, 70), (10.25, 0.25, 48, 120))
    assert _names(vocab, vocab.encode(piece)) == [
        "VELOCITY_4", "NOTE_ON_60", "NOTE_ON_64",  # chord: one velocity token, ons by pitch
        "TIME_SHIFT_4",
        "NOTE_OFF_60", "NOTE_OFF_64", "NOTE_ON_67",  # offs before ons at one step; 70 shares bin 4 with 72
        "TIME_SHIFT_2", "NOTE_OFF_67",
        "TIME_SHIFT_16", "TIME_SHIFT_16", "TIME_SHIFT_3",  # 1.5 -> 10.25 beats: 35 steps
        "VELOCITY_7", "NOTE_ON_48", "TIME_SHIFT_1", "NOTE_OFF_48",
    ]  # fmt: skip


def test_encode_quantises_half_to_even_and_keeps_short_notes():
    vocab = EventVocabulary(steps_per_beat=4)
    # Onset 0.125 beat = 0.5 step -> 0 and its offset 0.375 = 1.5 steps -> 2 (half to even);
    # onset 0.375 -> step 2, offset 0.425 = 1.7 steps -> 2, the onset, so the note keeps one step.
    piece = _piece((0.125, 0.25, 60, 56), (0.375, 0.05, 62, 56))
    assert _names(vocab, vocab.encode(piece)) == [
        "VELOCITY_3", "NOTE_ON_60", "TIME_SHIFT_2", "NOTE_OFF_60", "NOTE_ON_62", "TIME_SHIFT_1", "NOTE_OFF_62",
    ]  # fmt: skip
    assert vocab.decode(vocab.encode(piece)) == _piece((0.0, 0.5, 60, 56), (0.5, 0.25, 62, 56))


def test_tokens_round_trip_chords_overlaps_rests_and_grid_pieces():
    vocab = EventVocabulary(steps_per_beat=4, max_shift_steps=8, velocity_bins=8)
    centres = vocab.velocity_centres
    handmade = _piece(
        (2.0, 1.0, 60, centres[2]), (2.0, 1.0, 64, centres[2]), (2.0, 4.0, 67, centres[5]),  # chord, leading rest
        (2.5, 0.25, 72, centres[0]), (3.0, 0.5, 60, centres[7]),  # overlaps; 60 struck again as it ends
        (30.0, 0.25, 36, centres[1]),  # a rest from beat 6 to 30: 96 steps = 12 shifts of 8
        tempo_bpm=96.0, beats_per_bar=3.0, name="hand",
    )  # fmt: skip
    tokens = vocab.encode(handmade)
    # 8 + 12 * 8 steps of rest, and 10 steps (8 + 2) from beat 3.5 to 6: 14 shifts of 8.
    assert _names(vocab, tokens).count("TIME_SHIFT_8") == 14
    assert vocab.decode(tokens, tempo_bpm=96.0, beats_per_bar=3.0, name="hand") == handmade
    rng = np.random.default_rng(2)
    for spb in (3, 4, 12):
        grid = EventVocabulary(steps_per_beat=spb, max_shift_steps=10, velocity_bins=5)
        for _ in range(10):
            count = int(rng.integers(1, 60))
            notes = [
                Note(int(s) / spb, int(d) / spb, int(p), grid.velocity_centres[int(b)])
                for s, d, p, b in zip(
                    rng.integers(0, 40 * spb, count), rng.integers(1, 6 * spb, count), rng.choice(128, count, replace=False), rng.integers(0, 5, count)
                )
            ]  # distinct pitches: a pitch struck again while sounding is ambiguous in this vocabulary
            piece = Piece(notes)
            assert grid.decode(grid.encode(piece)) == piece


def test_decode_is_tolerant_by_hand():
    vocab = EventVocabulary(steps_per_beat=4)
    on, off, shift, vel = vocab.note_on_id, vocab.note_off_id, vocab.time_shift_id, vocab.velocity_id
    tokens = [
        vocab.bos_id, off(50),  # note-off with nothing open: ignored
        on(60), vocab.pad_id, shift(2), off(60),  # pad stops nothing: 60 lasts 2 steps at the default velocity 56
        vel(7), on(62), off(62),  # closed at its onset: one step
        on(64), on(64), shift(3), off(64),  # the earlier of two open 64s closes first
        vel(0), on(65),  # still open at the end: closed at the final time
        shift(1), vocab.eos_id, on(70), shift(5),  # nothing after <eos>
    ]  # fmt: skip
    assert vocab.decode(tokens) == _piece(
        (0.0, 0.5, 60, 56), (0.5, 0.25, 62, 120), (0.5, 0.75, 64, 120), (0.5, 1.0, 64, 120), (1.25, 0.25, 65, 8)
    )
    assert vocab.decode([]) == Piece()
    assert vocab.decode([on(60)]) == _piece((0.0, 0.25, 60, 56))  # min one step at the end


def test_random_token_sequences_always_decode_to_valid_pieces():
    vocab = EventVocabulary(steps_per_beat=4, max_shift_steps=16, velocity_bins=8)
    rng = np.random.default_rng(3)
    for index in range(200):
        tokens = rng.integers(0, vocab.size, int(rng.integers(0, 300)))
        piece = vocab.decode(tokens.tolist() if index % 2 else tokens, name="sample")
        for note in piece.notes:  # Note() checks pitch, velocity, start >= 0 and duration > 0
            assert note.start * 4 == int(note.start * 4) and note.duration * 4 == int(note.duration * 4)
            assert note.duration >= 0.25 and note.velocity in vocab.velocity_centres
        # What the decoder makes is on the grid, so it encodes and decodes back to itself.
        assert vocab.decode(vocab.encode(piece), name="sample") == piece


def test_decode_refuses_ids_outside_the_vocabulary():
    vocab = EventVocabulary()
    with pytest.raises(ValueError, match=r"token 2 \(0-based\) is id 283, outside the vocabulary 0\.\.282"):
        vocab.decode([3, 4, 283])
    with pytest.raises(ValueError, match=r"token 0 \(0-based\) is id -1"):
        vocab.decode(np.array([-1]))
    with pytest.raises(ValueError, match="tokens must be a 1-D sequence of integer ids, got dtype float64"):
        vocab.decode([3.0, 4.0])
    assert vocab.decode(torch.tensor([vocab.note_on_id(60)])) == _piece((0.0, 0.25, 60, 56))


def test_vocabulary_state_survives_torch_save(tmp_path):
    vocab = EventVocabulary(steps_per_beat=6, max_shift_steps=24, velocity_bins=4)
    path = tmp_path / "vocab.pt"
    torch.save(vocab.state_dict(), path)
    restored = EventVocabulary.from_state(torch.load(path, weights_only=True))
    assert restored.token_names == vocab.token_names and restored.size == vocab.size == 3 + 256 + 24 + 4
    assert restored.velocity_centres == vocab.velocity_centres
    with pytest.raises(ValueError, match=r"expected exactly the keys \['steps_per_beat', 'max_shift_steps', 'velocity_bins'\]"):
        EventVocabulary.from_state({"steps_per_beat": 4})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps_per_beat": 0}, "steps_per_beat must be an integer >= 1, got 0"),
        ({"max_shift_steps": 2.5}, "max_shift_steps must be an integer >= 1, got 2.5"),
        ({"velocity_bins": 128}, r"velocity_bins must be an integer in 1\.\.127, got 128"),
        ({"velocity_bins": True}, "velocity_bins must be an integer in 1..127, got True"),
    ],
)
def test_vocabulary_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=f"EventVocabulary: {message}"):
        EventVocabulary(**kwargs)
