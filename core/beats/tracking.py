"""The switch between the beat trackers: :func:`track_beats`."""

from __future__ import annotations

import numpy as np

from ..errors import ConductorError
from .dsp_tracker import track_beats_dsp
from .learned_tracker import learned_network, track_beats_learned
from .track import BeatTrack

TRACKERS = ("auto", "learned", "dsp")
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
    if tracker not in TRACKERS:
        raise ConductorError(f"Unknown beat tracker {tracker!r}; choose one of {', '.join(TRACKERS)}.")
    if tracker == "learned" or (tracker == "auto" and DEFAULT_TRACKER == "learned"):
        network = learned_network(required=tracker == "learned")
        if network is not None:
            return track_beats_learned(samples, sample_rate_hz, network, meter=meter)
    return track_beats_dsp(samples, sample_rate_hz, meter=meter)
