"""The learned beat tracker's network: the numpy inference of core equals the torch module of
training on real audio (the demo piece), whole and in chunks; weights load without torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import DEMO_PIECE, PROJECT_ROOT
from core.beats import activations as beat_activations
from core.audio.decode import load_audio
from core.beats.activations import BeatNetwork, load_beat_network, spectrogram_features
from core.errors import ConductorError
from training.beat_model import BeatTCN


@pytest.fixture(scope="module")
def demo_features():
    return spectrogram_features(load_audio(DEMO_PIECE))


def torch_activations(net: BeatTCN, features: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(net.eval()(torch.from_numpy(features)[None]))[0].numpy()


def random_network(seed: int, **arguments) -> BeatTCN:
    torch.manual_seed(seed)
    net = BeatTCN(**arguments)
    with torch.no_grad():  # larger than the default init, so that every layer changes the output
        for parameter in net.parameters():
            parameter.mul_(1.5)
    return net


@pytest.mark.parametrize("arguments", [{}, {"channels": 12, "frontend_channels": 8, "blocks": 5}])
def test_numpy_inference_equals_torch(demo_features, arguments, monkeypatch):
    net = random_network(3, **arguments)
    reference = torch_activations(net, demo_features)
    ours = BeatNetwork({k: v.numpy() for k, v in net.state_dict().items()})
    whole = ours.activations(demo_features)
    assert whole.shape == (demo_features.shape[0], 3) and whole.dtype == np.float32
    assert np.abs(whole - reference).max() < 1e-5
    assert reference.std() > 0.05  # the outputs vary: the comparison means something
    # Chunks shorter than the receptive field either side, and front-end pieces of a few frames.
    monkeypatch.setattr(beat_activations, "CHUNK_FRAMES", 700)
    monkeypatch.setattr(beat_activations, "FRONTEND_CHUNK_FRAMES", 37)
    assert np.abs(ours.activations(demo_features) - reference).max() < 1e-5


def test_features_are_log_mel_at_86_frames_a_second(demo_features):
    samples = load_audio(DEMO_PIECE)
    assert demo_features.shape == (1 + samples.size // 256, 64)
    assert demo_features.dtype == np.float32 and demo_features.min() >= 0.0
    silence = spectrogram_features(np.zeros(22050, np.float32))
    assert np.all(silence == 0.0)
    with pytest.raises(ConductorError, match="22050 Hz"):
        spectrogram_features(samples, 44100)


def test_weights_round_trip_through_safetensors_without_torch(tmp_path, demo_features):
    from core.neural.weights import save_weights

    net = random_network(4)
    save_weights(net, tmp_path / "tracker.safetensors", {"id": "test-tracker", "model": "beat-tracker-tcn"})
    loaded, card = load_beat_network(tmp_path / "tracker.safetensors")
    assert card["id"] == "test-tracker"
    assert np.abs(loaded.activations(demo_features[:500]) - torch_activations(net, demo_features[:500])).max() < 1e-5
    script = (
        "import sys; from core.beats.activations import load_beat_network; "
        f"load_beat_network({str(tmp_path / 'tracker.safetensors')!r}); assert 'torch' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_unusable_weights_say_so(tmp_path):
    with pytest.raises(ConductorError, match="do not exist"):
        load_beat_network(tmp_path / "missing.safetensors")
    (tmp_path / "broken.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ConductorError, match="not usable"):
        load_beat_network(tmp_path / "broken.safetensors")


def test_the_signal_is_processed_in_stretches_that_equal_one_pass(monkeypatch):
    from core.beats import learned_tracker

    net = random_network(5)
    ours = BeatNetwork({k: v.numpy() for k, v in net.state_dict().items()})
    samples = load_audio(DEMO_PIECE)[: 22050 * 20]
    samples[22050 * 8 : 22050 * 14] *= 0.03  # a quiet stretch, so the levelling gain varies
    gain_db = learned_tracker.levelling_gain_db(samples, 1 + samples.size // 256)
    assert gain_db.max() > 20.0
    whole = ours.activations(spectrogram_features(samples, gain_db=gain_db))
    monkeypatch.setattr(learned_tracker, "SIGNAL_CHUNK_FRAMES", 300)  # shorter than the margins
    stretched = learned_tracker.activations_of_signal(ours, samples)
    assert stretched.shape == whole.shape
    assert np.abs(stretched - whole).max() < 1e-5
