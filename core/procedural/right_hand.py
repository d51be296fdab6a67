"""The baton hand: the right wrist's path through the whole piece, stroke by stroke.

Every beat's ictus is the lowest point of the right hand and falls exactly on the beat. The
strokes are round and continuous for legato, straight with a sharp stop and a quick rebound for
staccato and marcato. The piece opens with a preparatory beat one beat ahead, in tempo; fermatas
are held and released; the last note is cut off.
"""

from __future__ import annotations

import numpy as np

from .irregularity import slow_noise
from .planning import LOWER_S, POST_CUTOFF_S, RAISE_S, READY_HOLD_S, BeatPlan
from .pose import REST_POSE, within_reach

# Stroke timing, as shares of the beat: the legato rebound peaks a little before half way, by
# bar (plan.peak_share, about core.procedural.phrasing.LEGATO_PEAK); a detached stroke is up by
# ``up``, waits, and falls from ``fall`` (staccato is lighter and later).
STACCATO_UP, STACCATO_FALL = 0.22, 0.72
MARCATO_UP, MARCATO_FALL = 0.28, 0.60
ICTUS_STOP_S = 0.05  # a detached stroke stops this long at the ictus before it rebounds
# ... rising this much meanwhile (image units), so the beat stays the lowest point, seen through
# a little smoothing too (with 0.002 a stop read a frame late as the ictus)
ICTUS_STOP_RISE = 0.005
# A detached stroke's rebound takes at least this long (at most 0.4 of what is left of the beat,
# for fast tempi): at 130 a minute its share of the beat alone left a staccato rebound 0.05 s to
# cross most of the pattern's height, 1.2-1.4 shoulder widths in one frame. A slower rebound
# would put the ictus, the smoothed lowest point, a frame after the beat.
DETACHED_REBOUND_MIN_S = 0.08
ROUNDNESS = 0.6  # share of the Catmull-Rom tangents a legato path takes: 0 would be straight
# A stroke's fall (and a legato rebound) is drawn no faster than this at its peak where the beat
# allows (image units a second; about 5 m/s on a figure of 1.8 m): a detached fall accelerates
# into the ictus (u^2: peak twice its mean speed), so it takes at least twice its distance over
# this speed. Falling from a fixed share of the beat, a staccato at 136 a minute crossed 0.7 m in
# two frames (12 m/s).
MAX_STROKE_SPEED = 3.0
REBOUND_SPEED_FACTOR = 2.0  # a detached rebound may be this much faster
# The spans' eases and how much faster than their mean speed each is at its peak: a rebound
# eases out as 1 - (1 - u)^p (peak p times), a fall accelerates as u^p (peak p times) and a
# smoothstep (legato's up and down) peaks at 1.5 times.
REBOUND_EASE_POWER, FALL_EASE_POWER, SMOOTHSTEP_PEAK = 2.2, 2, 1.5

LONG_REST_S = 3.0  # a silence this long after a release: the hands go down and come back
CUTOFF_BEATS = 0.75  # length of a cut-off stroke, in beats (at most 0.6 s)
SHORT_NOTE_BEATS = 0.6  # a held beat whose sound stops this soon is cut off at its ictus
RELEASE_LIFT, RELEASE_LIFT_S = 0.04, 0.3  # ... and the hand lifts off it this much (image units), this fast
# The cut-off: a small loop out and down from the held point, then a quick close in and up
# that stops on the release (up, so that it does not read as another ictus); size 1.
CUTOFF_HOOK = (0.03, -0.02)
CUTOFF_CLOSE = (-0.05, 0.04)


def right_wrist(plan: BeatPlan, times_s: np.ndarray, *, rng: np.random.Generator, variation: float) -> np.ndarray:
    """The baton hand at every motion frame: the legato and the detached path blended by each
    beat's articulation, with a little drift.

    Parameters
    ----------
    plan : BeatPlan
    times_s : np.ndarray [shape=(T,), float64]
        Each motion frame's time (30 fps), seconds.
    rng : np.random.Generator
        The right hand's own stream of irregularity.
    variation : float >= 0
        Its scale.

    Returns
    -------
    np.ndarray [shape=(T, 2), float64]
        The right wrist per frame, image coordinates.
    """
    beats_s = plan.beats_s
    legato_path = right_hand_path(plan, legato=True).evaluate(times_s)
    detached_path = right_hand_path(plan, legato=False).evaluate(times_s)
    segment = np.clip(np.searchsorted(beats_s, times_s, side="right") - 1, 0, beats_s.size - 1)
    legato_share = plan.articulation[segment, 0][:, None]
    right = legato_share * legato_path + (1.0 - legato_share) * detached_path
    right += variation * slow_noise(rng, times_s, channels=2, amplitude=0.004) * plan.engaged[:, None]
    right[:, 0] = within_reach(right[:, 0], side="right")
    return right


