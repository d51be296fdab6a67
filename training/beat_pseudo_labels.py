"""Self-training targets (issue 24): the tracker's own confident beats and bars on produced,
unlabelled recordings, written as render folders that :mod:`training.beats` mixes in with the
labelled renders (``--pseudo-labels DIR``).

    python -m training.beat_pseudo_labels --audio /work/data/unlabelled --out /work/data/beats_pseudo \\
        --data /work/data/beats --midi /usr/share/planetblupi/music [--weights runs/x/beat_tracker.safetensors]

A recording whose own MIDI file lies in ``--midi`` (planetblupi ships its pieces both ways) takes
the MIDI's beats, bars and meters instead, placed on the recording by core's alignment
(:func:`core.beats.grid.load_grid`, refined on the beats), kept where the teacher's beats confirm
them (:func:`aligned_midi_runs`): exact labels, downbeats included, on produced audio.

Elsewhere the teacher is the shipped learned tracker (or ``--weights``) exactly as core runs
it: levelled activations and the joint decoder. Only stretches it is sure of become folders: runs
of beats whose activation peaks at ``BEAT_CONFIDENCE`` or more, each interval within
``INTERVAL_TOLERANCE`` of the local beat period (:func:`core.beats.track.local_period_s`; a
hold breaks a run), lasting ``SEGMENT_MIN_S`` or more (on game music with madmom's beats as the reference, such stretches
cover 65 % of the music at beat F 0.92, any level 0.99). A run is cut into folders of at most
``SEGMENT_MAX_S``, so training samples the music by its length; each holds its stretch with
``MARGIN_S`` of music either side, whose targets are left out of the loss
(``unlabelled_<head>_s``), and the labels of :func:`training.beat_renders.labels_of`. The
stretch's downbeats are targets only when its bar is as sure (one meter, the conducted level is
the notated beat, and the downbeat's share of the activation at the downbeats beats the other
places' by ``DOWNBEAT_MARGIN``: 24 % of the game music, downbeat F 0.74 against madmom's);
otherwise the downbeat head is left out there too. The division head is always left out: the
teacher's divisions are not checked by anything.

Sources: only recordings nobody measures this project with (issue 24 lists the Debian packages:
0ad-data, widelands-data, megaglest-data, supertuxkart-data, freedroidrpg-data, drascula-music,
planetblupi-music-ogg, fb-music-high), never another tracker's output. A recording whose name is a
val or test work of ``--data`` (planetblupi's ``music002`` is rendered from its MIDI for the test
split) is skipped, so the held-out renders stay unseen.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.audio.decode import MUSIC_SUFFIXES, SAMPLE_RATE_HZ, decode
from core.beats.activations import FRAME_RATE_HZ
from core.beats.track import local_period_s
from core.errors import ConductorError

BEAT_CONFIDENCE = (
    0.1  # the beat activation's peak within PEAK_REACH_S of a tracked beat (game music: 0.92 beat F against madmom)
)
PEAK_REACH_S = 0.035
INTERVAL_TOLERANCE = 0.08  # an interval's distance from the local beat period, relative
SEGMENT_MIN_S = 12.0
SEGMENT_MAX_S = 60.0  # longer runs are cut into folders of about this, so training samples by duration
MARGIN_S = 3.0  # music either side of a stretch, heard but not a target
DOWNBEAT_MARGIN = 0.1  # mean downbeat share at the downbeats minus the largest mean at another place
ALIGNED_REACH_S = 0.05  # a MIDI beat is confirmed by a tracked beat this close
ALIGNED_WINDOW = 9  # beats around a MIDI beat whose confirmations count
ALIGNED_SHARE = 0.75
UNLABELLED_KEYS = {
    "beat": "unlabelled_beat_s",
    "downbeat": "unlabelled_downbeat_s",
    "division": "unlabelled_division_s",
}


def confident_runs(track, beat_activation: np.ndarray, fps: float = FRAME_RATE_HZ) -> list[tuple[int, int]]:
    """The runs of the teacher's beats it is sure of, as (first, last) beat indices, inclusive.

    Parameters
    ----------
    track : core.beats.track.BeatTrack
        The teacher's track; its notated beats are judged.
    beat_activation : np.ndarray [shape=(T,), float32]
        The teacher's beat activation at ``fps``.
    """
    beats_s = np.asarray(track.notated_beats_s, dtype=np.float64)
    if beats_s.size < 4:
        return []
    reach = max(1, int(round(PEAK_REACH_S * fps)))
    frames = np.clip(np.round(beats_s * fps).astype(int), 0, beat_activation.size - 1)
    windows = np.clip(frames[:, None] + np.arange(-reach, reach + 1)[None], 0, beat_activation.size - 1)
    peak_sure = beat_activation[windows].max(axis=1) >= BEAT_CONFIDENCE  # (B,)
    local_s = local_period_s(beats_s)[:-1]  # around the beat each interval starts at (B - 1,)
    regular = np.abs(np.diff(beats_s) / local_s - 1.0) <= INTERVAL_TOLERANCE
    # a beat joins the next when both are sure and the interval between them is regular
    joined = peak_sure[:-1] & peak_sure[1:] & regular
    runs, start = [], None
    for index, linked in enumerate(joined):
        if linked and start is None:
            start = index
        if not linked and start is not None:
            runs.append((start, index))
            start = None
    if start is not None:
        runs.append((start, beats_s.size - 1))
    return [(a, b) for a, b in runs if beats_s[b] - beats_s[a] >= SEGMENT_MIN_S]


def bar_labels(track, activations: np.ndarray, first: int, last: int, fps: float = FRAME_RATE_HZ) -> dict | None:
    """``beat_in_bar``, ``bar_beats`` and ``downbeats_s`` of the notated beats ``first..last`` when the
    teacher's bar is sure there (see the module), else None."""
    if track.level != "beat" or track.beats_s.size != track.notated_beats_s.size:
        return None
    place = np.asarray(track.bar_position[first : last + 1], dtype=int)
    meters = np.asarray(track.beat_meters()[first : last + 1], dtype=int)
    if np.unique(meters).size != 1 or meters[0] < 2 or place.size < 2 * meters[0]:
        return None
    frames = np.clip(np.round(track.beats_s[first : last + 1] * fps).astype(int), 0, activations.shape[0] - 1)
    beat, downbeat = activations[frames, 0], activations[frames, 1]
    share = downbeat / np.maximum(np.maximum(beat, downbeat), 1e-6)
    by_place = np.array([share[place == k].mean() if np.any(place == k) else 0.0 for k in range(meters[0])])
    if by_place[0] - by_place[1:].max() < DOWNBEAT_MARGIN:
        return None
    return {
        "beat_in_bar": place,
        "bar_beats": meters,
        "downbeats_s": track.beats_s[first : last + 1][place == 0],
    }


