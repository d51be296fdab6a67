"""The beat grid: where a piece's beats and bars are, from the tracker or from the user.

A grid is a :class:`core.beats.track.BeatTrack` (beats in seconds, each beat's bar and place in it,
the meter of every bar, the tempo at every beat). Besides the tracker, it comes from:

- **a MIDI file**: its tempo map and time signatures give the beats and bars exactly
  (:func:`grid_from_midi`); the beat of x/4 is the quarter, of x/2 the half, of 6/8, 9/8 and 12/8
  the dotted quarter. An offset in seconds moves the MIDI's time line onto the recording's; it is
  found, when not given, by cross-correlating the MIDI's note onsets with the audio's onsets.
- **a text or CSV file of beat times** (:func:`grid_from_labels`): one beat a line, seconds first,
  then an optional label ``bar.beat`` ("12.1" starts bar 12) or a beat number ("1" starts a bar).
  Audacity's label tracks (``start<TAB>end<TAB>label``) and Sonic Visualiser's CSV
  (``time,label`` or ``time,value,label``) read as they are exported.
- **Blender's timeline markers** (the add-on hands them over as times and names, the same rules).
- **its own JSON** (:func:`save_grid`, :func:`load_grid`), also written as text (Audacity labels)
  or CSV.

Where labels give the bars, a bar's meter is the number of beats in it, so deleting or adding a
beat re-derives the meter of that bar; a bar of more than 6 beats (a deleted downbeat joins two)
is split into bars of the meter before it. Without labels, the bars come from the audio (the
accents on the given beats). Every problem is one sentence (:class:`core.errors.ConductorError`).

JSON layout (``format`` "virtualconductor-beat-grid", ``version`` 1)::

    beats_s    [B] float  seconds from the start of the music, increasing
    bar        [B] int    1-based bar of each beat; 0 for the beats of a pickup
    beat       [B] int    1-based place of each beat in its bar
    meter      [B] int    beats in the bar of each beat
    tempo_bpm  [B] float  local tempo at each beat, beats per minute
    held       [B] bool   whether the music holds after the beat (a fermata, the end); optional
    source     str        "tracked", "midi", "labels", "markers" or "json"
    tracker    str        which tracker heard a "tracked" grid: "dsp" or the learned tracker's weights id
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .track import CONDUCTED_METERS, BeatTrack, holds_of, local_tempo_bpm
from ..errors import ConductorError, one_of
from ..outputs import write_atomically

if TYPE_CHECKING:
    from .midi import MidiContent

GRID_FORMAT = "virtualconductor-beat-grid"
GRID_SUFFIXES = (".json", ".txt", ".csv")  # what a grid is saved as
MIDI_SUFFIXES = (".mid", ".midi")
BEATS_SUFFIXES = GRID_SUFFIXES + MIDI_SUFFIXES  # what --beats reads
MAX_BAR_BEATS = max(CONDUCTED_METERS)  # the longest bar the conductor has a pattern for
TEMPO_RANGE_BPM = (20.0, 300.0)  # a beat grid outside this is a mistake, not music
END_TOLERANCE_S = 0.05  # a beat this close after the end is on the last sample
MIDI_DEFAULT_BPM = 120.0  # what a MIDI file without tempo events plays at
OFFSET_SEARCH_S = 30.0  # the automatic MIDI offset is looked for within this either way
BEAT_REFINE_S = 0.08  # then refined on the beats within this either way
ONSET_FFT, ONSET_HOP = 512, 128  # the short frames the MIDI offset is found on (5.8 ms at 22,050 Hz)
LABEL = re.compile(r"^\|?\s*(\d+)\s*[.:]\s*(\d+)\s*$")  # "12.1", "|12.1" (a downbeat marker), "12:1"


def beat_label(track: BeatTrack, index: int) -> str:
    """ "bar.beat" of beat ``index`` (1-based; bar 0 is a pickup)."""
    return f"{int(track.bar_number[index]) + 1}.{int(track.bar_position[index]) + 1}"


# ---------------------------------------------------------------------------------- saving
def save_grid(track: BeatTrack, path: str | os.PathLike[str]) -> Path:
    """Write ``track`` as .json (the layout above), .txt (Audacity labels) or .csv."""
    source = track.tracker.removeprefix("given:") if track.tracker.startswith("given:") else "tracked"
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in GRID_SUFFIXES:
        raise ConductorError(f"Cannot write a beat grid as '{path.name}'; name it {one_of(GRID_SUFFIXES)}.")
    beats_s = np.asarray(track.beats_s, dtype=np.float64)
    labels = [beat_label(track, k) for k in range(beats_s.size)]
    meters = track.beat_meters()
    if suffix == ".json":
        document = {
            "format": GRID_FORMAT,
            "version": 1,
            "source": source,
            "beats_s": [float(t) for t in beats_s],  # in full, as in the text formats
            "bar": [int(b) + 1 for b in track.bar_number],
            "beat": [int(p) + 1 for p in track.bar_position],
            "meter": meters.tolist(),
            "tempo_bpm": [round(float(t), 3) for t in track.tempo_curve_bpm],
            "held": [bool(h) for h in track.held],
        }
        if source == "tracked":
            document["tracker"] = track.tracker
        return write_atomically(path, lambda handle: json.dump(document, handle, indent=1), binary=False)
    if suffix == ".txt":
        # Times in full (the shortest digits that read back exactly), so that an unedited grid
        # conducts exactly as the beats it was written from.
        text = "".join(f"{float(t)!r}\t{float(t)!r}\t{label}\n" for t, label in zip(beats_s, labels))
    else:
        text = "time_s,bar,beat,meter,held\n" + "".join(
            f"{float(t)!r},{label.split('.')[0]},{label.split('.')[1]},{m},{int(h)}\n"
            for t, label, m, h in zip(beats_s, labels, meters, track.held)
        )
    return write_atomically(path, lambda handle: handle.write(text), binary=False)


# ---------------------------------------------------------------------------------- loading
def load_grid(
    path: str | os.PathLike[str],
    *,
    duration_s: float,
    offset_s: float | None = None,
    samples: np.ndarray | None = None,
    notes: list[str] | None = None,
) -> BeatTrack:
    """The grid in ``path`` (.json, .txt, .csv, .mid), moved by ``offset_s`` seconds, checked
    against a piece of ``duration_s`` seconds.

    ``offset_s`` None is 0 for beat lists and found from ``samples`` (the music, mono 22,050 Hz)
    for a MIDI file. ``notes`` collects sentences worth telling the user (a MIDI file's tempo
    taken as 120) that are not errors.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in BEATS_SUFFIXES:
        raise ConductorError(f"'{path.name}' is not a beat grid; give a {one_of(BEATS_SUFFIXES)} file.")
    if not path.is_file():
        raise ConductorError(f"Beat file '{path}' does not exist; check the path.")
    if suffix in MIDI_SUFFIXES:
        return grid_from_midi(path, duration_s=duration_s, offset_s=offset_s, samples=samples, notes=notes)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        what = "is not UTF-8 text" if isinstance(error, UnicodeDecodeError) else f"could not be read ({error.strerror})"
        raise ConductorError(f"Beat file '{path.name}' {what}; give a .json, .txt or .csv beat grid.") from error
    if suffix == ".json":
        times_s, labels, held, last_meter, source = _parse_json(text, path.name)
    else:
        times_s, labels, held, last_meter = _parse_label_lines(text, path.name, notes)
        source = "labels"
    if times_s.size == 0:  # what 'beats' writes for music in which no beats were heard
        if notes is not None:
            notes.append(
                f"'{path.name}' holds no beats (the grid of music in which no beats were heard), so there is no "
                "beat to conduct on; give beat times, one a line, to conduct it."
            )
        empty = np.zeros(0)
        return BeatTrack(empty, empty, empty.astype(int), last_meter or 4, 0.0, tracker=f"given:{source}")
    unread = [label for label in labels if label is not None and _place_in_bar(label) is None]
    if unread and notes is not None:
        notes.append(
            f"'{path.name}' has {len(unread)} label{'s' if len(unread) > 1 else ''} that {'are' if len(unread) > 1 else 'is'} "
            f"neither bar.beat nor a beat number (such as '{unread[0]}'); those beats count as beats of the bar before."
        )
    return grid_from_times(
        times_s + (offset_s or 0.0),
        labels,
        duration_s=duration_s,
        samples=samples,
        source=source,
        where=f"'{path.name}'",
        held=held,
        last_meter=last_meter,
    )


