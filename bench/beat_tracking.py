"""Beat, downbeat, meter and tempo of core/beats/dsp_tracker.py on the 18 pieces of core/assets/README.md.

    python bench/beat_tracking.py [--cache DIR] [--beats FILE] [--only SUBSTRING] [--dataset DIR]

Each piece is a 30-second excerpt rendered from music21's corpus with FluidSynth by
``training.scores.render_score`` (``excerpt_s=30``, ``default_bpm`` 100, 22,050 Hz, the program
and tempo scale of the table), which also gives the exact beats, downbeats and meter. Printed
per piece: beat F-measure (70 ms window), downbeat F-measure, tracked meter, tracked tempo,
seconds the tracker took; then the means of the tuning half (thresholds may be chosen on it)
and of the held-out half (reported only). The groups "tune-r" and "held-r" render pieces of
each half with gradual tempo changes (``tempo_curve_ql``: accelerandi, ritardandi, both in
turn) and also print the true and tracked tempo over the first and last three beats.

``--cache DIR`` keeps the renders as .npz files (rendering takes longer than tracking);
``--beats FILE`` tracks with another copy of core/beats/dsp_tracker.py, e.g. the committed one::

    git show HEAD:core/beats/dsp_tracker.py > /tmp/beats_head.py
    python bench/beat_tracking.py --cache /tmp/beat_renders --beats /tmp/beats_head.py

``--dataset DIR`` scores the held-out samples of a dataset built by ``training.build_dataset``
instead (``val`` and ``test``: each sample's ``audio.flac`` against its score beats in
``beats.npy``), one line a sample and the mean of each split.

Needs music21 and the fluidsynth program with the FluidR3_GM soundfont.

The learned tracker (issues 14 and 24) adds four measurements, each printing its figures and the ratio
to its goal, for the signal-processing tracker ("dsp") and the learned one ("learned")::

    python bench/beat_tracking.py --renders /work/data/beats [--limit 60]   # held-out renders
    python bench/beat_tracking.py --real /work/data/real                      # game music vs madmom
    python bench/beat_tracking.py --speed                                     # s per minute of audio
    python bench/beat_tracking.py --bad-input                                 # silence ... 3 hours

``--renders`` scores the ``test`` split of a :mod:`training.beat_renders` build (pieces and the
soundfont never trained on): beat F, F at any metrical level, downbeat F, meter right, tempo
right (within 4 % at the conducted level), with madmom's RNN + DBN on the same renders beside
them (``--madmom-cache DIR``, by default ``RENDERS/madmom_test``: 44.1 kHz wavs of the renders
and madmom's beats, computed once in the measuring venv; ``--no-madmom`` leaves it out). madmom
is a measuring instrument only: its models are CC BY-NC-SA, never shipped, never a label.
``--real`` takes 120-s excerpts of the Debian game-music packages (``REAL_SOURCES``), has
madmom's beats and downbeats computed in the measuring venv (``make madmom-venv``; cached beside
the excerpts) and scores against them: F at any level and at madmom's, downbeat F, the meter,
each piece's coverage (the share of madmom's beats with a tracked beat within 1.5 of its beat
periods; and of the sounding music, core's :func:`core.beats.track.beat_coverage`), then the
procedural conductor's ictus alignment to madmom's beats, both directions, against the same
motion scored on the next excerpt's beats (the control), and last the bars each tracker hears on
a grid given without labels (madmom's beats: :func:`core.beats.grid.bar_starts_heard`). Beat
metrics come from ``mir_eval``
(:mod:`training.beat_evaluation`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from training.metrics import beat_f_measure  # after the path is set

SAMPLE_RATE_HZ = 22_050
EXCERPT_S = 30.0
DEFAULT_BPM = 100.0
WINDOW_S = 0.07

# (half, corpus path, General MIDI program or None for the score's instruments, tempo scale,
#  tempo curve: (offset in quarters, tempo factor) points, see training.scores.render_score)
STEADY = ()
PIECES = (
    ("tune", "mozart/k155/movement1", None, 1.0, STEADY),
    ("tune", "haydn/opus74no1/movement3", None, 1.0, STEADY),
    ("tune", "bach/bwv66.6", 0, 1.0, STEADY),
    ("tune", "mozart/k458/movement1", None, 1.0, STEADY),
    ("tune", "beethoven/opus18no1/movement1", None, 0.8, STEADY),
    ("tune", "bach/bwv269", 0, 1.0, STEADY),
    ("tune", "mozart/k80/movement1", 0, 1.0, STEADY),
    ("held", "joplin/maple_leaf_rag", 0, 1.0, STEADY),
    ("held", "bach/bwv846", 0, 1.0, STEADY),
    ("held", "bach/bwv1.6", 52, 1.0, STEADY),
    ("held", "haydn/opus1no1/movement1", None, 1.0, STEADY),
    ("held", "schubert/lindenbaum", 0, 1.0, STEADY),
    ("held", "beethoven/opus18no1/movement2", None, 1.5, STEADY),
    ("held", "mozart/k458/movement3", None, 1.0, STEADY),
    ("held", "cpebach/h186", 0, 1.0, STEADY),
    ("held", "corelli/opus3no1/1grave", 48, 1.0, STEADY),
    ("held", "schumann_robert/opus41no1/movement2", None, 1.0, STEADY),
    ("held", "bach/bwv57.8", 19, 1.0, STEADY),
    ("tune-r", "mozart/k155/movement1", None, 1.0, ((0, 0.8), (60, 1.25))),
    ("tune-r", "mozart/k155/movement1", None, 1.0, ((0, 1.2), (60, 0.75))),
    ("tune-r", "haydn/opus74no1/movement3", None, 1.0, ((0, 0.8), (90, 1.25))),
    ("tune-r", "bach/bwv66.6", 0, 1.0, ((0, 1.0), (16, 1.3), (32, 0.8))),
    ("tune-r", "beethoven/opus18no1/movement1", None, 1.0, ((0, 0.7), (60, 1.0))),
    ("tune-r", "mozart/k80/movement1", 0, 1.0, ((0, 1.25), (24, 0.8), (48, 1.2))),
    ("held-r", "joplin/maple_leaf_rag", 0, 1.0, ((0, 1.0), (40, 1.0), (60, 0.75))),
    ("held-r", "cpebach/h186", 0, 1.0, ((0, 0.85), (60, 1.15))),
    ("held-r", "bach/bwv1.6", 52, 1.0, ((0, 1.2), (24, 0.85), (40, 1.1))),
    ("held-r", "schubert/lindenbaum", 0, 1.0, ((0, 0.9), (30, 1.15), (50, 0.85))),
)


def render(
    corpus_path: str, program: int | None, tempo_scale: float, tempo_curve_ql: tuple, cache: Path | None
) -> dict:
    """Samples, beats, downbeats, meter and first tempo of one excerpt (from the cache if there)."""
    curve = "".join(f"_{offset:g}x{factor:g}" for offset, factor in tempo_curve_ql)
    name = f"{corpus_path.replace('/', '_')}_{program}_{tempo_scale:g}{curve}.npz"
    if cache is not None and (cache / name).exists():
        with np.load(cache / name) as archive:
            return {key: archive[key] for key in archive.files}
    from training.scores import render_score

    rendered = render_score(
        corpus_path,
        program=program,
        tempo_scale=tempo_scale,
        tempo_curve_ql=tempo_curve_ql,
        excerpt_s=EXCERPT_S,
        default_bpm=DEFAULT_BPM,
        sample_rate_hz=SAMPLE_RATE_HZ,
    )
    piece = {
        "samples": rendered.samples,
        "beats_s": rendered.beats_s,
        "downbeats_s": rendered.downbeats_s,
        "meter": np.int64(rendered.meter),
        "tempo_bpm": np.float64(rendered.tempo_bpm),
    }
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(cache / name, **piece)
    return piece


def load_tracker(path: str | None):
    """``track_beats`` (the default tracker), or the DSP tracker of another copy of
    core/beats/dsp_tracker.py (loaded into the same package, for its relative imports)."""
    if path is None:
        from core.beats.tracking import track_beats

        return track_beats
    import core.beats

    spec = importlib.util.spec_from_file_location("core.beats._dsp_tracker_under_test", path)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = core.beats.__name__
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.track_beats_dsp


def score_dataset(root: Path, track_beats) -> None:
    """Beat and downbeat F-measure of every val and test sample of a built dataset."""
    import soundfile

    for split in ("val", "test"):
        values = []
        for folder in sorted((root / split).iterdir()):
            if not (folder / "audio.flac").is_file():
                continue
            samples, sample_rate_hz = soundfile.read(folder / "audio.flac", dtype="float32")
            track = track_beats(samples, sample_rate_hz)
            beat_f = beat_f_measure(np.load(folder / "beats.npy"), track.beats_s, window_s=WINDOW_S)
            downbeat_f = beat_f_measure(np.load(folder / "downbeats.npy"), track.downbeats_s, window_s=WINDOW_S)
            values.append((beat_f, downbeat_f))
            print(
                f"{split:5} {folder.name:10} {beat_f:5.2f} {downbeat_f:5.2f} {track.meter:>3} {track.tempo_bpm:6.1f}",
                flush=True,
            )
        if values:
            beat_f, downbeat_f = np.mean(values, axis=0)
            print(f"{split} mean over {len(values)} samples: F {beat_f:.3f}  dbF {downbeat_f:.3f}")


# --------------------------------------------------------------------------- issue 14: goals
GOALS = {
    "render_beat_f": 0.90,
    "render_downbeat_f": 0.70,
    "render_meter": 0.90,
    "real_any_level_f": 0.85,
    "real_downbeat_f": 0.60,
    "real_meter": 11 / 12,
    "ictus_alignment": 0.85,
    "ictus_above_control": 0.35,
    "coverage_each": 0.97,
    "seconds_per_minute": 0.5,
}
TRACKER_NAMES = ("dsp", "learned")
EXCERPT_START_S, EXCERPT_LENGTH_S = 20.0, 120.0
# Debian game-music packages (GPL or CC licensed): (package, where its files are, how many).
REAL_SOURCES = (
    ("ufoai-music", "/usr/share/games/ufoai/base/0music.pk3", 4),
    ("warzone2100-music", "/usr/share/games/warzone2100/music", 4),
    ("hyperrogue-music", "/usr/share/hyperrogue/music", 4),
    ("singularity-music", "/usr/share/games/singularity/music", 4),
    ("nexuiz-music", "/usr/share/games/nexuiz/data/music.pk3", 4),
    ("asc-music", "/usr/share/games/asc/music", 3),
)
AUDIO_SUFFIXES = (".ogg", ".opus", ".mp3", ".flac", ".wav")


def ratio_line(name: str, value: float, goal: float, *, lower_is_better: bool = False) -> str:
    if goal == 0:
        ratio = "    -"
    else:
        ratio = f"{goal / value if lower_is_better and value > 0 else value / goal:5.2f}"
    verdict = "meets" if (value <= goal if lower_is_better else value >= goal) else "SHORT"
    return f"  {name:44s} {value:7.3f}   goal {'<=' if lower_is_better else '>='} {goal:<5.3g} ratio {ratio}  {verdict}"


def track_with(tracker: str, samples: np.ndarray, meter: int | None = None):
    from core.beats.tracking import track_beats

    return track_beats(samples, SAMPLE_RATE_HZ, meter=meter, tracker=tracker)


def trackers_available(requested: str) -> list[str]:
    from core.installed_weights import beat_tracker_weights_path

    names = list(TRACKER_NAMES) if requested == "both" else [requested]
    if "learned" in names and not beat_tracker_weights_path().is_file():
        print(f"(no learned weights at {beat_tracker_weights_path()}: the learned tracker is left out)")
        names.remove("learned")
    return names


def score_renders(root: Path, trackers: list[str], *, split: str, limit: int, madmom: Path | None, venv: Path) -> dict:
    """Held-out renders of training.beat_renders: every figure per tracker and madmom's beside
    them (its RNN + DBN on the same renders, a measuring instrument only), means and ratios."""
    import soundfile

    from training.beat_evaluation import score_track
    from training.beats import load_labels, render_folders

    folders = render_folders(root, split)[:limit] if limit else render_folders(root, split)
    references = madmom_render_references(folders, madmom, venv) if madmom is not None else None
    columns = trackers + (["madmom"] if references is not None else [])
    totals: dict[str, dict[str, list[float]]] = {name: {} for name in columns}
    print(f"{split} renders: {len(folders)}")
    print(
        f"{'render':7} {'source':44} {'m':>2} {'bpm':>5} " + " ".join(f"{n + ' F/anyF/dbF/met':>30}" for n in columns)
    )
    for index, folder in enumerate(folders):
        stereo, _ = soundfile.read(folder / "audio.flac", dtype="float32", always_2d=True)
        labels = load_labels(folder)
        line = f"{folder.name:7} {render_source(folder):44} {int(np.bincount(labels['bar_beats']).argmax()):>2} "
        line += f"{60 / np.median(np.diff(labels['beats_s'])):5.0f} "
        for name in columns:
            if name == "madmom":
                figures = score_reference_track(labels, references[index])
            else:
                figures = score_track(labels, track_with(name, stereo.mean(axis=1)))
            for key, value in figures.items():
                totals[name].setdefault(key, []).append(value)
            line += (
                f"{figures['beat_f']:9.2f} {figures['any_level_f']:5.2f} {figures['downbeat_f']:5.2f} "
                f"{figures['meter_right']:4.0f}  "
            )
        print(line, flush=True)
    summary = {name: {key: float(np.mean(values)) for key, values in totals[name].items()} for name in columns}
    for name in trackers:
        print_render_summary(name, summary[name], len(folders), madmom=summary.get("madmom"))
    if "madmom" in summary:
        means = summary["madmom"]
        print(f"\nmadmom (RNN + DBN, measuring only) on the same {len(folders)} renders")
        print(
            f"  beat F {means['beat_f']:.3f}, any level {means['any_level_f']:.3f}, downbeat F "
            f"{means['downbeat_f']:.3f}, meter right {means['meter_right']:.3f}"
        )
    return summary


def render_source(folder: Path) -> str:
    """A render's source file (and tune number) and soundfont, for its line."""
    info = json.loads((folder / "render.json").read_text()) if (folder / "render.json").is_file() else {}
    source = info.get("source", {})
    name = source.get("path", "?").split("/")[-1][:28] + (f"#{source['number']}" if source.get("number") else "")
    return name[:36] + " " + info.get("soundfont", "")[:7]


