"""training/build_dataset.py: a tiny dataset of three chorales in the ConductorMotion100 layout,
split by piece, that training/data.py's loader accepts."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from training.build_dataset import cut_points, score_track

PIECES = ["bach/bwv66.6", "bach/bwv269", "bach/bwv410"]


def test_cut_points_keep_whole_minutes_and_a_long_remainder():
    assert cut_points(1800 * 2 + 900) == [(0, 1800), (1800, 3600), (3600, 4500)]
    assert cut_points(1800 + 899) == [(0, 1800)]  # a remainder under 30 s is dropped
    assert cut_points(1000) == [(0, 1000)]  # a 33-s piece is one sample
    assert cut_points(800) == []


def test_score_track_counts_bar_positions_from_the_downbeats():
    beats = np.arange(10) * 0.5
    track = score_track(beats, beats[1::3], 3)  # a one-beat pickup in 3/4
    assert track.meter == 3
    assert track.bar_position.tolist() == [2, 0, 1, 2, 0, 1, 2, 0, 1, 2]
    assert np.allclose(track.downbeats_s, beats[1::3]) and track.tempo_bpm == pytest.approx(120.0)
    five = score_track(beats, beats[::5], 5)  # no 5-beat pattern: beaten in 4, restarting each bar
    assert five.meter == 4 and five.bar_position.tolist() == [0, 1, 2, 3, 0, 0, 1, 2, 3, 0]


def test_a_rubato_share_changes_only_the_tempo_curves():
    from training.build_dataset import RUBATO_RANGE, plan_jobs

    candidates = {"chorale": [f"bach/bwv{n}" for n in range(300, 340)], "quartet": ["mozart/k155/movement1"]}
    plan = lambda share: plan_jobs(candidates, seed=4, takes=1, max_piece_s=60.0, beats="score", rubato=share)  # noqa: E731
    steady, all_rubato, half = plan(0.0), plan(1.0), plan(0.5)
    assert all(job.tempo_curve_ql == () for job in steady)
    strip = lambda jobs: [dataclasses.replace(job, tempo_curve_ql=()) for job in jobs]  # noqa: E731
    assert strip(all_rubato) == steady == strip(half)  # pieces, tempi, programs and seeds unchanged
    assert 8 < sum(bool(job.tempo_curve_ql) for job in half) < 33
    for job in all_rubato:
        offsets, factors = np.array(job.tempo_curve_ql).T
        assert offsets[0] == 0.0 and factors[0] == 1.0 and np.all(np.diff(offsets) >= 8.0)
        assert RUBATO_RANGE[0] <= factors.min() and factors.max() <= RUBATO_RANGE[1] and np.ptp(factors) > 0.05


@pytest.fixture(scope="module")
def renderer() -> None:
    """Skips where scores cannot be rendered: music21, fluidsynth or the soundfont missing."""
    pytest.importorskip("music21")
    from training.scores import SOUNDFONT_PATHS

    if shutil.which("fluidsynth") is None or not any(Path(p).is_file() for p in SOUNDFONT_PATHS):
        pytest.skip("fluidsynth or the FluidR3_GM soundfont is missing (apt-get install fluidsynth fluid-soundfont-gm)")


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory, renderer) -> Path:
    from training.build_dataset import build

    root = tmp_path_factory.mktemp("vc_tiny") / "data"
    build(root, hours=10.0, seed=3, jobs=1, max_piece_s=35.0, pieces=PIECES, log=lambda message: None)
    return root


@pytest.mark.slow
def test_layout_shapes_and_ranges(tiny_dataset: Path):
    for split in ("train", "val", "test"):
        folders = sorted((tiny_dataset / split).iterdir())
        assert folders, f"{split} is empty"
        for folder in folders:
            mel, motion = np.load(folder / "mel.npy"), np.load(folder / "motion.npy")
            assert mel.dtype == np.float32 and motion.dtype == np.float32
            assert mel.ndim == 2 and mel.shape[1] == 128 and motion.shape[1:] == (13, 2)
            assert mel.shape[0] == 3 * motion.shape[0] and motion.shape[0] >= 30 * 30
            assert 0.0 <= mel.min() and mel.max() <= 1.0 and 0.0 <= motion.min() and motion.max() <= 1.0
            assert (folder / "audio.flac").is_file() == (split != "train")


def test_splits_are_by_piece_and_listed_in_the_manifest(tiny_dataset: Path):
    manifest = json.loads((tiny_dataset / "manifest.json").read_text())
    pieces = manifest["pieces"]
    assert sorted(p["corpus_path"] for p in pieces) == sorted(PIECES)
    assert sorted(p["split"] for p in pieces) == ["test", "train", "val"]  # one piece per split
    for piece in pieces:
        assert {"tempo_bpm", "meter", "program", "tempo_scale", "takes", "samples"} <= set(piece)
        for sample in piece["samples"]:
            assert (tiny_dataset / piece["split"] / sample["name"] / "motion.npy").is_file()
    on_disk = {split: {f.name for f in (tiny_dataset / split).iterdir()} for split in ("train", "val", "test")}
    assert not (on_disk["train"] & on_disk["val"]) and not (on_disk["train"] & on_disk["test"])
    assert manifest["hours"] == pytest.approx(sum(s["hours"] for s in manifest["splits"].values()), abs=1e-3)


def test_samples_carry_the_score_beats_and_add_beats_rewrites_them(tiny_dataset: Path, tmp_path: Path):
    from training.build_dataset import add_beats

    manifest = json.loads((tiny_dataset / "manifest.json").read_text())
    piece = next(p for p in manifest["pieces"] if p["split"] == "test")
    folder = tiny_dataset / "test" / piece["samples"][0]["name"]
    beats, downbeats = np.load(folder / "beats.npy"), np.load(folder / "downbeats.npy")
    seconds = piece["samples"][0]["seconds"]
    assert beats.size >= 8 and 0.0 <= beats.min() and beats.max() < seconds and np.all(np.diff(beats) > 0.2)
    assert np.isin(np.round(downbeats, 6), np.round(beats, 6)).all() and downbeats.size < beats.size
    # the beats are the music's: the motion's target bounces on them (its ictus is the lowest point)
    from training.metrics import beat_alignment, ictus_beats

    assert beat_alignment(beats, ictus_beats(np.load(folder / "motion.npy"))) > 0.6
    # a dataset built before beats.npy existed gets the same files back
    copy = tmp_path / "data"
    shutil.copytree(tiny_dataset, copy)
    for name in ("beats.npy", "downbeats.npy"):
        (copy / "test" / folder.name / name).unlink()
    assert add_beats(copy, ("test",), log=lambda message: None) == len(piece["samples"])
    np.testing.assert_array_equal(np.load(copy / "test" / folder.name / "beats.npy"), beats)
    np.testing.assert_array_equal(np.load(copy / "test" / folder.name / "downbeats.npy"), downbeats)


@pytest.mark.slow
def test_a_rubato_piece_is_conducted_on_its_changing_beats(renderer, tmp_path: Path):
    from training.build_dataset import add_beats, build
    from training.metrics import beat_alignment, ictus_beats

    root = tmp_path / "rubato"
    manifest = build(
        root,
        hours=10.0,
        seed=3,
        jobs=1,
        max_piece_s=35.0,
        rubato=1.0,
        pieces=["mozart/k155/movement1"],
        log=lambda message: None,
    )
    (piece,) = manifest["pieces"]
    assert len(piece["tempo_curve_ql"]) > 2 and manifest["music"]["rubato"]["share"] == 1.0
    folder = root / piece["split"] / piece["samples"][0]["name"]
    beats = np.load(folder / "beats.npy")
    intervals = np.diff(beats)  # the score has no tempo mark or fermata: all change comes from the curve
    assert intervals.max() / intervals.min() > 1.05
    assert beat_alignment(beats, ictus_beats(np.load(folder / "motion.npy"))) > 0.6
    (folder / "beats.npy").unlink()
    assert add_beats(root, log=lambda message: None) == len(piece["samples"])  # rendered again on the same curve
    np.testing.assert_array_equal(np.load(folder / "beats.npy"), beats)


@pytest.mark.slow
def test_compare_scores_every_method_on_the_score_beats(tiny_dataset: Path, tmp_path: Path, parity_dir: Path):
    from conftest import OFFICIAL_GENERATOR, OFFICIAL_M2SNET, PROJECT_ROOT

    from training import compare

    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    for folder in (data / "val").iterdir():  # a second held-out piece for the shuffled control
        shutil.copytree(folder, data / "test" / folder.name)
    out = tmp_path / "figures"
    result = compare.main(
        [
            "--data",
            str(data),
            "--split",
            "test",
            "--out",
            str(out),
            "--ours",
            str(PROJECT_ROOT / "weights" / "virtualconductor_cpu_v1.safetensors"),
            "--official",
            str(OFFICIAL_GENERATOR),
            "--m2snet",
            str(OFFICIAL_M2SNET),
        ]
    )
    assert result["beats_from"] == "score" and result["samples"] >= 2
    summary = result["summary"]
    assert set(summary) == set(compare.METHODS)
    for name, scores in summary.items():
        assert set(scores) == set(compare.SCORES)
        for score in ("ictus_music", "ictus_motion", "bas_music", "sync"):
            assert 0.0 <= scores[score]["mean"] <= 1.0, (name, score)
    # the training target bounces on the score's beats, at most 50 ms ahead of them
    assert summary["reference"]["ictus_music"]["mean"] > 0.6
    assert -0.08 < summary["reference"]["ictus_offset_s"]["mean"] < 0.02
    assert summary["reference"]["wrist_speed"]["mean"] > 0.05
    # the CPU weights do not follow the music as well as the procedural conductor
    assert compare.beats_procedural(result) is False
    # ... and the bar also asks for movement: better timing by hands that barely move is not enough
    better = {
        name: {score: {"mean": value} for score, value in scores.items()}
        for name, scores in {
            "ours": {"ictus_music": 0.8, "sync": 0.7, "wrist_speed": 0.2},
            "procedural": {"ictus_music": 0.7, "sync": 0.6, "wrist_speed": 0.3},
        }.items()
    }
    assert compare.beats_procedural({"summary": better}) is True
    better["ours"]["wrist_speed"]["mean"] = 0.1
    assert compare.beats_procedural({"summary": better}) is False
    table = (out / "evaluation.md").read_text()
    assert "the score's exact beats" in table and "(d) our weights on another piece's music" in table
    assert (out / "evaluation.png").stat().st_size > 10_000 and json.loads((out / "evaluation.json").read_text())[
        "rows"
    ]


def test_the_training_loader_reads_it(tiny_dataset: Path):
    from training.data import ClipPairDataset, ConductorMotionSplit, PairSpec, WindowDataset

    for split in ("train", "val", "test"):
        windows = ConductorMotionSplit(tiny_dataset, split, window_s=30)
        item = WindowDataset(windows)[0]
        assert item["mel"].shape == (2700, 128) and item["motion"].shape == (900, 13, 2)
    pairs = ClipPairDataset(ConductorMotionSplit(tiny_dataset, "train", window_s=30), PairSpec(10, 10.0, 0.5, 5.0))
    assert pairs[(0, 1, 0, 0)]["motion2"].shape == (300, 13, 2)