def saved_beat_count(path: str | os.PathLike[str]) -> int:
    """How many beats a .json grid written by :func:`save_grid` holds (0 for what a tracker
    heard in silence)."""
    times_s, _labels, _held, _last_meter, _source = _parse_json(Path(path).read_text(), Path(path).name)
    return int(times_s.size)


def _parse_json(text: str, name: str) -> tuple[np.ndarray, list[str | None], np.ndarray | None, int | None, str]:
    try:
        document = json.loads(text)
        if document.get("format") != GRID_FORMAT:
            raise ValueError("format")
        times_s = np.asarray(document["beats_s"], dtype=np.float64).ravel()
        bars, beats = document.get("bar"), document.get("beat")
        labels: list[str | None] = (
            [f"{b}.{p}" for b, p in zip(bars, beats)]
            if bars is not None and beats is not None
            else [None] * times_s.size
        )
        held = None if document.get("held") is None else np.asarray(document["held"], dtype=bool).ravel()
        meters = document.get("meter")
        last_meter = int(meters[-1]) if meters else None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConductorError(
            f"'{name}' is not a beat grid written by this tool; give one from 'python -m core beats', or a "
            ".txt/.csv of beat times."
        ) from error
    if len(labels) != times_s.size or (held is not None and held.size != times_s.size):
        raise ConductorError(
            f"'{name}' gives {times_s.size} beats but not a bar, beat and hold for each; write it again."
        )
    return times_s, labels, held, last_meter, str(document.get("source", "json"))