def print_render_summary(name: str, means: dict, count: int, *, madmom: dict | None) -> None:
    print(f"\n{name}: {count} held-out renders (pieces and the soundfont never trained on)")
    print(ratio_line("beat F", means["beat_f"], GOALS["render_beat_f"]))
    print(f"  {'F at any metrical level':44s} {means['any_level_f']:7.3f}")
    print(ratio_line("downbeat F", means["downbeat_f"], GOALS["render_downbeat_f"]))
    if madmom is not None:
        print(ratio_line("  downbeat F above madmom's", means["downbeat_f"] - madmom["downbeat_f"], 0.0))
    print(ratio_line("meter right (share of renders)", means["meter_right"], GOALS["render_meter"]))
    print(f"  {'tempo right (4 %, conducted level)':44s} {means['tempo_right']:7.3f}")
    print(f"  {'conducted beats F':44s} {means['conducted_f']:7.3f}")


def score_reference_track(labels: dict, reference: dict) -> dict[str, float]:
    """madmom's beats and downbeats of a render against its labels (no conducted level)."""
    from training.beat_evaluation import any_level_f_measure, f_measure, most_common

    beats_s, downbeats_s = np.array(reference["beats_s"]), np.array(reference["downbeats_s"])
    return {
        "beat_f": f_measure(labels["beats_s"], beats_s),
        "any_level_f": any_level_f_measure(labels["beats_s"], beats_s),
        "downbeat_f": f_measure(labels["downbeats_s"], downbeats_s),
        "meter_right": float(meter_of_beats(beats_s, downbeats_s) == most_common(labels["bar_beats"])),
    }


