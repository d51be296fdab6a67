"""Weights files: our safetensors + model card, the official .pt, and every way a file can be bad,
said in the same sentence by the torch-free loader and the PyTorch one."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from conftest import OFFICIAL_GENERATOR, OFFICIAL_M2SNET
from core.errors import ConductorError
from core.neural.weights import GENERATOR, SYNCNET, load_model, load_weights, save_weights


@pytest.mark.slow
def test_safetensors_round_trip_with_model_card(official_generator, tmp_path, golden):
    path = save_weights(official_generator, tmp_path / "ours.safetensors", {"id": "ours-v1", "licence": "CC-BY-4.0"})
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["model"] == GENERATOR and card["licence"] == "CC-BY-4.0"
    loaded = load_model(path, GENERATOR)
    assert loaded.weights_id == "ours-v1"
    mel, noise = torch.from_numpy(golden["mel"][None]), torch.from_numpy(golden["noise"])
    with torch.inference_mode():
        assert torch.equal(loaded.model(mel, noise), official_generator(mel, noise))


def expect_error(path, kind, *phrases):
    """The one sentence both loaders say: the torch-free one (every runtime reads through it) and
    the PyTorch one (which puts its arrays into the network)."""
    messages = []
    for load in (load_weights, load_model):
        with pytest.raises(ConductorError) as caught:
            load(path, kind)
        messages.append(str(caught.value))
    message = messages[0]
    assert messages[1] == message
    assert "\n" not in message
    for phrase in phrases:
        assert phrase in message, message
    return message


def test_missing_file_and_folder(tmp_path):
    expect_error(tmp_path / "nope.pt", GENERATOR, "does not exist")
    expect_error(tmp_path, GENERATOR, "is a folder")


def test_checkpoint_of_another_model(parity_dir):
    expect_error(OFFICIAL_M2SNET, GENERATOR, "m2snet", "generator")
    expect_error(OFFICIAL_GENERATOR, SYNCNET, "m2sgan-generator")


def test_truncated_checkpoint(parity_dir, tmp_path):
    data = OFFICIAL_GENERATOR.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    message = expect_error(cut, GENERATOR, "truncated or not a PyTorch checkpoint; download it again.")
    assert "Error" not in message  # the sentence, not Python's name for what went wrong
    cut_safe = tmp_path / "cut.safetensors"
    cut_safe.write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{"a":')
    expect_error(cut_safe, GENERATOR, "not a complete safetensors")


class RunsCode:
    def __reduce__(self):
        return (print, ("this checkpoint ran code",))


def test_pickle_that_would_run_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"noise_convTranspose.0.weight": RunsCode()}, path)
    expect_error(path, GENERATOR, "contains code")
    assert "ran code" not in capsys.readouterr().out
    raw_pickle = tmp_path / "evil_plain.pt"
    raw_pickle.write_bytes(pickle.dumps(RunsCode()))
    with pytest.raises(ConductorError):
        load_model(raw_pickle, GENERATOR)
    assert "ran code" not in capsys.readouterr().out


def test_nan_weights_are_named(official_generator, tmp_path):
    state = {k: v.clone() for k, v in official_generator.state_dict().items()}
    state["head.4.bias"][3] = float("nan")
    path = tmp_path / "nan.pt"
    torch.save(state, path)
    expect_error(path, GENERATOR, "NaN", "head.4.bias")


def test_missing_and_unexpected_keys_are_named(official_generator, tmp_path):
    state = dict(official_generator.state_dict())
    del state["head.4.weight"]
    state["extra.layer.weight"] = torch.zeros(1)
    path = tmp_path / "odd.pt"
    torch.save(state, path)
    expect_error(path, GENERATOR, "missing head.4.weight", "unexpected extra.layer.weight")


def test_wrong_shape_is_named(official_generator, tmp_path):
    state = dict(official_generator.state_dict())
    state["head.4.bias"] = torch.zeros(30)
    path = tmp_path / "shape.pt"
    torch.save(state, path)
    expect_error(path, GENERATOR, "head.4.bias", "(30,)")


def test_unrelated_state_dict(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(2)}, path)
    expect_error(path, GENERATOR, "not a VirtualConductor checkpoint")


@pytest.mark.parametrize("seed", range(12))
def test_random_bytes_are_not_a_checkpoint(tmp_path, seed):
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(seed).bytes(4096))
    expect_error(path, GENERATOR, "noise.pt")


def test_a_damaged_model_card_is_one_sentence(official_generator, tmp_path):
    path = save_weights(official_generator, tmp_path / "w.safetensors", {"id": "w"})
    path.with_suffix(".json").write_text("{bad")
    expect_error(path, GENERATOR, "w.json", "not valid JSON")
    path.with_suffix(".json").write_text("[1]")
    expect_error(path, GENERATOR, "w.json", "not a JSON object")