# The columns a header line of a beat list may name (any case), and what each means here.
TIME_COLUMNS = ("time_s", "time", "seconds", "start", "onset")  # the beat's time: the first column
HEADER_COLUMNS = TIME_COLUMNS + ("end", "value", "bar", "beat", "label", "meter", "held", "tempo_bpm")
SEPARATORS = {"\t": "tabs", ",": "commas", ";": "semicolons"}  # else: spaces


def _separator_of(lines: list[str]) -> str | None:
    """The separator of a beat list's columns, from its first line that holds one: a tab, a
    comma or a semicolon, or None for columns separated by spaces."""
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        return next((separator for separator in SEPARATORS if separator in line), None)
    return None


def _fields(line: str, separator: str | None) -> list[str]:
    parts = line.strip().split(separator) if separator is not None else line.split()
    return [field.strip().strip('"').strip() for field in parts] or [""]


def _parse_label_lines(
    text: str, name: str, notes: list[str] | None = None
) -> tuple[np.ndarray, list[str | None], np.ndarray | None, int | None]:
    """Beat times and labels of a label track: the time first, the label last (Audacity's
    ``start, end, label``, Sonic Visualiser's ``time[, value], label``), or the columns a header
    line names (``time_s, bar, beat``, ``label``, ``meter``, ``held``). Columns are separated by
    tabs, commas or semicolons (whichever the first line uses) or by spaces; blank and ``#``
    lines are skipped; a header line is said in ``notes``. Returns (times, labels, held or None,
    the last beat's meter or None)."""
    lines = text.splitlines()
    separator = _separator_of(lines)
    separated_by = SEPARATORS.get(separator or "", "spaces")
    times_s: list[float] = []
    labels: list[str | None] = []
    held: list[bool] = []
    last_meter: int | None = None
    header: list[str] | None = None
    for number, line in enumerate(lines, start=1):
        fields = _fields(line, separator)
        if not fields[0] or fields[0].startswith("#"):
            continue
        try:
            time_s = float(fields[0])
        except ValueError:
            if not times_s and header is None and fields[0].lower() in TIME_COLUMNS:
                header = [field.lower() for field in fields]
                if notes is not None:
                    named = ", ".join(field for field in header if field in HEADER_COLUMNS)
                    notes.append(f"Line {number} of '{name}' is read as a header naming the columns {named}.")
                continue
            raise ConductorError(
                f"Line {number} of '{name}' starts with '{fields[0]}', not a time in seconds; give one beat a line, "
                f"its time first and the columns separated by {separated_by} as on the first line"
                + (f" (a header's first column is {one_of(TIME_COLUMNS)})." if not times_s else ".")
            ) from None
        times_s.append(time_s)
        if header is not None and "held" in header and len(fields) == len(header):
            held.append(fields[header.index("held")] in ("1", "true", "True"))
        if header is not None and "meter" in header and len(fields) == len(header):
            meter = fields[header.index("meter")]
            last_meter = int(meter) if meter.isdigit() else None
        if header is not None and {"bar", "beat"} <= set(header) and len(fields) == len(header):
            labels.append(f"{fields[header.index('bar')]}.{fields[header.index('beat')]}")
        elif header is not None and "label" in header and len(fields) == len(header):
            labels.append(fields[header.index("label")] or None)
        elif len(fields) == 2 and fields[1] == fields[0] and "\t" in line:
            labels.append(None)  # Audacity's point label with no text: "start<TAB>end<TAB>", end = start
        else:
            labels.append(fields[-1] or None if len(fields) >= 2 else None)
    given_held = np.asarray(held) if len(held) == len(times_s) else None
    return np.asarray(times_s, dtype=np.float64), labels, given_held, last_meter


