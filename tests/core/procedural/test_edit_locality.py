"""An edited beat changes the conducting only near it: from three beats before its bar's first
beat (the end of the bar before, whose rebounds lead into it) to two beats into the next bar,
and not one value anywhere else (README, "The beat grid"). Nothing piece-wide is taken from
the beats: a typical note's level comes from the signal, the phrases from the bar numbers, the
cues and nods from the beat period at their own downbeat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO_PIECE

from core.audio.decode import load_audio
from core.motion.keypoints import Motion
from core.beats.grid import save_grid
from core.beats.tracking import track_beats
from core.generate import generate_motion
from core.generate_options import GenerateOptions

MARGIN_S = 0.05  # a frame and a half of the path's smoothing either side
BEATS_BEFORE, BEATS_AFTER = 3, 2


@pytest.fixture(scope="module")
def grid_lines(tmp_path_factory) -> list[str]:
    path = tmp_path_factory.mktemp("grid") / "grid.txt"
    save_grid(track_beats(load_audio(DEMO_PIECE)), path)
    return path.read_text().splitlines()


def motion_on(lines: list[str], path: Path) -> Motion:
    path.write_text("\n".join(lines) + "\n")
    return generate_motion(DEMO_PIECE, GenerateOptions(weights="procedural", beats_path=str(path)))


@pytest.mark.parametrize("label", ["5.1", "5.3", "9.2", "12.4"])
def test_an_edited_beat_changes_the_motion_only_around_its_bar(grid_lines, tmp_path: Path, label: str) -> None:
    times = [float(line.split("\t")[0]) for line in grid_lines]
    labels = [line.split("\t")[-1] for line in grid_lines]
    k = labels.index(label)
    bar = int(label.split(".")[0])
    first, following = labels.index(f"{bar}.1"), labels.index(f"{bar + 1}.1")
    later = times[k] + 0.1  # 0.1 s later, as a marker dragged by three frames
    edited = grid_lines[:k] + [f"{later!r}\t{later!r}\t{label}"] + grid_lines[k + 1 :]
    before = motion_on(grid_lines, tmp_path / "a.txt")
    after = motion_on(edited, tmp_path / "b.txt")
    assert after.lead_in_s == before.lead_in_s  # the first beat is where it was
    changed_s = after.times_s[np.any(after.keypoints != before.keypoints, axis=(1, 2))]
    assert changed_s.size > 0
    start_s = times[first - BEATS_BEFORE] - MARGIN_S
    end_s = times[following + BEATS_AFTER] + MARGIN_S
    assert changed_s[0] >= start_s and changed_s[-1] <= end_s, (changed_s[0], changed_s[-1], start_s, end_s)


def test_moving_the_first_beat_changes_the_lead_in_and_only_the_opening(grid_lines, tmp_path: Path) -> None:
    """The first beat decides how long the conductor prepares before the music; moving it changes
    that lead-in, and the motion from two bars on stays as it was, frame for frame in the music."""
    times = [float(line.split("\t")[0]) for line in grid_lines]
    later_s = times[0] + 0.1  # the demo piece's first beat is at 0 s: dragged 3 frames later
    edited = [f"{later_s!r}\t{later_s!r}\t{grid_lines[0].split(chr(9))[-1]}"] + grid_lines[1:]
    before = motion_on(grid_lines, tmp_path / "a.txt")
    after = motion_on(edited, tmp_path / "b.txt")
    assert after.lead_in_frames == before.lead_in_frames - 3  # less of the preparation before the music
    labels = [line.split("\t")[-1] for line in grid_lines]
    third_bar_s = times[labels.index("3.1")]
    later = before.times_s >= third_bar_s
    np.testing.assert_array_equal(after.keypoints[np.flatnonzero(later) - 3], before.keypoints[later])
