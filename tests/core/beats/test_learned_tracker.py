"""The shipped learned tracker (weights/): it loads without torch and tracks the demo piece; a
pianissimo passage is beaten through; a slow render is tracked at its level; track_beats'
interface for both trackers; bad input gives a valid grid and holds still."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import DEMO_PIECE, PROJECT_ROOT
from core.audio.decode import load_audio
from core.beats.track import BeatTrack, beat_coverage
from core.beats.tracking import track_beats
from core.errors import ConductorError
from training.beat_evaluation import f_measure

SAMPLE_RATE_HZ = 22_050
# The demo's score (core/assets/README.md): 4/4, quarters at 120 from 0.0 s, the music ends at 34 s.
DEMO_BEATS_S = np.arange(0.0, 34.0, 0.5)


@pytest.fixture(scope="module")
def demo():
    return load_audio(DEMO_PIECE)


def test_the_shipped_weights_track_the_demo_piece(demo):
    from core.installed_weights import beat_tracker_weights_path
    from core.beats.learned_tracker import learned_network

    network, weights_id, _ = learned_network(required=True)
    assert beat_tracker_weights_path().stat().st_size < 4 * 2**20  # a few MB at most
    track = track_beats(demo, SAMPLE_RATE_HZ, tracker="learned")
    assert track.tracker == weights_id
    assert f_measure(DEMO_BEATS_S, track.beats_s) >= 0.95
    assert f_measure(DEMO_BEATS_S[::4], track.downbeats_s) >= 0.9
    assert track.meter == 4 and track.notated_meter == 4 and track.level == "beat"
    assert track.tempo_bpm == pytest.approx(120.0, rel=0.02)
    assert track.bar_number.shape == track.bar_position.shape == track.beats_s.shape
    assert track.bar_meters.shape == track.downbeats_s.shape and set(track.bar_meters.tolist()) == {4}


def test_a_pianissimo_passage_is_beaten_through(demo):
    # The demo with 12 s in its middle 30 dB down (1-s ramps either side): the orchestra plays on,
    # so the conductor beats on, at the same tempo, and the coverage note stays away.
    gain_db = np.zeros(demo.size)
    start, end, ramp = 11 * SAMPLE_RATE_HZ, 23 * SAMPLE_RATE_HZ, SAMPLE_RATE_HZ
    gain_db[start:end] = -30.0
    gain_db[start : start + ramp] = np.linspace(0.0, -30.0, ramp)
    gain_db[end - ramp : end] = np.linspace(-30.0, 0.0, ramp)
    quiet = (demo * 10 ** (gain_db / 20)).astype(np.float32)
    track = track_beats(quiet, SAMPLE_RATE_HZ, tracker="learned")
    inside = (DEMO_BEATS_S > 12.0) & (DEMO_BEATS_S < 22.0)
    tracked_inside = track.beats_s[(track.beats_s > 11.8) & (track.beats_s < 22.2)]
    assert f_measure(DEMO_BEATS_S[inside], tracked_inside) >= 0.9
    assert f_measure(DEMO_BEATS_S, track.beats_s) >= 0.95
    assert beat_coverage(track.beats_s, quiet, SAMPLE_RATE_HZ).share >= 0.97


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="the fluidsynth program is not installed")
def test_a_slow_render_is_tracked_at_its_level():
    # A chorale (BWV 269, strings) at 40 quarters a minute: beaten at 40, not at its eighths.
    pytest.importorskip("music21")
    from training.scores import render_score

    rendered = render_score("bach/bwv269", program=48, default_bpm=40.0, excerpt_s=36.0, sample_rate_hz=SAMPLE_RATE_HZ)
    assert 60.0 / np.median(np.diff(rendered.beats_s)) == pytest.approx(40.0, rel=0.01)
    track = track_beats(rendered.samples, SAMPLE_RATE_HZ, tracker="learned")
    assert track.level == "beat" and track.tempo_bpm == pytest.approx(40.0, rel=0.04)
    assert f_measure(rendered.beats_s, track.beats_s) >= 0.9


def test_the_learned_tracker_needs_no_torch():
    script = (
        "import sys; from core.audio.decode import load_audio; from core.beats.tracking import track_beats; "
        f"t = track_beats(load_audio({str(DEMO_PIECE)!r}), tracker='learned'); "
        "assert t.beats_s.size > 40, t; assert 'torch' not in sys.modules, 'torch was imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("tracker", ["learned", "dsp"])
def test_bad_input_gives_a_valid_grid(tracker, demo):
    rng = np.random.default_rng(1)
    click = np.zeros(SAMPLE_RATE_HZ * 8, np.float32)
    click[SAMPLE_RATE_HZ * 4 : SAMPLE_RATE_HZ * 4 + 100] = 0.9
    cases = {
        "silence": np.zeros(SAMPLE_RATE_HZ * 20, np.float32),
        "click": click,
        "noise": (0.2 * rng.standard_normal(SAMPLE_RATE_HZ * 20)).astype(np.float32),
        "one second": demo[:SAMPLE_RATE_HZ],
        "a few samples": demo[:300],
    }
    for name, samples in cases.items():
        track = track_beats(samples, SAMPLE_RATE_HZ, tracker=tracker)
        assert isinstance(track, BeatTrack)
        assert np.all(np.isfinite(track.beats_s)) and np.all(np.diff(track.beats_s) > 0), name
        assert np.isfinite(track.tempo_bpm) and track.bar_position.shape == track.beats_s.shape, name
        assert track.tempo_curve_bpm.shape == track.beats_s.shape and np.all(np.isfinite(track.tempo_curve_bpm)), name
        if name in ("silence", "noise", "a few samples"):
            assert track.beats_s.size <= 2, (name, track.beats_s)
    # The same tracker hears the beats of music: the empty grids above are about the input.
    assert f_measure(DEMO_BEATS_S, track_beats(demo, SAMPLE_RATE_HZ, tracker=tracker).beats_s) >= 0.9


def test_a_given_meter_and_another_rate(demo):
    track = track_beats(demo, SAMPLE_RATE_HZ, tracker="learned", meter=3)
    assert track.meter == 3 and set(track.bar_position.tolist()) <= {0, 1, 2}
    import soxr

    faster_rate = soxr.resample(demo, SAMPLE_RATE_HZ, 44_100).astype(np.float32)
    again = track_beats(faster_rate, 44_100, tracker="learned")
    assert f_measure(DEMO_BEATS_S, again.beats_s) >= 0.95
    with pytest.raises(ConductorError, match="Unknown beat tracker"):
        track_beats(demo, SAMPLE_RATE_HZ, tracker="madmom")


def test_a_beat_track_built_by_hand_fills_the_new_fields():
    beats_s = np.arange(8) * 0.5
    track = BeatTrack(beats_s, beats_s[::4], np.arange(8) % 4, 4, 120.0)
    assert track.bar_number.tolist() == [0, 0, 0, 0, 1, 1, 1, 1] and track.bar_meters.tolist() == [4, 4]
    assert np.allclose(track.tempo_curve_bpm, 120.0) and np.array_equal(track.notated_beats_s, beats_s)
    assert track.notated_meter == 4 and track.level == "beat" and track.tracker == "dsp"
