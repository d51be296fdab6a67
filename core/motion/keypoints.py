"""Conducting motion as data: 13 image-plane keypoints over time, with where they came from.

A :class:`Motion` is what every generator in core returns (M2S-GAN, the procedural conductor)
and what the retargeting, the add-on, the previews and the exports consume.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConductorError, one_of
from ..outputs import write_atomically
from .skeleton import HAND_CHANNELS, HAND_SIDES, JOINT_COUNT, JOINT_NAMES

MOTION_FPS = 30  # the rate every generator gives (M2S-GAN's output), frames per second
MOTION_SUFFIXES = (".npz", ".json", ".csv")  # the files Motion.save writes and Motion.load reads
CSV_COLUMNS = ("time_s", *(f"{name}_{axis}" for name in JOINT_NAMES for axis in "xy"))  # a .csv's header
# ... followed by these when the motion has hand channels
CSV_HAND_COLUMNS = tuple(f"{side}_hand_{channel}" for side in HAND_SIDES for channel in HAND_CHANNELS)
HANDS_SHAPE = (len(HAND_SIDES), len(HAND_CHANNELS))  # Motion.hands per frame


@dataclasses.dataclass
class Motion:
    """Keypoints of one performance.

    Attributes
    ----------
    keypoints : np.ndarray [shape=(T, 13, 2), float32]
        x and y in [0, 1] image coordinates, y down, joints in :data:`core.motion.skeleton.JOINT_NAMES`.
    fps : float > 0
        Frames per second of ``keypoints``.
    source_audio : str
        File name of the music the motion was made for ("" if unknown).
    audio_sha256 : str
        SHA-256 of that file's bytes ("" if unknown).
    seed : int or None
        Seed of the generator's noise, None when the noise came from a file or there was none.
    weights_id : str
        Which model made it: a weights file's id, or "procedural".
    extra : dict
        JSON-serialisable details (variation, beats, tempo, ...).
    hands : np.ndarray [shape=(T, 2, 4), float32] or None
        The hands beyond the wrists, per frame, left then right: flex (radians), turn (radians),
        curl (0-1) and point (0-1), as :data:`core.motion.skeleton.HAND_CHANNELS` describes them;
        None where the generator draws no hands (the retargeting then derives them from the wrists).
    lead_in_s : float >= 0
        How long the motion runs before the music starts, a whole number of frames: frame ``i``
        is at ``i / fps - lead_in_s`` seconds of the music (:attr:`times_s`). The procedural
        conductor's preparatory beat when the music starts on its first beat; 0 otherwise.
    """

    keypoints: np.ndarray
    fps: float = MOTION_FPS
    source_audio: str = ""
    audio_sha256: str = ""
    seed: int | None = None
    weights_id: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    hands: np.ndarray | None = None
    lead_in_s: float = 0.0

    def __post_init__(self) -> None:
        keypoints = np.asarray(self.keypoints, dtype=np.float32)
        if keypoints.ndim != 3 or keypoints.shape[1:] != (JOINT_COUNT, 2):
            raise ConductorError(
                f"Motion keypoints must have shape (frames, {JOINT_COUNT}, 2), got "
                f"{tuple(keypoints.shape)}; pass one (x, y) pair per joint per frame."
            )
        if keypoints.shape[0] == 0:
            raise ConductorError("The motion has no frames; generate it from at least 1 second of music.")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ConductorError(f"Motion fps must be a positive number, got {self.fps!r}.")
        self.keypoints = keypoints
        self.fps = float(self.fps)
        lead_in_frames = float(self.lead_in_s) * self.fps
        if not (np.isfinite(lead_in_frames) and 0 <= round(lead_in_frames) < keypoints.shape[0]):
            raise ConductorError(
                f"The motion's lead-in must be 0 or more seconds within its {keypoints.shape[0]} frames, "
                f"got {self.lead_in_s!r}."
            )
        self.lead_in_s = round(lead_in_frames) / self.fps  # whole frames: the music starts on one
        if self.hands is not None:
            hands = np.asarray(self.hands, dtype=np.float32)
            if hands.shape != (keypoints.shape[0], *HANDS_SHAPE) or not np.all(np.isfinite(hands)):
                raise ConductorError(
                    f"Motion hands must be finite with shape ({keypoints.shape[0]}, {HANDS_SHAPE[0]}, "
                    f"{HANDS_SHAPE[1]}), one row per frame, got {tuple(hands.shape)}; leave them out to derive them."
                )
            self.hands = hands

    joint_names = JOINT_NAMES

    @property
    def frame_count(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def duration_s(self) -> float:
        """Length in seconds: frame count / fps (the lead-in included)."""
        return self.frame_count / self.fps

    @property
    def lead_in_frames(self) -> int:
        """Frames before the music's first: :attr:`lead_in_s` at :attr:`fps`."""
        return int(round(self.lead_in_s * self.fps))

    @property
    def times_s(self) -> np.ndarray:
        """Each frame's time in the music [shape=(T,), float64], seconds: negative in the lead-in."""
        return (np.arange(self.frame_count) - self.lead_in_frames) / self.fps

    def frames_at(self, times_s: Any) -> np.ndarray:
        """The frame nearest each music time in ``times_s`` (seconds) [int64], clipped to the motion."""
        position = np.round((np.asarray(times_s, dtype=np.float64) + self.lead_in_s) * self.fps)
        return np.clip(position, 0, self.frame_count - 1).astype(np.int64)

    def without_lead_in(self) -> Motion:
        """The motion from the music's first frame on (frame ``i`` at ``i / fps`` seconds of the
        music), for what must line up with the music frame by frame (training pairs, analyses)."""
        skip = self.lead_in_frames
        hands = None if self.hands is None else self.hands[skip:]
        return dataclasses.replace(self, keypoints=self.keypoints[skip:], hands=hands, lead_in_s=0.0)

    def metadata(self) -> dict[str, Any]:
        """Everything but the keypoints, as JSON-ready data."""
        return {
            "fps": self.fps,
            "frame_count": self.frame_count,
            "duration_s": self.duration_s,
            "lead_in_s": self.lead_in_s,
            "joint_names": list(JOINT_NAMES),
            "source_audio": self.source_audio,
            "audio_sha256": self.audio_sha256,
            "seed": self.seed,
            "weights_id": self.weights_id,
            "extra": self.extra,
        }

    def resampled(self, fps: float) -> Motion:
        """The same motion at another frame rate, by linear interpolation in time.

        Frame ``i`` of the result samples the motion at ``i / fps - lead_in_s`` seconds of the
        music, the lead-in rounded to whole frames of ``fps`` so the music still starts on a frame;
        the result spans the same music (``round((duration_s - lead_in_s) * fps)`` frames after
        the lead-in, at least one in all).
        """
        fps = float(fps)
        if not (np.isfinite(fps) and fps > 0):
            raise ConductorError(f"The frame rate must be a positive number, got {fps!r}.")
        hands = self.hands
        if abs(fps - self.fps) < 1e-9:
            return dataclasses.replace(
                self, keypoints=self.keypoints.copy(), hands=None if hands is None else hands.copy()
            )
        lead_in_frames = int(round(self.lead_in_s * fps))
        count = max(1, lead_in_frames + int(round((self.duration_s - self.lead_in_s) * fps)))
        # Each new frame's time from this motion's first frame.
        times_s = (np.arange(count, dtype=np.float64) - lead_in_frames) / fps + self.lead_in_s
        return dataclasses.replace(
            self,
            keypoints=sample_keypoints(self.keypoints, self.fps, times_s),
            fps=fps,
            hands=None if hands is None else sample_keypoints(hands, self.fps, times_s),
            lead_in_s=lead_in_frames / fps,
        )

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write to ``.npz`` (arrays ``keypoints``, ``fps``, ``metadata_json`` and, with hand
        channels, ``hands``), ``.json`` or ``.csv`` (one row per frame: time_s in the music,
        negative in the lead-in, x and y of each joint, then the hand channels), chosen by the suffix.

        The file is written to a temporary name beside the target and renamed, so a failed
        write never leaves a half-written file where a finished one is expected.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in MOTION_SUFFIXES:
            raise ConductorError(f"Cannot save motion as '{path.name}': use a {one_of(MOTION_SUFFIXES)} file name.")
        meta = self.metadata()
        if suffix == ".npz":

            def write(handle: Any) -> None:
                # Not compressed: the keypoints' low bits are noise, so zlib saves 13 % of the
                # size and costs 0.09 s per 10 minutes of motion.
                hands = {} if self.hands is None else {"hands": self.hands}
                np.savez(
                    handle,
                    keypoints=self.keypoints,
                    fps=np.float64(self.fps),
                    metadata_json=np.array(json.dumps(meta)),
                    **hands,
                )

            return write_atomically(path, write, binary=True)
        if suffix == ".json":
            document = dict(meta, keypoints=np.round(self.keypoints.astype(np.float64), 6).tolist())
            if self.hands is not None:
                document["hands"] = np.round(self.hands.astype(np.float64), 6).tolist()
            return write_atomically(path, lambda handle: json.dump(document, handle), binary=False)

        columns = [self.times_s[:, None], self.keypoints.reshape(self.frame_count, -1)]
        if self.hands is not None:
            columns.append(self.hands.reshape(self.frame_count, -1))
        table = np.concatenate(columns, 1)
        header = CSV_COLUMNS + (CSV_HAND_COLUMNS if self.hands is not None else ())

        def write_csv(handle: Any) -> None:
            handle.write(",".join(header) + "\n")
            np.savetxt(handle, table, delimiter=",", fmt="%.6f")

        return write_atomically(path, write_csv, binary=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Motion:
        """Read a motion saved by :meth:`save` (``.npz``, ``.json``, or ``.csv``, which keeps the
        keypoints, the hand channels, the frame rate and the lead-in, not the metadata).

        A plain ``.npz`` with only ``keypoints`` (and optionally ``fps``) also loads, so
        ConductorMotion100's ``motion.npy`` arrays can be wrapped with ``Motion(array)``.
        """
        path = Path(path)
        if not path.is_file():
            raise ConductorError(f"Motion file '{path}' does not exist; check the path.")
        try:
            if path.suffix.lower() == ".json":
                document = json.loads(path.read_text())
                keypoints = np.asarray(document.pop("keypoints"), dtype=np.float32)
                meta = document
            elif path.suffix.lower() == ".csv":
                keypoints, meta = _read_csv(path)
            else:
                with np.load(path, allow_pickle=False) as archive:
                    keypoints = archive["keypoints"]
                    meta = {"fps": float(archive["fps"])} if "fps" in archive else {}
                    if "metadata_json" in archive:
                        meta = dict(json.loads(str(archive["metadata_json"])), **meta)
                    if "hands" in archive:
                        meta["hands"] = archive["hands"]
        except ConductorError:
            raise
        except Exception as error:  # corrupt archive, wrong JSON, missing array
            raise ConductorError(
                f"'{path.name}' is not a motion file; give a {one_of(MOTION_SUFFIXES)} written by 'python -m core generate'."
            ) from error
        return cls.from_metadata(keypoints, meta)

    @classmethod
    def from_metadata(cls, keypoints: np.ndarray, meta: dict[str, Any]) -> Motion:
        """A motion from its keypoints [shape=(T, 13, 2)] in image units (x, y in [0, 1], y down)
        at ``meta["fps"]`` and a :meth:`metadata` dict (missing keys take defaults; ``"hands"``,
        where present, the hand channels [shape=(T, 2, 4)])."""
        hands = meta.get("hands")
        return cls(
            keypoints=keypoints,
            fps=float(meta.get("fps", MOTION_FPS)),
            source_audio=str(meta.get("source_audio", "")),
            audio_sha256=str(meta.get("audio_sha256", "")),
            seed=meta.get("seed"),
            weights_id=str(meta.get("weights_id", "")),
            extra=dict(meta.get("extra", {})),
            hands=None if hands is None else np.asarray(hands, dtype=np.float32),
            lead_in_s=float(meta.get("lead_in_s", 0.0)),
        )

    def to_bytes(self) -> tuple[str, bytes]:
        """(metadata as JSON, keypoints as little-endian float32 bytes in (T, 13, 2) order, then
        the hand channels in (T, 2, 4) order where the motion has them).

        The compact, exact form for stores that take a string and a byte string, such as a
        .blend's custom properties; its cost grows linearly with the length (a 2-hour piece
        is 22 MB, 29 MB with hands). :meth:`from_bytes` reads it back.
        """
        data = self.keypoints.astype("<f4", copy=False).tobytes()
        if self.hands is not None:
            data += self.hands.astype("<f4", copy=False).tobytes()
        return json.dumps(self.metadata()), data

    @classmethod
    def from_bytes(cls, metadata_json: str, keypoints_f32le: bytes) -> Motion:
        """The motion that :meth:`to_bytes` gave; ConductorError when the two do not fit."""
        try:
            meta = json.loads(metadata_json)
            frames = int(meta["frame_count"])
            values = np.frombuffer(keypoints_f32le, dtype="<f4")
            split = frames * JOINT_COUNT * 2
            keypoints = values[:split].reshape(frames, JOINT_COUNT, 2)
            if values.size > split:  # the hand channels follow (stores written before them end here)
                meta["hands"] = values[split:].reshape(frames, *HANDS_SHAPE)
        except (ValueError, KeyError, TypeError) as error:
            raise ConductorError(
                f"The stored motion is damaged ({type(error).__name__}); generate the conducting again."
            ) from error
        return cls.from_metadata(keypoints, meta)


def sample_keypoints(keypoints: np.ndarray, fps: float, times_s: np.ndarray) -> np.ndarray:
    """Linearly interpolate keypoints at arbitrary times.

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, ...), float]
        Samples at ``i / fps`` seconds, in any unit (image units for a motion's (T, 13, 2)).
    fps : float > 0
        Their rate in frames per second.
    times_s : np.ndarray [shape=(N,), float] seconds
        Times in seconds; times past either end take the end sample.

    Returns
    -------
    np.ndarray [shape=(N, ...), float32]
        In the unit of ``keypoints``, one sample per time.
    """
    position = np.clip(np.asarray(times_s, dtype=np.float64) * fps, 0.0, keypoints.shape[0] - 1)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, keypoints.shape[0] - 1)
    weight = (position - lower).reshape((-1,) + (1,) * (keypoints.ndim - 1))
    blended = keypoints[lower] * (1.0 - weight) + keypoints[upper] * weight
    return blended.astype(np.float32)


