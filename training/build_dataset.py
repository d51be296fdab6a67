"""Build a ConductorMotion100-layout dataset from public-domain scores and the procedural conductor.

    python -m training.build_dataset --out /tmp/vc_data --hours 2 --seed 0 --jobs 2

Every piece is a music21 corpus score (Bach chorales; Mozart, Haydn and Beethoven quartet
movements; madrigals, rags, arias and other pieces) rendered with :func:`training.scores.render_score`
at a random tempo scale and General MIDI program, and with ``--rubato SHARE`` that share of the
pieces with gradual tempo changes (a slow random walk of the tempo every two to four bars,
within ``RUBATO_RANGE``; the beats stay the score's, on the same time line). The music becomes core's 90 Hz mel
(:func:`core.audio.mel.mel_90hz`, on the whole piece as the add-on computes it); the motion comes from
the procedural conductor's drawing (:func:`core.procedural.conductor.draw_figure`) on the score's exact beats,
downbeats and meter (``--beats tracked`` runs :func:`core.procedural.conductor.conduct` on the audio instead),
with human-like variation on top: a seeded irregularity of 0.6-1.5, ictus timing jitter, a small
lead of the conductor before the orchestra and a per-take framing (scale and offset in the image).

Layout written (the loader :mod:`training.data` reads it)::

    <out>/{train,val,test}/<sample>/mel.npy     (T90, 128) float32 in [0, 1], 90 frames per second
    <out>/{train,val,test}/<sample>/motion.npy  (T30, 13, 2) float32 in [0, 1], 30 frames per second
    <out>/{train,val,test}/<sample>/beats.npy   (B,) float64 the score's beats, seconds from the sample's start
    <out>/{train,val,test}/<sample>/downbeats.npy  (D,) float64 the score's downbeats, same clock
    <out>/{val,test}/<sample>/audio.flac        the sample's music, mono 22,050 Hz (for evaluation)
    <out>/manifest.json                         pieces, splits, tempo, meter, program, takes, samples

The manifest is rewritten after every piece ("complete": false until the end), so an interrupted
build leaves a dataset that is usable and described as far as it got.

Pieces are cut into 60-s samples; a remainder of 30 s or more becomes a shorter sample (the
loader's windows are 30 s), a shorter one is dropped; a piece under 30 s is repeated until it
lasts 30 s. Splits are by work (all movements of one quartet go to the same split), so no piece
is in two splits; each new work goes to the split furthest below its share of the hours.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.audio.decode import SAMPLE_RATE_HZ
from core.motion.keypoints import MOTION_FPS

SAMPLE_S = 60
MIN_SAMPLE_S = 30
SPLIT_SHARES = {"train": 0.8, "val": 0.1, "test": 0.1}
GROUP_WEIGHTS = {"quartet": 0.45, "chorale": 0.35, "other": 0.20}
# General MIDI programs a piece may be played with (None: each part's instrument from the score).
PROGRAMS = (None, 0, 6, 19, 40, 42, 46, 48, 49, 52, 56, 60, 68, 71, 73)
TEMPO_SCALE = (0.8, 1.25)
RUBATO_SPACING_QL = (8.0, 16.0)  # quarters between the points of a tempo curve (two to four 4/4 bars)
RUBATO_STEP = 0.06  # standard deviation of the log-tempo change from one point to the next
RUBATO_PULL = 0.7  # each point keeps this much of the last one's deviation (mean reversion)
RUBATO_RANGE = (0.8, 1.25)  # tempo factors a curve stays within
RUBATO_LENGTH_QL = 720.0  # curves reach this far: 180 s at 240 quarters a minute
VARIATION = (0.6, 1.5)
JITTER_S = 0.012  # standard deviation of each ictus' timing
LEAD_S = (0.0, 0.05)  # the conductor's beat comes this much before the music's
FRAME_SCALE = (0.9, 1.1)
FRAME_SHIFT = 0.015  # standard deviation of the framing offset, image units
FRAME_CENTRE = (0.5, 0.55)
OTHER_COMPOSERS = (
    "monteverdi",
    "joplin",
    "handel",
    "corelli",
    "schubert",
    "verdi",
    "weber",
    "cpebach",
    "chopin",
    "schumann",
    "luca",
    "ciconia",
    "josquin",
)
SOUNDFONT_LICENCE = "FluidR3_GM (c) Frank Wen, MIT licence (Debian package fluid-soundfont-gm)"


@dataclasses.dataclass(frozen=True)
class Job:
    """One piece to render: where it comes from and how it is played and conducted."""

    index: int
    corpus_path: str
    work: str
    group: str
    tempo_scale: float
    program: int | None
    seed: int
    takes: int
    max_piece_s: float
    beats: str
    tempo_curve_ql: tuple[tuple[float, float], ...] = ()  # gradual tempo changes (render_score)


# --------------------------------------------------------------------------- the pieces
def corpus_candidates() -> dict[str, list[str]]:
    """Corpus paths by group, without file extensions, each score once."""
    from music21 import corpus

    def stems(composer: str) -> list[str]:
        found = []
        for path in corpus.getComposer(composer):
            text = str(path).replace(os.sep, "/")
            stem = re.sub(
                r"\.(mxl|xml|musicxml|krn|abc|mid|midi|md|rntxt|capella|mei)$", "", text.split("/corpus/")[-1]
            )
            if stem not in found:
                found.append(stem)
        return found

    chorales = [s for s in stems("bach") if re.search(r"bwv\d", s)]
    quartets = [s for c in ("mozart", "haydn", "beethoven") for s in stems(c) if "k545" not in s]
    other = [s for c in OTHER_COMPOSERS for s in stems(c)] + [s for s in stems("mozart") if "k545" in s]
    return {"quartet": sorted(quartets), "chorale": sorted(chorales), "other": sorted(other)}


def work_of(corpus_path: str) -> str:
    """The work a corpus path belongs to: movements of one quartet share it."""
    return re.sub(r"/movement[^/]*$", "", corpus_path)


def rubato_curve(rng: np.random.Generator) -> tuple[tuple[float, float], ...]:
    """A tempo curve for :func:`training.scores.render_score`: (offset in quarters, factor) points
    every ``RUBATO_SPACING_QL`` quarters up to ``RUBATO_LENGTH_QL``, the log factor a
    mean-reverting random walk clipped to ``RUBATO_RANGE``, starting at 1."""
    low, high = np.log(RUBATO_RANGE)
    points, offset_ql, log_factor = [(0.0, 1.0)], 0.0, 0.0
    while offset_ql < RUBATO_LENGTH_QL:
        offset_ql += float(rng.uniform(*RUBATO_SPACING_QL))
        log_factor = float(np.clip(RUBATO_PULL * log_factor + rng.normal(0.0, RUBATO_STEP), low, high))
        points.append((round(offset_ql, 2), round(float(np.exp(log_factor)), 4)))
    return tuple(points)


def plan_jobs(
    candidates: dict[str, list[str]], *, seed: int, takes: int, max_piece_s: float, beats: str, rubato: float = 0.0
) -> list[Job]:
    """Every candidate once, in a seeded order that mixes the groups by ``GROUP_WEIGHTS``; a
    ``rubato`` share of them (0 to 1) with a :func:`rubato_curve`. The curves come from a
    generator of their own, so every other choice is the same whatever the share."""
    rng = np.random.default_rng(seed)
    rubato_rng = np.random.default_rng([seed, 1])
    pools = {group: list(rng.permutation(paths)) for group, paths in candidates.items() if paths}
    jobs: list[Job] = []
    while pools:
        groups = sorted(pools)
        weights = np.array([GROUP_WEIGHTS[g] for g in groups])
        group = groups[int(rng.choice(len(groups), p=weights / weights.sum()))]
        path = str(pools[group].pop())
        if not pools[group]:
            del pools[group]
        jobs.append(
            Job(
                index=len(jobs),
                corpus_path=path,
                work=work_of(path),
                group=group,
                tempo_scale=round(float(rng.uniform(*TEMPO_SCALE)), 3),
                program=PROGRAMS[int(rng.integers(len(PROGRAMS)))],
                seed=int(rng.integers(2**31)),
                takes=takes,
                max_piece_s=max_piece_s,
                beats=beats,
                tempo_curve_ql=rubato_curve(rubato_rng) if rubato_rng.random() < rubato else (),
            )
        )
    return jobs


# --------------------------------------------------------------------------- one piece
def score_track(beats_s: np.ndarray, downbeats_s: np.ndarray, meter: int):
    """A :class:`core.beats.track.BeatTrack` from a score's exact beats (meters the procedural
    conductor has no pattern for are beaten in 2, 3 or 4)."""
    from core.beats.track import BeatTrack

    used = meter if meter in (2, 3, 4, 6) else 2 if meter == 1 else 3 if meter % 3 == 0 else 4
    starts = np.isin(np.round(beats_s, 6), np.round(downbeats_s, 6))
    position = np.zeros(beats_s.size, dtype=int)
    first = int(np.argmax(starts)) if starts.any() else 0
    position[:first] = (np.arange(first) - first) % used  # the pickup's beats end a bar
    if meter == 1:  # one beat a bar: beaten in two, a downbeat every other bar
        position[first:] = np.arange(beats_s.size - first) % 2
    else:
        count = -1
        for i in range(first, beats_s.size):
            count = 0 if starts[i] else count + 1
            position[i] = count % used
    tempo = 60.0 / float(np.median(np.diff(beats_s))) if beats_s.size > 1 else 0.0
    return BeatTrack(
        beats_s=beats_s, downbeats_s=beats_s[position == 0], bar_position=position, meter=used, tempo_bpm=tempo
    )


def humanised_motion(samples: np.ndarray, track, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """One take of the procedural conductor on ``track`` with human-like variation.

    Returns
    -------
    keypoints : np.ndarray [shape=(T30, 13, 2), float32] in [0, 1]
    take : dict
        The take's seed-drawn settings (variation, lead, scale, offset).
    """
    from core.beats.track import BeatTrack
    from core.audio.mel import frame_count_30fps, frame_count_90hz
    from core.procedural.conductor import draw_figure
    from core.procedural.loudness import loudness_30fps

    variation = float(rng.uniform(*VARIATION))
    lead_s = float(rng.uniform(*LEAD_S))
    beats = track.beats_s + rng.normal(0.0, JITTER_S, track.beats_s.size) - lead_s
    beats = np.maximum.accumulate(np.maximum(beats, 0.0))
    shifted = BeatTrack(
        beats_s=beats,
        downbeats_s=beats[track.bar_position == 0],
        bar_position=track.bar_position,
        meter=track.meter,
        tempo_bpm=track.tempo_bpm,
    )
    frames = frame_count_30fps(frame_count_90hz(samples.shape[0], SAMPLE_RATE_HZ))
    loudness = loudness_30fps(samples, SAMPLE_RATE_HZ, frames)
    keypoints, _hands = draw_figure(shifted, loudness, np.arange(frames) / MOTION_FPS, rng=rng, variation=variation)
    keypoints = keypoints.astype(np.float64)
    scale = float(rng.uniform(*FRAME_SCALE))
    offset = rng.normal(0.0, FRAME_SHIFT, 2)
    centre = np.array(FRAME_CENTRE)
    keypoints = np.clip(centre + scale * (keypoints - centre) + offset, 0.0, 1.0).astype(np.float32)
    take = {
        "variation": round(variation, 3),
        "lead_s": round(lead_s, 4),
        "scale": round(scale, 3),
        "offset": [round(float(v), 4) for v in offset],
    }
    return keypoints, take


def cut_points(frames30: int) -> list[tuple[int, int]]:
    """(start, end) motion frames of the samples of a piece: 60 s each, a remainder of 30 s or
    more as its own sample."""
    size, least = SAMPLE_S * MOTION_FPS, MIN_SAMPLE_S * MOTION_FPS
    spans = [(s, s + size) for s in range(0, frames30 - size + 1, size)]
    rest = spans[-1][1] if spans else 0
    if frames30 - rest >= least:
        spans.append((rest, frames30))
    return spans


def repeated_piece(rendered) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """A rendered score played often enough to last ``MIN_SAMPLE_S`` (a short chorale is sung again
    after its release): samples (n,) at 22,050 Hz, beats (B,) and downbeats (D,) in seconds, repeats."""
    repeats = max(1, math.ceil(MIN_SAMPLE_S / rendered.duration_s))
    samples = np.tile(rendered.samples, repeats) if repeats > 1 else rendered.samples
    beats_s = np.concatenate([rendered.beats_s + k * rendered.duration_s for k in range(repeats)])
    downbeats_s = np.concatenate([rendered.downbeats_s + k * rendered.duration_s for k in range(repeats)])
    return samples, beats_s, downbeats_s, repeats


def render_piece(job: Job) -> dict:
    """Render, analyse and conduct one piece (runs in a worker process).

    Returns
    -------
    dict
        ``ok``; on success ``samples`` (n,) float32 at 22,050 Hz, ``mel`` (T90, 128),
        ``motions`` (takes of (T30, 13, 2)), ``spans`` and the piece's manifest ``entry``.
    """
    import torch

    from core.audio.mel import mel_90hz
    from core.procedural.conductor import conduct
    from training.scores import render_score

    torch.set_num_threads(1)
    started = time.perf_counter()
    try:
        rendered = render_score(
            job.corpus_path,
            tempo_scale=job.tempo_scale,
            program=job.program,
            tempo_curve_ql=job.tempo_curve_ql,
            excerpt_s=job.max_piece_s,
            sample_rate_hz=SAMPLE_RATE_HZ,
        )
    except Exception as error:  # music21 cannot lay out every corpus file; such a piece is skipped
        return {"ok": False, "job": job, "error": f"{type(error).__name__}: {error}"}
    if rendered.beats_s.size < 8 or not np.any(rendered.samples):
        return {"ok": False, "job": job, "error": "fewer than 8 beats"}
    samples, beats_s, downbeats_s, repeats = repeated_piece(rendered)
    mel = mel_90hz(samples)  # (T90, 128)
    rng = np.random.default_rng(job.seed)
    track = score_track(beats_s, downbeats_s, rendered.meter)
    motions, takes = [], []
    for _ in range(job.takes):
        if job.beats == "tracked":
            take_seed = int(rng.integers(2**31))
            variation = float(rng.uniform(*VARIATION))
            motion = conduct(samples, SAMPLE_RATE_HZ, seed=take_seed, variation=variation).without_lead_in().keypoints
            take = {"seed": take_seed, "variation": round(variation, 3)}
        else:
            motion, take = humanised_motion(samples, track, rng)
        motions.append(motion)
        takes.append(take)
    frames30 = min(motions[0].shape[0], mel.shape[0] // 3)
    entry = {
        "corpus_path": job.corpus_path,
        "work": job.work,
        "group": job.group,
        "tempo_scale": job.tempo_scale,
        "tempo_curve_ql": [list(point) for point in job.tempo_curve_ql],
        "tempo_bpm": round(float(rendered.tempo_bpm), 2),
        "meter": int(rendered.meter),
        "beaten_in": int(track.meter),
        "program": job.program,
        "duration_s": round(frames30 / MOTION_FPS, 2),
        "repeats": repeats,
        "beats": int(beats_s.size),
        "seed": job.seed,
        "takes": takes,
        "seconds_to_build": round(time.perf_counter() - started, 1),
    }
    return {
        "ok": True,
        "job": job,
        "samples": samples,
        "mel": mel,
        "motions": motions,
        "beats_s": beats_s,
        "downbeats_s": downbeats_s,
        "spans": cut_points(frames30),
        "entry": entry,
    }


# --------------------------------------------------------------------------- writing
def pick_split(seconds: dict[str, float], pending: float) -> str:
    """The split for a new work: an empty test, then val, split first; then the one furthest
    below its share of the hours once this work is added."""
    for split in ("test", "val", "train"):
        if seconds[split] == 0.0:
            return split
    total = sum(seconds.values()) + pending
    return max(SPLIT_SHARES, key=lambda s: SPLIT_SHARES[s] * total - seconds[s])


def write_sample_beats(folder: Path, beats_s: np.ndarray, downbeats_s: np.ndarray, start: int, end: int) -> None:
    """The score's beats and downbeats that fall in motion frames [start, end), in seconds from
    the sample's start, as ``beats.npy`` and ``downbeats.npy`` (float64): what the evaluation
    measures against instead of a beat tracker's guess."""
    start_s, end_s = start / MOTION_FPS, end / MOTION_FPS
    for name, times in (("beats", beats_s), ("downbeats", downbeats_s)):
        inside = times[(times >= start_s) & (times < end_s)] - start_s
        np.save(folder / f"{name}.npy", np.asarray(inside, dtype=np.float64))


