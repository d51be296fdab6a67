"""Self-training (issue 24): the tracker's confident beats on an unlabelled recording become
render folders with the unsure stretches left out of the loss, and training mixes them in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core.beats.activations import FRAME_RATE_HZ
from core.beats.track import BeatTrack
from core.errors import ConductorError
from training import beat_pseudo_labels, beats
from training.beat_renders import write_click_renders

from midi_files import write_midi
from test_beat_training import arguments

DEMO = Path(__file__).resolve().parents[2] / "core" / "assets" / "demo_piece.ogg"


def peaked_activation(beats_s: np.ndarray, seconds: float, height: np.ndarray) -> np.ndarray:
    activation = np.full(int(seconds * FRAME_RATE_HZ), 0.01, np.float32)
    activation[np.round(beats_s * FRAME_RATE_HZ).astype(int)] = height
    return activation


def test_a_run_breaks_where_the_beat_is_unsure_or_the_interval_jumps():
    beats_s = np.arange(0.0, 60.0, 0.5)  # 120 a minute
    beats_s[80:] += 0.2  # one interval 40 % long at beat 80
    height = np.full(beats_s.size, 0.6, np.float32)
    height[30:33] = 0.05  # three beats the network barely heard
    track = BeatTrack(beats_s, beats_s[::4], np.arange(beats_s.size) % 4, 4, 120.0)
    runs = beat_pseudo_labels.confident_runs(track, peaked_activation(beats_s, 61.0, height))
    assert runs == [(0, 29), (33, 79), (80, beats_s.size - 1)]
    # a run shorter than SEGMENT_MIN_S (12 s) is no run: 0-9 and 11-29 are 4.5 s and 9 s
    height[10] = 0.0
    runs = beat_pseudo_labels.confident_runs(track, peaked_activation(beats_s, 61.0, height))
    assert runs == [(33, 79), (80, beats_s.size - 1)]


def test_frame_targets_leave_unlabelled_stretches_out_and_the_loss_ignores_them():
    labels = {
        "beats_s": np.array([1.0, 1.5, 2.0]),
        "downbeats_s": np.array([1.0]),
        "divisions_s": np.zeros(0),
        "unlabelled_beat_s": np.array([[0.0, 0.8]]),
        "unlabelled_downbeat_s": np.array([[0.0, 4.0]]),
        "unlabelled_division_s": np.array([[0.0, 4.0]]),
    }
    targets = beats.frame_targets(labels, 0.0, 300)
    edge = int(np.floor(0.8 * FRAME_RATE_HZ))
    assert np.all(targets[: edge + 1, 0] == beats.UNLABELLED) and np.all(targets[edge + 1 :, 0] >= 0)
    assert targets[int(round(1.5 * FRAME_RATE_HZ)), 0] == 1.0
    assert np.all(targets[:, 1:] == beats.UNLABELLED) and not beats.has_sure_bars(labels)
    config = beats.BeatTrackerConfig()
    logits = torch.randn(1, 300, 3)
    changed = logits.clone()
    changed[0, : edge + 1, 0] += 5.0  # unlabelled beat frames
    changed[0, :, 1:] -= 3.0  # every downbeat and division frame
    total, heads = beats.heads_loss(logits, torch.from_numpy(targets)[None], config)
    assert torch.equal(total, beats.heads_loss(changed, torch.from_numpy(targets)[None], config)[0])
    assert heads[1] == heads[2] == 0.0 and heads[0] > 0
    labelled = slice(edge + 1, None)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[0, labelled, 0], torch.from_numpy(targets[labelled, 0])
    )
    assert torch.isclose(total, expected)


def test_midi_beats_are_kept_where_the_tracked_beats_confirm_them():
    midi_beats_s = np.arange(0.0, 60.0, 0.5)
    rng = np.random.default_rng(0)
    tracked_s = np.sort(np.concatenate([midi_beats_s + rng.normal(0, 0.01, 120), [10.27, 30.31]]))
    assert beat_pseudo_labels.aligned_midi_runs(midi_beats_s, tracked_s) == [(0, 119)]
    doubled = np.sort(np.concatenate([tracked_s, midi_beats_s + 0.25]))  # a teacher beating eighths confirms
    assert beat_pseudo_labels.aligned_midi_runs(midi_beats_s, doubled) == [(0, 119)]
    half_lost = np.concatenate([tracked_s[tracked_s < 20], tracked_s[tracked_s >= 40] + 0.2])  # 20-40 s untracked
    runs = beat_pseudo_labels.aligned_midi_runs(midi_beats_s, half_lost)
    assert len(runs) == 1 and runs[0][0] == 0 and 17.0 < midi_beats_s[runs[0][1]] < 20.0  # a window's edge short


def test_a_recording_with_its_own_midi_file_takes_the_midi_bars(tmp_path):
    """Clicks all alike (a few rests), two seconds into the recording; the MIDI file says 3/4: the labels are
    the MIDI's beats where the recording has them, in bars of three, whatever the teacher hears."""
    midi_root, audio_root = tmp_path / "midi", tmp_path / "recordings" / "game"
    midi_root.mkdir()
    audio_root.mkdir(parents=True)
    rests = (7, 23, 24, 50)  # no two shifts of the notes look alike: one alignment fits
    write_midi(
        midi_root / "waltz.mid", bpm_changes=((0, 120.0),), signatures=((0, 3, 4),), quarters=72, silent_quarters=rests
    )
    rate = 22_050
    samples = np.zeros(int(40.0 * rate), np.float32)
    burst = 0.5 * np.sin(2 * np.pi * 660 * np.arange(900) / rate) * np.exp(-np.arange(900) / 250)
    onsets_s = 2.0 + 0.5 * np.arange(72)
    for onset in np.delete(onsets_s, rests):
        samples[int(onset * rate) : int(onset * rate) + burst.size] += burst
    import soundfile

    soundfile.write(str(audio_root / "waltz.wav"), samples, rate)
    built = beat_pseudo_labels.build(str(tmp_path / "recordings"), str(tmp_path / "out"), midi_root=str(midi_root))
    record = built["recordings"][0]
    assert record["labels"].startswith("waltz.mid, aligned") and record["bars_sure_s"] == record["sure_s"] > 25
    folder = tmp_path / "out" / "game__waltz__00"
    labels = beats.load_labels(folder)
    start_s = 0.0  # the first stretch starts with the recording: its first beat is within MARGIN_S of it
    heard_s = labels["beats_s"] + start_s
    assert np.abs(heard_s[:, None] - onsets_s[None]).min(axis=1).max() < 0.02  # on the clicks
    assert set(labels["bar_beats"]) == {3} and np.allclose(np.diff(labels["downbeats_s"]), 1.5, atol=0.01)
    assert np.all((np.round((labels["downbeats_s"] + start_s - 2.0) / 0.5) % 3) == 0)  # the MIDI's bar 1