def _read_csv(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """(keypoints (T, 13, 2) float32, {"fps": ..., "lead_in_s": ..., and "hands" (T, 2, 4) where
    the file has them}) of a .csv that :meth:`Motion.save` wrote; the frame rate and the lead-in
    from its time column (written to the microsecond)."""
    with path.open() as handle:
        header = tuple(handle.readline().strip().split(","))
        if header not in (CSV_COLUMNS, CSV_COLUMNS + CSV_HAND_COLUMNS):
            raise ValueError("not the columns Motion.save writes")
        table = np.loadtxt(handle, delimiter=",", ndmin=2, dtype=np.float64)
    if table.shape[0] == 0 or table.shape[1] != len(header):
        raise ValueError("no frames, or rows of another width")
    times_s = table[:, 0]
    fps = float(f"{(times_s.size - 1) / (times_s[-1] - times_s[0]):.6g}") if times_s.size > 1 else MOTION_FPS
    meta: dict[str, Any] = {"fps": fps, "lead_in_s": max(0.0, -float(times_s[0]))}
    if len(header) > len(CSV_COLUMNS):
        meta["hands"] = table[:, len(CSV_COLUMNS) :].reshape(-1, *HANDS_SHAPE)
    return table[:, 1 : len(CSV_COLUMNS)].reshape(-1, JOINT_COUNT, 2).astype(np.float32), meta