def add_beats(root: str | os.PathLike[str], splits: tuple[str, ...] = ("train", "val", "test"), log=print) -> int:
    """Write ``beats.npy`` and ``downbeats.npy`` into the samples of a dataset built before they
    existed: each piece of the manifest is rendered again with its recorded tempo and program
    (the beats follow from the score, tempo and repeats alone). Returns the samples written."""
    from training.scores import render_score

    root = Path(root)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise SystemExit(f"'{root}' has no manifest.json; it was not built by training.build_dataset.")
    manifest = json.loads(manifest_path.read_text())
    written = 0
    for entry in manifest["pieces"]:
        if entry["split"] not in splits:
            continue
        rendered = render_score(
            entry["corpus_path"],
            tempo_scale=entry["tempo_scale"],
            program=entry["program"],
            tempo_curve_ql=tuple(map(tuple, entry.get("tempo_curve_ql", ()))),
            excerpt_s=manifest["max_piece_s"],
            sample_rate_hz=SAMPLE_RATE_HZ,
        )
        _, beats_s, downbeats_s, repeats = repeated_piece(rendered)
        if repeats != entry["repeats"] or beats_s.size != entry["beats"]:
            raise SystemExit(
                f"{entry['corpus_path']} renders with {beats_s.size} beats now, not the manifest's "
                f"{entry['beats']}; rebuild the dataset instead."
            )
        for sample in entry["samples"]:
            start = round(sample["start_s"] * MOTION_FPS)
            end = start + round(sample["seconds"] * MOTION_FPS)
            write_sample_beats(root / entry["split"] / sample["name"], beats_s, downbeats_s, start, end)
            written += 1
        log(f"{entry['split']:5s}  {entry['corpus_path']}  {len(entry['samples'])} samples")
    return written


