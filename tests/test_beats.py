"""core/beats.py: the tempo level (octave) of the beat tracker, on a rendered score and on onset
curves built here. The rendered test skips when the fluidsynth program or music21 is missing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.beats import track_beats
from training.metrics import beat_f_measure

SAMPLE_RATE_HZ = 22_050


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="the fluidsynth program is not installed")
def test_hemiola_is_not_taken_for_the_beat():
    # Beethoven op. 18/1 i (3/4, 106 bpm at x0.8): its motif repeats every 1.5 beats and the
    # second beat of most bars is a tied note, so the old tracker beat it at 70 bpm (F 0.44).
    pytest.importorskip("music21")
    from training.scores import render_score

    rendered = render_score("beethoven/opus18no1/movement1", tempo_scale=0.8, excerpt_s=30.0,
                            default_bpm=100.0, sample_rate_hz=SAMPLE_RATE_HZ)
    track = track_beats(rendered.samples, SAMPLE_RATE_HZ)
    true_bpm = 60.0 / float(np.median(np.diff(rendered.beats_s)))
    assert track.tempo_bpm == pytest.approx(true_bpm, rel=0.05)
    assert beat_f_measure(rendered.beats_s, track.beats_s) > 0.9  # the tied second beats are kept
    assert track.meter == 3
    assert beat_f_measure(rendered.downbeats_s, track.downbeats_s) > 0.8


def onset_curve(pattern: list[float], tatum_frames: int, bars: int = 40) -> np.ndarray:
    """An onset curve with one impulse per tatum, of the pattern's height (a bar per pattern)."""
    curve = np.zeros(bars * len(pattern) * tatum_frames)
    for i in range(bars * len(pattern)):
        curve[i * tatum_frames] = pattern[i % len(pattern)]
    return curve


def test_a_six_eight_bar_is_told_from_its_beat_and_from_a_three_four_bar():
    from core.beats import compound_bar, unbiased_autocorrelation

    tatum = 8  # onset frames per quaver
    six_eight = unbiased_autocorrelation(onset_curve([1.0, 0.2, 0.2, 0.7, 0.2, 0.2], tatum))
    assert compound_bar(six_eight, 6 * tatum)  # the bar: its halves are the beats
    assert not compound_bar(six_eight, 3 * tatum)  # the dotted crotchet itself
    three_four = unbiased_autocorrelation(onset_curve([1.0, 0.2, 0.6, 0.2, 0.6, 0.2], tatum))
    assert not compound_bar(three_four, 6 * tatum)
    two_four = unbiased_autocorrelation(onset_curve([1.0, 0.1, 0.4, 0.1, 0.7, 0.1, 0.4, 0.1], tatum))
    assert not compound_bar(two_four, 8 * tatum)  # quavers and semiquavers: a simple beat