class HandPath:
    """A 2D path through timed points, each span eased in its own way (image coordinates).

    Kinds of span (from a point to the next): ``hold`` stays at the first point, ``linear``,
    ``smooth`` (smoothstep), ``rebound`` (fast start, easing out), ``fall`` (accelerating into
    the end point: arrives at speed and stops there), ``curve`` (legato: a Catmull-Rom curve
    across, smoothstep up and down, so the path is round and the ends are its turning points).
    """

    KINDS = ("hold", "linear", "smooth", "rebound", "fall", "curve")

    def __init__(self, time_s: float, point: np.ndarray) -> None:
        self.times_s = [float(time_s)]
        self.points = [np.asarray(point, dtype=np.float64)]
        self.kinds: list[int] = []

    def to(self, time_s: float, point: np.ndarray, kind: str) -> HandPath:
        """Add a span to ``point`` [shape=(2,)] (image coordinates) at ``time_s`` (seconds; a time
        not after the last one is skipped)."""
        if time_s > self.times_s[-1] + 1e-4:
            self.times_s.append(float(time_s))
            self.points.append(np.asarray(point, dtype=np.float64))
            self.kinds.append(self.KINDS.index(kind))
        return self

    @property
    def end(self) -> tuple[float, np.ndarray]:
        """The last point's time (seconds) and place [shape=(2,)] (image coordinates)."""
        return self.times_s[-1], self.points[-1]

    def evaluate(self, times_s: np.ndarray) -> np.ndarray:
        """The path at each of ``times_s``; before the first point and after the last it stays at them.

        Parameters
        ----------
        times_s : np.ndarray [shape=(T,), float64]
            Seconds, e.g. each motion frame's (30 fps).

        Returns
        -------
        np.ndarray [shape=(T, 2), float64]
            Image coordinates.
        """
        knots_s = np.array(self.times_s)
        points = np.array(self.points)
        if knots_s.size == 1:
            return np.tile(points[0], (times_s.size, 1))
        kinds = np.array(self.kinds)
        span = np.clip(np.searchsorted(knots_s, times_s, side="right") - 1, 0, knots_s.size - 2)
        start, end = points[span], points[span + 1]
        duration = knots_s[span + 1] - knots_s[span]
        u = np.clip((times_s - knots_s[span]) / duration, 0.0, 1.0)
        kind = kinds[span]
        smoothstep = u * u * (3.0 - 2.0 * u)
        ease = np.select(
            [kind == 0, kind == 1, kind == 2, kind == 3, kind == 4],
            [np.zeros_like(u), u, smoothstep, 1.0 - (1.0 - u) ** REBOUND_EASE_POWER, u**FALL_EASE_POWER],
            default=smoothstep,
        )
        position = start + ease[:, None] * (end - start)
        # Legato spans: x along a cubic Hermite with Catmull-Rom tangents through the neighbours.
        curved = kinds == self.KINDS.index("curve")
        tangent = np.zeros(knots_s.size)
        inner = np.arange(1, knots_s.size - 1)
        both = curved[inner - 1] & curved[inner]
        tangent[inner[both]] = (
            ROUNDNESS
            * (points[inner[both] + 1, 0] - points[inner[both] - 1, 0])
            / (knots_s[inner[both] + 1] - knots_s[inner[both] - 1])
        )
        m0, m1 = tangent[span] * duration, tangent[span + 1] * duration
        hermite_x = (
            (2 * u**3 - 3 * u**2 + 1) * start[:, 0]
            + (u**3 - 2 * u**2 + u) * m0
            + (-2 * u**3 + 3 * u**2) * end[:, 0]
            + (u**3 - u**2) * m1
        )
        position[:, 0] = np.where(kind == self.KINDS.index("curve"), hermite_x, position[:, 0])
        before, after = times_s < knots_s[0], times_s > knots_s[-1]
        position[before], position[after] = points[0], points[-1]
        return position


