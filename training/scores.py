"""Rendering scores from music21's bundled corpus to audio whose beats are known exactly.

The notes are laid out on a time line built from the score's own tempo marks (scaled by
``tempo_scale``, with fermatas held longer), written to a Standard MIDI File whose ticks are
fixed fractions of a second, and synthesised with the FluidSynth program and a General MIDI
soundfont (Debian packages ``fluidsynth`` and ``fluid-soundfont-gm``). Because the same time line
places the notes and the beats, the returned beat and downbeat times are the ground truth for
testing a beat tracker or a conductor on the audio.

Needs the ``music21`` package and the ``fluidsynth`` executable; never imports bpy.

Example
-------
>>> rendered = render_score("bach/bwv66.6", tempo_scale=1.2, excerpt_s=20.0)
>>> rendered.beats_s[:4], rendered.meter
"""

from __future__ import annotations

import dataclasses
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
)
DEFAULT_BPM = 100.0  # quarter notes per minute for scores without a tempo mark
TICKS_PER_QUARTER = 480
MIDI_TEMPO_US_PER_QUARTER = 500_000  # 120 bpm: one tick is exactly 1/960 s
TICKS_PER_SECOND = TICKS_PER_QUARTER * 1_000_000 / MIDI_TEMPO_US_PER_QUARTER
DRUM_CHANNEL = 9
PEAK_LEVEL = 0.9  # rendered audio is scaled to this peak amplitude


@dataclasses.dataclass
class RenderedScore:
    """Audio of a score and where its beats fall.

    Attributes
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal in [-1, 1] at ``sample_rate_hz``.
    sample_rate_hz : int
    beats_s : np.ndarray [shape=(B,), float64]
        Onset time in seconds of every notated beat (the time signature's beat unit, e.g. the
        quarter in 4/4, the dotted quarter in 6/8) up to the end of the excerpt.
    downbeats_s : np.ndarray [shape=(D,), float64]
        The beats that start a bar (a subset of ``beats_s``; a pickup bar has none).
    meter : int
        Beats per bar of the most common time signature.
    tempo_bpm : float
        Beats per minute at the first beat, after ``tempo_scale``.
    duration_s : float
        ``n / sample_rate_hz``, including the release tail after the last note.
    corpus_path : str
        The music21 corpus path that was rendered.
    """

    samples: np.ndarray
    sample_rate_hz: int
    beats_s: np.ndarray
    downbeats_s: np.ndarray
    meter: int
    tempo_bpm: float
    duration_s: float
    corpus_path: str