def write_piece(result: dict, out: Path, split: str) -> list[dict]:
    """Write the piece's samples (every take) under ``out/split``; return their manifest rows."""
    import soundfile

    job, mel, samples = result["job"], result["mel"], result["samples"]
    rows = []
    for take, motion in enumerate(result["motions"]):
        for k, (start, end) in enumerate(result["spans"]):
            name = f"{job.index:04d}_{take}_{k}"
            folder = out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            np.save(folder / "mel.npy", np.ascontiguousarray(mel[3 * start : 3 * end], dtype=np.float32))
            np.save(folder / "motion.npy", np.ascontiguousarray(motion[start:end], dtype=np.float32))
            write_sample_beats(folder, result["beats_s"], result["downbeats_s"], start, end)
            if split != "train" and take == 0:
                first = int(round(start / MOTION_FPS * SAMPLE_RATE_HZ))
                last = int(round(end / MOTION_FPS * SAMPLE_RATE_HZ))
                soundfile.write(folder / "audio.flac", samples[first:last], SAMPLE_RATE_HZ)
            rows.append(
                {"name": name, "take": take, "start_s": start / MOTION_FPS, "seconds": (end - start) / MOTION_FPS}
            )
    return rows


def manifest_of(
    *,
    seed: int,
    hours: float,
    takes: int,
    max_piece_s: float,
    beats: str,
    rubato: float,
    seconds: dict,
    entries: list,
    skipped: list,
    started: float,
    complete: bool,
) -> dict:
    """The manifest of what is written so far (``complete`` False while the build runs)."""
    return {
        "format": "ConductorMotion100 layout: <split>/<sample>/mel.npy (T90,128) 90 Hz, motion.npy (T30,13,2) 30 fps",
        "built_with": "python -m training.build_dataset",
        "complete": complete,
        "seed": seed,
        "hours_requested": hours,
        "takes": takes,
        "max_piece_s": max_piece_s,
        "beats": beats,
        "hours": round(sum(seconds.values()) / 3600, 4),
        "splits": {
            split: {
                "hours": round(seconds[split] / 3600, 4),
                "pieces": sum(e["split"] == split for e in entries),
                "works": len({e["work"] for e in entries if e["split"] == split}),
                "samples": sum(len(e["samples"]) for e in entries if e["split"] == split),
            }
            for split in SPLIT_SHARES
        },
        "motion": {
            "source": "core.procedural.conductor.draw_figure on the score's beats"
            if beats == "score"
            else "core.procedural.conductor.conduct on the audio",
            "variation": VARIATION,
            "jitter_s": JITTER_S,
            "lead_s": LEAD_S,
            "frame_scale": FRAME_SCALE,
            "frame_shift": FRAME_SHIFT,
        },
        "music": {
            "scores": "music21 corpus, public domain compositions",
            "soundfont": SOUNDFONT_LICENCE,
            "tempo_scale": TEMPO_SCALE,
            "programs": [p for p in PROGRAMS],
            "rubato": {
                "share": rubato,
                "spacing_ql": RUBATO_SPACING_QL,
                "step": RUBATO_STEP,
                "pull": RUBATO_PULL,
                "range": RUBATO_RANGE,
            },
        },
        "seconds_to_build": round(time.perf_counter() - started, 1),
        "pieces": entries,
        "skipped": skipped,
    }


