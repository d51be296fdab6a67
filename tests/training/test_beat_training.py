"""training/beats.py on click-track renders written here: a few CPU steps with augmentation,
exact resume, weights that core loads without torch, and the frame targets."""

from __future__ import annotations

import json

import soundfile

import numpy as np
import pytest
import torch

from core.beats.activations import FRAME_RATE_HZ, load_beat_network
from training import beats
from training.beat_renders import write_click_renders


@pytest.fixture(scope="module")
def clicks(tmp_path_factory):
    return write_click_renders(tmp_path_factory.mktemp("clicks"), counts={"train": 4, "val": 2}, seconds=6.0)


def arguments(data, out_dir, steps):
    return [
        "--data",
        str(data),
        "--out-dir",
        str(out_dir),
        "--sample-s",
        "4",
        "--batch-size",
        "2",
        "--max-steps",
        str(steps),
        "--eval-every",
        "1000",
        "--val-limit",
        "2",
        "--val-pieces",
        "1",
        "--workers",
        "0",
        "--no-progress",
        "--seed",
        "3",
        "--channels",
        "8",
        "--frontend-channels",
        "4",
        "--blocks",
        "3",
        "--warmup-steps",
        "2",
        "--lr",
        "0.01",
    ]


@pytest.mark.slow
def test_training_learns_and_writes_weights_core_can_load(clicks, tmp_path):
    result = beats.main(arguments(clicks, tmp_path, 8) + ["--log-every", "1"])
    history = result["history"]
    assert len(history) == 8 and np.mean(history[-2:]) < np.mean(history[:2])
    assert {"val/loss", "val/beat_f", "val/downbeat_f", "val/meter_right"} <= set(result["metrics"])
    network, card = load_beat_network(tmp_path / "beat_tracker.safetensors")
    assert card["model"] == beats.KIND and card["config"]["blocks"] == 3 and card["steps"] == 8
    assert "GPL-3.0-or-later" in card["licence"]
    checkpoint = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert checkpoint["step"] == 8
    assert all(np.array_equal(network.tensors[k], v.numpy()) for k, v in checkpoint["model"].items())
    assert list((tmp_path / "tb").glob("events.*"))


@pytest.mark.slow
def test_resume_is_exact(clicks, tmp_path):
    straight = beats.main(arguments(clicks, tmp_path / "a", 5) + ["--no-tensorboard"])
    beats.main(arguments(clicks, tmp_path / "b", 3) + ["--no-tensorboard"])  # 2 steps an epoch: stops mid-epoch 2
    resumed = beats.main(["--resume", "auto", "--out-dir", str(tmp_path / "b"), "--max-steps", "5"])
    assert resumed["history"] == straight["history"][3:]
    a = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    card = json.loads((tmp_path / "b" / "beat_tracker.json").read_text())
    assert card["steps"] == 5


