"""The beat grid on Blender's timeline: one marker a beat, named by bar and beat.

*Analyse Beats* puts the tracker's grid on the timeline: "12.2", "12.3", ... with downbeats
marked by a bar line, "|12.1". The user moves, adds (M: Blender names it "F_<frame>"), deletes or
renames markers with Blender's own tools; *Generate* with Beat Source *Timeline Markers* reads
them back (:func:`beats_from_markers`) and core's grid rules apply (``core/beats/grid.py``): a bar
starts at each beat 1, its meter is the beats in it, an added marker is a beat of its bar.
Markers with other names are the user's own: never read, never replaced.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from ..core.beats.grid import beat_label
from ..core.beats.track import BeatTrack
from ..core.errors import ConductorError
from .keyframes import scene_fps

BEAT_MARKER = re.compile(r"^\|?\d+\.\d+$")  # the markers this tool writes (and renamed ones)
ADDED_MARKER = re.compile(r"^F_-?\d+$")  # Blender's name for a marker added with M
WRITTEN_KEY = "_virtual_conductor_beat_markers"  # scene property: {name: frame} of the markers last written


def marker_name(track: BeatTrack, index: int) -> str:
    """ "|12.1" for a downbeat, "12.2" for the other beats."""
    label = beat_label(track, index)
    return f"|{label}" if int(track.bar_position[index]) == 0 and int(track.bar_number[index]) >= 0 else label


def is_beat_marker(name: str) -> bool:
    return bool(BEAT_MARKER.match(name) or ADDED_MARKER.match(name))


def has_beat_markers(scene: Any) -> bool:
    """Whether ``scene``'s timeline has beat markers (this tool's, or added beside them): they are
    placed from the music's first frame, so a run must not move the music."""
    return any(is_beat_marker(marker.name) for marker in scene.timeline_markers)


def put_beat_markers(scene: Any, track: BeatTrack, *, start_frame: int) -> int:
    """Replace this tool's beat markers in ``scene`` with one a beat of ``track`` (the music
    starting at scene frame ``start_frame``); the user's own markers stay. Returns the count."""
    fps = scene_fps(scene)
    markers = scene.timeline_markers
    for marker in [m for m in markers if is_beat_marker(m.name)]:
        markers.remove(marker)
    written = {}
    for index, time_s in enumerate(track.beats_s):
        marker = markers.new(marker_name(track, index), frame=int(round(start_frame + float(time_s) * fps)))
        written[marker.name] = marker.frame
    scene[WRITTEN_KEY] = json.dumps(written)
    return int(track.beats_s.size)


@dataclasses.dataclass(frozen=True)
class MarkerEdits:
    """How the beat markers on the timeline differ from those this tool last wrote: by name."""

    moved: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.moved or self.added or self.deleted)

    def sentence(self) -> str:
        """ "moved 3.2 and 7.1; deleted 5.3" ("" when there are no edits)."""
        parts = [
            f"{verb} {_listed(names)}"
            for verb, names in (("moved", self.moved), ("added", self.added), ("deleted", self.deleted))
            if names
        ]
        return "; ".join(parts)


def _listed(names: tuple[str, ...], most: int = 6) -> str:
    shown = [name.lstrip("|") for name in names[:most]]
    more = len(names) - len(shown)
    text = ", ".join(shown[:-1]) + (" and " if len(shown) > 1 else "") + shown[-1] if shown else ""
    return text + (f" (and {more} more)" if more > 0 else "")


def marker_edits(scene: Any) -> MarkerEdits:
    """What the user changed among the beat markers since this tool wrote them (a scene whose
    beat markers this tool never wrote: all of them count as added)."""
    try:
        written = json.loads(scene.get(WRITTEN_KEY, "{}"))
    except (TypeError, ValueError):
        written = {}
    now: dict[str, int] = {
        marker.name: marker.frame for marker in scene.timeline_markers if is_beat_marker(marker.name)
    }
    return MarkerEdits(
        moved=tuple(
            sorted((name for name in now if name in written and now[name] != written[name]), key=now.__getitem__)
        ),
        added=tuple(sorted((name for name in now if name not in written), key=now.__getitem__)),
        deleted=tuple(sorted((name for name in written if name not in now), key=written.__getitem__)),
    )


def sorted_beat_markers(scene: Any) -> list[Any]:
    """The scene's beat markers (:func:`is_beat_marker`) in time order."""
    return sorted((m for m in scene.timeline_markers if is_beat_marker(m.name)), key=lambda m: m.frame)


def beats_from_markers(scene: Any, *, start_frame: int) -> tuple[list[float], list[str | None]]:
    """(beat times in seconds from the music's start, labels) of the scene's beat markers in
    time order; a marker added by hand has no label (a beat of the bar before it)."""
    fps = scene_fps(scene)
    beat_markers = sorted_beat_markers(scene)
    if not beat_markers:
        raise ConductorError(
            "The timeline has no beat markers; press Analyse Beats first, or add markers (M) on the beats."
        )
    times_s = [(marker.frame - start_frame) / fps for marker in beat_markers]
    labels = [marker.name if BEAT_MARKER.match(marker.name) else None for marker in beat_markers]
    return times_s, labels


def write_markers_as_labels(scene: Any, path: str, *, start_frame: int, duration_s: float | None = None) -> str:
    """The beat markers as a label track file (time, time, label), for the worker's --beats.
    With the music's ``duration_s`` a marker outside the music is refused here, in frames and by
    its name (the grid's own check speaks of seconds in a file the user never saw)."""
    times_s, labels = beats_from_markers(scene, start_frame=start_frame)
    if duration_s is not None:
        fps = scene_fps(scene)
        end_frame = start_frame + int(round(duration_s * fps))
        markers = sorted_beat_markers(scene)  # beats_from_markers refused none
        early, late = markers[0], markers[-1]
        fix = "move it into the music, or set Start Frame to where the music starts for the markers"
        if early.frame < start_frame:
            raise ConductorError(
                f"The beat marker '{early.name}' at frame {early.frame} lies before the music, which starts at "
                f"frame {start_frame}; {fix}."
            )
        if late.frame > end_frame + 1:  # a frame's grace, as the grid's own check has
            raise ConductorError(
                f"The beat marker '{late.name}' at frame {late.frame} lies after the music, which ends at frame "
                f"{end_frame}; {fix}."
            )
    with open(path, "w", encoding="utf-8") as handle:
        for time_s, label in zip(times_s, labels):
            handle.write(f"{time_s:.6f}\t{time_s:.6f}\t{label or ''}\n")
    return path
