"""ConductorMotion100 loading (checks, memory maps, clips), epoch order, the builder and the config."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import write_tone
from core.errors import ConductorError
from training import config as config_module
from training.data import (
    ClipPairDataset,
    ConductorMotionSplit,
    PairSpec,
    WindowDataset,
    build_dataset,
    epoch_batches,
    rank_chunks,
    write_synthetic_dataset,
)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("toy"), counts={"train": 3, "val": 1}, seconds=(30, 40))


def test_split_is_memory_mapped_and_windowed(toy):
    split = ConductorMotionSplit(toy, "train", window_s=10)
    assert all(isinstance(s.mel, np.memmap) and isinstance(s.motion, np.memmap) for s in split.samples)
    assert len(split) == sum(s.frames30 // 300 for s in split.samples) >= 9
    item = WindowDataset(split)[0]
    assert item["mel"].shape == (900, 128) and item["motion"].shape == (300, 13, 2)
    assert item["mel"].dtype == np.float32


def test_clip_pairs_follow_the_negative_rules(toy):
    split = ConductorMotionSplit(toy, "train", window_s=30)
    pairs = ClipPairDataset(split, PairSpec(clip_s=10, hard_gap_s=10, shift_min_s=0.5, shift_max_s=5))
    for index in range(len(pairs)):
        for kind in range(3):
            rng_key = (index, kind, 7, 0)
            first, second = pairs.draw_starts(np.random.default_rng(list(rng_key)), ClipPairDataset.KINDS[kind])
            gap = abs(second - first)
            assert (gap == 0, gap >= 300, 15 <= gap <= 150)[kind]
            item = pairs[rng_key]
            again = pairs[rng_key]
            assert item["mel1"].shape == (900, 128) and item["motion2"].shape == (300, 13, 2)
            assert all(np.array_equal(item[k], again[k]) for k in item)  # the key decides everything


def write_sample(folder, mel, motion):
    folder.mkdir(parents=True)
    np.save(folder / "mel.npy", mel)
    np.save(folder / "motion.npy", motion)


@pytest.mark.parametrize(
    "mel_shape, motion_shape, fill, message",
    [
        ((900, 64), (300, 13, 2), 0.5, "mel.npy' is shaped"),
        ((900, 128), (300, 17, 2), 0.5, "motion.npy' is shaped"),
        ((900, 128), (600, 13, 2), 0.5, "must cover the same time"),
        ((900, 128), (300, 13, 2), np.nan, "NaN"),
        ((900, 128), (300, 13, 2), 3.0, "outside"),
    ],
)
def test_bad_samples_name_the_file(tmp_path, mel_shape, motion_shape, fill, message):
    write_sample(
        tmp_path / "train" / "bad_one", np.full(mel_shape, 0.5, np.float32), np.full(motion_shape, fill, np.float32)
    )
    with pytest.raises(ConductorError, match=message) as error:
        split = ConductorMotionSplit(tmp_path, "train", window_s=10)
        WindowDataset(split)[0]
    assert "bad_one" in str(error.value)


def test_missing_split_and_short_samples(tmp_path, toy):
    with pytest.raises(ConductorError, match="does not exist"):
        ConductorMotionSplit(tmp_path, "train", window_s=10)
    with pytest.raises(ConductorError, match="is 100 s long"):
        ConductorMotionSplit(toy, "train", window_s=100)


def test_epoch_order_splits_the_same_over_ranks_and_micro_batches():
    batches = epoch_batches(23, 8, seed=1, epoch=3)
    assert len(batches) == 2 and batches == epoch_batches(23, 8, seed=1, epoch=3)
    assert batches != epoch_batches(23, 8, seed=1, epoch=4)
    single = rank_chunks(batches[0], rank=0, world=1, micro_batches=4)
    ranks = [chunk for rank in range(2) for chunk in rank_chunks(batches[0], rank=rank, world=2, micro_batches=2)]
    assert single == ranks and sum(single, []) == batches[0]


def test_builder_writes_the_layout(tmp_path):
    audio = write_tone(tmp_path / "piece.wav", duration_s=25.0)
    motion_60fps = np.random.default_rng(0).uniform(0.2, 0.8, (60 * 25, 13, 2)).astype(np.float32)
    folders = build_dataset([(audio, motion_60fps)], tmp_path / "built", "train", motion_fps=60, sample_s=10)
    assert [f.name for f in folders] == ["00000_0", "00000_1"]
    split = ConductorMotionSplit(tmp_path / "built", "train", window_s=10)
    assert [s.mel.shape for s in split.samples] == [(900, 128)] * 2
    assert [s.motion.shape for s in split.samples] == [(300, 13, 2)] * 2
    np.testing.assert_allclose(split.samples[1].motion[0], motion_60fps[600], atol=1e-6)  # 10 s in, resampled
    with pytest.raises(ConductorError, match="expected \\(frames, 13, 2\\)"):
        build_dataset([(audio, np.zeros((10, 13, 3)))], tmp_path / "built", "val")


def test_config_defaults_are_the_recipe():
    stage1, stage2 = config_module.M2SNetConfig(), config_module.M2SGANConfig()
    assert (
        stage1.lr,
        stage1.batch_size,
        stage1.epochs,
        stage1.clip_s,
        stage1.sample_s,
        stage1.easy_epochs,
        stage1.eval_every_epochs,
    ) == (1e-3, 10, 400, 10, 30, 1, 10)
    assert (
        stage2.lr,
        stage2.batch_size,
        stage2.epochs,
        stage2.sample_s,
        stage2.critic_steps,
        stage2.gp_weight,
        stage2.sync_weight,
        stage2.adversarial_weight,
        stage2.mse_weight,
    ) == (5e-4, 20, 200, 30, 5, 10.0, 0.05, 1.0, 0.0)
    assert stage2.encoder_bn_updates is False


def test_config_options_and_resume_precedence():
    given = config_module.parse(
        config_module.M2SNetConfig, ["--negatives", "super_hard", "--max-steps", "7", "--no-kaiming-init"]
    )
    assert given == {"negatives": "super_hard", "max_steps": 7, "kaiming_init": False}
    saved = {"negatives": "hard", "max_steps": 3, "lr": 0.5}
    config = config_module.build_config(config_module.M2SNetConfig, {"max_steps": 9}, saved)
    assert (config.negatives, config.max_steps, config.lr) == ("hard", 9, 0.5)
    with pytest.raises(SystemExit):
        config_module.parse(config_module.M2SNetConfig, ["--negatives", "medium"])