def test_crops_are_the_same_whenever_read_and_augmentation_changes_them(clicks):
    folders = beats.render_folders(clicks, "train")
    plain = beats.RenderCrops(folders, sample_s=4, augment=False, seed=1)
    coloured = beats.RenderCrops(folders, sample_s=4, augment=True, seed=1)
    first, again = coloured[(2, 5)], coloured[(2, 5)]
    assert np.array_equal(first["features"], again["features"])
    assert first["features"].shape == (1 + 4 * 22050 // 256, 64) and first["targets"].shape == (345, 3)
    assert np.array_equal(plain[(2, 5)]["targets"], first["targets"])  # same crop, same labels
    assert not np.allclose(plain[(2, 5)]["features"], first["features"])
    assert np.all(np.isfinite(first["features"]))


def test_frame_targets_mark_each_label_and_its_neighbours():
    labels = {"beats_s": np.array([0.5, 1.0]), "downbeats_s": np.array([0.5]), "divisions_s": np.array([0.75])}
    targets = beats.frame_targets(labels, 0.25, 200)
    frame = int(round(0.25 * FRAME_RATE_HZ))
    assert targets[frame, 0] == 1.0 and targets[frame - 1, 0] == targets[frame + 1, 0] == 0.5
    assert targets[:, 0].sum() == 4.0 and targets[:, 1].sum() == 2.0 and targets[:, 2].sum() == 2.0


def test_a_beatless_stretch_has_no_targets_and_the_rest_keeps_its_labels(clicks):
    folders = beats.render_folders(clicks, "train")
    plain = beats.RenderCrops(folders, sample_s=4, augment=False, seed=1)[(1, 0)]["targets"]
    quiet = beats.RenderCrops(folders, sample_s=4, augment=True, seed=1, beatless=1.0)[(1, 0)]["targets"]
    zeroed = np.flatnonzero(plain.any(axis=1) & ~quiet.any(axis=1))
    assert zeroed.size > 0, "no labelled frame was silenced"
    kept = quiet.any(axis=1)
    assert np.array_equal(quiet[kept], plain[kept])  # outside the stretch the labels are untouched
    # The stretch is one run of at least 2 s: no target frame between its first and last silenced one.
    assert not quiet[zeroed[0] : zeroed[-1] + 1].any()
    assert (zeroed[-1] - zeroed[0]) / FRAME_RATE_HZ >= 2.0 - 1.0  # labelled frames lie within a beat of its ends


def test_training_with_every_lever_runs_a_few_steps_and_resumes_exactly(clicks, tmp_path):
    # Level ramps, meters re-cut and beatless stretches on every crop, a network grown by a block
    # from finished weights; stopped by its time limit after one step, then resumed.
    beats.main(arguments(clicks, tmp_path / "start", 1) + ["--no-tensorboard"])
    levers = [
        "--level-ramps", "1.0", "--meter-splice", "1.0", "--beatless", "0.5", "--blocks", "4",
        "--init-weights", str(tmp_path / "start" / "beat_tracker.safetensors"), "--no-tensorboard",
    ]  # fmt: skip
    straight = beats.main(arguments(clicks, tmp_path / "a", 4) + levers)
    stopped = beats.main(arguments(clicks, tmp_path / "b", 4) + levers + ["--max-minutes", "1e-6"])
    assert len(stopped["history"]) == 1 and torch.load(tmp_path / "b" / "ckpt.pt", weights_only=True)["step"] == 1
    resumed = beats.main(["--resume", "auto", "--out-dir", str(tmp_path / "b"), "--max-minutes", "0"])
    assert stopped["history"] + resumed["history"] == straight["history"]
    a = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_a_grown_network_starts_as_the_weights_it_grew_from(clicks, tmp_path):
    from training.beat_model import BeatTCN

    beats.main(arguments(clicks, tmp_path, 1) + ["--no-tensorboard"])
    small, _ = load_beat_network(tmp_path / "beat_tracker.safetensors")
    grown = BeatTCN(channels=8, frontend_channels=4, blocks=5, dropout=0.0)
    beats.initialise_from(grown, str(tmp_path / "beat_tracker.safetensors"))
    features = np.random.default_rng(0).uniform(0, 3, (300, 64)).astype(np.float32)
    with torch.no_grad():
        logits = grown.eval()(torch.from_numpy(features)[None])[0].numpy()
    np.testing.assert_allclose(logits, small.logits(features), atol=1e-4)
    with pytest.raises(beats.ConductorError, match="layout"):
        beats.initialise_from(
            BeatTCN(channels=8, frontend_channels=4, blocks=2), str(tmp_path / "beat_tracker.safetensors")
        )


def test_a_render_recut_into_another_meter_keeps_its_labels_on_its_beats(clicks):
    from training.beat_augment import level_ramp, splice_meter

    folder = next(f for f in beats.render_folders(clicks, "train") if beats.load_labels(f)["bar_beats"][0] == 4)
    stereo, _ = soundfile.read(folder / "audio.flac", dtype="float32", always_2d=True)
    labels = beats.load_labels(folder)
    audio, recut = splice_meter(stereo, labels, np.random.default_rng(2))
    meter = int(recut["bar_beats"][0])
    assert meter in (2, 3) and set(recut["bar_beats"].tolist()) <= {meter, 4}
    assert np.array_equal(recut["downbeats_s"], recut["beats_s"][recut["beat_in_bar"] == 0])
    # Each new beat is a click in the audio, and a downbeat's click is the high, loud one.
    for time_s, place in zip(recut["beats_s"], recut["beat_in_bar"]):
        start = int(round(time_s * 22050))
        click = audio[start : start + 300, 0]
        assert np.abs(click).max() > 0.3
        assert (np.abs(click).max() > 0.7) == (place == 0)
    ramped = level_ramp(stereo[:, 0].copy(), np.random.default_rng(0))
    ratio = np.abs(ramped) / np.maximum(np.abs(stereo[:, 0]), 1e-9)
    assert ratio.min() < 10 ** (-9 / 20) and ratio.max() <= 1.0 + 1e-6


def test_the_decoder_calibration_is_fitted_on_val_renders_and_travels_in_the_card(clicks, tmp_path):
    import shutil

    from core.beats.decoding import DecoderSettings
    from core.installed_weights import beat_tracker_weights_path
    from training import beat_calibration

    shipped = beat_tracker_weights_path()
    weights = tmp_path / shipped.name
    shutil.copy(shipped, weights)
    shutil.copy(shipped.with_suffix(".json"), weights.with_suffix(".json"))
    fitted = beat_calibration.main(["--data", str(clicks), "--weights", str(weights), "--jobs", "2", "--write"])

    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["decoder"] == json.loads(json.dumps(fitted))
    settings = DecoderSettings.from_card(card)
    assert settings.downbeat_calibration == tuple(fitted["downbeat_calibration"])
    assert dict(settings.meter_prior) == {int(m): v for m, v in fitted["meter_prior"].items()}
    assert all(value in beat_calibration.PRIOR_GRID for value in fitted["meter_prior"].values())
