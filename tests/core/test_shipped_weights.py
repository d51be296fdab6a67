"""Weights shipped in weights/: each generator loads with a complete model card and gives
finite, moving motion for the demo piece; "default" means the default file when it is shipped
and the procedural conductor otherwise."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import DEMO_PIECE, PROJECT_ROOT
from core.beats.learned_tracker import BEAT_TRACKER_WEIGHTS_NAME
from core.neural.weights import GENERATOR, load_model
from core.installed_weights import default_weights_path


pytestmark = pytest.mark.slow  # every test here renders, trains or runs whole pieces
CARD_FIELDS = {"id", "model", "data", "config", "training", "metrics", "licence", "limits"}
# The beat tracker's weights are not a generator: tests/test_beat_tracker.py runs them.
SHIPPED = sorted(p for p in (PROJECT_ROOT / "weights").glob("*.safetensors") if p.stem != BEAT_TRACKER_WEIGHTS_NAME)


def test_weights_are_shipped():
    assert SHIPPED, "weights/ holds no .safetensors file"


def test_the_beat_tracker_has_a_complete_model_card():
    card = json.loads((PROJECT_ROOT / "weights" / f"{BEAT_TRACKER_WEIGHTS_NAME}.json").read_text())
    assert CARD_FIELDS <= set(card), f"model card lacks {sorted(CARD_FIELDS - set(card))}"
    assert card["id"] == BEAT_TRACKER_WEIGHTS_NAME and card["model"] == "beat-tracker-tcn"
    assert (
        "GPL-3.0" in card["licence"] and card["data"]["held_out_soundfont"] not in card["data"]["training_soundfonts"]
    )


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_weights_have_a_model_card(path):
    card = json.loads(path.with_suffix(".json").read_text())
    assert CARD_FIELDS <= set(card), f"model card lacks {sorted(CARD_FIELDS - set(card))}"
    assert card["model"] == GENERATOR and card["licence"]
    assert path.stat().st_size < 4_000_000


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_weights_generate_finite_motion_for_the_demo_piece(path):
    from core.generate import generate_motion
    from core.generate_options import GenerateOptions

    loaded = load_model(path, GENERATOR)
    assert loaded.weights_id == json.loads(path.with_suffix(".json").read_text())["id"]
    motion = generate_motion(DEMO_PIECE, GenerateOptions(weights=str(path), seed=0, device="cpu"))
    keypoints = motion.keypoints
    assert motion.weights_id == loaded.weights_id
    assert keypoints.shape[1:] == (13, 2) and keypoints.shape[0] == pytest.approx(35 * 30, abs=3)
    assert np.all(np.isfinite(keypoints))
    assert keypoints.min() >= -0.5 and keypoints.max() <= 1.5
    assert keypoints[:, 9:11].std(axis=0).max() > 1e-4  # the wrists move


def test_default_means_the_default_file_or_the_procedural_conductor():
    from core.generate_options import PROCEDURAL, resolve_weights

    expected = str(default_weights_path()) if default_weights_path().is_file() else PROCEDURAL
    assert resolve_weights("default") == expected


def test_neural_names_the_shipped_experimental_weights(tmp_path):
    import subprocess
    import sys

    from core.generate_options import resolve_weights
    from core.motion.keypoints import Motion
    from core.installed_weights import neural_weights_path

    assert neural_weights_path() in SHIPPED and resolve_weights("neural") == str(neural_weights_path())
    card = json.loads(neural_weights_path().with_suffix(".json").read_text())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "core",
            "generate",
            str(DEMO_PIECE),
            "-o",
            str(tmp_path / "m.npz"),
            "--weights",
            "neural",
            "--device",
            "cpu",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert Motion.load(tmp_path / "m.npz").weights_id == card["id"]
