"""The shipped default weights (weights/virtualconductor_default.*): they load as a generator,
carry a complete model card, and give finite motion in the image for the bundled demo piece."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.weights import GENERATOR, default_weights_path, load_model

from conftest import DEMO_PIECE

CARD_FIELDS = {"id", "model", "data", "config", "training", "metrics", "licence", "limits"}


def test_default_weights_are_shipped_with_a_model_card():
    path = default_weights_path()
    assert path.is_file(), f"{path} is missing; the add-on's default falls back to the procedural conductor"
    card = json.loads(path.with_suffix(".json").read_text())
    assert CARD_FIELDS <= set(card), f"model card lacks {sorted(CARD_FIELDS - set(card))}"
    assert card["model"] == GENERATOR and card["licence"]
    assert path.stat().st_size < 4_000_000


def test_default_weights_generate_finite_motion_for_the_demo_piece():
    from core.generate import GenerateOptions, generate_motion

    loaded = load_model(default_weights_path(), GENERATOR)
    assert loaded.weights_id == json.loads(default_weights_path().with_suffix(".json").read_text())["id"]
    motion = generate_motion(DEMO_PIECE, GenerateOptions(weights="default", seed=0, device="cpu"))
    keypoints = motion.keypoints
    assert motion.weights_id == loaded.weights_id
    assert keypoints.shape[1:] == (13, 2) and keypoints.shape[0] == pytest.approx(35 * 30, abs=3)
    assert np.all(np.isfinite(keypoints))
    assert keypoints.min() >= -0.5 and keypoints.max() <= 1.5
    assert keypoints[:, 9:11].std(axis=0).max() > 1e-4  # the wrists move
