"""The switch between the beat trackers: :func:`track_beats`."""

from __future__ import annotations

import numpy as np

from ..errors import ConductorError
from .dsp_tracker import track_beats_dsp
from .learned_tracker import LearnedTracker, learned_network, track_beats_learned
from .track import BeatTrack

TRACKERS = ("auto", "learned", "dsp")
# A given grid belongs to a recording when its tempo is that of a metrical level of the tempo
# heard in it (the beat, its division or a bar's worth, in two or three) within LEVEL_TOLERANCE.
METRICAL_RATIOS = (1 / 4, 1 / 3, 1 / 2, 2 / 3, 1.0, 3 / 2, 2.0, 3.0, 4.0)
LEVEL_TOLERANCE = 0.06
GRID_CHECK_MIN_BEATS = 8  # fewer beats (given or heard) say too little about a tempo
# Which tracker "auto" uses when the weights are installed: the learned one only where it beats
# the signal-processing tracker on both held-out sets (README, "Reading the music").
DEFAULT_TRACKER = "learned"


def track_beats(
    samples: np.ndarray, sample_rate_hz: int = 22050, *, meter: int | None = None, tracker: str = "auto"
) -> BeatTrack:
    """Beats, downbeats and meter of a mono signal.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz`` (22,050 Hz from :func:`core.audio.decode.load_audio`).
    sample_rate_hz : int > 0
    meter : int in :data:`core.beats.track.TRACKED_METERS` or None
        Beats per bar to use instead of the detected meter (the downbeats are still found).
    tracker : {"auto", "learned", "dsp"}
        "auto": ``DEFAULT_TRACKER`` when its weights are installed, else the signal-processing
        tracker of this module; "learned": the network of :mod:`core.beats.learned_tracker` (weights in
        weights/); "dsp": this module's tracker.

    Returns
    -------
    BeatTrack
        Empty beat lists for silence or a signal with no rhythm to follow.
    """
    network = chosen_network(tracker)
    if network is not None:
        return track_beats_learned(samples, sample_rate_hz, network, meter=meter)
    return track_beats_dsp(samples, sample_rate_hz, meter=meter)


def chosen_network(tracker: str) -> LearnedTracker | None:
    """The learned tracker's network where ``tracker`` picks it ("learned"; "auto" when it is
    ``DEFAULT_TRACKER`` and its weights are installed), None where the signal-processing tracker
    hears the music; ConductorError for an unknown name, or "learned" without its weights."""
    if tracker not in TRACKERS:
        raise ConductorError(f"Unknown beat tracker {tracker!r}; choose one of {', '.join(TRACKERS)}.")
    if tracker == "learned" or (tracker == "auto" and DEFAULT_TRACKER == "learned"):
        return learned_network(required=tracker == "learned")
    return None


def grid_tempo_note(
    grid: BeatTrack, samples: np.ndarray, sample_rate_hz: int = 22050, *, tracker: str = "auto", where: str
) -> str:
    """One line for a given grid whose tempo fits no metrical level of the tempo the tracker
    hears in ``samples`` (another piece's grid, or another recording's); "" when it fits, or
    when either has under ``GRID_CHECK_MIN_BEATS`` beats.

    Parameters
    ----------
    grid : BeatTrack
        The given beats (:func:`core.beats.grid.load_grid`).
    samples : np.ndarray [shape=(n,), float32]
        The music, mono, at ``sample_rate_hz``.
    where : str
        How the sentence names the grid ("'grid.txt'").
    """
    if grid.beats_s.size < GRID_CHECK_MIN_BEATS:
        return ""
    heard = track_beats(samples, sample_rate_hz, tracker=tracker)
    heard_s = heard.beats_s if heard.notated_beats_s is None else heard.notated_beats_s
    if heard_s.size < GRID_CHECK_MIN_BEATS:
        return ""
    given_bpm = 60.0 / float(np.median(np.diff(grid.beats_s)))  # the median steps over holds
    heard_bpm = 60.0 / float(np.median(np.diff(heard_s)))
    if any(abs(given_bpm / (heard_bpm * ratio) - 1.0) <= LEVEL_TOLERANCE for ratio in METRICAL_RATIOS):
        return ""
    return (
        f"The beats of {where} run at {given_bpm:.0f} a minute, which fits no level of the {heard_bpm:.0f} a "
        "minute heard in the music; check that the grid belongs to this recording."
    )