def build(
    out: str | os.PathLike[str],
    *,
    hours: float,
    seed: int,
    jobs: int = 1,
    takes: int = 1,
    max_piece_s: float = 180.0,
    beats: str = "score",
    rubato: float = 0.0,
    pieces: list[str] | None = None,
    log=print,
) -> dict:
    """Render pieces until the samples (all takes) last ``hours``; return the manifest.

    ``pieces`` replaces the corpus selection by the given corpus paths (in that order).
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"'{out}' is not empty; give a new folder.")
    out.mkdir(parents=True, exist_ok=True)
    if pieces:
        candidates = {"other": list(pieces)}
        planned = plan_jobs(candidates, seed=seed, takes=takes, max_piece_s=max_piece_s, beats=beats, rubato=rubato)
        order = {p: i for i, p in enumerate(pieces)}
        planned = sorted(planned, key=lambda j: order[j.corpus_path])
        planned = [dataclasses.replace(j, index=i) for i, j in enumerate(planned)]
    else:
        planned = plan_jobs(
            corpus_candidates(), seed=seed, takes=takes, max_piece_s=max_piece_s, beats=beats, rubato=rubato
        )
    target_s = hours * 3600.0
    seconds = {split: 0.0 for split in SPLIT_SHARES}
    work_split: dict[str, str] = {}
    entries: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    started = time.perf_counter()

    def write_manifest(complete: bool) -> dict:
        manifest = manifest_of(
            seed=seed,
            hours=hours,
            takes=takes,
            max_piece_s=max_piece_s,
            beats=beats,
            rubato=rubato,
            seconds=seconds,
            entries=entries,
            skipped=skipped,
            started=started,
            complete=complete,
        )
        temporary = out / "manifest.json.partial"
        temporary.write_text(json.dumps(manifest, indent=1))
        os.replace(temporary, out / "manifest.json")
        return manifest

    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with context.Pool(max(1, jobs), maxtasksperchild=20) as pool:
        for result in pool.imap(render_piece, planned):
            job = result["job"]
            if not result["ok"]:
                skipped.append({"corpus_path": job.corpus_path, "reason": result["error"]})
                log(f"skip {job.corpus_path}: {result['error']}")
                continue
            if not result["spans"]:
                skipped.append({"corpus_path": job.corpus_path, "reason": "shorter than one sample"})
                continue
            piece_s = sum(e - s for s, e in result["spans"]) / MOTION_FPS * len(result["motions"])
            split = work_split.setdefault(job.work, pick_split(seconds, piece_s))
            entry = dict(result["entry"], split=split, samples=write_piece(result, out, split))
            entries.append(entry)
            seconds[split] += piece_s
            total = sum(seconds.values())
            write_manifest(complete=False)
            log(
                f"{total / 3600:6.3f} h  {split:5s}  {job.corpus_path}  {entry['duration_s']:.0f} s  "
                f"meter {entry['meter']}  {entry['tempo_bpm']:.0f} bpm  program {job.program}  "
                f"({time.perf_counter() - started:.0f} s)"
            )
            if total >= target_s:
                pool.terminate()
                break
    manifest = write_manifest(complete=True)
    return manifest


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="new dataset folder (train/ val/ test/ and manifest.json)")
    parser.add_argument("--hours", type=float, help="stop once the samples last this long")
    parser.add_argument(
        "--add-beats",
        nargs="*",
        choices=("train", "val", "test"),
        default=None,
        metavar="SPLIT",
        help="instead of building: write the score's beats into the samples of the existing "
        "dataset --out (these splits; all when none are named)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--takes", type=int, default=1, help="conducted takes (variations) per piece")
    parser.add_argument("--max-piece-s", type=float, default=180.0, help="render at most this much of each score")
    parser.add_argument(
        "--beats",
        choices=("score", "tracked"),
        default="score",
        help="conduct on the score's exact beats or on the beats core tracks in the audio",
    )
    parser.add_argument(
        "--rubato",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of the pieces (0 to 1) played with gradual tempo changes (default 0)",
    )
    parser.add_argument("--pieces", nargs="*", default=None, help="corpus paths to use instead of the selection")
    args = parser.parse_args(argv)
    if shutil.which("fluidsynth") is None:
        raise SystemExit(
            "The fluidsynth program is missing; install it with 'apt-get install fluidsynth fluid-soundfont-gm'."
        )
    if args.add_beats is not None:
        written = add_beats(args.out, tuple(args.add_beats) or ("train", "val", "test"))
        print(json.dumps({"samples_with_beats": written}))
        return {"samples_with_beats": written}
    if args.hours is None:
        raise SystemExit("--hours is required to build a dataset (how long its samples should last in all).")
    if not 0.0 <= args.rubato <= 1.0:
        raise SystemExit(f"--rubato is a share of the pieces, from 0 to 1, not {args.rubato:g}.")
    manifest = build(
        args.out,
        hours=args.hours,
        seed=args.seed,
        jobs=args.jobs,
        takes=args.takes,
        max_piece_s=args.max_piece_s,
        beats=args.beats,
        rubato=args.rubato,
        pieces=args.pieces,
    )
    print(json.dumps({"hours": manifest["hours"], "splits": manifest["splits"], "skipped": len(manifest["skipped"])}))
    return manifest


if __name__ == "__main__":
    main()