def render_score(
    corpus_path: str,
    *,
    tempo_scale: float = 1.0,
    program: int | None = None,
    excerpt_s: float | None = None,
    default_bpm: float = DEFAULT_BPM,
    fermata_scale: float = 2.0,
    tempo_curve_ql: tuple[tuple[float, float], ...] = (),
    sample_rate_hz: int = 44_100,
    tail_s: float = 1.0,
    soundfont: str | None = None,
) -> RenderedScore:
    """Synthesise a music21 corpus score and return its audio with the notated beat times.

    Parameters
    ----------
    corpus_path : str
        A path in music21's corpus, e.g. ``"bach/bwv66.6"`` or ``"haydn/opus74no1/movement3"``.
    tempo_scale : float > 0
        Multiplies every tempo (2.0 plays twice as fast).
    program : int in [0, 127] or None
        General MIDI program for every part (0 piano, 40 violin, 48 strings, 52 choir); None
        keeps each part's instrument from the score (piano when the score names none).
    excerpt_s : float > 0 or None
        Keep at most this many seconds: the music stops at the last bar line at or before
        ``excerpt_s`` (or exactly there when no bar line fits). None renders the whole score.
    default_bpm : float > 0
        Quarter notes per minute where the score has no tempo mark.
    fermata_scale : float >= 1
        How much longer a note under a fermata lasts (the whole texture is held).
    tempo_curve_ql : sequence of (offset in quarter lengths, tempo factor > 0)
        Gradual tempo changes on top of the score's marks and ``tempo_scale``, e.g.
        ``((0, 0.8), (32, 1.2))`` for an accelerando from 0.8 to 1.2 times the tempo over the first
        32 quarters: the factor is linear between the points and constant beyond them. The time
        line follows it in steps of a sixteenth note; empty keeps every tempo steady.
    sample_rate_hz : int
        Output rate in Hz.
    tail_s : float >= 0
        Seconds of release kept after the last note ends.
    soundfont : str or None
        A ``.sf2`` file; None uses FluidR3_GM from ``fluid-soundfont-gm``.

    Returns
    -------
    RenderedScore
    """
    from music21 import corpus

    if not tempo_scale > 0:
        raise ValueError(f"tempo_scale must be positive, got {tempo_scale!r}")
    score = corpus.parse(corpus_path)
    timeline = ScoreTimeline(
        score,
        tempo_scale=tempo_scale,
        default_bpm=default_bpm,
        fermata_scale=fermata_scale,
        tempo_curve_ql=tempo_curve_ql,
    )
    beats_s, downbeats_s, bar_lines_s = timeline.beats_and_bars()
    end_s = timeline.end_s
    if excerpt_s is not None and excerpt_s < end_s:
        fitting = bar_lines_s[(bar_lines_s <= excerpt_s + 1e-6) & (bar_lines_s > 0)]
        end_s = float(fitting[-1]) if fitting.size else float(excerpt_s)
    notes = [note for note in timeline.notes(program) if note.start_s < end_s - 1e-6]
    for note in notes:
        note.end_s = min(note.end_s, end_s)
    # Beats at the very end would have no music under them.
    keep = beats_s < end_s - 1e-6
    samples = synthesise(notes, sample_rate_hz=sample_rate_hz, soundfont=soundfont)
    length = int(round((end_s + tail_s) * sample_rate_hz))
    samples = np.pad(samples, (0, max(0, length - samples.shape[0])))[:length]
    fade = min(samples.shape[0], int(0.2 * sample_rate_hz))
    samples[samples.shape[0] - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    # FluidSynth's level depends on how many voices sound; a fixed peak makes renders comparable.
    peak = float(np.abs(samples).max())
    if peak > 0:
        samples *= np.float32(PEAK_LEVEL / peak)
    return RenderedScore(
        samples=samples,
        sample_rate_hz=sample_rate_hz,
        beats_s=beats_s[keep],
        downbeats_s=downbeats_s[downbeats_s < end_s - 1e-6],
        meter=timeline.meter,
        tempo_bpm=timeline.first_tempo_bpm,
        duration_s=samples.shape[0] / sample_rate_hz,
        corpus_path=corpus_path,
    )


@dataclasses.dataclass
class NoteEvent:
    """One MIDI note: times in seconds, pitch and velocity as MIDI numbers (0-127)."""

    start_s: float
    end_s: float
    pitch: int
    velocity: int
    channel: int
    program: int


class ScoreTimeline:
    """Maps a parsed score's offsets (quarter lengths) to seconds.

    Seconds per quarter are piecewise constant: they change at each tempo mark, are multiplied
    by ``fermata_scale`` over the span of every note that carries a fermata, and divided by the
    factor of ``tempo_curve_ql`` (see :func:`render_score`), sampled every sixteenth note.
    """

    def __init__(
        self,
        score,
        *,
        tempo_scale: float,
        default_bpm: float,
        fermata_scale: float,
        tempo_curve_ql: tuple[tuple[float, float], ...] = (),
    ) -> None:
        from music21 import expressions, meter, tempo

        curve = np.array(sorted(tempo_curve_ql), dtype=np.float64).reshape(-1, 2)
        if curve.size and not np.all(curve[:, 1] > 0):
            raise ValueError(f"tempo factors must be positive, got {curve[:, 1].tolist()}")

        self.score = score
        self.end_ql = float(score.highestTime)
        marks = [
            (float(mark.getOffsetInHierarchy(score)), mark.getQuarterBPM())
            for mark in score.recurse().getElementsByClass(tempo.MetronomeMark)
            if mark.getQuarterBPM() is not None
        ]
        marks.sort()
        if not marks or marks[0][0] > 0:
            marks.insert(0, (0.0, marks[0][1] if marks else default_bpm))
        # Fermata spans come from every part, merged into one held span per moment.
        spans = []
        for element in score.recurse().notes:
            if any(isinstance(e, expressions.Fermata) for e in element.expressions):
                start = float(element.getOffsetInHierarchy(score))
                spans.append((start, start + float(element.quarterLength)))
        edges = {0.0, self.end_ql, *(start for start, _ in marks), *(e for span in spans for e in span)}
        if curve.size:
            edges.update(np.arange(0.0, self.end_ql, 0.25).tolist())
        edges_ql = np.array(sorted(e for e in edges if 0.0 <= e <= self.end_ql), dtype=np.float64)
        seconds_per_ql = np.empty(max(edges_ql.size - 1, 0), dtype=np.float64)
        for i, (left, right) in enumerate(zip(edges_ql[:-1], edges_ql[1:])):
            middle = 0.5 * (left + right)
            bpm = [b for start, b in marks if start <= middle][-1]
            held = any(start <= middle < stop for start, stop in spans)
            factor = float(np.interp(middle, curve[:, 0], curve[:, 1])) if curve.size else 1.0
            seconds_per_ql[i] = 60.0 / (bpm * tempo_scale * factor) * (fermata_scale if held else 1.0)
        self.edges_ql = edges_ql
        self.edges_s = np.concatenate([[0.0], np.cumsum(np.diff(edges_ql) * seconds_per_ql)])
        self.end_s = float(self.edges_s[-1])
        signatures = [ts.beatCount for ts in score.recurse().getElementsByClass(meter.TimeSignature)] or [4]
        self.meter = int(max(set(signatures), key=signatures.count))
        first_factor = float(np.interp(0.0, curve[:, 0], curve[:, 1])) if curve.size else 1.0
        self.first_tempo_bpm = marks[0][1] * tempo_scale * first_factor  # in quarters; fixed below per beat unit
        first_signature = next(iter(score.recurse().getElementsByClass(meter.TimeSignature)), None)
        if first_signature is not None:
            self.first_tempo_bpm /= float(first_signature.beatDuration.quarterLength)

    def seconds(self, offset_ql: np.ndarray | float) -> np.ndarray:
        """Seconds from the start of the score of offsets in quarter lengths."""
        return np.interp(np.asarray(offset_ql, dtype=np.float64), self.edges_ql, self.edges_s)

    def beats_and_bars(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Beat times, downbeat times and bar-line times in seconds, from the first part's bars.

        A pickup bar (``paddingLeft`` > 0) gets the beats that end a full bar and no downbeat.
        """
        from music21 import meter

        part = self.score.parts[0] if self.score.hasPartLikeStreams() else self.score
        beats_ql: list[Fraction] = []
        downbeats_ql: list[Fraction] = []
        bars_ql: list[Fraction] = []
        signature = None
        for bar in part.getElementsByClass("Measure"):
            found = bar.getElementsByClass(meter.TimeSignature)
            if found:
                signature = found[0]
            if signature is None:
                signature = meter.TimeSignature("4/4")
            start = Fraction(bar.getOffsetInHierarchy(self.score)).limit_denominator(10_000)
            length = Fraction(bar.duration.quarterLength).limit_denominator(10_000)
            padding = Fraction(bar.paddingLeft).limit_denominator(10_000)
            beat_ql = Fraction(signature.beatDuration.quarterLength).limit_denominator(10_000)
            bars_ql.append(start)
            for k in range(signature.beatCount):
                position = k * beat_ql - padding
                if 0 <= position < length:
                    beats_ql.append(start + position)
                    if k == 0:
                        downbeats_ql.append(start)
        bars_ql.append(Fraction(self.end_ql).limit_denominator(10_000))

        def to_s(values_ql: list) -> np.ndarray:
            return self.seconds(np.array([float(v) for v in values_ql], dtype=np.float64))

        return to_s(beats_ql), to_s(downbeats_ql), to_s(bars_ql)

    def notes(self, program: int | None) -> list[NoteEvent]:
        """Every sounding note as a :class:`NoteEvent`, one MIDI channel per part."""
        parts = list(self.score.parts) if self.score.hasPartLikeStreams() else [self.score]
        events: list[NoteEvent] = []
        channels = [c for c in range(16) if c != DRUM_CHANNEL]
        for index, part in enumerate(parts):
            channel = channels[index % len(channels)]
            part_program = program
            if part_program is None:
                instrument = part.getInstrument(returnDefault=False)
                part_program = getattr(instrument, "midiProgram", None) or 0
            for element in part.stripTies().flatten().notes:
                length_ql = float(element.quarterLength)
                if length_ql <= 0:  # grace notes
                    continue
                start_ql = float(element.offset)
                start_s, end_s = self.seconds(np.array([start_ql, start_ql + length_ql]))
                velocity = element.volume.velocity or 80
                for pitch in element.pitches:
                    events.append(
                        NoteEvent(
                            float(start_s), float(end_s), int(pitch.midi), int(velocity), channel, int(part_program)
                        )
                    )
        return events


def synthesise(
    notes: list[NoteEvent], *, sample_rate_hz: int = 44_100, soundfont: str | None = None, gain: float = 0.8
) -> np.ndarray:
    """Render note events with the FluidSynth program to a mono float32 signal.

    Returns
    -------
    np.ndarray [shape=(n,), float32]
        The channel mean at ``sample_rate_hz``, starting at time 0 of the notes.
    """
    import soundfile

    executable = shutil.which("fluidsynth")
    if executable is None:
        raise RuntimeError("The fluidsynth program is missing; install it with 'apt-get install fluidsynth'.")
    soundfont = soundfont or next((p for p in SOUNDFONT_PATHS if Path(p).is_file()), None)
    if soundfont is None:
        raise RuntimeError("No General MIDI soundfont found; install it with 'apt-get install fluid-soundfont-gm'.")
    with tempfile.TemporaryDirectory() as folder:
        midi_path = Path(folder) / "score.mid"
        wav_path = Path(folder) / "score.wav"
        midi_path.write_bytes(midi_file_bytes(notes))
        command = [
            executable,
            "-ni",
            "-q",
            "-g",
            str(gain),
            "-r",
            str(sample_rate_hz),
            "-F",
            str(wav_path),
            "-T",
            "wav",
            soundfont,
            str(midi_path),
        ]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stereo, rate_hz = soundfile.read(wav_path, dtype="float32", always_2d=True)
    if rate_hz != sample_rate_hz:
        raise RuntimeError(f"fluidsynth wrote {rate_hz} Hz instead of {sample_rate_hz} Hz.")
    return np.clip(stereo.mean(axis=1), -1.0, 1.0).astype(np.float32)


def midi_file_bytes(notes: list[NoteEvent], *, controls: Sequence[tuple[int, int, int]] = ()) -> bytes:
    """A format-0 Standard MIDI File of the notes at a fixed 120 bpm (1 tick = 1/960 s), with
    ``controls`` ((channel, controller, value), e.g. pan is controller 10) set at the start."""
    events: list[tuple[int, int, bytes]] = []  # (tick, order, message); note-offs sort first
    for channel, program in sorted({(n.channel, n.program) for n in notes}):
        events.append((0, 0, bytes([0xC0 | channel, program & 0x7F])))
    for channel, controller, value in controls:
        events.append((0, 0, bytes([0xB0 | channel, controller & 0x7F, value & 0x7F])))
    for note in notes:
        start = int(round(note.start_s * TICKS_PER_SECOND))
        end = max(start + 1, int(round(note.end_s * TICKS_PER_SECOND)))
        velocity = int(np.clip(note.velocity, 1, 127))
        events.append((start, 2, bytes([0x90 | note.channel, note.pitch & 0x7F, velocity])))
        events.append((end, 1, bytes([0x80 | note.channel, note.pitch & 0x7F, 0])))
    events.sort(key=lambda event: (event[0], event[1]))
    track = bytearray(b"\x00\xff\x51\x03" + MIDI_TEMPO_US_PER_QUARTER.to_bytes(3, "big"))
    previous = 0
    for tick, _, message in events:
        track += variable_length(tick - previous) + message
        previous = tick
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def variable_length(value: int) -> bytes:
    """MIDI variable-length quantity: 7 bits a byte, most significant first."""
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(groups))


def main(argv: list[str] | None = None) -> None:
    """Command line: render a corpus score to an audio file and print its beats."""
    import argparse

    import soundfile

    parser = argparse.ArgumentParser(description="Render a music21 corpus score with FluidSynth.")
    parser.add_argument("corpus_path", help="e.g. bach/bwv66.6 or mozart/k155/movement1")
    parser.add_argument("--out", required=True, help="output file: .wav, .flac or .ogg (Vorbis)")
    parser.add_argument("--tempo-scale", type=float, default=1.0)
    parser.add_argument("--default-bpm", type=float, default=DEFAULT_BPM)
    parser.add_argument("--program", type=int, default=None, help="General MIDI program for all parts")
    parser.add_argument("--excerpt-s", type=float, default=None)
    parser.add_argument("--sample-rate-hz", type=int, default=44_100)
    parser.add_argument("--quality", type=float, default=0.4, help="Ogg Vorbis quality, 0 to 1")
    args = parser.parse_args(argv)
    rendered = render_score(
        args.corpus_path,
        tempo_scale=args.tempo_scale,
        program=args.program,
        excerpt_s=args.excerpt_s,
        default_bpm=args.default_bpm,
        sample_rate_hz=args.sample_rate_hz,
    )
    out = Path(args.out)
    if out.suffix.lower() == ".ogg":
        soundfile.write(
            out,
            rendered.samples,
            rendered.sample_rate_hz,
            format="OGG",
            subtype="VORBIS",
            compression_level=1.0 - args.quality,
        )
    else:
        soundfile.write(out, rendered.samples, rendered.sample_rate_hz)
    print(f"{out}: {rendered.duration_s:.2f} s, meter {rendered.meter}, {rendered.tempo_bpm:.1f} bpm")
    print("beats_s", np.round(rendered.beats_s, 4).tolist())
    print("downbeats_s", np.round(rendered.downbeats_s, 4).tolist())


if __name__ == "__main__":
    main()
