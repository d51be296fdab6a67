"""Reading Standard MIDI Files: notes, programs, the tempo map and the time signatures.

A sequenced MIDI file (the music of games that Debian ships, e.g. ``openttd-openmsx``) places
its notes on a grid of ticks whose bars and beats follow from its time-signature events, and its
tempo events give the seconds; so the file itself labels its beats, downbeats and meter exactly.
:func:`read_midi` returns everything in quarter lengths (ticks / ticks per quarter);
:mod:`training.beat_renders` lays it out on a time line of its own and renders it, and
:mod:`core.beats.grid` reads a piece's beats and bars from it.

Format 0 and 1 files, running status, SMPTE-free (ticks per quarter) timing. Never imports bpy.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from pathlib import Path

import numpy as np

DRUM_CHANNEL = 9


@dataclasses.dataclass
class MidiContent:
    """What a MIDI file says, with times in quarter lengths from its start.

    Attributes
    ----------
    notes : np.ndarray [shape=(N, 5), float64]
        Columns: start (quarters), length (quarters), pitch, velocity (1-127), channel (0-15).
    programs : np.ndarray [shape=(N,), int]
        The General MIDI program each note's channel had when the note started (0 for drums).
    tempo_marks : list of (offset in quarters, quarter notes per minute)
        The tempo map; 120 at 0 when the file has none (``tempo_given`` False).
    time_signatures : list of (offset in quarters, numerator, denominator)
        4/4 at 0 when the file has none.
    end_ql : float
        The end of the last note.
    """

    notes: np.ndarray
    programs: np.ndarray
    tempo_marks: list[tuple[float, float]]
    time_signatures: list[tuple[float, int, int]]
    end_ql: float
    tempo_given: bool = True  # False: the file sets no tempo, and 120 is assumed


class MidiFileError(ValueError):
    """A file :func:`read_midi` cannot read as a Standard MIDI File, and why."""


def read_midi(path: str | os.PathLike[str]) -> MidiContent:
    """Parse a Standard MIDI File (format 0 or 1).

    Raises
    ------
    MidiFileError
        Not a MIDI file, SMPTE timing, or corrupt (a missing or truncated track): its message
        says which, as the end of a sentence ("it is corrupt: track 2 is cut short").
    """
    data = Path(path).read_bytes()
    if data[:4] != b"MThd":
        raise MidiFileError("it is not a Standard MIDI File")
    if len(data) < 14:
        raise MidiFileError("it is corrupt: its header is cut short")
    header_length, _, track_count, division = struct.unpack(">IHHH", data[4:14])
    if division & 0x8000:
        raise MidiFileError("it uses SMPTE timing, which has no beats")
    ticks_per_quarter = division
    position = 8 + header_length
    tempo_events: list[tuple[int, float]] = []
    signature_events: list[tuple[int, int, int]] = []
    raw_notes: list[tuple[int, int, int, int, int, int]] = []  # start, end tick, pitch, velocity, channel, program
    for number in range(track_count):
        if data[position : position + 4] != b"MTrk":
            raise MidiFileError(
                f"it is corrupt: its header promises {track_count} tracks, track {number + 1} is not there"
            )
        length = struct.unpack(">I", data[position + 4 : position + 8])[0]
        track = data[position + 8 : position + 8 + length]
        if len(track) < length:
            raise MidiFileError(f"it is corrupt: track {number + 1} is cut short")
        position += 8 + length
        try:
            read_track(track, tempo_events=tempo_events, signature_events=signature_events, raw_notes=raw_notes)
        except IndexError:
            raise MidiFileError(f"it is corrupt: track {number + 1} ends in the middle of an event") from None
    to_ql = 1.0 / ticks_per_quarter
    tempo_marks = sorted({tick * to_ql: bpm for tick, bpm in sorted(tempo_events)}.items())
    tempo_given = bool(tempo_marks)
    if not tempo_marks or tempo_marks[0][0] > 0:
        tempo_marks.insert(0, (0.0, tempo_marks[0][1] if tempo_marks else 120.0))
    signatures = sorted({tick * to_ql: (n, d) for tick, n, d in sorted(signature_events)}.items())
    time_signatures = [(offset, n, d) for offset, (n, d) in signatures]
    if not time_signatures or time_signatures[0][0] > 0:
        time_signatures.insert(0, (0.0, 4, 4))
    if raw_notes:
        array = np.array(raw_notes, dtype=np.float64)
        notes = np.stack(
            [array[:, 0] * to_ql, (array[:, 1] - array[:, 0]) * to_ql, array[:, 2], array[:, 3], array[:, 4]], axis=1
        )
        programs = array[:, 5].astype(int)
        order = np.argsort(notes[:, 0], kind="stable")
        notes, programs = notes[order], programs[order]
        end_ql = float((notes[:, 0] + notes[:, 1]).max())
    else:
        notes, programs, end_ql = np.zeros((0, 5)), np.zeros(0, int), 0.0
    return MidiContent(notes, programs, tempo_marks, time_signatures, end_ql, tempo_given)


def read_track(track: bytes, *, tempo_events: list, signature_events: list, raw_notes: list) -> None:
    """Append one track's tempo, time-signature and note events (in ticks) to the lists:
    (tick, quarter notes per minute), (tick, numerator, denominator) and (start tick, end tick,
    pitch, velocity, channel, program)."""
    tick, index, status = 0, 0, 0
    program = [0] * 16
    sounding: dict[tuple[int, int], list[tuple[int, int, int]]] = {}  # (channel, pitch) -> [(start, velocity, program)]

    def number() -> int:
        nonlocal index
        value = 0
        while True:
            byte = track[index]
            index += 1
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                return value

    while index < len(track):
        tick += number()
        if track[index] & 0x80:
            status = track[index]
            index += 1
        if status == 0xFF:
            kind = track[index]
            index += 1
            size = number()
            payload = track[index : index + size]
            index += size
            if kind == 0x51 and size == 3:
                tempo_events.append((tick, 60_000_000.0 / max(int.from_bytes(payload, "big"), 1)))
            elif kind == 0x58 and size >= 2:
                signature_events.append((tick, payload[0], 2 ** payload[1]))
            elif kind == 0x2F:
                break
            continue
        if status in (0xF0, 0xF7):
            index += number()
            continue
        kind, channel = status & 0xF0, status & 0x0F
        size = 1 if kind in (0xC0, 0xD0) else 2
        payload = track[index : index + size]
        index += size
        if len(payload) < size:
            raise MidiFileError("it is corrupt: a track ends in the middle of an event")
        if kind == 0xC0:
            program[channel] = payload[0]
        elif kind == 0x90 and payload[1] > 0:
            sounding.setdefault((channel, payload[0]), []).append((tick, payload[1], program[channel]))
        elif kind == 0x80 or (kind == 0x90 and payload[1] == 0):
            started = sounding.get((channel, payload[0]))
            if started:
                start, velocity, note_program = started.pop(0)
                raw_notes.append(
                    (
                        start,
                        max(tick, start + 1),
                        payload[0],
                        velocity,
                        channel,
                        0 if channel == DRUM_CHANNEL else note_program,
                    )
                )
    for (channel, pitch), started in sounding.items():  # notes never released end with the track
        for start, velocity, note_program in started:
            raw_notes.append(
                (start, max(tick, start + 1), pitch, velocity, channel, 0 if channel == DRUM_CHANNEL else note_program)
            )