@pytest.mark.slow
def test_the_demo_recording_is_pseudo_labelled_and_mixed_into_training(tmp_path):
    audio = tmp_path / "recordings" / "some-game-music"
    audio.mkdir(parents=True)
    shutil.copy(DEMO, audio / "theme.ogg")
    shutil.copy(DEMO, audio / "held_work.ogg")  # a held-out work's name: never a source
    (audio / "broken.ogg").write_bytes(b"OggS" + bytes(200))  # skipped, the rest go on
    clicks = write_click_renders(tmp_path / "clicks", counts={"train": 4, "val": 2}, seconds=6.0)
    manifest = {"renders": [{"work": "midi/held_work", "ok": True, "source": {"kind": "midi"}}]}
    (clicks / "test_manifest.json").write_text(json.dumps(manifest))
    built = beat_pseudo_labels.build(str(tmp_path / "recordings"), str(tmp_path / "pseudo"), data=str(clicks))
    by_name = {Path(r["source"]).name: r for r in built["recordings"]}
    assert by_name["held_work.ogg"]["skipped"] and by_name["held_work.ogg"]["segments"] == 0
    assert "could not be decoded" in by_name["broken.ogg"]["skipped"]
    with pytest.raises(ConductorError, match="holds no recordings"):
        beat_pseudo_labels.build(str(tmp_path / "clicks" / "none"), str(tmp_path / "nothing"))
    theme = by_name["theme.ogg"]
    assert (
        theme["segments"] >= 1 and theme["sure_s"] >= 0.4 * theme["duration_s"]
    )  # steady music after its free opening
    folders = sorted(p for p in (tmp_path / "pseudo").iterdir() if p.is_dir())
    assert len(folders) == theme["segments"]
    for folder in folders:
        labels = beats.load_labels(folder)
        duration_s = soundfile_seconds(folder / "audio.flac")
        beats_s = labels["beats_s"]
        assert beats_s[0] >= 0 and beats_s[-1] <= duration_s and np.all(np.diff(beats_s) > 0.2)
        period_s = np.median(np.diff(beats_s))
        (_, before), (after, end) = labels["unlabelled_beat_s"]  # the margins either side
        assert np.isclose(before, max(0.0, beats_s[0] - period_s / 2)) and np.isclose(end, duration_s, atol=1e-3)
        assert np.isclose(after, min(duration_s, beats_s[-1] + period_s / 2), atol=1e-3)
        assert np.allclose(labels["unlabelled_division_s"], [[0.0, duration_s]], atol=1e-3)
        if labels["downbeats_s"].size:  # sure bars: the downbeats are beats, one meter
            assert np.all(np.isin(labels["downbeats_s"], beats_s)) and np.unique(labels["bar_beats"]).size == 1
        else:
            assert np.allclose(labels["unlabelled_downbeat_s"], [[0.0, duration_s]], atol=1e-3)
    # Mixed in: about a quarter of the epoch, a step trains, the card names the sources.
    config = beats.BeatTrackerConfig(pseudo_labels=str(tmp_path / "pseudo"), pseudo_share=0.5)
    assert len(beats.pseudo_folders(config, 4)) == len(folders) * max(1, round(4 / len(folders)))
    mixed = ["--pseudo-labels", str(tmp_path / "pseudo"), "--pseudo-share", "0.5", "--meter-splice", "1.0"]
    result = beats.main(arguments(clicks, tmp_path / "run", 3) + mixed)
    assert len(result["history"]) == 3 and np.all(np.isfinite(result["history"]))
    # and it resumes exactly: one step, stopped, then the rest
    stopped = beats.main(arguments(clicks, tmp_path / "resumed", 3) + mixed + ["--max-minutes", "1e-6"])
    resumed = beats.main(["--resume", "auto", "--out-dir", str(tmp_path / "resumed"), "--max-minutes", "0"])
    assert stopped["history"] + resumed["history"] == result["history"]
    card = json.loads((tmp_path / "run" / "beat_tracker.json").read_text())
    assert card["pseudo_labels"]["sources"] == ["some-game-music"] and card["pseudo_labels"]["hours_sure"] > 0


def soundfile_seconds(path: Path) -> float:
    import soundfile

    info = soundfile.info(str(path))
    return info.frames / info.samplerate
