"""Scoring a beat track against a reference with the field's yardstick, ``mir_eval`` (MIT): the
beat F-measure (70 ms window), the F-measure at any metrical level, the downbeat F-measure, the
meter and the conducted tempo. Used by training/beats.py (validation) and bench/beat_tracking.py;
nothing at run time needs it.

Beats are not trimmed before 5 s (MIREX trims them): the conductor needs the first beats too.
"""

from __future__ import annotations

import warnings

import numpy as np

WINDOW_S = 0.07
TEMPO_TOLERANCE = 0.04  # tempo accuracy: within 4 % of the reference's


def f_measure(reference_s: np.ndarray, estimate_s: np.ndarray) -> float:
    """``mir_eval.beat.f_measure`` with a 70 ms window; 1 when both are empty, 0 when one is."""
    import mir_eval

    reference_s, estimate_s = np.asarray(reference_s, float), np.asarray(estimate_s, float)
    if reference_s.size == 0 and estimate_s.size == 0:
        return 1.0
    if reference_s.size == 0 or estimate_s.size == 0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(mir_eval.beat.f_measure(reference_s, estimate_s, f_measure_threshold=WINDOW_S))


def metrical_variants(reference_s: np.ndarray) -> list[np.ndarray]:
    """The reference beats at other metrical levels: itself, the off-beats, twice and three
    times as fast (the beats divided), half and a third as fast (every phase)."""
    reference_s = np.asarray(reference_s, float)
    variants = [reference_s]
    if reference_s.size < 2:
        return variants
    gaps = np.diff(reference_s)
    variants.append(reference_s[:-1] + gaps / 2)
    variants.append(np.sort(np.concatenate([reference_s, reference_s[:-1] + gaps / 2])))
    variants.append(
        np.sort(np.concatenate([reference_s, reference_s[:-1] + gaps / 3, reference_s[:-1] + 2 * gaps / 3]))
    )
    variants += [reference_s[phase::2] for phase in range(2)]
    variants += [reference_s[phase::3] for phase in range(3)]
    return variants


def any_level_f_measure(reference_s: np.ndarray, estimate_s: np.ndarray) -> float:
    """The best beat F-measure of the estimate against any of :func:`metrical_variants`."""
    return max(f_measure(variant, estimate_s) for variant in metrical_variants(reference_s))


def median_tempo_bpm(beats_s: np.ndarray) -> float:
    """60 over the median beat interval (0 with fewer than two beats)."""
    beats_s = np.asarray(beats_s, float)
    return float(60.0 / np.median(np.diff(beats_s))) if beats_s.size > 1 else 0.0


def most_common(values: np.ndarray) -> int:
    """The most frequent integer (0 for none)."""
    values = np.asarray(values, int)
    if values.size == 0:
        return 0
    counts = np.bincount(values - values.min())
    return int(np.argmax(counts) + values.min())


def reference_conducted(labels: dict) -> tuple[np.ndarray, int, str]:
    """The conducted beats, meter and level of a render's labels, by the rule the tracker uses
    (:func:`core.beats.bars.conducting_level` on the score's tempo, meter and division).

    Returns
    -------
    beats_s : np.ndarray [shape=(C,), float64]
    meter : int
        Conducted beats in the most common bar.
    level : str
    """
    from core.beats.bars import BarGrid, conducted_grid, conducting_level

    beats_s = np.asarray(labels["beats_s"], float)
    position = np.asarray(labels["beat_in_bar"], int)
    meters = np.asarray(labels["bar_beats"], int)
    compound = most_common(labels["beat_division"]) == 3
    meter = most_common(meters)
    level = conducting_level(median_tempo_bpm(beats_s), meter, compound)
    downbeats = np.flatnonzero(position == 0)
    number = np.cumsum(position == 0) - 1
    grid = conducted_grid(beats_s, BarGrid(position, number, meters[downbeats], downbeats), level)
    return grid.beats_s, most_common(grid.bar_meters) if grid.bar_meters.size else meter, level


def score_track(labels: dict, track) -> dict[str, float]:
    """Every figure of one tracked piece against its render's labels.

    Parameters
    ----------
    labels : dict
        A render's ``labels.npz`` (:func:`training.beat_renders.labels_of`).
    track : core.beats.track.BeatTrack

    Returns
    -------
    dict
        ``beat_f`` and ``any_level_f`` (the tracker's notated beats), ``downbeat_f``,
        ``meter_right`` (0/1, the notated meter), ``tempo_right`` (0/1, the conducted tempo within
        4 %), ``conducted_f`` (the conducted beats against the conducted reference).
    """
    reference = np.asarray(labels["beats_s"], float)
    notated = track.notated_beats_s if track.notated_beats_s.size or track.beats_s.size == 0 else track.beats_s
    conducted_reference, _, _ = reference_conducted(labels)
    reference_tempo, tracked_tempo = median_tempo_bpm(conducted_reference), median_tempo_bpm(track.beats_s)
    return {
        "beat_f": f_measure(reference, notated),
        "any_level_f": any_level_f_measure(reference, notated),
        "downbeat_f": f_measure(labels["downbeats_s"], track.downbeats_s),
        "meter_right": float(track.notated_meter == most_common(labels["bar_beats"])),
        "tempo_right": float(reference_tempo > 0 and abs(tracked_tempo / reference_tempo - 1) <= TEMPO_TOLERANCE),
        "conducted_f": f_measure(conducted_reference, track.beats_s),
    }