def check_beat_times(times_s: np.ndarray, *, duration_s: float, where: str, midi: bool = False) -> None:
    """One sentence for beats that are not in order, repeated, outside the music, fewer than
    two, or at a tempo outside ``TEMPO_RANGE_BPM`` (a single long gap is a hold, not a tempo);
    ``midi``: the beats come from a MIDI file's tempo map, which is what to check."""
    times_s = np.asarray(times_s, dtype=np.float64)
    if times_s.size == 0:
        raise ConductorError(f"{where} gives no beats; give at least two.")
    if not np.all(np.isfinite(times_s)):
        raise ConductorError(f"{where} holds a beat time that is not a number; check the file.")
    gaps = np.diff(times_s)
    if np.any(gaps == 0):
        k = int(np.flatnonzero(gaps == 0)[0])
        raise ConductorError(f"{where} gives the beat at {times_s[k]:.3f} s twice; remove the duplicate.")
    if np.any(gaps < 0):
        k = int(np.flatnonzero(gaps < 0)[0])
        raise ConductorError(
            f"{where} is not in order: the beat at {times_s[k + 1]:.3f} s comes after the one at {times_s[k]:.3f} s; "
            "sort the beats by time."
        )
    if times_s[-1] < 0 or times_s[0] > duration_s + END_TOLERANCE_S:
        raise ConductorError(
            f"Every beat of {where} lies outside the music (0-{duration_s:.1f} s); check the offset or the file."
        )
    if times_s[0] < 0:
        raise ConductorError(
            f"{where} has a beat at {times_s[0]:.3f} s, before the music starts; check the offset or the file."
        )
    if times_s[-1] > duration_s + END_TOLERANCE_S:
        raise ConductorError(
            f"{where} has a beat at {times_s[-1]:.3f} s, after the music ends at {duration_s:.3f} s; "
            "check the offset or the file."
        )
    if times_s.size < 2:
        raise ConductorError(f"{where} gives only one beat (at {times_s[0]:.3f} s) in the music; give at least two.")
    tempo_bpm = 60.0 / gaps
    low, high = TEMPO_RANGE_BPM
    if np.any(tempo_bpm > high):
        k = int(np.flatnonzero(tempo_bpm > high)[0])
        raise ConductorError(
            f"{where} puts beats at {times_s[k]:.2f} s and {times_s[k + 1]:.2f} s only {gaps[k]:.3f} s apart "
            f"({tempo_bpm[k]:.0f} a minute, above {high:.0f}); "
            + ("check its tempo map and time signatures." if midi else "remove the extra beat.")
        )
    if np.median(tempo_bpm) < low:  # single long gaps are holds (fermatas, rests), conducted as such
        raise ConductorError(
            f"{where} has beats {np.median(gaps):.1f} s apart ({np.median(tempo_bpm):.0f} a minute, below {low:.0f}); "
            + ("check its tempo map and time signatures." if midi else "add the missing beats.")
        )


