"""training/beat_renders.py and core/beats/midi.py: MIDI read back in quarters, a score's
labels on its own time line (pickup, fermatas), a Debian MIDI file's bars, one render end to end,
and the splits (the test renders use only the held-out soundfont). Renders skip without the
fluidsynth program; scores without music21."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from training import beat_renders as br

OPENMSX = Path("/usr/share/games/openttd/baseset/openmsx")


def test_a_midi_file_reads_back_in_quarters_with_its_tempo(tmp_path):
    from core.beats.midi import read_midi
    from training.scores import NoteEvent, midi_file_bytes

    notes = [NoteEvent(0.5 * i, 0.5 * i + 0.25, 60 + i, 90, i % 2, 40) for i in range(8)]
    path = tmp_path / "notes.mid"
    path.write_bytes(midi_file_bytes(notes, controls=[(0, 10, 20)]))
    content = read_midi(path)
    assert content.tempo_marks == [(0.0, 120.0)] and content.time_signatures == [(0.0, 4, 4)]
    assert np.allclose(content.notes[:, 0], np.arange(8))  # half a second = a quarter at 120
    assert np.allclose(content.notes[:, 1], 0.5) and content.programs.tolist() == [40] * 8


def test_a_score_with_a_pickup_and_fermatas_is_labelled_on_its_own_time_line():
    pytest.importorskip("music21")
    from training import beat_renders as br

    content = br.parse_content(br.Source("chorale", "bach/bwv66.6"))
    assert content.bars[0].pickup_ql == 3.0 and len(content.fermatas) >= 3
    performance = br.Performance(
        beat_bpm=60.0,
        tempo_style="steady",
        tempo_curve=[],
        fermata_scale=2.0,
        added_fermatas=[],
        onset_jitter_s=0.0,
        part_lag_s=[0.0] * content.parts,
        articulation=1.0,
        ensemble="score",
        programs=[0] * content.parts,
        drums=False,
        accompaniment=False,
        reverb=False,
        chorus=False,
        first_bar=0,
        last_bar=len(content.bars),
    )
    timeline = br.TimeLine(content, 0, len(content.bars), performance)
    labels = br.labels_of(content, 0, len(content.bars), timeline)
    gaps = np.diff(labels["beats_s"])
    assert labels["beats_s"][0] == 0.0 and labels["downbeats_s"][0] == pytest.approx(1.0)  # one beat of pickup
    assert np.all(np.isclose(gaps, 1.0) | np.isclose(gaps, 2.0)) and np.sum(np.isclose(gaps, 2.0)) >= 3
    assert set(labels["bar_beats"].tolist()) == {4} and labels["beat_in_bar"][0] == 3
    assert np.allclose(labels["divisions_s"][:2], [0.5, 1.5])


@pytest.mark.skipif(not OPENMSX.is_dir(), reason="openttd-openmsx (Debian's MIDI files) is not installed")
def test_a_sequenced_midi_file_gives_bars_from_its_time_signature():
    content = br.content_from_midi(str(OPENMSX / "boogi_marabi_redfarn.mid"))  # 3/4 at 153 quarters a minute
    assert {(bar.beats, bar.beat_ql, bar.division) for bar in content.bars} == {(3, 1.0, 2)}
    assert content.tempo_marks[0][1] == pytest.approx(153.0, rel=1e-3)
    onsets = content.notes[:, 0]
    assert np.mean(np.abs((onsets * 4 + 0.5) % 1 - 0.5) < 0.125) >= 0.5  # a swung tune: half on the sixteenths


@pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not Path(br.TRAINING_SOUNDFONTS[0]).is_file(),
    reason="the fluidsynth program or the FluidR3_GM soundfont is not installed",
)
def test_one_render_end_to_end(tmp_path):
    pytest.importorskip("music21")
    import soundfile

    job = br.RenderJob(7, br.Source("folk", "essenFolksong/han1.abc", 5), "train", 11, br.TRAINING_SOUNDFONTS[0])
    entry = br.render_job(job, tmp_path)
    assert entry["ok"], entry
    folder = tmp_path / "train" / "00007"
    stereo, rate = soundfile.read(folder / "audio.flac", always_2d=True)
    assert rate == 22050 and stereo.shape[1] == 2 and 0.5 < np.abs(stereo).max() <= 0.9
    with np.load(folder / "labels.npz") as labels:
        beats_s, downbeats_s = labels["beats_s"], labels["downbeats_s"]
        assert np.all(np.diff(beats_s) > 0) and beats_s[-1] < stereo.shape[0] / rate
        assert np.all(np.isin(downbeats_s, beats_s)) and labels["bar_beats"].shape == beats_s.shape
    assert (
        json.loads((folder / "render.json").read_text())["performance"]["ensemble"] == entry["performance"]["ensemble"]
    )
    assert br.render_job(job, tmp_path) == entry  # already rendered: kept


def test_splits_keep_works_together_and_the_held_out_soundfont_for_test():
    sources = {
        "folk": [br.Source("folk", f"tunes/{i}.abc", n) for i in range(40) for n in (1, 2)],
        "classical": [br.Source("classical", f"quartet{i}/movement{m}.mxl") for i in range(20) for m in (1, 2)],
    }
    jobs = br.plan_renders(400, seed=1, sources=sources)
    split_of_work: dict[str, set] = {}
    for job in jobs:
        split_of_work.setdefault(job.source.work, set()).add(job.split)
        assert (job.soundfont == br.HELD_OUT_SOUNDFONT) == (job.split == "test")
        if job.second is not None:
            assert br.split_of(job.second.work) == job.split
    assert all(len(splits) == 1 for splits in split_of_work.values())
    assert (
        br.Source("classical", "quartet3/movement1.mxl").work == br.Source("classical", "quartet3/movement2.mxl").work
    )
    assert {job.split for job in jobs} == {"train", "val", "test"}
