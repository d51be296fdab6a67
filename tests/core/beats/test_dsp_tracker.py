"""core/beats/dsp_tracker.py: the tempo level (octave) of the signal-processing beat tracker and tempo changes
(tracker "dsp"; the learned one is measured in bench/), on rendered scores, a click track and onset curves built here. The rendered tests skip when the fluidsynth
program or music21 is missing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.beats.tracking import track_beats
from training.metrics import beat_f_measure

SAMPLE_RATE_HZ = 22_050


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="the fluidsynth program is not installed")
def test_hemiola_is_not_taken_for_the_beat():
    # Beethoven op. 18/1 i (3/4, 106 bpm at x0.8): its motif repeats every 1.5 beats and the
    # second beat of most bars is a tied note, so the old tracker beat it at 70 bpm (F 0.44).
    pytest.importorskip("music21")
    from training.scores import render_score

    rendered = render_score(
        "beethoven/opus18no1/movement1",
        tempo_scale=0.8,
        excerpt_s=30.0,
        default_bpm=100.0,
        sample_rate_hz=SAMPLE_RATE_HZ,
    )
    track = track_beats(rendered.samples, SAMPLE_RATE_HZ, tracker="dsp")
    true_bpm = 60.0 / float(np.median(np.diff(rendered.beats_s)))
    assert track.tempo_bpm == pytest.approx(true_bpm, rel=0.05)
    assert beat_f_measure(rendered.beats_s, track.beats_s) > 0.9  # the tied second beats are kept
    assert track.meter == 3
    assert beat_f_measure(rendered.downbeats_s, track.downbeats_s) > 0.8


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="the fluidsynth program is not installed")
@pytest.mark.parametrize(
    "corpus_path, program, curve",
    [
        # accelerando 81 -> 114 bpm: the tracker that fixed one tempo level for the whole piece beat
        # it at double tempo (165-185 bpm, F 0.51)
        ("mozart/k155/movement1", None, ((0.0, 0.8), (60.0, 1.25))),
        # a chorale pressing on to 1.3 times its tempo, then slowing to 0.8 (F 0.84 before)
        ("bach/bwv66.6", 0, ((0.0, 1.0), (16.0, 1.3), (32.0, 0.8))),
    ],
)
@pytest.mark.slow
def test_gradual_tempo_changes_are_followed(corpus_path, program, curve):
    pytest.importorskip("music21")
    from training.scores import render_score

    rendered = render_score(
        corpus_path,
        program=program,
        tempo_curve_ql=curve,
        excerpt_s=30.0,
        default_bpm=100.0,
        sample_rate_hz=SAMPLE_RATE_HZ,
    )
    track = track_beats(rendered.samples, SAMPLE_RATE_HZ, tracker="dsp")
    assert beat_f_measure(rendered.beats_s, track.beats_s) > 0.9
    for true_beats, tracked_beats in (
        (rendered.beats_s[:5], track.beats_s[:5]),
        (rendered.beats_s[-5:], track.beats_s[-5:]),
    ):
        assert 60.0 / np.diff(tracked_beats).mean() == pytest.approx(60.0 / np.diff(true_beats).mean(), rel=0.08)


def test_a_click_track_slowing_from_150_to_75_bpm_is_followed():
    # Halving the tempo over 40 s: no window's tempo is an octave from its neighbours', so the
    # tracker must follow the whole way down rather than stay at one tempo level.
    sample_rate_hz, duration_s = SAMPLE_RATE_HZ, 40.0
    bpm_at = lambda t: 150.0 * 0.5 ** (t / duration_s)  # noqa: E731
    beats_s = [0.5]
    while beats_s[-1] < duration_s - 0.5:
        beats_s.append(beats_s[-1] + 60.0 / bpm_at(beats_s[-1]))
    beats = np.array(beats_s[:-1])
    samples = np.zeros(int(duration_s * sample_rate_hz), dtype=np.float32)
    click_t = np.arange(int(0.06 * sample_rate_hz)) / sample_rate_hz
    for i, beat in enumerate(beats):
        pitch_hz = 440.0 if i % 4 == 0 else 660.0
        click = 0.5 * np.sin(2 * np.pi * pitch_hz * click_t) * np.exp(-click_t / 0.015)
        first = int(beat * sample_rate_hz)
        samples[first : first + click.size] += click[: samples.size - first].astype(np.float32)
    track = track_beats(samples, sample_rate_hz, tracker="dsp")
    assert beat_f_measure(beats, track.beats_s) > 0.9
    assert 60.0 / np.diff(track.beats_s[-5:]).mean() == pytest.approx(60.0 / np.diff(beats[-5:]).mean(), rel=0.08)


def onset_curve(pattern: list[float], tatum_frames: int, bars: int = 40) -> np.ndarray:
    """An onset curve with one impulse per tatum, of the pattern's height (a bar per pattern)."""
    curve = np.zeros(bars * len(pattern) * tatum_frames)
    for i in range(bars * len(pattern)):
        curve[i * tatum_frames] = pattern[i % len(pattern)]
    return curve


def test_a_six_eight_bar_is_told_from_its_beat_and_from_a_three_four_bar():
    from core.beats.dsp_tracker import compound_bar, unbiased_autocorrelation

    tatum = 8  # onset frames per quaver
    six_eight = unbiased_autocorrelation(onset_curve([1.0, 0.2, 0.2, 0.7, 0.2, 0.2], tatum))
    assert compound_bar(six_eight, 6 * tatum)  # the bar: its halves are the beats
    assert not compound_bar(six_eight, 3 * tatum)  # the dotted crotchet itself
    three_four = unbiased_autocorrelation(onset_curve([1.0, 0.2, 0.6, 0.2, 0.6, 0.2], tatum))
    assert not compound_bar(three_four, 6 * tatum)
    two_four = unbiased_autocorrelation(onset_curve([1.0, 0.1, 0.4, 0.1, 0.7, 0.1, 0.4, 0.1], tatum))
    assert not compound_bar(two_four, 8 * tatum)  # quavers and semiquavers: a simple beat


def test_a_beat_in_three_quavers_is_compound_and_a_beat_in_two_is_not():
    from core.beats.dsp_tracker import compound_beat, unbiased_autocorrelation

    tatum = 8
    six_eight = unbiased_autocorrelation(onset_curve([1.0, 0.3, 0.3, 0.8, 0.3, 0.3], tatum))
    assert compound_beat(six_eight, 3 * tatum)  # the dotted crotchet divides in three
    two_four = unbiased_autocorrelation(onset_curve([1.0, 0.3, 0.8, 0.3], tatum))
    assert not compound_beat(two_four, 2 * tatum)  # the crotchet divides in two


def test_compound_beats_prefer_two_in_a_bar_to_four():
    from core.beats.dsp_tracker import infer_bars

    # Accents that tell nothing: the prior decides, four simple beats (4/4) or two compound ones (6/8).
    even = np.ones(48)
    assert infer_bars(even, 100.0)[0] == 4
    assert infer_bars(even, 100.0, compound=True)[0] == 2