def grid_from_times(
    times_s: Sequence[float] | np.ndarray,
    labels: Sequence[str | None] | None = None,
    *,
    duration_s: float,
    samples: np.ndarray | None = None,
    source: str = "labels",
    where: str = "the beat grid",
    held: np.ndarray | None = None,
    last_meter: int | None = None,
) -> BeatTrack:
    """A grid from beat times and optional ``bar.beat`` labels (timeline markers, label tracks).

    Parameters
    ----------
    times_s : sequence of float [shape=(B,)]
        Beat times in seconds from the start of the music, increasing.
    labels : sequence of str or None [shape=(B,)]
        "12.1" (bar 12, beat 1), a beat number ("1" starts a bar) or None (a beat of the bar
        before, e.g. a marker added by hand). With no label at all the bars come from
        ``samples`` (or every four beats without them).
    duration_s : float
        Length of the music, for the checks.
    held : np.ndarray [shape=(B,), bool] or None
        Whether the music holds after each beat (as saved with a tracked grid); None: the
        gaps tell (:func:`holds_of`).
    last_meter : int or None
        The meter saved for the last bar, which the end of the music may cut short.
    """
    times_s = np.asarray(times_s, dtype=np.float64).ravel()
    check_beat_times(times_s, duration_s=duration_s, where=where)
    labels = list(labels) if labels is not None else [None] * times_s.size
    positions = [_place_in_bar(label) for label in labels]
    if any(position is not None for position in positions):
        starts = _bar_starts_from_labels(positions)
    else:
        starts = bar_starts_heard(times_s, samples)
    return _track_from_bar_starts(times_s, starts, source=source, held=held, last_meter=last_meter)


def _place_in_bar(label: str | None) -> tuple[int, int] | None:
    """(bar, beat) of a label, bar None-like 0 for a plain beat number; None for no label."""
    if label is None:
        return None
    label = label.strip()
    match = LABEL.match(label)
    if match and int(match.group(2)) >= 1:
        return int(match.group(1)), int(match.group(2))
    if label.isdigit() and int(label) >= 1:
        return -1, int(label)
    return None


def _bar_starts_from_labels(positions: list[tuple[int, int] | None]) -> np.ndarray:
    """Which beats start a bar: those labelled beat 1, or the first of a new bar number."""
    starts = np.zeros(len(positions), dtype=bool)
    previous_bar = None
    for k, position in enumerate(positions):
        if position is None:
            continue
        bar, beat = position
        if beat == 1 or (bar >= 0 and previous_bar is not None and bar != previous_bar):
            starts[k] = True
        previous_bar = bar if bar >= 0 else previous_bar
    return starts


def bar_starts_heard(times_s: np.ndarray, samples: np.ndarray | None, *, tracker: str = "auto") -> np.ndarray:
    """Which of the given beats start a bar [shape=(B,), bool], heard in the music ``samples``
    (mono, 22,050 Hz): by the learned tracker's downbeat activation (``tracker`` "learned", or
    "auto" where its weights are installed), else by the signal-processing tracker's accents;
    every fourth beat from the first without music."""
    starts = np.zeros(times_s.size, dtype=bool)
    if samples is None or times_s.size < 4:
        starts[::4] = True
        return starts
    from .learned_tracker import bars_of_given_beats
    from .tracking import chosen_network

    network = chosen_network(tracker)
    if network is not None:
        starts[bars_of_given_beats(samples, times_s, network).downbeats] = True
        return starts
    from ..audio.decode import SAMPLE_RATE_HZ
    from .dsp_tracker import BASS_BANDS, beat_accent, infer_bars, log_mel_spectrum, onset_strength, pitch_class_profiles
    from ..audio.mel import HOP_LENGTH

    log_mel = log_mel_spectrum(samples, SAMPLE_RATE_HZ)
    onset = onset_strength(log_mel)
    frames = np.clip(np.round(times_s * SAMPLE_RATE_HZ / HOP_LENGTH).astype(int), 0, onset.size - 1)
    chroma, _bass_chroma = pitch_class_profiles(samples, SAMPLE_RATE_HZ)
    accent = beat_accent(frames, onset, bass=onset_strength(log_mel[:BASS_BANDS]), log_mel=log_mel, chroma=chroma)
    _meter, bar_position = infer_bars(accent, float(60.0 / np.median(np.diff(times_s))))
    return bar_position == 0


