"""Both training stages on a tiny synthetic dataset: a few CPU steps, falling loss, exact resume,
weights that core loads, and the evaluation command. Clips are shortened through options; the
recipe values are the defaults (see test_training_data)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import OFFICIAL_GENERATOR, OFFICIAL_M2SNET, OFFICIAL_M2SNET_TEST
from core.neural.weights import GENERATOR, SYNCNET, load_model
from training import evaluate, m2sgan, m2snet
from training.data import write_synthetic_dataset

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:nperseg")]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_synthetic_dataset(
        tmp_path_factory.mktemp("toy"), counts={"train": 3, "val": 1, "test": 1}, seconds=(30, 36)
    )


def stage1_args(toy, out_dir, steps, batch=4):
    return [
        "--data",
        str(toy),
        "--out-dir",
        str(out_dir),
        "--sample-s",
        "2",
        "--clip-s",
        "1",
        "--batch-size",
        str(batch),
        "--negatives",
        "super_hard",
        "--shift-max-s",
        "0.5",
        "--hard-gap-s",
        "1",
        "--max-steps",
        str(steps),
        "--val-limit",
        "2",
        "--eval-every",
        "1000",
        "--no-progress",
        "--seed",
        "5",
    ]


def stage2_args(toy, out_dir, steps):
    return [
        "--data",
        str(toy),
        "--out-dir",
        str(out_dir),
        "--sample-s",
        "6",
        "--batch-size",
        "2",
        "--critic-steps",
        "2",
        "--max-steps",
        str(steps),
        "--val-limit",
        "1",
        "--eval-every",
        "1000",
        "--no-progress",
        "--seed",
        "5",
        "--m2snet",
        str(OFFICIAL_M2SNET),
    ]


def same_weights(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_pair_scorer_is_syncnet(parity_dir, golden):
    net = load_model(OFFICIAL_M2SNET, SYNCNET).model
    mel = torch.from_numpy(golden["mel"][None, :900])
    motion = torch.from_numpy(golden["motion"][:, :300])
    with torch.no_grad():
        probs = m2snet.PairScorer(net)(mel, motion, mel, motion)
        torch.testing.assert_close(probs[0], net(mel, motion)[..., 0], rtol=1e-5, atol=1e-5)


def test_stage1_learns_and_writes_weights(toy, tmp_path):
    result = m2snet.main(stage1_args(toy, tmp_path, 8) + ["--log-every", "1", "--negatives", "easy"])
    history = result["history"]
    assert len(history) == 8 and np.mean(history[-2:]) < 0.92 * np.mean(history[:2])  # 4 ln 2 = 2.77 is chance
    assert {"val/acc_easy", "val/acc_hard", "val/acc_super_hard"} <= set(result["metrics"])
    loaded = load_model(tmp_path / "m2snet.safetensors", SYNCNET)
    card = json.loads((tmp_path / "m2snet.json").read_text())
    assert card["config"]["negatives"] == "easy" and card["model"] == SYNCNET
    assert list((tmp_path / "tb").glob("events.*"))
    checkpoint = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert checkpoint["step"] == 8 and checkpoint["config"]["clip_s"] == 1
    assert same_weights(checkpoint["model"], loaded.model.state_dict())


def test_stage1_resume_is_exact(toy, tmp_path):
    straight = m2snet.main(stage1_args(toy, tmp_path / "a", 3, batch=2) + ["--no-tensorboard", "--easy-epochs", "0"])
    m2snet.main(stage1_args(toy, tmp_path / "b", 2, batch=2) + ["--no-tensorboard", "--easy-epochs", "0"])
    resumed = m2snet.main(["--resume", "auto", "--out-dir", str(tmp_path / "b"), "--max-steps", "3"])
    assert resumed["history"] == straight["history"][2:]  # the identical next-step loss
    a = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=True)
    assert same_weights(a["model"], b["model"])
    assert {**a["config"], "out_dir": "", "resume": ""} == {**b["config"], "out_dir": "", "resume": ""}
    # resuming a finished run changes nothing: the card keeps its figures
    card = json.loads((tmp_path / "b" / "m2snet.json").read_text())
    again = m2snet.main(["--resume", "auto", "--out-dir", str(tmp_path / "b"), "--max-steps", "3"])
    assert (
        again["history"] == []
        and json.loads((tmp_path / "b" / "m2snet.json").read_text())["metrics"] == card["metrics"]
    )
    assert card["metrics"]


def test_stage2_runs_resumes_and_saves_project_weights(toy, tmp_path):
    straight = m2sgan.main(
        stage2_args(toy, tmp_path / "a", 3) + ["--no-tensorboard", "--m2snet-test", str(OFFICIAL_M2SNET_TEST)]
    )
    assert {"val/mpe", "val/rde", "val/sce", "val/sdp"} <= set(straight["metrics"])
    m2sgan.main(stage2_args(toy, tmp_path / "b", 2))
    resumed = m2sgan.main(["--resume", "auto", "--out-dir", str(tmp_path / "b"), "--max-steps", "3"])
    assert resumed["history"] == straight["history"][2:]
    a = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=True)
    assert same_weights(a["model"], b["model"]) and same_weights(a["critic"], b["critic"])

    generator = load_model(tmp_path / "a" / "m2sgan_generator.safetensors", GENERATOR).model
    sync_net = load_model(OFFICIAL_M2SNET, SYNCNET).model
    # transferred, frozen and (by default) in eval mode: the encoder, statistics included, is M2S-Net's
    assert same_weights(generator.music_encoder.state_dict(), sync_net.music_encoder.state_dict())
    card = json.loads((tmp_path / "a" / "m2sgan_generator.json").read_text())
    assert card["model"] == GENERATOR and card["config"]["sync_weight"] == 0.05 and "val/mpe" in card["metrics"]


def test_stage2_generator_learns_a_reconstruction_toy(toy, tmp_path):
    result = m2sgan.main(
        stage2_args(toy, tmp_path, 5)
        + [
            "--critic-steps",
            "1",
            "--adversarial-weight",
            "0",
            "--mse-weight",
            "10",
            "--sync-weight",
            "0",
            "--no-tensorboard",
        ]
    )
    losses = [entry["generator"] for entry in result["history"]]
    assert losses[-1] < 0.5 * losses[0]


def test_stage2_trains_the_music_encoder_only_when_asked(toy, tmp_path):
    m2sgan.main(
        stage2_args(toy, tmp_path, 2)
        + ["--critic-steps", "1", "--mse-weight", "10", "--no-tensorboard", "--train-music-encoder"]
    )
    generator = load_model(tmp_path / "m2sgan_generator.safetensors", GENERATOR).model
    transferred = load_model(OFFICIAL_M2SNET, SYNCNET).model.music_encoder.state_dict()
    trained = generator.music_encoder.state_dict()
    changed = [k for k in transferred if not torch.equal(transferred[k], trained[k])]
    assert any(k.endswith("weight") for k in changed)  # the weights learned ...
    assert any(k.endswith("running_mean") for k in changed)  # ... and batch norm followed the batches


def test_stage2_warm_starts_the_whole_generator_from_weights(toy, tmp_path):
    official = load_model(OFFICIAL_GENERATOR, GENERATOR).model
    common = ["--critic-steps", "1", "--lr", "0", "--no-tensorboard", "--train-music-encoder"]
    m2sgan.main(stage2_args(toy, tmp_path / "warm", 1) + common + ["--init-generator", str(OFFICIAL_GENERATOR)])
    m2sgan.main(stage2_args(toy, tmp_path / "cold", 1) + common)
    warm = load_model(tmp_path / "warm" / "m2sgan_generator.safetensors", GENERATOR)
    cold = load_model(tmp_path / "cold" / "m2sgan_generator.safetensors", GENERATOR).model
    # with a zero learning rate every parameter is still the one it started from
    assert same_weights(dict(warm.model.named_parameters()), dict(official.named_parameters()))
    assert not same_weights(dict(cold.named_parameters()), dict(official.named_parameters()))
    assert warm.card["music_encoder_from"] == str(OFFICIAL_GENERATOR)


def test_evaluate_prints_metrics_beside_published(toy, capsys):
    results = evaluate.main(
        [
            "--weights",
            str(OFFICIAL_GENERATOR),
            "--data",
            str(toy),
            "--split",
            "test",
            "--window-s",
            "6",
            "--limit",
            "3",
            "--m2snet-test",
            str(OFFICIAL_M2SNET_TEST),
        ]
    )
    printed = capsys.readouterr().out
    assert "0.76339" in printed and "BAS music->motion" in printed and "sigma = 0.1 s" in printed
    assert all(np.isfinite(results[name]) for name in ("mpe", "rde", "sce", "sdp", "FD", "diversity"))


def test_bad_options_end_with_one_sentence(tmp_path):
    import subprocess
    import sys

    from conftest import PROJECT_ROOT

    missing = subprocess.run(
        [sys.executable, "-m", "training.m2snet", "--data", str(tmp_path / "none")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 1 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr
    uneven = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.m2snet",
            "--data",
            str(tmp_path / "none"),
            "--batch-size",
            "4",
            "--micro-batches",
            "3",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert uneven.returncode == 1 and "does not split into 3 micro-batches" in uneven.stderr
