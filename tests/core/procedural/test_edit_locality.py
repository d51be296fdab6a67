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


def keypoints_on(lines: list[str], path: Path) -> np.ndarray:
    path.write_text("\n".join(lines) + "\n")
    return generate_motion(DEMO_PIECE, GenerateOptions(weights="procedural", beats_path=str(path))).keypoints


@pytest.mark.parametrize("label", ["5.1", "5.3", "9.2", "12.4"])
def test_an_edited_beat_changes_the_motion_only_around_its_bar(grid_lines, tmp_path: Path, label: str) -> None:
    times = [float(line.split("\t")[0]) for line in grid_lines]
    labels = [line.split("\t")[-1] for line in grid_lines]
    k = labels.index(label)
    bar = int(label.split(".")[0])
    first, following = labels.index(f"{bar}.1"), labels.index(f"{bar + 1}.1")
    later = times[k] + 0.1  # 0.1 s later, as a marker dragged by three frames
    edited = grid_lines[:k] + [f"{later!r}\t{later!r}\t{label}"] + grid_lines[k + 1 :]
    before = keypoints_on(grid_lines, tmp_path / "a.txt")
    after = keypoints_on(edited, tmp_path / "b.txt")
    changed_s = np.flatnonzero(np.any(after != before, axis=(1, 2))) / 30.0
    assert changed_s.size > 0
    start_s = times[first - BEATS_BEFORE] - MARGIN_S
    end_s = times[following + BEATS_AFTER] + MARGIN_S
    assert changed_s[0] >= start_s and changed_s[-1] <= end_s, (changed_s[0], changed_s[-1], start_s, end_s)