def _track_from_bar_starts(
    times_s: np.ndarray,
    starts: np.ndarray,
    *,
    source: str,
    held: np.ndarray | None = None,
    last_meter: int | None = None,
) -> BeatTrack:
    """The BeatTrack of beats whose bars start at ``starts``: a bar's meter is its beat count,
    a bar longer than MAX_BAR_BEATS is split in bars of the meter before it; a bar that holds,
    and the last bar, cut short by the end of the music, keep the meter before them (the last
    bar: ``last_meter`` when given). ``held`` None: :func:`holds_of`."""
    count = times_s.size
    first = int(np.argmax(starts)) if starts.any() else count
    bar_number = np.full(count, -1, dtype=int)
    bar_position = np.arange(count, dtype=int)  # the pickup's places count up to the first downbeat
    meters: list[int] = []
    bounds = list(np.flatnonzero(starts)) + [count]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        length = stop - start
        size = length if length <= MAX_BAR_BEATS else (meters[-1] if meters else 4)
        for bar_start in range(start, stop, size):
            bar_stop = min(bar_start + size, stop)
            bar_number[bar_start:bar_stop] = len(meters)
            bar_position[bar_start:bar_stop] = np.arange(bar_stop - bar_start)
            meters.append(bar_stop - bar_start)
    if held is None:
        held = holds_of(times_s)
    # A bar that holds (a fermata) shows fewer beats than it has, and the music often ends within
    # its last bar: those keep the meter of the bar before (the last: the meter saved with the
    # grid, when there is one).
    holding = {int(bar) for bar in bar_number[np.asarray(held, dtype=bool) & (bar_number >= 0)]}
    for bar in range(1, len(meters) - 1):
        if bar in holding and meters[bar] < meters[bar - 1]:
            meters[bar] = meters[bar - 1]
    if meters and last_meter is not None:
        meters[-1] = int(min(max(last_meter, meters[-1]), MAX_BAR_BEATS))
    elif len(meters) > 1 and meters[-1] < meters[-2]:
        meters[-1] = meters[-2]
    pickup = first if first < count else count
    if pickup:  # places of a pickup: the last places of a bar of the first bar's meter
        full = meters[0] if meters else 4
        bar_position[:pickup] = np.arange(pickup) + max(0, full - pickup)
    bar_meters = np.asarray(meters, dtype=int)
    downbeats_s = times_s[bar_number >= 0][np.flatnonzero(bar_position[bar_number >= 0] == 0)] if count else times_s
    meter = int(np.bincount(bar_meters).argmax()) if bar_meters.size else 4
    tempo_curve = local_tempo_bpm(times_s, held)
    return BeatTrack(
        beats_s=times_s,
        downbeats_s=downbeats_s,
        bar_position=bar_position,
        meter=meter,
        tempo_bpm=float(np.median(tempo_curve)) if count > 1 else 0.0,
        bar_number=bar_number,
        bar_meters=bar_meters,
        tempo_curve_bpm=tempo_curve,
        tracker=f"given:{source}",
        held=np.asarray(held, dtype=bool),
    )


# ---------------------------------------------------------------------------------- MIDI
def read_midi_grid(path: Path) -> MidiContent:
    """The content of a MIDI file given as a beat grid, or one ConductorError sentence (not a
    MIDI file, corrupt, or without notes): cheap, so it is checked before the music is decoded."""
    from .midi import MidiFileError, read_midi

    try:
        content = read_midi(path)
    except (ValueError, IndexError, OSError, struct.error) as error:
        if isinstance(error, MidiFileError):
            raise ConductorError(f"'{path.name}' cannot be read: {error}; give the piece's MIDI file.") from error
        raise ConductorError(
            f"'{path.name}' could not be read as a Standard MIDI File; give the piece's MIDI file."
        ) from error
    if content.notes.shape[0] == 0:
        raise ConductorError(f"'{path.name}' has no notes, so it has no bars to conduct; give the piece's MIDI file.")
    return content


