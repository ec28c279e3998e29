"""The built-in chorale-like corpus: deterministic, four voices in range, in key, cadential."""

from __future__ import annotations

import pytest

from seqtk.plugins.music.builtin import (
    PROGRESSIONS,
    TEMPO_BPM,
    VOICE_RANGES,
    VOICES,
    builtin_phrases,
    builtin_pieces,
)
from seqtk.plugins.music.features import polyphony, scale_consistency
from seqtk.plugins.music.midi import read_midi, write_midi

MAJOR = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR = (0, 2, 3, 5, 7, 8, 10)


@pytest.fixture(scope="module")
def phrases():
    """A few dozen phrases of both modes and both harmonic rhythms."""
    return builtin_phrases(40, seed=5, bars=4, minor_share=0.5)


@pytest.fixture(scope="module")
def defaults():
    """The quickstart's corpus: 200 phrases with every default (well under a second)."""
    return builtin_phrases()


def chord_onsets(phrase) -> list[float]:
    return [note.start for note in phrase.voices[0]]


def test_same_seed_gives_the_same_pieces_and_another_seed_others():
    assert builtin_pieces(12, seed=3) == builtin_pieces(12, seed=3)
    assert builtin_pieces(12, seed=3) != builtin_pieces(12, seed=4)


def test_defaults_names_tempo_metre_and_length(defaults):
    pieces = [phrase.piece for phrase in defaults]
    assert pieces[:5] == builtin_pieces(5)
    assert len(pieces) == 200
    assert [p.name for p in pieces[:3]] == ["builtin-000", "builtin-001", "builtin-002"]
    assert len({p.name for p in pieces}) == 200
    for piece in pieces:
        assert piece.tempo_bpm == TEMPO_BPM == 90.0
        assert piece.beats_per_bar == 4.0
        assert piece.length_beats == 16.0  # 4 bars of 4/4


@pytest.mark.parametrize("bars", [2, 3, 5])
def test_every_phrase_fills_its_bars(bars):
    for phrase in builtin_phrases(10, seed=1, bars=bars):
        assert phrase.piece.length_beats == 4 * bars
        assert len(phrase.chords) == (4 * bars - 2) // phrase.beats_per_chord + 1


def test_four_voices_sound_at_every_chord_onset(phrases):
    for phrase in phrases:
        notes = phrase.piece.notes
        for onset in chord_onsets(phrase):
            starting = sorted(n.pitch for n in notes if n.start == onset)
            assert len(starting) == 4 and len(set(starting)) == 4, (phrase.piece.name, onset, starting)
        for beat in range(int(phrase.piece.length_beats)):  # four notes sound throughout every beat
            for time in (beat, beat + 0.5):
                assert len([n for n in notes if n.start <= time < n.end]) == 4
        assert polyphony(phrase.piece) == 4.0


def test_harmonic_rhythm_is_one_or_two_beats_and_voices_split_the_piece(phrases):
    assert {p.beats_per_chord for p in phrases} == {1, 2}
    for phrase in phrases:
        step = phrase.beats_per_chord
        assert chord_onsets(phrase) == [float(i * step) for i in range(len(phrase.chords))]
        assert sorted((n for voice in phrase.voices for n in voice), key=lambda n: (n.start, n.pitch)) == phrase.piece.notes


def test_every_pitch_lies_in_the_named_key(phrases):
    assert {p.mode for p in phrases} == {"major", "minor"}
    for phrase in phrases:
        steps = MAJOR if phrase.mode == "major" else NATURAL_MINOR
        scale = {(phrase.tonic + s) % 12 for s in steps}
        assert phrase.scale == scale
        assert {n.pitch % 12 for n in phrase.piece.notes} <= scale
        assert scale_consistency(phrase.piece) == 1.0


def test_default_keys_are_major_over_all_twelve_tonics(defaults):
    assert {p.mode for p in defaults} == {"major"}
    assert {p.tonic for p in defaults} == set(range(12))
    assert all(scale_consistency(p.piece) == 1.0 for p in defaults)


def test_voices_stay_in_their_ranges_and_in_order(phrases):
    assert VOICE_RANGES == {"bass": (40, 60), "tenor": (48, 67), "alto": (55, 72), "soprano": (60, 79)}
    for phrase in phrases:
        for name, voice in zip(VOICES, phrase.voices):
            low, high = VOICE_RANGES[name]
            assert all(low <= n.pitch <= high for n in voice), (phrase.piece.name, name)
        for onset in chord_onsets(phrase):
            heights = [next(n.pitch for n in voice if n.start == onset) for voice in phrase.voices]
            assert heights == sorted(heights) and len(set(heights)) == 4