def meter_of_beats(beats_s: np.ndarray, downbeats_s: np.ndarray) -> int:
    """The most common number of beats from one downbeat to the next (0 with under two downbeats)."""
    if len(downbeats_s) < 2:
        return 0
    counts = np.diff(np.searchsorted(beats_s, np.asarray(downbeats_s) - 1e-3))
    counts = counts[counts > 0]
    return int(np.bincount(counts).argmax()) if counts.size else 0


def madmom_render_references(folders: list[Path], cache: Path, venv: Path) -> list[dict] | None:
    """madmom's beats of each render, from ``cache/<render>.madmom.json``: where missing, a 44.1 kHz
    mono wav of the render is written there and madmom runs on it in the measuring venv. None
    (with a note) when the venv is missing."""
    import soundfile
    import soxr

    cache.mkdir(parents=True, exist_ok=True)
    wavs = [cache / f"{folder.name}.wav" for folder in folders]
    missing = [wav for wav in wavs if not wav.with_suffix(".madmom.json").is_file()]
    if missing and not (venv / "bin" / "python").is_file():
        print(f"(madmom's figures left out: {venv} does not exist; run 'make madmom-venv')")
        return None
    for folder, wav in zip(folders, wavs):
        if wav in missing and not wav.is_file():
            stereo, rate_hz = soundfile.read(folder / "audio.flac", dtype="float32", always_2d=True)
            soundfile.write(wav, soxr.resample(stereo.mean(axis=1), rate_hz, 44_100), 44_100, subtype="PCM_16")
    return madmom_references(wavs, venv)