def grid_from_midi(
    path: str | os.PathLike[str],
    *,
    duration_s: float,
    offset_s: float | None = None,
    samples: np.ndarray | None = None,
    notes: list[str] | None = None,
) -> BeatTrack:
    """The beats and bars of a MIDI file's tempo map and time signatures, on the recording's
    time line (``offset_s`` added; found from ``samples`` when None)."""
    path = Path(path)
    content = read_midi_grid(path)
    if not content.tempo_given and notes is not None:
        notes.append(
            f"'{path.name}' sets no tempo; it is read at {MIDI_DEFAULT_BPM:g} quarters a minute, as MIDI players do."
        )
    beats_ql, bar_starts = midi_beats_ql(content.time_signatures, content.end_ql)
    times_s = quarters_to_seconds(beats_ql, content.tempo_marks)
    if offset_s is None and samples is None:
        offset_s = 0.0
        if notes is not None:
            notes.append(
                f"There is no music to line '{path.name}' up with (a mel .npy), so its time line starts with the "
                "music's; give --beats-offset to move it."
            )
    elif offset_s is None and samples is not None:
        offset_s = midi_offset_s(quarters_to_seconds(content.notes[:, 0], content.tempo_marks), samples, times_s)
        if notes is not None and offset_s:
            notes.append(f"The MIDI file is moved by {offset_s:+.2f} s to line up with the music.")
    times_s = times_s + offset_s
    inside = (times_s >= -END_TOLERANCE_S) & (times_s <= duration_s + END_TOLERANCE_S)
    if not inside.any():
        raise ConductorError(
            f"Every beat of '{path.name}' lies outside the music (0-{duration_s:.1f} s) with an offset of "
            f"{offset_s:+.2f} s; check the offset."
        )
    left_out = int(times_s.size - inside.sum())
    if left_out and notes is not None:
        notes.append(
            f"{left_out} of the {times_s.size} beats of '{path.name}' fall outside the music with an offset of "
            f"{offset_s:+.2f} s and are left out."
        )
    bar_of_beat = np.cumsum(bar_starts) - 1
    bar_meter = np.bincount(bar_of_beat[bar_of_beat >= 0])  # beats of each of the file's bars
    last_bar = int(bar_of_beat[inside][-1])
    times_s, bar_starts = np.clip(times_s[inside], 0.0, None), bar_starts[inside]
    check_beat_times(times_s, duration_s=duration_s, where=f"'{path.name}'", midi=True)
    last_meter = int(bar_meter[last_bar]) if last_bar >= 0 else None  # the music may end within it
    return _track_from_bar_starts(times_s, bar_starts, source="midi", last_meter=last_meter)


