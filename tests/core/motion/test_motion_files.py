"""The Motion object: files, metadata, resampling."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from core.errors import ConductorError
from core.motion.keypoints import Motion


def sample_motion(frames: int = 90) -> Motion:
    t = np.arange(frames) / 30.0
    keypoints = np.zeros((frames, 13, 2), np.float32) + 0.5
    keypoints[:, 10, 1] += 0.2 * np.sin(2 * np.pi * t)  # right wrist bobbing once a second
    return Motion(
        keypoints,
        fps=30.0,
        source_audio="piece.flac",
        audio_sha256="ab" * 32,
        seed=7,
        weights_id="w1",
        extra={"variation": 0.5},
    )


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_save_load_round_trip(tmp_path, suffix):
    motion = sample_motion()
    motion.save(tmp_path / f"m{suffix}")
    back = Motion.load(tmp_path / f"m{suffix}")
    assert np.allclose(back.keypoints, motion.keypoints, atol=1e-6)
    assert (back.fps, back.seed, back.weights_id, back.source_audio) == (30.0, 7, "w1", "piece.flac")
    assert back.extra == {"variation": 0.5}


def test_npz_layout_is_plain(tmp_path):
    sample_motion().save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        assert archive["keypoints"].shape == (90, 13, 2)
        assert float(archive["fps"]) == 30.0
        assert json.loads(str(archive["metadata_json"]))["joint_names"][10] == "right_wrist"


def test_csv_has_a_row_per_frame(tmp_path):
    sample_motion().save(tmp_path / "m.csv")
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert lines[0].startswith("time_s,nose_x,nose_y")
    assert len(lines) == 91 and len(lines[1].split(",")) == 27


@pytest.mark.parametrize("fps", [30.0, 24.0, 29.97, 60.0])
def test_a_csv_it_wrote_reads_back_with_its_frame_rate(tmp_path, fps):
    """generate writes .csv, so preview and plot read it: the keypoints to the file's 6
    decimals and the frame rate from the time column (the metadata is not in a CSV)."""
    motion = sample_motion().resampled(fps)
    motion.save(tmp_path / "m.csv")
    back = Motion.load(tmp_path / "m.csv")
    assert back.fps == fps and back.frame_count == motion.frame_count
    assert np.abs(back.keypoints - motion.keypoints).max() < 1e-6  # 6 decimals, then float32


def test_a_csv_of_other_columns_is_one_sentence(tmp_path):
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ConductorError) as caught:
        Motion.load(tmp_path / "other.csv")
    assert str(caught.value) == (
        "'other.csv' is not a motion file; give a .npz, .json or .csv written by 'python -m core generate'."
    )


@pytest.mark.parametrize("fps, frames", [(24, 72), (25, 75), (29.97, 90), (50, 150), (60, 180)])
def test_resampling(fps, frames):
    motion = sample_motion().resampled(fps)
    assert motion.frame_count == frames and motion.fps == fps
    t = np.arange(frames) / fps
    expected = 0.5 + 0.2 * np.sin(2 * np.pi * np.minimum(t, 89 / 30))
    assert np.abs(motion.keypoints[:, 10, 1] - expected).max() < 0.01


def test_bad_shapes_and_paths(tmp_path):
    with pytest.raises(ConductorError, match="shape"):
        Motion(np.zeros((10, 12, 2)))
    with pytest.raises(ConductorError, match=".npz, .json or .csv"):
        sample_motion().save(tmp_path / "m.txt")
    with pytest.raises(ConductorError, match="does not exist"):
        sample_motion().save(tmp_path / "no" / "m.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ConductorError, match="not a motion file"):
        Motion.load(tmp_path / "broken.npz")


def test_unwritable_folder_leaves_nothing(tmp_path):
    if os.geteuid() == 0:  # root writes through folder permissions; sysfs refuses even root
        folder = Path("/sys")
    else:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
    before = sorted(p.name for p in folder.iterdir())
    try:
        with pytest.raises(ConductorError, match="writable"):
            sample_motion().save(folder / "m.npz")
        assert sorted(p.name for p in folder.iterdir()) == before
    finally:
        if folder != Path("/sys"):
            folder.chmod(0o700)


def test_a_motion_needs_frames(tmp_path):
    with pytest.raises(ConductorError, match="no frames"):
        Motion(np.zeros((0, 13, 2)))
    np.savez(tmp_path / "empty.npz", keypoints=np.zeros((0, 13, 2), np.float32), fps=30.0)
    with pytest.raises(ConductorError, match="no frames"):
        Motion.load(tmp_path / "empty.npz")


def with_hands(motion: Motion) -> Motion:
    """``motion`` with hand channels: each hand's flex, turn, curl and point moving over time."""
    t = np.arange(motion.frame_count) / motion.fps
    hands = np.stack([np.sin(t + k)[:, None] * np.array([0.3, 1.0, 0.5, 0.5]) for k in (0.0, 1.0)], axis=1)
    return Motion(motion.keypoints, fps=motion.fps, extra=motion.extra, hands=hands + np.array([0, 1.5, 0.5, 0.5]))


