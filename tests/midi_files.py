"""MIDI files written byte by byte for tests (core's MIDI reading, the pseudo-labels' alignment)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def write_midi(
    path: Path,
    *,
    bpm_changes=((0, 90.0), (3 * 480, 120.0)),
    signatures=((0, 3, 4), (3 * 480, 4, 4)),
    notes=True,
    quarters: int = 11,
    silent_quarters: tuple[int, ...] = (),
    extra_note_ticks: tuple[int, ...] = (),
) -> Path:
    """A format-0 MIDI file at 480 ticks a quarter: tempo and time-signature events, a note on
    every quarter but the ``silent_quarters``, and a higher one at each of ``extra_note_ticks``."""
    events = []
    for tick, bpm in bpm_changes:
        events.append((tick, 0, b"\xff\x51\x03" + int(round(60e6 / bpm)).to_bytes(3, "big")))
    for tick, numerator, denominator in signatures:
        events.append((tick, 0, bytes([0xFF, 0x58, 0x04, numerator, int(np.log2(denominator)), 24, 8])))
    if notes:
        for q in sorted(set(range(quarters)) - set(silent_quarters)):
            events.append((q * 480, 1, bytes([0x90, 60, 100])))
            events.append((q * 480 + 240, 1, bytes([0x80, 60, 0])))
    for tick in extra_note_ticks:
        events.append((tick, 1, bytes([0x90, 72, 100])))
        events.append((tick + 60, 1, bytes([0x80, 72, 0])))
    body, now = b"", 0
    for tick, _order, message in sorted(events):
        delta, now = tick - now, tick
        encoded = [delta & 0x7F]
        while delta > 0x7F:
            delta >>= 7
            encoded.insert(0, (delta & 0x7F) | 0x80)
        body += bytes(encoded) + message
    body += b"\x00\xff\x2f\x00"
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(body)) + body)
    return path