def midi_beats_ql(time_signatures: list[tuple[float, int, int]], end_ql: float) -> tuple[np.ndarray, np.ndarray]:
    """(beat offsets in quarters [shape=(B,)], whether each starts a bar) from time signatures.

    The beat of n/d is a 1/d note, except in compound time (n = 6, 9, 12 over 8 or 16), where it
    is three of them; a signature takes effect at its own offset, which starts a bar.
    """
    beats: list[float] = []
    starts: list[bool] = []
    for index, (offset, numerator, denominator) in enumerate(time_signatures):
        until = time_signatures[index + 1][0] if index + 1 < len(time_signatures) else end_ql
        unit = 4.0 / denominator
        compound = numerator in (6, 9, 12) and denominator >= 8
        beat_ql, per_bar = (3 * unit, numerator // 3) if compound else (unit, numerator)
        bar_ql = beat_ql * per_bar
        bar = offset
        while bar < until - 1e-9:
            for place in range(per_bar):
                at = bar + place * beat_ql
                if at >= until - 1e-9 or at > end_ql + 1e-9:
                    break
                beats.append(at)
                starts.append(place == 0)
            bar += bar_ql
    return np.asarray(beats, dtype=np.float64), np.asarray(starts, dtype=bool)


def quarters_to_seconds(quarters: np.ndarray, tempo_marks: list[tuple[float, float]]) -> np.ndarray:
    """Seconds at quarter-note offsets through a tempo map [(offset in quarters, quarters a minute)]."""
    quarters = np.asarray(quarters, dtype=np.float64)
    offsets = np.array([offset for offset, _ in tempo_marks], dtype=np.float64)
    seconds_per_quarter = np.array([60.0 / bpm for _, bpm in tempo_marks], dtype=np.float64)
    starts_s = np.concatenate([[0.0], np.cumsum(np.diff(offsets) * seconds_per_quarter[:-1])])
    segment = np.clip(np.searchsorted(offsets, quarters, side="right") - 1, 0, offsets.size - 1)
    return starts_s[segment] + (quarters - offsets[segment]) * seconds_per_quarter[segment]


def fine_onset_strength(samples: np.ndarray) -> np.ndarray:
    """Spectral flux on short frames (512 samples, hop ``ONSET_HOP`` = 5.8 ms at 22,050 Hz): an
    onset curve sharp enough to line up notes within a few milliseconds, where the tracker's
    (2048-sample frames) rises up to 40 ms early.

    Returns
    -------
    np.ndarray [shape=(1 + n // ONSET_HOP,), float64] >= 0
    """
    signal = np.pad(np.asarray(samples, dtype=np.float32), (ONSET_FFT // 2, ONSET_FFT // 2))
    count = 1 + (signal.size - ONSET_FFT) // ONSET_HOP
    window = np.hanning(ONSET_FFT).astype(np.float32)
    flux = np.zeros(count)
    previous = None
    for first in range(0, count, 8192):
        last = min(first + 8192, count)
        frames = np.lib.stride_tricks.as_strided(
            signal[first * ONSET_HOP :], shape=(last - first, ONSET_FFT), strides=(ONSET_HOP * 4, 4), writeable=False
        )
        level = np.log1p(1000.0 * np.abs(np.fft.rfft(frames * window, axis=1)) ** 2)
        before = np.concatenate([level[:1] if previous is None else previous[None], level[:-1]])
        flux[first:last] = np.maximum(level - before, 0.0).sum(axis=1)
        previous = level[-1]
    return flux


def midi_offset_s(note_onsets_s: np.ndarray, samples: np.ndarray, beats_s: np.ndarray | None = None) -> float:
    """The shift (seconds, added to the MIDI's times) that best lines the MIDI's note onsets up
    with the audio's onsets: the peak of their cross-correlation within ``OFFSET_SEARCH_S``
    either way, on :func:`fine_onset_strength`; then, given the MIDI's ``beats_s``, moved within
    ``BEAT_REFINE_S`` to where the audio's onsets at those beats are strongest. All the notes
    place the file to a beat; the beats place it to the millisecond: in produced recordings of
    their own MIDI files, pads and strings that speak late pulled the notes' best fit 45-70 ms
    ahead of the beats one hears (6 of 10 planetblupi pieces)."""
    from ..audio.decode import SAMPLE_RATE_HZ

    audio = fine_onset_strength(samples)
    fps = SAMPLE_RATE_HZ / ONSET_HOP
    length = max(audio.size, int(np.ceil(float(np.max(note_onsets_s, initial=0.0)) * fps)) + 1)
    audio = np.pad(audio, (0, length - audio.size))
    midi = np.zeros(length)
    np.add.at(midi, np.clip(np.round(np.asarray(note_onsets_s) * fps).astype(int), 0, length - 1), 1.0)
    size = 1 << int(np.ceil(np.log2(2 * length)))
    correlation = np.fft.irfft(np.fft.rfft(audio, size) * np.conj(np.fft.rfft(midi, size)), size)
    lags = np.concatenate([np.arange(0, length), np.arange(-length + 1, 0)])
    values = np.concatenate([correlation[:length], correlation[size - length + 1 :]])
    allowed = np.abs(lags) <= OFFSET_SEARCH_S * fps
    lag = int(lags[allowed][int(np.argmax(values[allowed]))])
    if beats_s is not None and np.asarray(beats_s).size:
        reach = int(round(BEAT_REFINE_S * fps))
        beat_frames = np.round(np.asarray(beats_s, dtype=np.float64) * fps).astype(int)
        candidates = lag + np.arange(-reach, reach + 1)
        at = beat_frames[None, :] + candidates[:, None]  # (lags, beats)
        inside = (at >= 0) & (at < audio.size)
        strength = np.where(inside, audio[np.clip(at, 0, audio.size - 1)], 0.0).sum(axis=1)
        strength /= np.maximum(inside.sum(axis=1), 1)
        lag = int(candidates[int(np.argmax(strength))])
    return float(lag / fps)
