"""Beat, downbeat, meter and tempo of core/beats.py on the 18 pieces of core/assets/README.md.

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
``--beats FILE`` tracks with another copy of core/beats.py, e.g. the committed one::

    git show HEAD:core/beats.py > /tmp/beats_head.py
    python bench/beat_tracking.py --cache /tmp/beat_renders --beats /tmp/beats_head.py

``--dataset DIR`` scores the held-out samples of a dataset built by ``training.build_dataset``
instead (``val`` and ``test``: each sample's ``audio.flac`` against its score beats in
``beats.npy``), one line a sample and the mean of each split.

Needs music21 and the fluidsynth program with the FluidR3_GM soundfont.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
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


def render(corpus_path: str, program: int | None, tempo_scale: float, tempo_curve_ql: tuple, cache: Path | None) -> dict:
    """Samples, beats, downbeats, meter and first tempo of one excerpt (from the cache if there)."""
    curve = "".join(f"_{offset:g}x{factor:g}" for offset, factor in tempo_curve_ql)
    name = f"{corpus_path.replace('/', '_')}_{program}_{tempo_scale:g}{curve}.npz"
    if cache is not None and (cache / name).exists():
        with np.load(cache / name) as archive:
            return {key: archive[key] for key in archive.files}
    from training.scores import render_score

    rendered = render_score(corpus_path, program=program, tempo_scale=tempo_scale, tempo_curve_ql=tempo_curve_ql,
                            excerpt_s=EXCERPT_S, default_bpm=DEFAULT_BPM, sample_rate_hz=SAMPLE_RATE_HZ)
    piece = {"samples": rendered.samples, "beats_s": rendered.beats_s, "downbeats_s": rendered.downbeats_s,
             "meter": np.int64(rendered.meter), "tempo_bpm": np.float64(rendered.tempo_bpm)}
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(cache / name, **piece)
    return piece


def load_tracker(path: str | None):
    """``track_beats`` from core/beats.py, or from another copy of it (same package, for ``.mel``)."""
    if path is None:
        from core.beats import track_beats

        return track_beats
    import core

    spec = importlib.util.spec_from_file_location("core._beats_under_test", path)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = core.__name__
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.track_beats


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
            print(f"{split:5} {folder.name:10} {beat_f:5.2f} {downbeat_f:5.2f} {track.meter:>3} {track.tempo_bpm:6.1f}",
                  flush=True)
        if values:
            beat_f, downbeat_f = np.mean(values, axis=0)
            print(f"{split} mean over {len(values)} samples: F {beat_f:.3f}  dbF {downbeat_f:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="folder for rendered excerpts (.npz)")
    parser.add_argument("--beats", default=None, help="a copy of core/beats.py to evaluate instead")
    parser.add_argument("--only", default=None, help="only pieces whose corpus path contains this")
    parser.add_argument("--dataset", type=Path, default=None, help="score a built dataset's val and test samples instead")
    args = parser.parse_args()
    track_beats = load_tracker(args.beats)
    if args.dataset is not None:
        score_dataset(args.dataset, track_beats)
        return

    rows: dict[str, list] = {"tune": [], "held": [], "tune-r": [], "held-r": []}
    print(f"{'half':6} {'piece (program; scale; tempo curve)':60} {'meter,bpm':>10} {'F':>5} {'dbF':>5} {'met':>3} "
          f"{'bpm':>6} {'s':>5}")
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
        label = corpus_path + (f" ({program})" if program is not None else "") + (
            f" x{tempo_scale:g}" if tempo_scale != 1.0 else "") + "".join(
            f" {offset:g}:{factor:g}" for offset, factor in tempo_curve_ql)
        line = (f"{half:6} {label:60} {meter:>3},{true_bpm:>6.1f} {beat_f:5.2f} {downbeat_f:5.2f} {track.meter:>3} "
                f"{track.tempo_bpm:6.1f} {took:5.2f}")
        if tempo_curve_ql and track.beats_s.size > 4:
            first_last = lambda beats: (60 / np.diff(beats[:4]).mean(), 60 / np.diff(beats[-4:]).mean())  # noqa: E731
            line += "  true {:.0f}->{:.0f} tracked {:.0f}->{:.0f} bpm".format(
                *first_last(piece["beats_s"]), *first_last(track.beats_s))
        print(line, flush=True)
    for half, values in rows.items():
        if values:
            beat_f, downbeat_f, right = np.mean(values, axis=0)
            print(f"{half} mean: F {beat_f:.2f}  dbF {downbeat_f:.2f}  meter {round(right * len(values))} "
                  f"of {len(values)}")


if __name__ == "__main__":
    main()