def nearest_deviation_s(beats_s: np.ndarray, tracked_s: np.ndarray) -> np.ndarray:
    """For each of ``beats_s``, the signed time to the nearest of ``tracked_s`` (both sorted)."""
    after = np.clip(np.searchsorted(tracked_s, beats_s), 1, tracked_s.size - 1)
    later, earlier = tracked_s[after] - beats_s, tracked_s[after - 1] - beats_s
    return np.where(np.abs(later) < np.abs(earlier), later, earlier)


def aligned_midi_runs(midi_beats_s: np.ndarray, tracked_s: np.ndarray) -> list[tuple[int, int]]:
    """The runs of a MIDI file's beats, moved onto the recording, that the teacher's beats confirm,
    as (first, last) beat indices, inclusive: where at least ``ALIGNED_SHARE`` of the
    ``ALIGNED_WINDOW`` beats around a beat have a tracked beat (notated, at any level: a teacher
    beating twice as fast confirms every beat) within ``ALIGNED_REACH_S``."""
    beats_s = np.asarray(midi_beats_s, dtype=np.float64)
    tracked_s = np.asarray(tracked_s, dtype=np.float64)
    if beats_s.size < ALIGNED_WINDOW or tracked_s.size < 2:
        return []
    confirmed = (np.abs(nearest_deviation_s(beats_s, tracked_s)) <= ALIGNED_REACH_S).astype(float)
    window = np.ones(ALIGNED_WINDOW)
    share = np.convolve(confirmed, window, mode="same") / np.convolve(np.ones_like(confirmed), window, mode="same")
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (share >= ALIGNED_SHARE).astype(int), [0]])))
    runs = [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]
    return [(a, b) for a, b in runs if beats_s[b] - beats_s[a] >= SEGMENT_MIN_S]


