"""The official metrics against the golden values, and the added metrics on known cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import OFFICIAL_M2SNET_TEST

from training import metrics


@pytest.fixture(scope="module")
def test_encoder(parity_dir):
    from core.neural.weights import SYNCNET, load_model

    return load_model(OFFICIAL_M2SNET_TEST, SYNCNET).model.motion_encoder


def cases(golden):
    expected = {"motion2": {"rde": float(golden["rde"]), "sce": float(golden["sce"]), "mpe": float(golden["mpe"])}}
    expected.update(json.loads(str(golden["metric_cases"])))
    return expected


@pytest.mark.slow
def test_official_metrics_match_goldens(golden, test_encoder):
    for fake_name, expected in cases(golden).items():
        real, fake = golden["motion"], golden[fake_name]
        got = {
            "rde": metrics.rde(real, fake),
            "sce": metrics.sce(real, fake),
            "mpe": metrics.mpe(real, fake, test_encoder),
        }
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, rel=1e-4), (fake_name, name, got[name], value)


def test_mpe_features_are_the_golden_ones(golden, test_encoder):
    features = metrics.motion_features(test_encoder, golden["motion"])
    # features up to 3.5 in size: equal to 1e-6 with oneDNN's AVX2 kernels, 4e-6 with its AVX-512 ones
    np.testing.assert_allclose(features.numpy(), golden["motion_encoder_features"], rtol=0, atol=1e-5)


def test_sdp_is_a_ratio_of_spreads(golden):
    real = golden["motion"]
    mean = real.mean(axis=1, keepdims=True)
    assert metrics.sdp(real, real) == pytest.approx(1.0)
    assert metrics.sdp(real, mean + 2 * (real - mean)) == pytest.approx(2.0, rel=1e-6)
    assert metrics.sdp(real, golden["plain"]) == pytest.approx(0.0, abs=1e-6)


def test_beat_alignment_in_seconds():
    beats = np.arange(0.5, 10, 0.5)
    assert metrics.beat_alignment(beats, beats) == 1.0
    shifted = metrics.beat_alignment(beats, beats + 0.1, sigma_s=0.1)
    assert shifted == pytest.approx(np.exp(-0.5))
    assert np.isnan(metrics.beat_alignment(beats, np.array([])))


def test_motion_beats_are_wrist_stops():
    t = np.arange(300) / 30
    motion = np.full((300, 13, 2), 0.5, np.float32)
    motion[:, 9, 1] += 0.1 * np.cos(2 * np.pi * t)  # turns (stops) at every 0.5 s
    motion[:, 10, 1] += 0.1 * np.cos(2 * np.pi * t)
    beats = metrics.motion_beats(motion)
    np.testing.assert_allclose(np.diff(beats), 0.5, atol=1 / 30)
    assert np.min(np.abs(beats[:, None] - np.arange(0, 10.5, 0.5)[None]), axis=1).max() < 1.5 / 30


def test_ictus_is_the_bottom_of_a_bounce_where_speed_minima_are_not():
    # A hand that bounces off every beat (0.6 s apart) at speed: the lowest points are the beats,
    # the speed minima sit at the tops of the rebounds, half a beat later.
    t = np.arange(360) / 30
    motion = np.full((360, 13, 2), 0.5, np.float32)
    motion[:, 10, 1] = 0.64 - 0.12 * np.abs(np.sin(np.pi * t / 0.6))
    motion[:, 9, 1] = motion[:, 10, 1]
    beats = np.arange(0.6, 11.5, 0.6)
    ictus = metrics.ictus_beats(motion)
    np.testing.assert_allclose(ictus, beats, atol=1.01 / 30)
    assert metrics.beat_alignment(beats, ictus) > 0.95
    assert metrics.beat_alignment(beats, metrics.motion_beats(motion)) < 0.05
    # small wobbles are not beats; the other hand is not read
    motion[:, 10, 1] += 0.004 * np.sin(2 * np.pi * 7 * t)
    motion[:, 9, 1] = 0.5 + 0.1 * np.sin(2 * np.pi * 3 * t)
    np.testing.assert_allclose(metrics.ictus_beats(motion), beats, atol=1.01 / 30)


@pytest.mark.slow
def test_music_beats_find_the_clicks(tmp_path):
    from training.data import write_synthetic_dataset

    root = write_synthetic_dataset(tmp_path, counts={"train": 1}, seconds=(20, 20), seed=3)
    mel = np.load(next((root / "train").iterdir()) / "mel.npy")
    beats = metrics.music_beats(mel)
    onsets = np.flatnonzero(np.diff(mel.mean(axis=1)) > 0.15) / 90
    assert len(beats) > 5
    assert np.median(np.min(np.abs(beats[:, None] - onsets[None]), axis=1)) < 0.05


def test_frechet_distance_and_diversity():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 4))
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert metrics.frechet_distance(a, a + 1.0) == pytest.approx(4.0, rel=1e-6)
    assert metrics.diversity(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
    pooled = metrics.pooled_features(torch.ones(2, 64, 90))
    assert pooled.shape == (6, 64)