def real_excerpts(folder: Path) -> list[Path]:
    """120-s excerpts (from 20 s in) of the game-music packages, as 44.1 kHz mono wav files in
    ``folder`` (made once): the first files of each package in sorted order, spread evenly."""
    import soundfile

    from core.audio.decode import load_audio

    folder.mkdir(parents=True, exist_ok=True)
    excerpts = []
    for package, where, count in REAL_SOURCES:
        where_path = Path(where)
        if where_path.suffix == ".pk3" and where_path.is_file():
            with zipfile.ZipFile(where_path) as archive:
                names = sorted(n for n in archive.namelist() if n.lower().endswith(AUDIO_SUFFIXES))
                chosen = [names[i] for i in np.linspace(0, len(names) - 1, count).round().astype(int)] if names else []
                sources = []
                for name in chosen:
                    target = folder / "sources" / package / Path(name).name
                    if not target.is_file():
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(archive.read(name))
                    sources.append(target)
        elif where_path.is_dir():
            names = sorted(p for p in where_path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
            sources = [names[i] for i in np.linspace(0, len(names) - 1, count).round().astype(int)] if names else []
        else:
            print(f"(not installed: {package}; apt-get install {package})")
            continue
        for source in dict.fromkeys(sources):
            target = folder / f"{package}__{source.stem.replace(' ', '_')}.wav"
            if not target.is_file():
                samples = load_audio(source, sample_rate_hz=44_100)
                start = int(EXCERPT_START_S * 44_100) if samples.size > (EXCERPT_START_S + 40) * 44_100 else 0
                excerpt = samples[start : start + int(EXCERPT_LENGTH_S * 44_100)]
                soundfile.write(target, excerpt, 44_100, subtype="PCM_16")
            excerpts.append(target)
    return excerpts


def madmom_references(excerpts: list[Path], venv: Path) -> list[dict]:
    """madmom's beats of each excerpt, computed in the measuring venv where not cached."""
    missing = [str(e) for e in excerpts if not e.with_suffix(".madmom.json").is_file()]
    if missing:
        python = venv / "bin" / "python"
        if not python.is_file():
            raise SystemExit(f"madmom's references are missing and {python} does not exist; run 'make madmom-venv'.")
        subprocess.run([str(python), str(Path(__file__).with_name("madmom_reference.py")), *missing], check=True)
    return [json.loads(e.with_suffix(".madmom.json").read_text()) for e in excerpts]


def conduct_with(track, samples: np.ndarray) -> np.ndarray:
    """The procedural conductor's keypoints (T30, 13, 2) on a tracker's beats (``track``, a BeatTrack)."""
    from core.procedural.conductor import conduct

    return conduct(samples, SAMPLE_RATE_HZ, seed=0, beats=track).without_lead_in().keypoints


def score_real(folder: Path, trackers: list[str], venv: Path) -> dict:
    """Game-music excerpts against madmom: any-level F, downbeat F, meter, each piece's coverage,
    and the procedural conductor's ictus alignment both directions, against its other-piece control."""
    from core.audio.decode import load_audio

    excerpts = real_excerpts(folder)
    references = madmom_references(excerpts, venv)
    print(
        f"{len(excerpts)} excerpts of {EXCERPT_LENGTH_S:.0f} s; madmom took "
        f"{np.mean([r['seconds'] for r in references]):.1f} s each; cov: the share of madmom's beats with a "
        f"tracked beat within {REFERENCE_COVER_PERIODS} of its periods, sounding: of the sounding music (core)"
    )
    results: dict[str, dict[str, list[float]]] = {name: {} for name in trackers}
    ictus: dict[str, list[np.ndarray]] = {name: [] for name in trackers}
    for excerpt, reference in zip(excerpts, references):
        samples = load_audio(excerpt)
        line = f"{excerpt.stem[:44]:44} {60 / np.median(np.diff(reference['beats_s'])):4.0f} bpm "
        for name in trackers:
            track = track_with(name, samples)
            figures = real_figures(track, reference, samples)
            for key, value in figures.items():
                results[name].setdefault(key, []).append(value)
            ictus[name].append(ictus_of(track, samples))  # the beats just scored
            line += (
                f" {name} F {figures['beat_f']:.2f} any {figures['any_level_f']:.2f} db {figures['downbeat_f']:.2f}"
                f" m {figures['meter_right']:.0f} cov {figures['coverage']:.2f} sounding "
                f"{figures['sounding_coverage']:.2f} {track.tempo_bpm:4.0f} bpm {track.level[:4]}"
            )
        print(line, flush=True)
    summary = {}
    beats = [np.array(r["beats_s"]) for r in references]
    for name in trackers:
        means = {key: float(np.mean(values)) for key, values in results[name].items()}
        means["coverage_min"] = float(np.min(results[name]["coverage"]))
        means["coverage_short"] = int(np.sum(np.array(results[name]["coverage"]) < GOALS["coverage_each"]))
        means.update(ictus_figures(beats, ictus[name]))
        summary[name] = means
        print_real_summary(name, means, len(excerpts))
    return summary


def score_given_bars(folder: Path, trackers: list[str], venv: Path) -> dict:
    """The bars a user's unlabelled grid gets (a beat file of times, or timeline markers without
    labels): madmom's beats given without their bars to :func:`core.beats.grid.bar_starts_heard`
    by each tracker, the bars scored against madmom's downbeats (downbeat F, meter)."""
    from core.audio.decode import load_audio
    from core.beats.grid import bar_starts_heard
    from training.beat_evaluation import f_measure

    excerpts = real_excerpts(folder)
    references = madmom_references(excerpts, venv)
    results: dict[str, dict[str, list[float]]] = {name: {"downbeat_f": [], "meter_right": []} for name in trackers}
    for excerpt, reference in zip(excerpts, references):
        samples = load_audio(excerpt)
        beats_s, downbeats_s = np.array(reference["beats_s"]), np.array(reference["downbeats_s"])
        for name in trackers:
            starts = bar_starts_heard(beats_s, samples, tracker=name)
            results[name]["downbeat_f"].append(f_measure(downbeats_s, beats_s[starts]))
            right = meter_of_beats(beats_s, beats_s[starts]) == meter_of_beats(beats_s, downbeats_s)
            results[name]["meter_right"].append(float(right))
    print(f"\nThe bars of a grid given without labels (madmom's beats), {len(excerpts)} real recordings")
    summary = {}
    for name in trackers:
        means = {key: float(np.mean(values)) for key, values in results[name].items()}
        summary[name] = means
        print(ratio_line(f"{name}: downbeat F", means["downbeat_f"], GOALS["real_downbeat_f"]))
        print(ratio_line(f"{name}: meter agrees with madmom's (share)", means["meter_right"], GOALS["real_meter"]))
    return summary


REFERENCE_COVER_PERIODS = 1.5


def real_figures(track, reference: dict, samples: np.ndarray) -> dict[str, float]:
    """One game-music piece's figures against madmom's beats (see :func:`score_real`)."""
    from core.beats.track import beat_coverage
    from training.beat_evaluation import any_level_f_measure, f_measure

    beats_s, downbeats_s = np.array(reference["beats_s"]), np.array(reference["downbeats_s"])
    return {
        "any_level_f": any_level_f_measure(beats_s, track.notated_beats_s),
        "beat_f": f_measure(beats_s, track.notated_beats_s),
        "downbeat_f": f_measure(downbeats_s, track.downbeats_s),
        "meter_right": float(track.notated_meter == meter_of_beats(beats_s, downbeats_s)),
        "coverage": reference_coverage(beats_s, track.beats_s),
        "sounding_coverage": beat_coverage(track.beats_s, samples, SAMPLE_RATE_HZ).share,
    }


def reference_coverage(reference_s: np.ndarray, tracked_s: np.ndarray) -> float:
    """The share of the reference's beats with a tracked beat within ``REFERENCE_COVER_PERIODS``
    of the reference's local period (the mean interval either side): a grid at another metrical
    level still covers; a conductor standing still does not."""
    if reference_s.size < 2:
        return 1.0
    if tracked_s.size == 0:
        return 0.0
    gaps = np.diff(reference_s)
    period = 0.5 * (np.r_[gaps[:1], gaps] + np.r_[gaps, gaps[-1:]])
    index = np.clip(np.searchsorted(tracked_s, reference_s), 1, max(1, tracked_s.size - 1))
    nearest = np.minimum(np.abs(reference_s - tracked_s[index - 1]), np.abs(reference_s - tracked_s[index]))
    return float(np.mean(nearest <= REFERENCE_COVER_PERIODS * period))


def ictus_of(track, samples: np.ndarray) -> np.ndarray:
    """The procedural conductor's ictus times (s) on a tracker's beats."""
    from training.metrics import ictus_beats

    return ictus_beats(conduct_with(track, samples))


def ictus_figures(beats: list[np.ndarray], motion: list[np.ndarray]) -> dict[str, float]:
    """Ictus alignment (sigma 0.1 s) of each piece's motion to madmom's beats, both directions, and
    the same motion against the next piece's beats (the control)."""
    from training.metrics import beat_alignment

    both = lambda music, moves: 0.5 * (beat_alignment(music, moves) + beat_alignment(moves, music))  # noqa: E731
    return {
        "ictus": float(np.nanmean([both(b, m) for b, m in zip(beats, motion)])),
        "control": float(np.nanmean([both(b, m) for b, m in zip(beats, motion[1:] + motion[:1])])),
        "music_to_motion": float(np.nanmean([beat_alignment(b, m) for b, m in zip(beats, motion)])),
        "motion_to_music": float(np.nanmean([beat_alignment(m, b) for b, m in zip(beats, motion)])),
    }


def print_real_summary(name: str, means: dict, count: int) -> None:
    print(f"\n{name}: {count} real recordings against madmom's beats")
    print(ratio_line("F at any metrical level", means["any_level_f"], GOALS["real_any_level_f"]))
    print(f"  {'beat F (madmom level)':44s} {means['beat_f']:7.3f}")
    print(ratio_line("downbeat F", means["downbeat_f"], GOALS["real_downbeat_f"]))
    print(ratio_line("meter agrees with madmom's (share)", means["meter_right"], GOALS["real_meter"]))
    print(ratio_line("procedural ictus alignment (mean of both)", means["ictus"], GOALS["ictus_alignment"]))
    print(f"  {'  music->motion / motion->music':44s} {means['music_to_motion']:7.3f} / {means['motion_to_music']:.3f}")
    print(
        ratio_line("  above its other-piece control", means["ictus"] - means["control"], GOALS["ictus_above_control"])
        + f"   (control {means['control']:.3f})"
    )
    print(ratio_line("coverage of madmom's beats, lowest piece", means["coverage_min"], GOALS["coverage_each"]))
    print(
        f"  {'  mean; pieces under the goal':44s} {means['coverage']:7.3f}; {means['coverage_short']} of {count}"
        f"   (sounding music covered: mean {means['sounding_coverage']:.3f})"
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_speed(trackers: list[str]) -> dict:
    """Seconds per minute of audio, whole piece, by stage (the learned tracker: spectrogram,
    network, decoding), on the 1- and 10-minute pieces of /work/data/long (or the demo)."""
    from core.audio.decode import load_audio
    from core.beats.activations import FRAME_RATE_HZ, spectrogram_features
    from core.beats.decoding import decode_bars
    from core.beats.learned_tracker import learned_network, sounding_frames

    pieces = [
        p for p in (Path("/work/data/long/piece_1min.flac"), Path("/work/data/long/piece_10min.flac")) if p.is_file()
    ] or [Path(__file__).resolve().parent.parent / "core/assets/demo_piece.ogg"]
    summary = {}
    for piece in pieces:
        samples = load_audio(piece)
        minutes = samples.size / SAMPLE_RATE_HZ / 60
        for name in trackers:
            started = time.perf_counter()
            track_with(name, samples)
            per_minute = (time.perf_counter() - started) / minutes
            summary[f"{name} {piece.stem}"] = per_minute
            print(
                ratio_line(
                    f"{name}, {piece.name} ({minutes:.1f} min): s per minute",
                    per_minute,
                    GOALS["seconds_per_minute"],
                    lower_is_better=True,
                )
            )
        if "learned" in trackers:
            network, _, settings = learned_network(required=True)
            t0 = time.perf_counter()
            features = spectrogram_features(samples)
            t1 = time.perf_counter()
            activations = network.activations(features)
            t2 = time.perf_counter()
            sounding = sounding_frames(samples, activations.shape[0])
            decode_bars(activations, FRAME_RATE_HZ, sounding=sounding, settings=settings)
            t3 = time.perf_counter()
            print(
                f"    stages per minute: spectrogram {(t1 - t0) / minutes:.3f} s, network {(t2 - t1) / minutes:.3f} s, "
                f"decoding {(t3 - t2) / minutes:.3f} s"
            )
    print(f"  peak memory {peak_rss_mb():.0f} MB")
    return summary


LONG_PIECES = Path("/work/data/long")  # piece_1min, piece_10min (and piece_120min) .flac: speed and length


def bad_input(trackers: list[str], *, long_hours: float) -> None:
    """Silence, one click, noise, a 1-s piece and a long piece: a valid grid, never NaN."""
    from core.audio.decode import load_audio

    rng = np.random.default_rng(0)
    click = np.zeros(SAMPLE_RATE_HZ * 10, np.float32)
    click[SAMPLE_RATE_HZ * 5 : SAMPLE_RATE_HZ * 5 + 200] = 0.8
    cases = {
        "silence 30 s": np.zeros(SAMPLE_RATE_HZ * 30, np.float32),
        "one click in 10 s": click,
        "white noise 30 s": (0.1 * rng.standard_normal(SAMPLE_RATE_HZ * 30)).astype(np.float32),
        "1-s piece": load_audio(Path(__file__).resolve().parent.parent / "core/assets/demo_piece.ogg")[:SAMPLE_RATE_HZ],
    }
    for name in trackers:
        for case, samples in cases.items():
            track = track_with(name, samples)
            valid = (
                np.all(np.isfinite(track.beats_s))
                and np.all(np.diff(track.beats_s) > 0)
                and np.isfinite(track.tempo_bpm)
            )
            print(
                f"  {name:8s} {case:20s} {track.beats_s.size:5d} beats, meter {track.meter}, "
                f"{'valid' if valid else 'INVALID'}"
            )
    longest = [p for p in (LONG_PIECES / "piece_120min.flac", LONG_PIECES / "piece_10min.flac") if p.is_file()]
    if long_hours and longest:
        long_piece = longest[0]
        samples = load_audio(long_piece)
        repeats = int(np.ceil(long_hours * 3600 * SAMPLE_RATE_HZ / samples.size))
        samples = np.tile(samples, repeats)[: int(long_hours * 3600 * SAMPLE_RATE_HZ)]
        before = peak_rss_mb()
        for name in trackers:
            started = time.perf_counter()
            track = track_with(name, samples)
            print(
                f"  {name:8s} {long_hours:g}-hour piece: {track.beats_s.size} beats in {time.perf_counter() - started:.0f} s,"
                f" finite {bool(np.all(np.isfinite(track.beats_s)))}, peak memory {peak_rss_mb():.0f} MB "
                f"(the samples alone {samples.nbytes / 2**20:.0f} MB; {before:.0f} MB before)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="folder for rendered excerpts (.npz)")
    parser.add_argument("--beats", default=None, help="a copy of core/beats/dsp_tracker.py to evaluate instead")
    parser.add_argument("--only", default=None, help="only pieces whose corpus path contains this")
    parser.add_argument(
        "--dataset", type=Path, default=None, help="score a built dataset's val and test samples instead"
    )
    parser.add_argument(
        "--renders", type=Path, default=None, help="score the held-out renders of training.beat_renders"
    )
    parser.add_argument("--split", default="test", help="the split of --renders (default test)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many renders (0 = all)")
    parser.add_argument("--real", type=Path, default=None, help="folder for the game-music excerpts and madmom's beats")
    parser.add_argument("--madmom-venv", type=Path, default=Path(__file__).resolve().parent.parent / ".venv-madmom")
    parser.add_argument(
        "--madmom-cache", type=Path, default=None, help="madmom's beats of the renders (default RENDERS/madmom_SPLIT)"
    )
    parser.add_argument("--no-madmom", action="store_true", help="leave madmom's figures on the renders out")
    parser.add_argument("--speed", action="store_true", help="seconds per minute of audio")
    parser.add_argument("--bad-input", action="store_true", help="silence, a click, noise, 1 s and a long piece")
    parser.add_argument("--long-hours", type=float, default=3.0, help="length of the long piece of --bad-input")
    parser.add_argument("--tracker", choices=("both", *TRACKER_NAMES), default="both")
    args = parser.parse_args()
    if args.renders or args.real or args.speed or args.bad_input:
        trackers = trackers_available(args.tracker)
        if args.renders:
            madmom = None if args.no_madmom else (args.madmom_cache or args.renders / f"madmom_{args.split}")
            score_renders(
                args.renders, trackers, split=args.split, limit=args.limit, madmom=madmom, venv=args.madmom_venv
            )
        if args.real:
            score_real(args.real, trackers, args.madmom_venv)
            score_given_bars(args.real, list(TRACKER_NAMES), args.madmom_venv)  # cheap: both, side by side
        if args.speed:
            measure_speed(trackers)
        if args.bad_input:
            bad_input(trackers, long_hours=args.long_hours)
        return
    track_beats = load_tracker(args.beats)
    if args.dataset is not None:
        score_dataset(args.dataset, track_beats)
        return

    rows: dict[str, list] = {"tune": [], "held": [], "tune-r": [], "held-r": []}
    print(
        f"{'half':6} {'piece (program; scale; tempo curve)':60} {'meter,bpm':>10} {'F':>5} {'dbF':>5} {'met':>3} "
        f"{'bpm':>6} {'s':>5}"
    )
    for half, corpus_path, program, tempo_scale, tempo_curve_ql in PIECES:
        if args.only and args.only not in corpus_path:
            continue
        piece = render(corpus_path, program, tempo_scale, tempo_curve_ql, args.cache)
        started = time.perf_counter()
        track = track_beats(piece["samples"], SAMPLE_RATE_HZ)
        took = time.perf_counter() - started
        beat_f = beat_f_measure(piece["beats_s"], track.beats_s, window_s=WINDOW_S)
        downbeat_f = beat_f_measure(piece["downbeats_s"], track.downbeats_s, window_s=WINDOW_S)
        meter = int(piece["meter"])
        true_bpm = 60.0 / float(np.median(np.diff(piece["beats_s"])))
        rows[half].append((beat_f, downbeat_f, track.meter == meter))
        label = (
            corpus_path
            + (f" ({program})" if program is not None else "")
            + (f" x{tempo_scale:g}" if tempo_scale != 1.0 else "")
            + "".join(f" {offset:g}:{factor:g}" for offset, factor in tempo_curve_ql)
        )
        line = (
            f"{half:6} {label:60} {meter:>3},{true_bpm:>6.1f} {beat_f:5.2f} {downbeat_f:5.2f} {track.meter:>3} "
            f"{track.tempo_bpm:6.1f} {took:5.2f}"
        )
        if tempo_curve_ql and track.beats_s.size > 4:
            first_last = lambda beats: (60 / np.diff(beats[:4]).mean(), 60 / np.diff(beats[-4:]).mean())  # noqa: E731
            line += "  true {:.0f}->{:.0f} tracked {:.0f}->{:.0f} bpm".format(
                *first_last(piece["beats_s"]), *first_last(track.beats_s)
            )
        print(line, flush=True)
    for half, values in rows.items():
        if values:
            beat_f, downbeat_f, right = np.mean(values, axis=0)
            print(
                f"{half} mean: F {beat_f:.2f}  dbF {downbeat_f:.2f}  meter {round(right * len(values))} "
                f"of {len(values)}"
            )


if __name__ == "__main__":
    main()
