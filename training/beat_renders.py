"""Training data for the beat tracker: scores and MIDI files rendered with exact beat labels.

    python -m training.beat_renders --out /work/data/beats --hours 20 --jobs 2 --seed 0

Sources: every kind of score in music21's corpus (Bach chorales, quartets and sonatas, lieder,
madrigals and masses, rags, the fiddle-tune and folk-song collections, one tune of an ABC
collection at a time) and the sequenced MIDI files that Debian packages ship (``openttd-openmsx``,
``planetblupi-music-midi``: their tempo maps and time signatures label them exactly). Each render
lays a piece's notes on a time line of its own: a tempo drawn for the notated beat, then steady,
rubato, an accelerando or ritardando, phrase-end ritardandi, the score's fermatas held and
fermatas added; some renders join two pieces of different meters (a meter change). The notes are
then played off that grid (onsets humanised by tens of milliseconds, a lag per part, shortened or
held), with dynamics (a slow random crescendo and diminuendo, accents) and an ensemble of General
MIDI programs (orchestra, strings, band, piano, organ, choir, plucked, mallets, synths, or the
score's own), sometimes with drums or, for a bare tune, a simple accompaniment; FluidSynth renders
it in stereo with one of the soundfonts. The labels come from the same time line, so they stay on
the beat: every notated beat (the time signature's beat unit: the quarter of 3/4, the dotted
quarter of 6/8, the half of 2/2), which of them start a bar, each bar's beat count, and the beat's
division (in two or three).

Splits are by work (all movements of a quartet, all renders of one MIDI file in one split):
``train`` and ``val`` are rendered with the training soundfonts, ``test`` only with
``HELD_OUT_SOUNDFONT``, never used for training. Augmentation (reverb, EQ, noise, level, lossy
coding, channel mix) happens later, on the fly, in :mod:`training.beat_augment`.

Layout written::

    <out>/<split>/<name>/audio.flac   stereo, 22,050 Hz, 16-bit
    <out>/<split>/<name>/labels.npz   see :func:`labels_of`
    <out>/manifest.json               every render's source and settings (rewritten after each)

Resumable: a render whose folder already holds both files is not rendered again.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.audio.decode import SAMPLE_RATE_HZ
from training.scores import DRUM_CHANNEL, NoteEvent, midi_file_bytes

TRAINING_SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",  # fluid-soundfont-gm, MIT
    "/usr/share/sounds/sf2/MuseScore_General_Full.sf2",  # musescore-general-soundfont-lossless, MIT
    "/usr/share/sounds/sf2/sf_GMbank.sf2",  # csound-soundfont, LGPL-2.1+
)
HELD_OUT_SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"  # timgm6mb-soundfont, GPL-2: test renders only
MIDI_FOLDERS = ("/usr/share/games/openttd/baseset/openmsx", "/usr/share/planetblupi/music")
SPLIT_PERCENT = {"test": 8, "val": 6}  # of the works, by a hash of the work's name; the rest train
# Share of the renders drawn from each kind of source.
KIND_WEIGHTS = {"chorale": 0.13, "classical": 0.22, "renaissance": 0.10, "folk": 0.25, "other": 0.10, "midi": 0.20}
RENAISSANCE = ("palestrina", "monteverdi", "josquin", "trecento", "luca", "ciconia", "lusitano")
FOLK = ("essenFolksong", "oneills1850", "ryansMammoth", "nottingham-dataset", "airdsAirs", "miscFolk")
CLASSICAL = (
    "mozart",
    "haydn",
    "beethoven",
    "schubert",
    "schumann_robert",
    "schumann_clara",
    "chopin",
    "cpebach",
    "handel",
    "corelli",
    "weber",
    "verdi",
    "beach",
)
SKIPPED = ("demos", "theoryExercises", "leadSheet/fosterBrownHair")  # test files and exercises, not music
MAX_EXCERPT_S = 75.0
MIN_EXCERPT_S = 12.0
BEAT_BPM = (48.0, 200.0)  # log-uniform tempo of the notated beat at the start of a render
FAST_TRIPLE_BPM = (170.0, 280.0)  # a share of the 3/4 and 3/8 renders: scherzi and waltzes (beaten in one)
SLOW_COMPOUND_BPM = (34.0, 60.0)  # a share of the 6/8 renders: slow dotted quarters (beaten in six)
SAMPLE_WIDTH = "PCM_16"

# General MIDI programs by ensemble (the score's own instruments are an ensemble too).
ENSEMBLES = {
    "orchestra": ((40, 41, 56, 68, 71, 73, 60), (40, 41, 42, 69, 71, 57), (42, 43, 70, 58, 57, 61), (43, 32, 58, 70)),
    "strings": ((40, 48, 49, 44, 45), (40, 41, 48, 49), (41, 42, 48, 49), (42, 43, 48, 49)),
    "band": ((56, 65, 64, 73, 72), (56, 66, 60, 61, 71), (57, 67, 61, 60), (58, 67, 67, 32)),
    "piano": ((0,), (0, 1), (0, 1, 2), (0, 1)),
    "keys": ((4, 5, 6, 7, 3), (4, 5, 6, 7), (4, 5, 6, 7), (4, 5, 6, 32, 33)),
    "organ": ((19, 16, 17, 20, 21), (19, 16, 17, 20), (19, 16, 17, 20), (19, 16, 20)),
    "choir": ((52, 53, 54, 85), (52, 53), (52, 53), (52, 53)),
    "plucked": ((24, 25, 46, 105, 6), (24, 25, 46, 107, 6), (24, 25, 46, 6), (32, 33, 34, 46, 35)),
    "mallets": ((8, 9, 11, 12, 13, 14), (8, 11, 12, 13), (11, 12, 13, 8), (12, 32, 33)),
    "synth": ((80, 81, 82, 87, 90, 62), (81, 88, 89, 90, 91, 63), (88, 89, 90, 91, 95, 50), (38, 39, 87, 33)),
}
ENSEMBLE_WEIGHTS = {
    "score": 0.22,
    "orchestra": 0.14,
    "strings": 0.12,
    "band": 0.07,
    "piano": 0.14,
    "keys": 0.04,
    "organ": 0.06,
    "choir": 0.06,
    "plucked": 0.07,
    "mallets": 0.03,
    "synth": 0.05,
}


# --------------------------------------------------------------------------- what a piece says
@dataclasses.dataclass
class NotatedBar:
    """One bar as notated: where it starts and how its beats fall, in quarter lengths."""

    start_ql: float
    length_ql: float
    beats: int  # beats of the time signature (6/8: 2)
    beat_ql: float  # the beat unit (6/8: 1.5)
    division: int  # 2 or 3 parts a beat (6/8: 3)
    pickup_ql: float = 0.0  # the missing start of an incomplete first bar


@dataclasses.dataclass
class PieceContent:
    """A piece's notes, bars, tempo marks and fermatas, in quarter lengths.

    ``notes`` is (N, 6) float64: start, length, pitch, velocity, part, program (the part's own, -1
    for none); ``drum_parts`` the parts to play on the drum channel.
    """

    name: str
    work: str
    kind: str
    notes: np.ndarray
    bars: list[NotatedBar]
    tempo_marks: list[tuple[float, float]]  # (offset, quarter notes per minute)
    fermatas: list[tuple[float, float]]
    drum_parts: tuple[int, ...] = ()

    @property
    def parts(self) -> int:
        return int(self.notes[:, 4].max()) + 1 if self.notes.size else 0

    @property
    def end_ql(self) -> float:
        return self.bars[-1].start_ql + self.bars[-1].length_ql if self.bars else 0.0


def notated_beats(numerator: int, denominator: int) -> tuple[int, float, int]:
    """Beats per bar, the beat's length in quarters and its division, of a time signature: 6/8,
    9/8, 12/8 and 6/4 are compound (dotted beats in three); everything else counts its numerator
    (3/8 three quavers, 2/2 two halves, 7/8 seven quavers)."""
    unit_ql = 4.0 / denominator
    if numerator % 3 == 0 and numerator > 3:
        return numerator // 3, 3.0 * unit_ql, 3
    return max(1, numerator), unit_ql, 2


def content_from_score(score, name: str, work: str, kind: str) -> PieceContent:
    """A music21 score's notes (ties joined, grace notes dropped), bars from its first part's
    measures (a pickup keeps only the beats that end its bar), tempo marks and fermatas."""
    from music21 import expressions, meter, tempo

    parts = list(score.parts) if score.hasPartLikeStreams() else [score]
    rows = []
    for index, part in enumerate(parts):
        instrument = part.getInstrument(returnDefault=False)
        program = getattr(instrument, "midiProgram", None)
        for element in part.stripTies().flatten().notes:
            length = float(element.quarterLength)
            if length <= 0:
                continue
            velocity = element.volume.velocity or 80
            for pitch in element.pitches:
                rows.append(
                    (float(element.offset), length, pitch.midi, velocity, index, -1 if program is None else program)
                )
    notes = np.array(rows, dtype=np.float64).reshape(-1, 6)
    bars: list[NotatedBar] = []
    signature = None
    for bar in parts[0].getElementsByClass("Measure"):
        found = bar.getElementsByClass(meter.TimeSignature)
        if found:
            signature = found[0]
        numerator, denominator = (signature.numerator, signature.denominator) if signature is not None else (4, 4)
        beats, beat_ql, division = notated_beats(numerator, denominator)
        start = float(bar.getOffsetInHierarchy(score))
        length = float(bar.duration.quarterLength)
        if length <= 0:
            continue
        bars.append(NotatedBar(start, length, beats, beat_ql, division, pickup_ql=float(bar.paddingLeft)))
    marks = sorted(
        (float(mark.getOffsetInHierarchy(score)), float(mark.getQuarterBPM()))
        for mark in score.recurse().getElementsByClass(tempo.MetronomeMark)
        if mark.getQuarterBPM() is not None
    )
    fermatas = []
    for element in score.recurse().notes:
        if any(isinstance(e, expressions.Fermata) for e in element.expressions):
            start = float(element.getOffsetInHierarchy(score))
            fermatas.append((start, start + float(element.quarterLength)))
    return PieceContent(name, work, kind, notes, bars, marks or [(0.0, 100.0)], sorted(set(fermatas)))


def content_from_midi(path: str) -> PieceContent:
    """A MIDI file's notes (one part per channel, the drum channel a drum part), its bars from
    the time signatures, and its tempo map.

    Raises
    ------
    ValueError
        Fewer than 100 notes, or notes that are not on the file's beat grid (under half of the
        onsets within a 32nd of a 16th note: a played-in file whose bars would be guesses).
    """
    from core.beats.midi import read_midi

    content = read_midi(path)
    notes = content.notes
    if notes.shape[0] < 100:
        raise ValueError("fewer than 100 notes")
    on_grid = np.abs((notes[:, 0] * 4.0 + 0.5) % 1.0 - 0.5) < 0.125
    if on_grid.mean() < 0.5:
        raise ValueError(f"only {on_grid.mean():.0%} of the onsets on the sixteenth grid")
    bars: list[NotatedBar] = []
    signatures = content.time_signatures + [(np.inf, 4, 4)]
    for (offset, numerator, denominator), (following, _, _) in zip(signatures[:-1], signatures[1:]):
        beats, beat_ql, division = notated_beats(numerator, denominator)
        length = numerator * 4.0 / denominator
        start = offset
        while start < min(following, content.end_ql) - 1e-6:
            bars.append(NotatedBar(start, min(length, following - start), beats, beat_ql, division))
            start += length
    channels = sorted(set(notes[:, 4].astype(int)))
    part_of = {channel: i for i, channel in enumerate(channels)}
    programs = np.where(notes[:, 4] == DRUM_CHANNEL, 0, content.programs)
    rows = np.stack(
        [
            notes[:, 0],
            notes[:, 1],
            notes[:, 2],
            notes[:, 3],
            np.array([part_of[int(c)] for c in notes[:, 4]], dtype=np.float64),
            programs,
        ],
        axis=1,
    )
    drum_parts = tuple(part_of[DRUM_CHANNEL] for _ in [0] if DRUM_CHANNEL in part_of)
    name = Path(path).stem
    return PieceContent(name, f"midi/{name}", "midi", rows, bars, content.tempo_marks, [], drum_parts)


# --------------------------------------------------------------------------- sources
@dataclasses.dataclass(frozen=True)
class Source:
    """Where a piece comes from: a corpus path (with the tune's number in an ABC collection) or a MIDI file."""

    kind: str
    path: str
    number: int | None = None

    @property
    def work(self) -> str:
        if self.kind == "midi":
            return f"midi/{Path(self.path).stem}"
        if self.number is not None:
            return f"{self.path}#{self.number}"
        return re.sub(r"/movement[^/]*$", "", re.sub(r"\.[a-z]+$", "", self.path))


def corpus_sources() -> dict[str, list[Source]]:
    """Every usable score of music21's corpus by kind, ABC collections one tune at a time."""
    from music21 import corpus

    by_kind: dict[str, list[Source]] = {kind: [] for kind in KIND_WEIGHTS if kind != "midi"}
    for full in corpus.getPaths():
        path = str(full).replace(os.sep, "/").split("/corpus/")[-1]
        top = path.split("/")[0]
        if path.startswith(SKIPPED):
            continue
        if top == "bach":
            kind = "chorale" if re.search(r"bwv\d", path) and "bwv846" not in path else "other"
        elif top in CLASSICAL:
            kind = "classical"
        elif top in RENAISSANCE:
            kind = "renaissance"
        elif top in FOLK:
            kind = "folk"
        else:
            kind = "other"
        if path.endswith(".abc"):
            text = Path(full).read_text(errors="replace")
            numbers = [int(m) for m in re.findall(r"^X:\s*(\d+)", text, flags=re.MULTILINE)]
            if len(numbers) > 1:
                by_kind[kind].extend(Source(kind, path, n) for n in sorted(set(numbers)))
                continue
        by_kind[kind].append(Source(kind, path))
    return by_kind


def midi_sources() -> list[Source]:
    """The MIDI files of ``MIDI_FOLDERS`` that exist on this machine."""
    found = []
    for folder in MIDI_FOLDERS:
        if Path(folder).is_dir():
            found += [Source("midi", str(p)) for p in sorted(Path(folder).glob("*.mid"))]
    return found


def split_of(work: str) -> str:
    """The split of a work, fixed by a hash of its name (so it never changes between builds)."""
    value = int(hashlib.sha256(work.encode()).hexdigest()[:8], 16) % 100
    if value < SPLIT_PERCENT["test"]:
        return "test"
    return "val" if value < SPLIT_PERCENT["test"] + SPLIT_PERCENT["val"] else "train"


def load_content(source: Source, cache: Path | None = None) -> PieceContent:
    """Parse a source (music21 for scores, :mod:`core.beats.midi` for MIDI); with ``cache``,
    a folder of parsed pieces (a quartet movement takes music21 up to a minute, and is rendered
    many times)."""
    import pickle

    cached = None
    if cache is not None:
        cached = cache / (hashlib.sha256(repr(source).encode()).hexdigest()[:24] + ".pickle")
        if cached.is_file():
            return pickle.loads(cached.read_bytes())
    content = parse_content(source)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_suffix(f".{os.getpid()}.partial")
        temporary.write_bytes(pickle.dumps(content))
        os.replace(temporary, cached)
    return content


def parse_content(source: Source) -> PieceContent:
    """A source's :class:`PieceContent`, parsed afresh."""
    if source.kind == "midi":
        return content_from_midi(source.path)
    from music21 import corpus, stream

    score = corpus.parse(source.path, number=source.number) if source.number is not None else corpus.parse(source.path)
    if isinstance(score, stream.Opus):
        score = score.scores[0]
    name = re.sub(r"[^A-Za-z0-9]+", "_", source.path.rsplit(".", 1)[0]) + (f"_{source.number}" if source.number else "")
    return content_from_score(score, name, source.work, source.kind)


# --------------------------------------------------------------------------- how it is played
@dataclasses.dataclass(frozen=True)
class RenderJob:
    """One render: a source (and a second one to join after it, for a meter change) and every
    random choice of its performance, drawn from ``seed``."""

    index: int
    source: Source
    split: str
    seed: int
    soundfont: str
    second: Source | None = None


def plan_renders(count: int, *, seed: int, sources: dict[str, list[Source]] | None = None) -> list[RenderJob]:
    """``count`` renders in a seeded order; the kinds by ``KIND_WEIGHTS``, the pieces of a kind
    in turn (shuffled), a test render with ``HELD_OUT_SOUNDFONT`` and every other with one of
    ``TRAINING_SOUNDFONTS``; one in eight joins a second piece of the same split."""
    sources = sources if sources is not None else {**corpus_sources(), "midi": midi_sources()}
    rng = np.random.default_rng(seed)
    pools = {
        kind: [sources[kind][i] for i in rng.permutation(len(sources[kind]))]
        for kind in KIND_WEIGHTS
        if sources.get(kind)
    }
    kinds = sorted(pools)
    weights = np.array([KIND_WEIGHTS[k] for k in kinds])
    cursor = {kind: 0 for kind in kinds}
    by_split: dict[str, list[Source]] = {}
    for kind in kinds:
        for source in pools[kind]:
            by_split.setdefault(split_of(source.work), []).append(source)
    training_soundfonts = [f for f in TRAINING_SOUNDFONTS if Path(f).is_file()] or list(TRAINING_SOUNDFONTS[:1])
    jobs = []
    for index in range(count):
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        source = pools[kind][cursor[kind] % len(pools[kind])]
        cursor[kind] += 1
        split = split_of(source.work)
        soundfont = (
            HELD_OUT_SOUNDFONT if split == "test" else training_soundfonts[int(rng.integers(len(training_soundfonts)))]
        )
        second = None
        if rng.random() < 0.125:
            mates = by_split[split]
            second = mates[int(rng.integers(len(mates)))]
        jobs.append(RenderJob(index, source, split, int(rng.integers(2**31)), soundfont, second))
    return jobs


@dataclasses.dataclass
class Performance:
    """The random choices of one render (recorded in the manifest)."""

    beat_bpm: float
    tempo_style: str
    tempo_curve: list[tuple[float, float]]  # (offset in quarters from the excerpt start, tempo factor)
    fermata_scale: float
    added_fermatas: list[float]
    onset_jitter_s: float
    part_lag_s: list[float]
    articulation: float
    ensemble: str
    programs: list[int]
    drums: bool
    accompaniment: bool
    reverb: bool
    chorus: bool
    first_bar: int
    last_bar: int


def choose_excerpt(content: PieceContent, rng: np.random.Generator, beat_bpm: float) -> tuple[int, int]:
    """First and last bar (exclusive) of an excerpt of at most ``MAX_EXCERPT_S`` at ``beat_bpm``."""
    bars = content.bars
    first = 0 if rng.random() < 0.35 or len(bars) < 4 else int(rng.integers(0, max(1, len(bars) - 4)))
    seconds, last = 0.0, first
    while last < len(bars) and seconds < MAX_EXCERPT_S * 0.9:
        bar = bars[last]
        seconds += bar.length_ql / bar.beat_ql * 60.0 / beat_bpm
        last += 1
    return first, last


def tempo_curve(rng: np.random.Generator, style: str, length_ql: float, bar_ql: float) -> list[tuple[float, float]]:
    """(offset, factor) points of a tempo curve over ``length_ql`` quarters, for the time line
    (linear between points, constant beyond). Styles: steady, rubato (a mean-reverting random
    walk every one to three bars), ramp (an accelerando or ritardando to 0.65-1.5 times), phrase
    (ritardando into every fourth bar line, a tempo after), swing (rubato and a ramp)."""
    if style == "steady" or length_ql <= 0:
        return []
    points = [(0.0, 1.0)]
    if style in ("rubato", "swing"):
        offset, log_factor = 0.0, 0.0
        while offset < length_ql:
            offset += float(rng.uniform(1.0, 3.0)) * bar_ql
            log_factor = float(np.clip(0.7 * log_factor + rng.normal(0.0, 0.07), np.log(0.75), np.log(1.33)))
            points.append((offset, float(np.exp(log_factor))))
    if style in ("ramp", "swing"):
        start = float(rng.uniform(0.0, 0.5)) * length_ql
        end = start + float(rng.uniform(0.2, 0.6)) * length_ql
        target = float(np.exp(rng.uniform(np.log(0.65), np.log(1.5))))
        base = points if style == "swing" else [(0.0, 1.0)]
        factor = lambda q: float(np.interp(q, [p[0] for p in base], [p[1] for p in base]))  # noqa: E731
        ramp = lambda q: 1.0 + (target - 1.0) * float(np.clip((q - start) / (end - start), 0.0, 1.0))  # noqa: E731
        grid = np.arange(0.0, length_ql + bar_ql, bar_ql / 2)
        points = [(float(q), factor(q) * ramp(q)) for q in grid]
    if style == "phrase":
        phrase_ql = 4 * bar_ql
        slow = float(rng.uniform(0.6, 0.85))
        points = []
        for start in np.arange(0.0, length_ql, phrase_ql):
            points += [(start, 1.0), (start + phrase_ql - bar_ql, 1.0), (start + phrase_ql - 1e-3, slow)]
    return points


class TimeLine:
    """Seconds of the offsets (quarters) of an excerpt: the piece's tempo marks scaled so the
    first beat has ``beat_bpm``, times a tempo curve sampled every sixteenth, with fermatas (the
    score's and the added ones) held ``fermata_scale`` times as long."""

    def __init__(self, content: PieceContent, first_bar: int, last_bar: int, performance: Performance) -> None:
        bars = content.bars[first_bar:last_bar]
        self.start_ql = bars[0].start_ql
        self.end_ql = bars[-1].start_ql + bars[-1].length_ql
        marks = content.tempo_marks

        def mark_at(q: float) -> float:  # the tempo mark in force at quarter-note offset q
            if marks[0][0] > q + 1e-9:
                return marks[0][1]
            return [bpm for offset, bpm in marks if offset <= q + 1e-9][-1]

        first_beat_bpm = mark_at(self.start_ql) / bars[0].beat_ql
        scale = performance.beat_bpm / first_beat_bpm
        held = list(content.fermatas) + [(q, q + self.beat_at(content, q)) for q in performance.added_fermatas]
        edges = set(np.arange(self.start_ql, self.end_ql, 0.25).tolist()) | {self.end_ql}
        edges |= {q for span in held for q in span if self.start_ql < q < self.end_ql}
        edges |= {q for q, _ in marks if self.start_ql < q < self.end_ql}
        self.edges_ql = np.array(sorted(edges))
        middles = 0.5 * (self.edges_ql[:-1] + self.edges_ql[1:])
        curve = np.array(performance.tempo_curve, dtype=np.float64).reshape(-1, 2)
        factor = np.interp(middles - self.start_ql, curve[:, 0], curve[:, 1]) if curve.size else np.ones(middles.size)
        bpm = np.array([mark_at(q) for q in middles]) * scale * factor
        hold = np.array([any(a <= q < b for a, b in held) for q in middles])
        seconds_per_ql = 60.0 / bpm * np.where(hold, performance.fermata_scale, 1.0)
        self.edges_s = np.concatenate([[0.0], np.cumsum(np.diff(self.edges_ql) * seconds_per_ql)])

    @staticmethod
    def beat_at(content: PieceContent, offset_ql: float) -> float:
        bar = [b for b in content.bars if b.start_ql <= offset_ql + 1e-9][-1]
        return bar.beat_ql

    def seconds(self, offset_ql):
        return np.interp(np.asarray(offset_ql, dtype=np.float64), self.edges_ql, self.edges_s)

    @property
    def end_s(self) -> float:
        return float(self.edges_s[-1])


def labels_of(content: PieceContent, first_bar: int, last_bar: int, timeline: TimeLine) -> dict[str, np.ndarray]:
    """The exact labels of an excerpt, in seconds from its start.

    Returns
    -------
    dict
        ``beats_s`` (B,) float64 every notated beat; ``beat_in_bar`` (B,) int its place in the bar
        (0 the downbeat; a pickup's beats count back from the end of their bar); ``bar_beats``
        (B,) int the beats of its bar (its meter); ``beat_division`` (B,) int 2 or 3;
        ``downbeats_s`` (D,) float64; ``divisions_s`` (K,) float64 the points that divide the
        beats (quavers of a 4/4, of a 6/8), not on a beat.
    """
    beats, in_bar, bar_beats, division, divisions = [], [], [], [], []
    for bar in content.bars[first_bar:last_bar]:
        for k in range(bar.beats):
            position = k * bar.beat_ql - bar.pickup_ql
            if position < -1e-9 or position >= bar.length_ql - 1e-9:
                continue
            onset = bar.start_ql + position
            beats.append(onset)
            in_bar.append(k)
            bar_beats.append(bar.beats)
            division.append(bar.division)
            step = bar.beat_ql / bar.division
            divisions += [
                onset + j * step for j in range(1, bar.division) if position + j * step < bar.length_ql - 1e-9
            ]
    beats_s = timeline.seconds(beats)
    in_bar_array = np.array(in_bar, dtype=int)
    return {
        "beats_s": beats_s,
        "beat_in_bar": in_bar_array,
        "bar_beats": np.array(bar_beats, dtype=int),
        "beat_division": np.array(division, dtype=int),
        "downbeats_s": beats_s[in_bar_array == 0],
        "divisions_s": timeline.seconds(divisions),
    }


def draw_performance(content: PieceContent, rng: np.random.Generator) -> Performance:
    """Every random choice of a render of ``content`` (see the module docstring)."""
    first_bar_meter = content.bars[0]
    triple = sum(b.beats == 3 and b.division == 2 for b in content.bars) > len(content.bars) / 2
    compound = sum(b.division == 3 for b in content.bars) > len(content.bars) / 2
    if triple and rng.random() < 0.3:
        beat_bpm = float(rng.uniform(*FAST_TRIPLE_BPM))
    elif compound and rng.random() < 0.3:
        beat_bpm = float(rng.uniform(*SLOW_COMPOUND_BPM))
    elif content.kind == "midi" and rng.random() < 0.5:  # its own tempo, within the range
        beat_bpm = float(
            np.clip(content.tempo_marks[0][1] / first_bar_meter.beat_ql * rng.uniform(0.85, 1.15), *BEAT_BPM)
        )
    else:
        beat_bpm = float(np.exp(rng.uniform(*np.log(BEAT_BPM))))
    first_bar, last_bar = choose_excerpt(content, rng, beat_bpm)
    bars = content.bars[first_bar:last_bar]
    length_ql = bars[-1].start_ql + bars[-1].length_ql - bars[0].start_ql
    style = str(rng.choice(["steady", "rubato", "ramp", "phrase", "swing"], p=[0.3, 0.25, 0.2, 0.1, 0.15]))
    curve = tempo_curve(rng, style, length_ql, bars[0].length_ql)
    added = []
    if rng.random() < 0.2 and len(bars) > 4:  # fermatas on the last beat of a few bars
        for i in rng.choice(np.arange(1, len(bars) - 1), size=min(3, len(bars) - 2), replace=False):
            bar = bars[int(i)]
            added.append(bar.start_ql + bar.length_ql - bar.beat_ql)
    parts = max(content.parts, 1)
    ensemble = (
        "score"
        if content.kind == "midi" and rng.random() < 0.7
        else str(
            rng.choice(
                list(ENSEMBLE_WEIGHTS), p=np.array(list(ENSEMBLE_WEIGHTS.values())) / sum(ENSEMBLE_WEIGHTS.values())
            )
        )
    )
    programs = part_programs(content, ensemble, rng)
    return Performance(
        beat_bpm=round(beat_bpm, 2),
        tempo_style=style,
        tempo_curve=[(round(a, 3), round(b, 4)) for a, b in curve],
        fermata_scale=round(float(rng.uniform(1.5, 3.0)), 2),
        added_fermatas=sorted(added),
        onset_jitter_s=round(float(rng.uniform(0.0, 0.03)), 4),
        part_lag_s=[round(float(v), 4) for v in rng.normal(0.0, 0.012, parts)],
        articulation=round(float(rng.uniform(0.55, 1.05)), 3),
        ensemble=ensemble,
        programs=programs,
        drums=content.kind != "midi" and rng.random() < 0.12,
        accompaniment=parts == 1 and rng.random() < 0.5,
        reverb=bool(rng.random() < 0.6),
        chorus=bool(rng.random() < 0.4),
        first_bar=first_bar,
        last_bar=last_bar,
    )


def part_programs(content: PieceContent, ensemble: str, rng: np.random.Generator) -> list[int]:
    """A General MIDI program per part: the score's (piano when it names none) or, for an
    ensemble, one of its programs for the part's register (highest part first)."""
    parts = max(content.parts, 1)
    own = [0] * parts
    for part in range(parts):
        chosen = content.notes[content.notes[:, 4] == part, 5]
        own[part] = int(chosen[0]) if chosen.size and chosen[0] >= 0 else 0
    if ensemble == "score":
        return own
    registers = ENSEMBLES[ensemble]
    mean_pitch = [
        content.notes[content.notes[:, 4] == p, 2].mean() if np.any(content.notes[:, 4] == p) else 60.0
        for p in range(parts)
    ]
    rank = np.argsort(np.argsort(-np.array(mean_pitch)))  # 0 = highest part
    programs = []
    for part in range(parts):
        register = registers[min(int(rank[part] * len(registers) / parts), len(registers) - 1)]
        programs.append(int(register[int(rng.integers(len(register)))]))
    return programs


def performed_notes(
    content: PieceContent, performance: Performance, timeline: TimeLine, labels: dict, rng: np.random.Generator
) -> list[NoteEvent]:
    """The excerpt's notes as played: off the grid, articulated, with dynamics; drums or an
    accompaniment added when the performance asks for them."""
    notes = content.notes
    inside = (notes[:, 0] >= timeline.start_ql - 1e-9) & (notes[:, 0] < timeline.end_ql - 1e-9)
    notes = notes[inside]
    start_s = timeline.seconds(notes[:, 0])
    end_s = timeline.seconds(np.minimum(notes[:, 0] + notes[:, 1], timeline.end_ql))
    parts = notes[:, 4].astype(int)
    # Dynamics: a slow random walk of the level in dB (crescendo, diminuendo), a subito now and then.
    knots_s = np.arange(0.0, timeline.end_s + 4.0, 4.0)
    walk = np.cumsum(rng.normal(0.0, 2.5, knots_s.size))
    walk += np.where(rng.random(knots_s.size) < 0.05, rng.normal(0.0, 8.0, knots_s.size), 0.0)
    walk = np.clip(walk - walk.mean(), -9.0, 6.0)
    gain = 10.0 ** (np.interp(start_s, knots_s, walk) / 40.0)  # velocity ~ amplitude^(1/2) in GM synths
    beats_s, in_bar = labels["beats_s"], labels["beat_in_bar"]
    nearest = np.clip(np.searchsorted(beats_s, start_s), 0, max(beats_s.size - 1, 0))
    on_beat = beats_s.size > 0
    accent = np.ones(notes.shape[0])
    if on_beat:
        close = np.abs(beats_s[nearest] - start_s) < 0.03
        accent = np.where(close & (in_bar[nearest] == 0), 1.0 + rng.uniform(0.0, 0.15), np.where(close, 1.04, 1.0))
    velocity = np.clip(notes[:, 3] * gain * accent * rng.uniform(0.92, 1.08, notes.shape[0]), 8, 127)
    lag = np.array(performance.part_lag_s + [0.0] * (parts.max(initial=0) + 1))[parts]
    played_start = np.maximum(0.0, start_s + lag + rng.normal(0.0, performance.onset_jitter_s, notes.shape[0]))
    played_end = np.maximum(played_start + 0.04, start_s + lag + (end_s - start_s) * performance.articulation)
    events = []
    channels = [c for c in range(16) if c != DRUM_CHANNEL]
    for i in range(notes.shape[0]):
        part = parts[i]
        drum = part in content.drum_parts
        channel = DRUM_CHANNEL if drum else channels[part % len(channels)]
        program = 0 if drum else performance.programs[part % len(performance.programs)]
        events.append(
            NoteEvent(
                float(played_start[i]), float(played_end[i]), int(notes[i, 2]), int(velocity[i]), channel, program
            )
        )
    if performance.drums:
        events += drum_part(labels, rng)
    if performance.accompaniment:
        events += accompaniment(notes, start_s, labels, rng)
    return events


def drum_part(labels: dict, rng: np.random.Generator) -> list[NoteEvent]:
    """A plain kit on the labels: bass drum on the downbeats (and the middle of a 4-bar), snare
    on the other beats or the backbeats, closed hi-hat on the divisions."""
    events = []
    jitter = lambda: float(rng.normal(0.0, 0.008))  # noqa: E731
    for beat, k, meter in zip(labels["beats_s"], labels["beat_in_bar"], labels["bar_beats"]):
        pitch = 36 if k == 0 or (meter == 4 and k == 2) else 38
        velocity = 100 if k == 0 else 80
        events.append(NoteEvent(max(0.0, beat + jitter()), beat + 0.1, pitch, velocity, DRUM_CHANNEL, 0))
    for division in labels["divisions_s"]:
        events.append(NoteEvent(max(0.0, division + jitter()), division + 0.05, 42, 60, DRUM_CHANNEL, 0))
    return events


def accompaniment(notes: np.ndarray, start_s: np.ndarray, labels: dict, rng: np.random.Generator) -> list[NoteEvent]:
    """For a bare tune: on every beat the tune's note an octave and a twelfth below (a bass note
    two octaves down on the downbeat), on a chord channel (program from piano, guitar, accordion,
    strings)."""
    program = int(rng.choice([0, 24, 21, 48, 4]))
    events = []
    beats_s = labels["beats_s"]
    for i, (beat, k) in enumerate(zip(beats_s, labels["beat_in_bar"])):
        sounding = np.flatnonzero(start_s <= beat + 0.02)
        if sounding.size == 0:
            continue
        pitch = int(notes[sounding[-1], 2])
        end = beats_s[i + 1] if i + 1 < beats_s.size else beat + 0.5
        chord = [pitch - 12, pitch - 19] + ([pitch - 24] if k == 0 else [])
        for p in chord:
            if p > 20:
                events.append(NoteEvent(float(beat), float(end) - 0.02, p, 64 if k else 76, 14, program))
    return events


def joined(
    first: PieceContent, first_range: tuple[int, int], second: PieceContent, second_range: tuple[int, int]
) -> PieceContent:
    """Two excerpts (bar ranges) one after the other: the second's bars, notes (as new parts),
    tempo marks (scaled to the first's tempo) and fermatas shifted to the end of the first."""
    a_bars = first.bars[first_range[0] : first_range[1]]
    b_bars = second.bars[second_range[0] : second_range[1]]
    a_start, a_end = a_bars[0].start_ql, a_bars[-1].start_ql + a_bars[-1].length_ql
    b_start = b_bars[0].start_ql
    shift = a_end - b_start
    a_notes = first.notes[(first.notes[:, 0] >= a_start) & (first.notes[:, 0] < a_end)]
    b_notes = second.notes[
        (second.notes[:, 0] >= b_start) & (second.notes[:, 0] < b_bars[-1].start_ql + b_bars[-1].length_ql)
    ].copy()
    b_notes[:, 0] += shift
    b_notes[:, 4] += first.parts
    bars = [dataclasses.replace(b) for b in a_bars] + [
        dataclasses.replace(b, start_ql=b.start_ql + shift, pickup_ql=0.0) for b in b_bars
    ]
    if b_bars[0].pickup_ql:
        bars = bars[: len(a_bars)] + bars[len(a_bars) + 1 :]  # a pickup has no place in the middle
    mark = lambda marks, q: [bpm for o, bpm in marks if o <= q + 1e-9][-1] if marks[0][0] <= q + 1e-9 else marks[0][1]  # noqa: E731
    # The second piece keeps its own beat tempo relative to the first, within a factor 0.7-1.4.
    ratio = (
        mark(first.tempo_marks, a_start) / a_bars[0].beat_ql / (mark(second.tempo_marks, b_start) / b_bars[0].beat_ql)
    )
    ratio = float(np.clip(ratio, 0.7, 1.4))
    marks = [m for m in first.tempo_marks if m[0] < a_end] + [
        (max(o, b_start) + shift, bpm * ratio)
        for o, bpm in second.tempo_marks
        if o <= b_bars[-1].start_ql + b_bars[-1].length_ql
    ]
    marks = sorted({o: b for o, b in sorted(marks) if o >= a_end - 1e-9 or o <= a_end}.items())
    fermatas = list(first.fermatas) + [(a + shift, b + shift) for a, b in second.fermatas if a >= b_start]
    drums = first.drum_parts + tuple(p + first.parts for p in second.drum_parts)
    notes = np.concatenate([a_notes, b_notes]) if b_notes.size else a_notes
    return PieceContent(f"{first.name}+{second.name}", first.work, first.kind, notes, bars, marks, fermatas, drums)


# --------------------------------------------------------------------------- one render
def render_job(job: RenderJob, out: Path) -> dict:
    """Render one job into ``out/<split>/<name>`` (runs in a worker process); returns its
    manifest entry, with ``ok`` False and a reason when the piece cannot be used."""
    import soundfile

    folder = out / job.split / f"{job.index:05d}"
    entry = {
        "index": job.index,
        "split": job.split,
        "source": dataclasses.asdict(job.source),
        "work": job.source.work,
        "soundfont": Path(job.soundfont).name,
        "folder": str(folder.relative_to(out)),
    }
    if (folder / "labels.npz").is_file() and (folder / "audio.flac").is_file() and (folder / "render.json").is_file():
        return json.loads((folder / "render.json").read_text())
    started = time.perf_counter()
    rng = np.random.default_rng(job.seed)
    try:
        content = load_content(job.source, out / "cache")
        if not content.bars or content.notes.shape[0] < 8:
            raise ValueError("no bars or no notes")
        performance = draw_performance(content, rng)
        if job.second is not None:
            second = load_content(job.second, out / "cache")
            if (
                second.bars
                and second.notes.shape[0] >= 8
                and second.bars[0].beats != content.bars[performance.first_bar].beats
            ):
                bars_b = min(len(second.bars), max(4, (performance.last_bar - performance.first_bar) // 2))
                start_b = int(rng.integers(0, max(1, len(second.bars) - bars_b)))
                half = max(2, (performance.last_bar - performance.first_bar) // 2)
                content = joined(
                    content, (performance.first_bar, performance.first_bar + half), second, (start_b, start_b + bars_b)
                )
                performance = dataclasses.replace(
                    performance,
                    first_bar=0,
                    last_bar=len(content.bars),
                    programs=part_programs(content, performance.ensemble, rng),
                    part_lag_s=[round(float(v), 4) for v in rng.normal(0, 0.012, content.parts)],
                    added_fermatas=[],
                )
                entry["second"] = dataclasses.asdict(job.second)
        timeline = TimeLine(content, performance.first_bar, performance.last_bar, performance)
        if timeline.end_s < MIN_EXCERPT_S:
            raise ValueError(f"only {timeline.end_s:.1f} s long")
        labels = labels_of(content, performance.first_bar, performance.last_bar, timeline)
        if labels["beats_s"].size < 8:
            raise ValueError("fewer than 8 beats")
        events = performed_notes(content, performance, timeline, labels, rng)
        if not events:
            raise ValueError("no notes in the excerpt")
        stereo = synthesise_stereo(
            events,
            job.soundfont,
            reverb=performance.reverb,
            chorus=performance.chorus,
            controls=channel_controls(events, rng),
        )
        length = int(round((timeline.end_s + 1.0) * SAMPLE_RATE_HZ))
        stereo = np.pad(stereo, ((0, max(0, length - stereo.shape[0])), (0, 0)))[:length]
        fade = int(0.3 * SAMPLE_RATE_HZ)
        stereo[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
        peak = float(np.abs(stereo).max())
        if peak < 1e-4:
            raise ValueError("silent render")
        stereo *= np.float32(0.89 / peak)
    except Exception as error:  # music21 cannot lay out every corpus file; such a render is skipped
        return {**entry, "ok": False, "reason": f"{type(error).__name__}: {error}"[:300]}
    folder.mkdir(parents=True, exist_ok=True)
    soundfile.write(folder / "audio.flac", stereo, SAMPLE_RATE_HZ, subtype=SAMPLE_WIDTH)
    np.savez(folder / "labels.npz", **labels)
    meters = sorted({int(m) for m in labels["bar_beats"]})
    entry.update(
        ok=True,
        name=content.name,
        seconds=round(stereo.shape[0] / SAMPLE_RATE_HZ, 2),
        beats=int(labels["beats_s"].size),
        meters=meters,
        divisions=sorted({int(d) for d in labels["beat_division"]}),
        first_beat_bpm=round(60.0 / float(np.median(np.diff(labels["beats_s"][:5]))), 1),
        performance=dataclasses.asdict(performance),
        seconds_to_render=round(time.perf_counter() - started, 1),
    )
    (folder / "render.json").write_text(json.dumps(entry))
    return entry


def channel_controls(events: list[NoteEvent], rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """(channel, controller, value) for every channel used: pan (CC 10), volume (CC 7), reverb
    and chorus sends (CC 91, 93), so each render has its own stereo image and balance."""
    controls = []
    for channel in sorted({e.channel for e in events}):
        controls += [
            (channel, 10, int(np.clip(rng.normal(64, 30), 0, 127))),
            (channel, 7, int(rng.integers(80, 128))),
            (channel, 91, int(rng.integers(0, 90))),
            (channel, 93, int(rng.integers(0, 60))),
        ]
    return controls


def synthesise_stereo(
    events: list[NoteEvent], soundfont: str, *, reverb: bool, chorus: bool, controls: list[tuple[int, int, int]]
) -> np.ndarray:
    """FluidSynth's stereo rendering of the events at 22,050 Hz.

    Returns
    -------
    np.ndarray [shape=(n, 2), float32]
    """
    import soundfile

    executable = shutil.which("fluidsynth")
    if executable is None:
        raise RuntimeError("The fluidsynth program is missing; install it with 'apt-get install fluidsynth'.")
    with tempfile.TemporaryDirectory() as scratch:
        midi_path, wav_path = Path(scratch) / "render.mid", Path(scratch) / "render.wav"
        midi_path.write_bytes(midi_file_bytes(events, controls=controls))
        command = [
            executable,
            "-ni",
            "-q",
            "-g",
            "0.5",
            "-r",
            str(SAMPLE_RATE_HZ),
            "-R",
            str(int(reverb)),
            "-C",
            str(int(chorus)),
            "-o",
            "synth.polyphony=512",
            "-F",
            str(wav_path),
            "-T",
            "wav",
            soundfont,
            str(midi_path),
        ]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
        stereo, rate_hz = soundfile.read(wav_path, dtype="float32", always_2d=True)
    if rate_hz != SAMPLE_RATE_HZ:
        raise RuntimeError(f"fluidsynth wrote {rate_hz} Hz instead of {SAMPLE_RATE_HZ} Hz.")
    return stereo[:, :2] if stereo.shape[1] >= 2 else np.repeat(stereo, 2, axis=1)


# --------------------------------------------------------------------------- the whole set
def _render_in_worker(arguments: tuple[RenderJob, Path]) -> dict:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return render_job(*arguments)


def build(out: str | os.PathLike[str], *, hours: float, seed: int, jobs: int = 1, log=print) -> dict:
    """Render planned jobs in order until the rendered audio lasts ``hours``; resumable (rendered
    folders are kept and counted). Returns the manifest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    planned = plan_renders(int(hours * 3600 / 20) + 200, seed=seed)
    entries: list[dict] = []
    seconds = {"train": 0.0, "val": 0.0, "test": 0.0}
    started = time.perf_counter()

    def write_manifest(complete: bool) -> dict:
        manifest = {
            "built_with": f"python -m training.beat_renders --out {out} --hours {hours} --seed {seed}",
            "complete": complete,
            "seed": seed,
            "hours": round(sum(seconds.values()) / 3600, 3),
            "split_hours": {k: round(v / 3600, 3) for k, v in seconds.items()},
            "training_soundfonts": [Path(f).name for f in TRAINING_SOUNDFONTS],
            "held_out_soundfont": Path(HELD_OUT_SOUNDFONT).name,
            "renders": entries,
        }
        temporary = out / "manifest.json.partial"
        temporary.write_text(json.dumps(manifest, indent=0))
        os.replace(temporary, out / "manifest.json")
        return manifest

    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with context.Pool(max(1, jobs), maxtasksperchild=25) as pool:
        for entry in pool.imap(_render_in_worker, [(job, out) for job in planned]):
            entries.append(entry)
            if entry.get("ok"):
                seconds[entry["split"]] += entry["seconds"]
                log(
                    f"{sum(seconds.values()) / 3600:6.2f} h  {entry['split']:5s} {entry['index']:5d} {entry['name'][:50]:50s} "
                    f"{entry['seconds']:5.1f} s  meters {entry['meters']}  {entry['first_beat_bpm']:5.1f} bpm  "
                    f"{entry['soundfont'][:12]}  ({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
            else:
                log(f"skip {entry['index']} {entry['source']['path']}: {entry['reason']}", flush=True)
            if len(entries) % 20 == 0:
                write_manifest(complete=False)
            if sum(seconds.values()) >= hours * 3600:
                pool.terminate()
                break
    return write_manifest(complete=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="dataset folder (created; an existing one is continued)")
    parser.add_argument("--hours", type=float, required=True, help="stop once the renders last this long")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    args = parser.parse_args(argv)
    if shutil.which("fluidsynth") is None:
        raise SystemExit(
            "The fluidsynth program is missing; install it with 'apt-get install fluidsynth fluid-soundfont-gm'."
        )
    manifest = build(args.out, hours=args.hours, seed=args.seed, jobs=args.jobs)
    print(json.dumps({"hours": manifest["hours"], "split_hours": manifest["split_hours"]}))
    return manifest


if __name__ == "__main__":
    main()


# --------------------------------------------------------------------------- synthetic renders (tests)
def write_click_renders(
    root: str | os.PathLike[str], *, counts: dict[str, int], seconds: float = 10.0, seed: int = 0
) -> Path:
    """Renders of clicks in the layout :func:`build` writes, without FluidSynth: each a click
    track at its own tempo (80-160 beats a minute) and meter (2, 3 or 4; downbeats higher and
    louder, quieter clicks on the divisions), stereo, with exact labels. For tests."""
    import soundfile

    root = Path(root)
    rng = np.random.default_rng(seed)
    click_t = np.arange(int(0.03 * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    index = 0
    for split, count in counts.items():
        for _ in range(count):
            bpm, meter = float(rng.uniform(80, 160)), int(rng.integers(2, 5))
            beat_s = 60.0 / bpm
            beats_s = np.arange(0.3, seconds - 0.5, beat_s)
            samples = np.zeros(int(seconds * SAMPLE_RATE_HZ), dtype=np.float32)
            divisions_s = beats_s[:-1] + beat_s / 2
            for k, time_s in enumerate(np.concatenate([beats_s, divisions_s])):
                on_beat = k < beats_s.size
                down = on_beat and k % meter == 0
                pitch_hz, level = (1760.0, 0.8) if down else (880.0, 0.5) if on_beat else (660.0, 0.2)
                click = level * np.sin(2 * np.pi * pitch_hz * click_t) * np.exp(-click_t / 0.008)
                first = int(time_s * SAMPLE_RATE_HZ)
                samples[first : first + click.size] += click[: samples.size - first].astype(np.float32)
            position = np.arange(beats_s.size) % meter
            labels = {
                "beats_s": beats_s,
                "beat_in_bar": position,
                "bar_beats": np.full(beats_s.size, meter),
                "beat_division": np.full(beats_s.size, 2),
                "downbeats_s": beats_s[position == 0],
                "divisions_s": divisions_s,
            }
            folder = root / split / f"{index:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            soundfile.write(
                folder / "audio.flac", np.stack([samples, 0.8 * samples], axis=1), SAMPLE_RATE_HZ, subtype=SAMPLE_WIDTH
            )
            np.savez(folder / "labels.npz", **labels)
            index += 1
    return root
