"""training/scores.py: the beat grid from the score and the MIDI it writes."""

from __future__ import annotations

import numpy as np
import pytest

from training.scores import NoteEvent, midi_file_bytes, variable_length


def test_variable_length_quantities():
    assert variable_length(0) == b"\x00"
    assert variable_length(0x7F) == b"\x7f"
    assert variable_length(0x80) == b"\x81\x00"
    assert variable_length(0x0FFFFFFF) == b"\xff\xff\xff\x7f"


def test_midi_file_has_one_track_with_every_note():
    notes = [NoteEvent(0.0, 0.5, 60, 90, 0, 48), NoteEvent(0.5, 1.0, 64, 90, 1, 0)]
    data = midi_file_bytes(notes)
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk"
    assert data.count(bytes([0x90, 60, 90])) == 1 and data.count(bytes([0x91, 64, 90])) == 1


def test_chorale_beat_grid_with_pickup_and_fermatas():
    music21 = pytest.importorskip("music21")
    from training.scores import ScoreTimeline

    score = music21.corpus.parse("bach/bwv66.6")
    timeline = ScoreTimeline(score, tempo_scale=1.0, default_bpm=100.0, fermata_scale=2.0)
    beats_s, downbeats_s, _ = timeline.beats_and_bars()
    period_s = 60.0 / 96.0  # the chorale's own mark: quarter = 96
    assert beats_s[0] == 0.0 and downbeats_s[0] == pytest.approx(period_s)  # one-beat pickup
    gaps = np.diff(beats_s) / period_s
    assert np.all(np.isclose(gaps, 1.0) | np.isclose(gaps, 2.0))  # fermatas double a beat
    assert np.sum(np.isclose(gaps, 2.0)) >= 3


def test_tempo_curve_speeds_the_beats_and_notes_up_together():
    music21 = pytest.importorskip("music21")
    from training.scores import ScoreTimeline

    score = music21.corpus.parse("mozart/k155/movement1")  # 4/4, no tempo mark: 100 bpm here
    steady = ScoreTimeline(score, tempo_scale=1.0, default_bpm=100.0, fermata_scale=2.0)
    curve = ((0.0, 1.0), (32.0, 1.5))  # an accelerando to 1.5 times the tempo over 8 bars
    faster = ScoreTimeline(score, tempo_scale=1.0, default_bpm=100.0, fermata_scale=2.0, tempo_curve_ql=curve)
    beats_s = faster.beats_and_bars()[0]
    bpm = 60.0 / np.diff(beats_s)
    assert bpm[0] == pytest.approx(100.0 * 1.0, rel=0.01) and faster.first_tempo_bpm == pytest.approx(100.0)
    assert bpm[32] == pytest.approx(100.0 * 1.5, rel=1e-6) == bpm[40]  # beyond the last point: constant
    assert np.all(np.diff(bpm[:31]) >= -1e-9)  # every beat a little faster
    # the notes stand on the same time line as the beats
    assert faster.seconds(32.0) == pytest.approx(beats_s[32]) and faster.seconds(32.0) < steady.seconds(32.0)
    with pytest.raises(ValueError, match="positive"):
        ScoreTimeline(score, tempo_scale=1.0, default_bpm=100.0, fermata_scale=2.0, tempo_curve_ql=((0.0, 0.0),))