def right_hand_path(plan: BeatPlan, *, legato: bool) -> HandPath:
    """The baton hand's path through the whole piece, all legato or all detached.

    Before the first beat: rest, raise to the ready point (the ictus of the beat before), wait,
    then the preparatory beat in tempo. Each beat: ictus, rebound, the next ictus; a held beat
    rises and sustains, is released with a cut-off stroke when its sound stops (or just before
    the next preparation), and the next beat is prepared again. After the last beat the hand
    sustains, cuts off at the last note, waits and lowers to rest.
    """
    rest = np.array(REST_POSE["right_wrist"])
    beats_s, period_s = plan.beats_s, plan.period_s
    ready_s = beats_s[0] - period_s[0]
    path = HandPath(ready_s - READY_HOLD_S - RAISE_S, rest)
    path.to(ready_s - READY_HOLD_S, plan.ready, "smooth").to(ready_s, plan.ready, "hold")
    marcato = plan.articulation[:, 2] / np.maximum(plan.articulation[:, 1] + plan.articulation[:, 2], 1e-9)
    stroke(
        path,
        start_s=ready_s,
        top=plan.prep_top,
        end_s=beats_s[0],
        ictus=plan.ictus[0],
        legato=legato,
        marcato=marcato[0],
        peak=plan.peak_share[0],
    )
    for k in range(beats_s.size):
        if not plan.held[k]:
            stroke(
                path,
                start_s=beats_s[k],
                top=plan.rebound[k],
                end_s=beats_s[k + 1],
                ictus=plan.ictus[k + 1],
                legato=legato,
                marcato=marcato[k],
                peak=plan.peak_share[k],
            )
            continue
        last = k + 1 >= beats_s.size
        if last and not np.isfinite(plan.release_s[k]):  # sounds on to the end: hold
            path.to(beats_s[k] + 0.4 * period_s[k], plan.hold[k], "rebound")
            path.to(beats_s[k] + 60.0, plan.hold[k] + np.array([0.0, -0.01 * plan.size[k]]), "linear")
            break
        next_prep = beats_s[k + 1] - period_s[k + 1] if not last else np.inf
        release, closed = release_held_beat(path, plan, k, next_prep_s=next_prep)
        if last:
            path.to(release + POST_CUTOFF_S, closed, "hold").to(release + POST_CUTOFF_S + LOWER_S, rest, "smooth")
            break
        ready = closed
        if next_prep - release > LONG_REST_S:  # a long silence: down to rest and up again
            path.to(release + POST_CUTOFF_S, closed, "hold").to(release + POST_CUTOFF_S + LOWER_S, rest, "smooth")
            ready = plan.ictus[k]
            path.to(next_prep - READY_HOLD_S - RAISE_S, rest, "hold").to(next_prep - READY_HOLD_S, ready, "smooth")
        path.to(next_prep, ready, "hold")
        stroke(
            path,
            start_s=next_prep,
            top=plan.rebound[k],
            end_s=beats_s[k + 1],
            ictus=plan.ictus[k + 1],
            legato=legato,
            marcato=marcato[k],
            peak=plan.peak_share[k],
        )
    return path


def release_held_beat(path: HandPath, plan: BeatPlan, k: int, *, next_prep_s: float) -> tuple[float, np.ndarray]:
    """Hold beat ``k`` and release it: a short note is cut off at its ictus (the hand stops
    there and lifts off a little); a long one rises to its hold, sustains and ends with a
    cut-off stroke when its sound stops, or just before the next preparation at ``next_prep_s``
    (seconds; inf after the last beat) when it sounds on.

    Returns
    -------
    release_s : float
        When the hand has let go, seconds.
    closed : np.ndarray [shape=(2,), float64]
        Where it has let go, image coordinates.
    """
    beats_s = plan.beats_s
    period, size = plan.period_s[k], plan.size[k]
    release = plan.release_s[k]
    if release - beats_s[k] < SHORT_NOTE_BEATS * period:
        # A short note: its ictus is the cut-off; the hand stops there and lifts off a little.
        release = beats_s[k] + RELEASE_LIFT_S
        closed = plan.ictus[k] + np.array([0.0, -RELEASE_LIFT])
        path.to(beats_s[k] + ICTUS_STOP_S, plan.ictus[k] + np.array([0.0, -ICTUS_STOP_RISE]), "linear")
        path.to(release, closed, "rebound")
        return release, closed
    if not np.isfinite(release):
        release = next_prep_s  # held into the next phrase: the release leads into its preparation
    cutoff_s = min(CUTOFF_BEATS * period, 0.6, max(release - beats_s[k] - 0.4 * period, 0.05))
    held_point = plan.hold[k]
    path.to(beats_s[k] + 0.4 * period, held_point, "rebound")
    sustain_point = held_point + np.array([0.0, -0.015 * size])  # the hand keeps the note alive
    path.to(release - cutoff_s, sustain_point, "linear")
    hook = sustain_point + size * np.array([-CUTOFF_HOOK[0], -CUTOFF_HOOK[1]])
    closed = sustain_point + size * np.array([-CUTOFF_CLOSE[0], -CUTOFF_CLOSE[1]])
    path.to(release - 0.55 * cutoff_s, hook, "smooth").to(release, closed, "fall")
    return release, closed