@pytest.mark.parametrize("suffix", [".npz", ".json", ".csv"])
def test_hand_channels_are_saved_and_loaded_in_every_format(tmp_path, suffix):
    motion = with_hands(sample_motion())
    motion.save(tmp_path / f"m{suffix}")
    back = Motion.load(tmp_path / f"m{suffix}")
    assert back.hands is not None and back.hands.shape == (90, 2, 4) and back.hands.dtype == np.float32
    assert np.allclose(back.hands, motion.hands, atol=1e-6)
    assert np.allclose(back.keypoints, motion.keypoints, atol=1e-6)


def test_a_motion_without_hands_stays_without_them(tmp_path):
    for suffix in (".npz", ".json", ".csv"):
        sample_motion().save(tmp_path / f"m{suffix}")
        assert Motion.load(tmp_path / f"m{suffix}").hands is None
    metadata, data = sample_motion().to_bytes()
    assert Motion.from_bytes(metadata, data).hands is None and len(data) == 90 * 13 * 2 * 4


def test_hand_channels_travel_in_the_bytes_kept_in_a_blend_and_resample_with_the_keypoints():
    motion = with_hands(sample_motion())
    back = Motion.from_bytes(*motion.to_bytes())
    assert np.array_equal(back.hands, motion.hands) and np.array_equal(back.keypoints, motion.keypoints)
    slower = motion.resampled(24.0)
    assert slower.hands.shape == (slower.frame_count, 2, 4)
    assert np.allclose(slower.hands[12], (motion.hands[15]), atol=1e-6)  # 0.5 s in both


def test_hand_channels_of_the_wrong_shape_are_one_sentence():
    with pytest.raises(ConductorError, match="Motion hands must be finite with shape"):
        Motion(np.zeros((10, 13, 2)) + 0.5, hands=np.zeros((9, 2, 4)))
    with pytest.raises(ConductorError, match="leave them out to derive them"):
        Motion(np.zeros((10, 13, 2)) + 0.5, hands=np.full((10, 2, 4), np.nan))


@pytest.mark.parametrize("suffix", [".npz", ".json", ".csv"])
def test_a_lead_in_before_the_music_is_kept_in_every_format(tmp_path, suffix):
    keypoints = np.random.default_rng(4).uniform(0.2, 0.8, (90, 13, 2)).astype(np.float32)
    motion = Motion(keypoints, lead_in_s=0.5)  # 15 frames before the music
    assert motion.lead_in_frames == 15 and motion.times_s[15] == 0.0 and motion.times_s[0] == -0.5
    assert list(motion.frames_at([-0.5, 0.0, 1.0, 99.0])) == [0, 15, 45, 89]
    loaded = Motion.load(motion.save(tmp_path / f"m{suffix}"))
    assert loaded.lead_in_s == pytest.approx(0.5) and np.allclose(loaded.keypoints, keypoints, atol=1e-6)
    assert Motion.from_bytes(*motion.to_bytes()).lead_in_s == 0.5
    if suffix == ".csv":  # the time column is the music's time: negative in the lead-in
        assert (tmp_path / "m.csv").read_text().splitlines()[1].startswith("-0.500000,")
    assert np.array_equal(motion.without_lead_in().keypoints, keypoints[15:])


@pytest.mark.parametrize("fps", [24.0, 25.0, 29.97, 60.0])
def test_resampling_keeps_the_music_on_a_frame(fps):
    """At any rate the music's first frame stays one frame, the lead-in a whole number of frames
    before it, and each frame shows the pose of its time in the music."""
    t = np.arange(120) / 30.0 - 0.6  # the music's time of each frame
    keypoints = np.zeros((120, 13, 2), np.float32)
    keypoints[:, :, 0] = (0.5 + 0.01 * t)[:, None]  # x tells the time
    resampled = Motion(keypoints, lead_in_s=0.6).resampled(fps)
    assert resampled.lead_in_frames == round(0.6 * fps)
    inside = (resampled.times_s >= -0.6) & (resampled.times_s <= t[-1])
    assert np.allclose(resampled.keypoints[inside, 0, 0], 0.5 + 0.01 * resampled.times_s[inside], atol=1e-6)
    assert resampled.frame_count == resampled.lead_in_frames + round(3.4 * fps)


def test_a_lead_in_longer_than_the_motion_is_one_sentence():
    with pytest.raises(ConductorError, match="lead-in"):
        Motion(np.zeros((10, 13, 2), np.float32), lead_in_s=1.0)