def test_bass_sings_chord_roots_and_upper_voices_complete_the_triad(phrases):
    for phrase in phrases:
        steps = MAJOR if phrase.mode == "major" else NATURAL_MINOR
        numerals = {  # Roman numeral -> scale degree, whichever mode
            "I": 0, "i": 0, "ii": 1, "ii°": 1, "iii": 2, "III": 2, "IV": 3, "iv": 3,
            "V": 4, "v": 4, "vi": 5, "VI": 5, "vii°": 6, "VII": 6,
        }
        for onset, numeral in zip(chord_onsets(phrase), phrase.chords):
            degree = numerals[numeral]
            triad = {(phrase.tonic + steps[(degree + k) % 7]) % 12 for k in (0, 2, 4)}
            sounding = [next(n.pitch for n in voice if n.start == onset) for voice in phrase.voices]
            assert sounding[0] % 12 == (phrase.tonic + steps[degree]) % 12
            assert {p % 12 for p in sounding} == triad


def test_phrases_end_with_a_held_tonic_chord_after_the_dominant(phrases):
    for phrase in phrases:
        assert phrase.chords[-2:] in (("V", "I"), ("v", "i"))
        last_onset = max(n.start for n in phrase.piece.notes)
        final = [n for n in phrase.piece.notes if n.start == last_onset]
        assert len(final) == 4
        assert all(n.duration == 2.0 and n.end == phrase.piece.length_beats for n in final)
        bass = min(final, key=lambda n: n.pitch)
        assert bass.pitch % 12 == phrase.tonic


def test_chords_come_from_the_named_progressions(phrases):
    majors = {"I": 0, "ii": 1, "iii": 2, "IV": 3, "V": 4, "vi": 5}
    moves = {(a, b) for degrees in PROGRESSIONS.values() for a, b in zip(degrees, degrees[1:])}
    for phrase in builtin_phrases(30, seed=2):
        degrees = [majors[c] for c in phrase.chords]
        for a, b in zip(degrees[1:], degrees[2:]):  # the first chord may be the tonic set at the start
            assert (a, b) in moves, phrase.chords
        assert degrees[0] == 0 or degrees[1] == 0  # starts on the tonic, or goes to it at once (V-I, IV-I)


def test_soprano_passing_eighths_fill_thirds_stepwise(phrases):
    passing = 0
    for phrase in phrases:
        soprano = phrase.voices[-1]
        for note in soprano:
            if note.duration == 0.5 and note.start % 1 == 0.5:
                passing += 1
                before = next(n for n in soprano if n.end == note.start)
                after = next(n for n in soprano if n.start == note.end)
                assert abs(after.pitch - before.pitch) in (3, 4)
                assert min(before.pitch, after.pitch) < note.pitch < max(before.pitch, after.pitch)
        assert all(n.velocity == 90 for n in soprano)
        assert all(n.velocity == 80 for voice in phrase.voices[:-1] for n in voice)
    assert passing > 0


def test_pieces_survive_a_midi_round_trip(tmp_path):
    for piece in builtin_pieces(6, seed=9, minor_share=0.5):
        path = write_midi(piece, tmp_path / f"{piece.name}.mid")
        back = read_midi(path)
        assert back.notes == piece.notes
        assert back.tempo_bpm == piece.tempo_bpm and back.beats_per_bar == piece.beats_per_bar
        assert back.name == f"{piece.name}.mid"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0}, "builtin_pieces: count must be a whole number >= 1, got 0"),
        ({"count": 2.0}, "builtin_pieces: count must be a whole number >= 1, got 2.0"),
        ({"bars": 1}, "builtin_pieces: bars must be a whole number >= 2 (room for a progression and its cadence), got 1"),
        ({"bars": True}, "builtin_pieces: bars must be a whole number >= 2 (room for a progression and its cadence), got True"),
        ({"seed": -1}, "builtin_pieces: seed must be a whole number >= 0, got -1"),
        ({"minor_share": 1.5}, "builtin_pieces: minor_share must be a number in [0, 1], got 1.5"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError) as error:
        builtin_pieces(**kwargs)
    assert str(error.value) == message