def stroke(
    path: HandPath,
    *,
    start_s: float,
    top: np.ndarray,
    end_s: float,
    ictus: np.ndarray,
    legato: bool,
    marcato: float,
    peak: float,
) -> None:
    """One beat from the path's end point (an ictus, or the point before a preparation) through
    the rebound ``top`` into ``ictus`` at ``end_s``: round for legato, its top ``peak`` (a share)
    into the beat; for detached strokes straight up fast, a wait, and a straight fall that stops
    at the ictus.

    Times are seconds, points [shape=(2,)] image coordinates; ``marcato`` in [0, 1] is how
    marcato (rather than staccato) a detached stroke is.
    """
    duration = end_s - start_s
    path.to(start_s, path.end[1], "hold")
    if legato:
        # The rebound peaks where the bar puts it, moved no closer to either end than lets each
        # half keep MAX_STROKE_SPEED (a smoothstep peaks at 1.5 times its mean speed); where the
        # beat is too short for both, in proportion. The up-beat's rebound to a high top at
        # 170 a minute rose 0.5 m in 0.1 s.
        rise_s = SMOOTHSTEP_PEAK * float(np.linalg.norm(top - path.end[1])) / MAX_STROKE_SPEED
        fall_s = SMOOTHSTEP_PEAK * float(np.linalg.norm(ictus - top)) / MAX_STROKE_SPEED
        if rise_s + fall_s >= duration:
            peak_s = start_s + duration * rise_s / (rise_s + fall_s)
        else:
            peak_s = float(np.clip(start_s + peak * duration, start_s + rise_s, end_s - fall_s))
        path.to(peak_s, top, "curve").to(end_s, ictus, "curve")
        return
    up = STACCATO_UP + marcato * (MARCATO_UP - STACCATO_UP)
    fall = STACCATO_FALL + marcato * (MARCATO_FALL - STACCATO_FALL)
    start = path.end[1]
    from_ictus = bool(path.kinds) and path.kinds[-1] == HandPath.KINDS.index("fall")
    if from_ictus:
        # The stop at the ictus: a moment still (rising a hair, so the beat stays the lowest point).
        path.to(start_s + ICTUS_STOP_S, start + np.array([0.0, -ICTUS_STOP_RISE]), "linear")
    settled = top + np.array([0.0, 0.006])  # the hand settles a little at the top
    moving_from_s = path.end[0]
    # The rebound is a flick, twice as fast at most (slowed to the fall's speed, it moved the
    # seen ictus a frame late); the fall starts early enough to keep MAX_STROKE_SPEED, the wait
    # at the top giving the time. From stillness (the preparation, or after a hold) there is
    # no bounce to flick from: the hand eases into the rise (a flick out of a standstill jumped
    # from rest to 3.9 m/s at the baton's tip in one frame).
    rise = float(np.linalg.norm(top - start))
    if from_ictus:
        rise_kind, rise_s = "rebound", REBOUND_EASE_POWER * rise / (REBOUND_SPEED_FACTOR * MAX_STROKE_SPEED)
    else:
        rise_kind, rise_s = "smooth", SMOOTHSTEP_PEAK * rise / MAX_STROKE_SPEED
    rise_s = max(DETACHED_REBOUND_MIN_S, rise_s)
    top_s = max(start_s + up * duration, moving_from_s + min(rise_s, 0.4 * (end_s - moving_from_s)))
    fall_s = FALL_EASE_POWER * float(np.linalg.norm(ictus - settled)) / MAX_STROKE_SPEED
    falls_from_s = max(min(start_s + fall * duration, end_s - fall_s), top_s)
    path.to(top_s, top, rise_kind).to(falls_from_s, settled, "linear")
    path.to(end_s, ictus, "fall")
