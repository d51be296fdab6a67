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


@pytest.mark.parametrize("depth_db", [30.0, 40.0])
def test_a_pianissimo_passage_is_beaten_through(demo, depth_db):
    # The demo with 12 s in its middle 30 (40) dB down (1-s ramps either side): the orchestra plays
    # on, so the conductor beats on, at the same tempo, and the coverage note stays away.
    gain_db = np.zeros(demo.size)
    start, end, ramp = 11 * SAMPLE_RATE_HZ, 23 * SAMPLE_RATE_HZ, SAMPLE_RATE_HZ
    gain_db[start:end] = -depth_db
    gain_db[start : start + ramp] = np.linspace(0.0, -depth_db, ramp)
    gain_db[end - ramp : end] = np.linspace(-depth_db, 0.0, ramp)
    quiet = (demo * 10 ** (gain_db / 20)).astype(np.float32)
    track = track_beats(quiet, SAMPLE_RATE_HZ, tracker="learned")
    inside = (DEMO_BEATS_S > 12.0) & (DEMO_BEATS_S < 22.0)
    tracked_inside = track.beats_s[(track.beats_s > 11.8) & (track.beats_s < 22.2)]
    assert f_measure(DEMO_BEATS_S[inside], tracked_inside) >= 0.9
    assert f_measure(DEMO_BEATS_S, track.beats_s) >= 0.95
    assert beat_coverage(track.beats_s, quiet, SAMPLE_RATE_HZ).share >= 0.97


# Chorales at 40-50 quarters a minute (work, General MIDI program, quarters a minute): strings,
# organ and choir aahs, most with eighth-note motion that a tracker may take for the beat.
SLOW_CHORALES = [
    ("bach/bwv269", 48, 40.0),
    ("bach/bwv270", 48, 40.0),
    ("bach/bwv271", 19, 40.0),
    ("bach/bwv10.7", 52, 40.0),
    ("bach/bwv267", 48, 42.0),
    ("bach/bwv26.6", 48, 45.0),
    ("bach/bwv268", 48, 46.0),
    ("bach/bwv269", 19, 50.0),
]


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="the fluidsynth program is not installed")
def test_slow_renders_are_tracked_at_their_level_or_subdivided_never_lost():
    # Issue 24: an adagio is beaten at its tempo, or subdivided, never lost. The shipped tracker
    # beats half of these at their level (the rest in eighths; beat_tracker_cpu_v1 five of eight).
    pytest.importorskip("music21")
    from training.beat_evaluation import any_level_f_measure
    from training.scores import render_score

    at_level = 0
    for work, program, bpm in SLOW_CHORALES:
        rendered = render_score(work, program=program, default_bpm=bpm, excerpt_s=36.0, sample_rate_hz=SAMPLE_RATE_HZ)
        assert 60.0 / np.median(np.diff(rendered.beats_s)) == pytest.approx(bpm, rel=0.01)
        track = track_beats(rendered.samples, SAMPLE_RATE_HZ, tracker="learned")
        assert any_level_f_measure(rendered.beats_s, track.beats_s) >= 0.85, work  # never lost
        level = track.tempo_bpm / bpm
        assert level == pytest.approx(1.0, rel=0.04) or level == pytest.approx(2.0, rel=0.04), work
        at_level += level < 1.5 and f_measure(rendered.beats_s, track.beats_s) >= 0.85
    assert at_level >= len(SLOW_CHORALES) // 2


def test_the_network_hears_a_quiet_passage_levelled_and_silence_as_it_is():
    from core.beats.learned_tracker import LEVELLING_MAX_GAIN_DB, levelling_gain_db

    rng = np.random.default_rng(0)
    seconds = np.arange(60 * SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ
    music = (0.3 * np.sin(2 * np.pi * 220.0 * seconds) * (1.0 + rng.uniform(-0.1, 0.1, seconds.size))).astype(
        np.float32
    )
    music[(seconds >= 20.0) & (seconds < 30.0)] *= 10 ** (-25 / 20)  # a pianissimo 25 dB down
    music[(seconds >= 40.0) & (seconds < 50.0)] *= 10 ** (-70 / 20)  # all but silent: left alone
    frames = 1 + music.size // 256
    gain_db = levelling_gain_db(music, frames)
    frame_s = np.arange(frames) * 256 / SAMPLE_RATE_HZ
    assert gain_db.shape == (frames,) and gain_db.min() >= 0.0 and gain_db.max() <= LEVELLING_MAX_GAIN_DB
    assert np.all(gain_db[(frame_s > 2.0) & (frame_s < 18.0)] < 0.1)  # at the loud level: as it is
    assert np.all(np.abs(gain_db[(frame_s > 22.0) & (frame_s < 28.0)] - 25.0) < 0.5)
    assert np.all(gain_db[(frame_s > 42.0) & (frame_s < 48.0)] == 0.0)  # below the floor


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


def test_block_loudness_reads_nan_and_inf_as_silence_and_hours_a_chunk_at_a_time():
    from core.beats.track import COVERAGE_BLOCK_S, block_power, sounding_blocks

    block = int(round(COVERAGE_BLOCK_S * SAMPLE_RATE_HZ))
    seconds = np.arange(20 * SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * seconds)).astype(np.float32)
    power = block_power(tone, SAMPLE_RATE_HZ)
    assert power.shape == (tone.size // block,) and np.allclose(power, 0.125, rtol=1e-3)
    broken = tone.copy()
    broken[3 * block : 3 * block + block // 2] = np.nan  # half a block of NaN, one inf
    broken[7 * block + 5] = np.inf
    read = block_power(broken, SAMPLE_RATE_HZ)
    assert np.all(np.isfinite(read)) and read[3] == pytest.approx(0.0625, rel=1e-2) and read[7] < 0.125
    assert sounding_blocks(broken, SAMPLE_RATE_HZ).all()
    # More blocks than one chunk holds: the chunks join exactly.
    long = np.tile(tone, 12)
    assert np.allclose(block_power(long, SAMPLE_RATE_HZ), 0.125, rtol=1e-3)