def split_run(beats_s: np.ndarray, first: int, last: int) -> list[tuple[int, int]]:
    """Run ``first..last`` of ``beats_s`` cut into equal runs (sharing no beat) of at most about
    ``SEGMENT_MAX_S``."""
    pieces = max(1, int(np.ceil((beats_s[last] - beats_s[first]) / SEGMENT_MAX_S)))
    bounds = np.linspace(first, last + 1, pieces + 1).round().astype(int)
    return [(int(a), int(b) - 1) for a, b in zip(bounds[:-1], bounds[1:]) if b - a >= 2]


def segment_labels(beats_s: np.ndarray, bars: dict | None, start_s: float, end_s: float) -> dict:
    """The labels of the stretch ``start_s``..``end_s`` (seconds of the recording) around the sure
    beats ``beats_s`` (and their ``bars``: :func:`bar_labels`, or None when the bar is unsure), in
    seconds from ``start_s``, with the intervals left out of each head."""
    beats_s = np.asarray(beats_s, dtype=np.float64)
    duration_s = end_s - start_s
    # the margins: heard, not targets (half a beat inside the sure beats' span is still theirs)
    period_s = float(np.median(np.diff(beats_s)))
    sure_from, sure_to = beats_s[0] - 0.5 * period_s - start_s, beats_s[-1] + 0.5 * period_s - start_s
    margins = np.array([[0.0, max(0.0, sure_from)], [min(duration_s, sure_to), duration_s]])
    everything = np.array([[0.0, duration_s]])
    labels = {
        "beats_s": beats_s - start_s,
        "beat_in_bar": bars["beat_in_bar"] if bars else np.zeros(beats_s.size, int),
        "bar_beats": bars["bar_beats"] if bars else np.zeros(beats_s.size, int),
        "beat_division": np.zeros(beats_s.size, int),
        "downbeats_s": (bars["downbeats_s"] - start_s) if bars else np.zeros(0),
        "divisions_s": np.zeros(0),
        UNLABELLED_KEYS["beat"]: margins,
        UNLABELLED_KEYS["downbeat"]: margins if bars else everything,
        UNLABELLED_KEYS["division"]: everything,
    }
    return labels


def midi_bars(grid, first: int, last: int) -> dict:
    """``bar_labels`` of a MIDI file's beats ``first..last``: its time signatures' bars."""
    place = np.asarray(grid.bar_position[first : last + 1], dtype=int)
    return {
        "beat_in_bar": place,
        "bar_beats": np.asarray(grid.beat_meters()[first : last + 1], dtype=int),
        "downbeats_s": np.asarray(grid.beats_s[first : last + 1])[place == 0],
    }


def held_out_names(data: str | os.PathLike[str] | None) -> set[str]:
    """The last path part of every val and test work of the labelled data (skipped as sources)."""
    names: set[str] = set()
    for split in ("val", "test"):
        manifest = Path(data or "") / f"{split}_manifest.json"
        if data and manifest.is_file():
            names |= {r["work"].split("/")[-1].split("#")[0] for r in json.loads(manifest.read_text())["renders"]}
    return names


