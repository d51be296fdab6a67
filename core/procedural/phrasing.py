"""Bars that breathe: no two bars beaten alike, and phrases that grow toward their peak and settle.

A conductor's bars differ: one a little larger, its rebound rounder, higher or quicker, the whole
pattern a little to one side. Each bar draws its own from the seeded generator, keyed to the time
of its downbeat (:func:`core.procedural.irregularity.noise_at`), so an edited beat changes only its
own bar. Over that, phrases of ``PHRASE_BARS`` bars swell toward a peak two thirds of the way in
and settle after it, keyed to time from the first downbeat at the piece's median bar length.
Everything scales with ``variation``: 0 beats every bar as the textbook draws it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..beats.track import BeatTrack
from .irregularity import noise_at

LEGATO_PEAK = 0.45  # the legato rebound peaks this far into the beat (share), a little before half way
PHRASE_BARS = 4
PHRASE_PEAK = 0.65  # where in its phrase the arc peaks (share of the phrase)
PHRASE_SIZE = 0.10  # the arc's size swing either side of its mean
# Bar to bar, at variation 1 (standard deviations): the gesture size, the rebounds' height and
# their lean across (image units at size 1), the whole bar's place (image units), when the
# legato rebound peaks (share of the beat, about ``LEGATO_PEAK``), how wide the bar is against
# its height, and how big the preparation into the next downbeat is against the other rebounds.
BAR_SIZE_SD = 0.07
BAR_REBOUND_HEIGHT_SD = 0.22
BAR_REBOUND_LEAN_SD = 0.06
BAR_SHIFT_SD = (0.012, 0.008)
BAR_PEAK_SD = 0.12
BAR_WIDTH_SD = 0.2
BAR_PREPARATION_SD = 0.2
# ... and how far the hand pushes forward into each ictus (image units, toward the orchestra):
# about BAR_PUSH, never back.
BAR_PUSH, BAR_PUSH_SD = 0.015, 0.02
PEAK_LIMITS = (0.25, 0.65)  # the legato rebound's peak stays within this share of the beat
# A bar of fewer beats has fewer places to differ: its shape (the rebounds' height, lean and peak,
# the width, the preparation) varies sqrt(SHAPE_REFERENCE_BEATS / beats) times as much, so bars in
# 2 are no more alike than bars in 4 (consecutive bars' correlation was 0.92 in 2, 0.87 in 4). A
# bar in one varies as a bar in 2 (SHAPE_FEWEST_BEATS): a single stroke swinging twice as wide as
# a bar of 4's would look erratic.
SHAPE_REFERENCE_BEATS, SHAPE_FEWEST_BEATS = 4, 2
SHAPE_CHANNELS = [1, 2, 5, 6, 7]  # of the draws below


@dataclasses.dataclass
class BarShape:
    """How each beat's bar is beaten this time, one row per beat.

    Attributes
    ----------
    size : np.ndarray [shape=(B,), float64]
        Factor on the gesture size (bar and phrase), about 1.
    rebound_height : np.ndarray [shape=(B,), float64]
        Factor on the rebound's height above the plane, about 1.
    rebound_lean : np.ndarray [shape=(B,), float64]
        Shift of the rebound outward (toward the conductor's right), image units at size 1.
    shift : np.ndarray [shape=(B, 2), float64]
        Shift of the whole bar, image units (x, y down).
    peak_share : np.ndarray [shape=(B,), float64]
        When the legato rebound after the beat peaks, as a share of the beat.
    width : np.ndarray [shape=(B,), float64]
        Factor on the pattern's lateral extent, about 1.
    preparation : np.ndarray [shape=(B,), float64]
        Factor on the height of the last beat's rebound, the preparation of the next bar, about 1.
    push : np.ndarray [shape=(B,), float64] >= 0
        How far the hand pushes forward into the ictus, image units.
    """

    size: np.ndarray
    rebound_height: np.ndarray
    rebound_lean: np.ndarray
    shift: np.ndarray
    peak_share: np.ndarray
    width: np.ndarray
    preparation: np.ndarray
    push: np.ndarray


def bar_shapes(track: BeatTrack, *, rng: np.random.Generator, variation: float, span_s: float) -> BarShape:
    """Each beat's bar variation and phrase arc.

    Parameters
    ----------
    track : BeatTrack
        Beats and their bars.
    rng : np.random.Generator
        The bars' own stream of irregularity.
    variation : float >= 0
        Its scale (0: every bar the same).
    span_s : float >= 0
        The piece's length, seconds (the time-keyed draws cover it).
    """
    beats_s = np.asarray(track.beats_s, dtype=np.float64)
    bars = np.asarray(track.bar_number, dtype=int)
    # Each beat's bar starts at the first beat with its number (a pickup is its own bar).
    starts_s = beats_s[np.searchsorted(bars, bars, side="left")] if beats_s.size else beats_s
    draws = variation * np.clip(noise_at(rng, starts_s, span_s=span_s, channels=9), -2.0, 2.0)
    beat_meters = track.beat_meters()
    fewer = np.maximum(SHAPE_REFERENCE_BEATS / np.maximum(beat_meters, SHAPE_FEWEST_BEATS), 1.0)
    draws[:, SHAPE_CHANNELS] *= np.sqrt(fewer)[:, None]
    arc = phrase_arc(bars, np.asarray(track.bar_position, dtype=int), beat_meters)
    return BarShape(
        size=(1.0 + BAR_SIZE_SD * draws[:, 0]) * (1.0 + min(variation, 1.0) * PHRASE_SIZE * arc),
        rebound_height=1.0 + BAR_REBOUND_HEIGHT_SD * draws[:, 1],
        rebound_lean=BAR_REBOUND_LEAN_SD * draws[:, 2],
        shift=np.stack([BAR_SHIFT_SD[0] * draws[:, 3], BAR_SHIFT_SD[1] * draws[:, 4]], axis=1),
        peak_share=np.clip(LEGATO_PEAK + BAR_PEAK_SD * draws[:, 5], *PEAK_LIMITS),
        width=1.0 + BAR_WIDTH_SD * draws[:, 6],
        preparation=1.0 + BAR_PREPARATION_SD * draws[:, 7],
        push=min(variation, 1.0) * np.maximum(BAR_PUSH + BAR_PUSH_SD * draws[:, 8], 0.0),
    )


def phrase_arc(bar_number: np.ndarray, bar_position: np.ndarray, beat_meters: np.ndarray) -> np.ndarray:
    """Where each beat stands in its phrase's arc, in [-1, 1]: rising from the phrase's start to
    its peak at ``PHRASE_PEAK``, settling after it.

    Phrases are ``PHRASE_BARS`` bars counted from the first downbeat, by bar number and place in
    the bar, so an edited beat moves no phrase (nothing here depends on the beats' times).

    Parameters
    ----------
    bar_number, bar_position, beat_meters : np.ndarray [shape=(B,), int]
        Each beat's bar (-1: the pickup), its place in the bar from 0, and its bar's meter.

    Returns
    -------
    np.ndarray [shape=(B,), float64]
    """
    if bar_number.size < 2:
        return np.zeros(bar_number.size)
    bars = bar_number + bar_position / np.maximum(beat_meters, 1)
    place = np.mod(bars / PHRASE_BARS, 1.0)
    # sin(pi u^k) peaks where u^k = 1/2: at PHRASE_PEAK for this k.
    k = np.log(0.5) / np.log(PHRASE_PEAK)
    return 2.0 * np.sin(np.pi * place**k) - 1.0