def build(
    audio_root: str,
    out_root: str,
    *,
    data: str | None = None,
    weights: str | None = None,
    midi_root: str | None = None,
) -> dict:
    """Pseudo-label every recording under ``audio_root`` (by its own MIDI file in ``midi_root``
    where there is one, else by the teacher); write the folders and ``manifest.json`` under
    ``out_root``; return the manifest."""
    import soundfile
    import soxr

    from core.beats.activations import load_beat_network
    from core.beats.decoding import DecoderSettings
    from core.beats.grid import MIDI_SUFFIXES, load_grid
    from core.beats.learned_tracker import activations_of_signal, sounding_frames, track_from_activations
    from core.installed_weights import beat_tracker_weights_path

    path = weights or str(beat_tracker_weights_path())
    network, card = load_beat_network(path)
    settings = DecoderSettings.from_card(card)
    skip = held_out_names(data)
    sources = sorted(p for p in Path(audio_root).rglob("*") if p.suffix.lower() in MUSIC_SUFFIXES)
    if not sources:
        raise ConductorError(
            f"'{audio_root}' holds no recordings ({', '.join(MUSIC_SUFFIXES)}); give the folder the music was copied to."
        )
    out = Path(out_root)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for source in sources:
        record: dict[str, Any] = {
            "source": str(source.relative_to(audio_root)),
            "segments": 0,
            "sure_s": 0.0,
            "bars_sure_s": 0.0,
        }
        if source.stem in skip:
            records.append({**record, "skipped": "a held-out work of the labelled data"})
            continue
        try:
            samples, rate_hz = decode(source)
        except ConductorError as error:  # one broken file does not stop the rest
            records.append({**record, "skipped": str(error)})
            print(f"{record['source']}: skipped: {error}", flush=True)
            continue
        stereo = samples if samples.shape[1] == 2 else np.repeat(samples[:, :1], 2, axis=1)
        if rate_hz != SAMPLE_RATE_HZ:
            stereo = soxr.resample(stereo, rate_hz, SAMPLE_RATE_HZ, quality="HQ").astype(np.float32)
        mono = stereo.mean(axis=1)
        activations = activations_of_signal(network, mono)
        track = track_from_activations(
            activations, sounding=sounding_frames(mono, activations.shape[0]), settings=settings
        )
        notated_s = np.asarray(track.notated_beats_s, dtype=np.float64)
        duration_s = mono.size / SAMPLE_RATE_HZ
        record["duration_s"] = round(duration_s, 2)
        midi = next((Path(midi_root) / (source.stem + s) for s in MIDI_SUFFIXES if midi_root), None)
        if midi is not None and midi.is_file():  # the recording's own MIDI file: its exact labels
            grid = load_grid(midi, duration_s=duration_s, samples=mono)  # core's alignment, to the beat
            record["labels"] = f"{midi.name}, aligned"
            beats_of_run = grid.beats_s
            runs = aligned_midi_runs(grid.beats_s, notated_s)
            bars_of: Callable[[int, int], dict | None] = functools.partial(midi_bars, grid)
        else:
            record["labels"] = "the teacher's"
            beats_of_run = notated_s
            runs = confident_runs(track, activations[:, 0])
            bars_of = functools.partial(bar_labels, track, activations)
        runs = [piece for first, last in runs for piece in split_run(beats_of_run, first, last)]
        for number, (first, last) in enumerate(runs):
            bars = bars_of(first, last)
            start_s = max(0.0, float(beats_of_run[first]) - MARGIN_S)
            end_s = min(duration_s, float(beats_of_run[last]) + MARGIN_S)
            labels = segment_labels(beats_of_run[first : last + 1], bars, start_s, end_s)
            folder = out / f"{source.parent.name}__{source.stem}__{number:02d}"
            folder.mkdir(exist_ok=True)
            clip = stereo[int(start_s * SAMPLE_RATE_HZ) : int(end_s * SAMPLE_RATE_HZ)]
            soundfile.write(str(folder / "audio.flac"), clip, SAMPLE_RATE_HZ)
            np.savez(folder / "labels.npz", **labels)
            sure_s = float(beats_of_run[last] - beats_of_run[first])
            record["segments"] += 1
            record["sure_s"] += round(sure_s, 2)
            record["bars_sure_s"] += round(sure_s, 2) if labels["downbeats_s"].size else 0.0
        records.append(record)
        print(
            f"{record['source']}: {record['segments']} stretches, {record['sure_s']:.0f} s sure "
            f"({record['bars_sure_s']:.0f} s with bars) of {record['duration_s']:.0f} s",
            flush=True,
        )
    manifest = {
        "teacher": str(card.get("id", Path(path).stem)),
        "audio_root": str(audio_root),
        "thresholds": {
            "beat_confidence": BEAT_CONFIDENCE,
            "interval_tolerance": INTERVAL_TOLERANCE,
            "segment_min_s": SEGMENT_MIN_S,
            "margin_s": MARGIN_S,
            "downbeat_margin": DOWNBEAT_MARGIN,
        },
        "hours_sure": round(sum(r["sure_s"] for r in records) / 3600, 3),
        "hours_bars_sure": round(sum(r["bars_sure_s"] for r in records) / 3600, 3),
        "recordings": records,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--audio", required=True, help="folder of unlabelled recordings (searched recursively)")
    parser.add_argument("--out", required=True, help="folder for the pseudo-labelled render folders")
    parser.add_argument("--data", help="the labelled renders: their val and test works are skipped as sources")
    parser.add_argument("--weights", help="the teacher's .safetensors (default: the shipped tracker)")
    parser.add_argument("--midi", help="folder of the recordings' own MIDI files (same names): exact labels, aligned")
    arguments = parser.parse_args(argv)
    manifest = build(
        arguments.audio, arguments.out, data=arguments.data, weights=arguments.weights, midi_root=arguments.midi
    )
    print(f"{manifest['hours_sure']:.2f} h sure, {manifest['hours_bars_sure']:.2f} h with bars, in {arguments.out}")


if __name__ == "__main__":
    main()
